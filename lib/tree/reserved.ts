// The names tsync keeps for itself in a tree: its state directory at the
// root and its temporary files anywhere. They are never listed, never
// synced, never deleted by --delete, and a peer that names one is refused.

/** tsync's state directory at the root of a tree. */
export const STATE_DIR = '.tsync';
/** Basename prefixes of tsync's temporary files. */
/** a file being received, and (--partial) what arrived of an interrupted one */
export const TMP_PREFIX = '.tsync-tmp-';
export const PARTIAL_PREFIX = '.tsync-partial-';
export const TEMP_PREFIXES: readonly string[] = Object.freeze([TMP_PREFIX, PARTIAL_PREFIX]);

/** True for tsync's own state ('.tsync' at the root and below) and temp files. */
export function isReserved(relPath: string): boolean {
  const slash = relPath.lastIndexOf('/');
  return reserved(relPath, slash < 0 ? relPath : relPath.slice(slash + 1));
}

/** isReserved, given the path's last component already split off (the filter's hot path). */
export function reserved(path: string, base: string): boolean {
  if (base.charCodeAt(0) !== 46 /* . */ && path.charCodeAt(0) !== 46) return false;
  for (const p of TEMP_PREFIXES) if (base.startsWith(p)) return true;
  return path === STATE_DIR || (path.startsWith(STATE_DIR) && path.charCodeAt(STATE_DIR.length) === 47 /* / */);
}

