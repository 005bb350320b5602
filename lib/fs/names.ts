// What a receiver checks about the names in a manifest, beyond each path
// on its own: the order the sender promises (siblings of one kind in
// increasing order, docs/design.md §6), and, on a destination that folds case or Unicode
// spellings (APFS, NTFS, an ext4 casefold directory, HFS+), that no two
// names become one file there. Without that check `a/`, then `A -> /x`,
// then `a/x` writes through the link on such a file system: every check
// that compares raw strings passes. Pure: the folding is told, not probed.

import { baseOf, parentOf } from '../tree/paths.js';

/** How the destination treats names that differ only in case or in Unicode normalisation. */
export interface Folding {
  caseInsensitive: boolean;
  /** NFC and NFD spellings name one file (or names are rewritten to one form) */
  unicode: boolean;
}

export const NO_FOLDING: Folding = { caseInsensitive: false, unicode: false };

/** The key under which the destination stores a path: two paths with one key are one file there. */
export function foldKey(p: string, f: Folding): string {
  let k = p;
  if (f.unicode || f.caseInsensitive) k = k.normalize('NFC');
  if (f.caseInsensitive) k = k.toLowerCase().toUpperCase().toLowerCase();
  return k;
}

export type NameVerdict = { ok: true } | { ok: false; fatal: boolean; why: string };

/**
 * Entries in manifest order. order(): a protocol error (fatal) when a name
 * comes before a sibling listed earlier, or repeats. collide(): a per-file
 * refusal when the destination would store it under a name already taken
 * by another entry of this manifest.
 */
export class NameGuard {
  /** per directory, the last non-directory name seen (key: the directory) and the last directory name (key: the directory and '/') */
  private readonly lastChild = new Map<string, string>();
  private readonly folded = new Map<string, string>();

  constructor(
    private readonly folding: Folding,
    /** top-level names may come in command-line order (several sources without a root entry) */
    private readonly topFree: boolean,
  ) {}

  get folds(): boolean {
    return this.folding.caseInsensitive || this.folding.unicode;
  }

  /** a path as the destination stores it (itself on a destination that folds nothing) */
  fold(p: string): string {
    return foldKey(p, this.folding);
  }

  /**
   * In each directory the non-directories come in increasing order, and so
   * do the directories: rsync's order (a directory's files, then each
   * subdirectory with what is below it), an earlier sender's (all names
   * sorted together) and a sort of whole paths all keep it.
   */
  order(p: string, isDir: boolean): NameVerdict {
    if (p === '.') return { ok: true };
    const dir = parentOf(p);
    const name = baseOf(p);
    const key = isDir ? `${dir}/` : dir;
    const last = this.lastChild.get(key);
    if (last !== undefined && !(dir === '.' && this.topFree)) {
      if (name === last) return { ok: false, fatal: true, why: `duplicate path in manifest: ${JSON.stringify(p)}` };
      if (name < last) return { ok: false, fatal: true, why: `the manifest is not in sorted order: ${JSON.stringify(p)} came after ${JSON.stringify(dir === '.' ? last : `${dir}/${last}`)}` };
    }
    this.lastChild.set(key, name);
    return { ok: true };
  }

  collide(p: string): NameVerdict {
    if (!this.folds || p === '.') return { ok: true };
    const key = foldKey(p, this.folding);
    const other = this.folded.get(key);
    if (other !== undefined && other !== p) {
      const how = this.folding.caseInsensitive ? 'case-insensitive' : 'Unicode-normalising';
      return { ok: false, fatal: false, why: `not written: on this ${how} destination it is the same file as ${JSON.stringify(other)}, listed before it` };
    }
    this.folded.set(key, p);
    return { ok: true };
  }
}
