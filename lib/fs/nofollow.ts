// Reaching a path under a trusted directory without following a link on the
// way: every component is lstat'ed from the anchor down, and must be a real
// directory. One helper for every place that writes through a path a peer
// could have shaped in the same run: backups, --delete's move-aside, the
// two-way ops, and the directories they make. (Node has no openat(); an
// lstat walk is what it offers. It guards against what a peer sends; a local
// user racing the run in the same tree is another threat.)

import { realFs, type FileSystem } from './seam.js';
import * as path from 'node:path';

/** A kernel-style error (describeFsError shows the text after "ELOOP: "). */
function notADir(shown: string, what: 'a symbolic link' | 'not a directory'): NodeJS.ErrnoException {
  const code = what === 'a symbolic link' ? 'ELOOP' : 'ENOTDIR';
  const e: NodeJS.ErrnoException = new Error(`${code}: ${what} stands at ${shown}; never followed`);
  e.code = code;
  return e;
}

function split(rel: string): string[] {
  return rel.split('/').filter((x) => x !== '' && x !== '.');
}

/**
 * The directory `parts` names under `anchor`, reached component by
 * component: each must be a real directory, never a link. With `mkdirMode`,
 * a missing component is made (with that mode); without, a missing one
 * throws ENOENT. Errors name the components relative to the anchor.
 */
export function reachDir(anchor: string, parts: readonly string[], mkdirMode?: number, fsys: FileSystem = realFs): string {
  let abs = anchor;
  for (let i = 0; i < parts.length; i++) {
    abs = abs === '/' ? `/${parts[i]}` : `${abs}/${parts[i]}`;
    let st = fsys.lstatSync(abs, { throwIfNoEntry: false });
    if (!st && mkdirMode !== undefined) {
      try {
        fsys.mkdirSync(abs, { mode: mkdirMode });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      st = fsys.lstatSync(abs, { throwIfNoEntry: false });
    }
    const shown = parts.slice(0, i + 1).join('/');
    if (!st) throw Object.assign(new Error(`ENOENT: ${shown} does not exist`), { code: 'ENOENT' });
    if (st.isSymbolicLink()) throw notADir(shown, 'a symbolic link');
    if (!st.isDirectory()) throw notADir(shown, 'not a directory');
  }
  return abs;
}

/** Every directory above rel (a path relative to root) is a real directory: true, or false (missing, a link, a file). */
export function parentsAreDirs(root: string, rel: string, fsys: FileSystem = realFs): boolean {
  try {
    reachDir(root, split(rel).slice(0, -1), undefined, fsys);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where --backup-dir keeps things: a trusted directory and the components
 * under it that are walked without following links. A backup directory
 * inside the destination is walked from the destination's root (the run
 * itself could have put a link at any of its components); one outside it
 * is anchored at its real path as it was at the start (the user chose it).
 */
export interface BackupPlace {
  anchor: string;
  prefix: string[];
  /** the backup directory's path relative to the destination root, when it is inside it */
  insideRel: string | null;
}

export function backupPlace(root: string, backupAbs: string, fsys: FileSystem = realFs): BackupPlace {
  const rel = path.relative(root, backupAbs);
  if (rel === '') return { anchor: root, prefix: [], insideRel: '.' };
  // `..bk` is a name inside the root; only `..` itself or `../` leads out of it
  if (rel !== '..' && !rel.startsWith('../') && !path.isAbsolute(rel)) return { anchor: root, prefix: split(rel), insideRel: split(rel).join('/') };
  try {
    return { anchor: fsys.realpathSync(backupAbs), prefix: [], insideRel: null };
  } catch {
    // not there yet: its parent is the user's choice, the directory itself is made without following anything
    return { anchor: path.dirname(backupAbs), prefix: [path.basename(backupAbs)], insideRel: null };
  }
}

/** The path a backup of rel goes to, its directories made (dirMode) on a walk that follows no link. */
export function backupTarget(b: BackupPlace, rel: string, dirMode: number, fsys: FileSystem = realFs): string {
  const parts = [...b.prefix, ...split(rel)];
  const dir = reachDir(b.anchor, parts.slice(0, -1), dirMode, fsys);
  return `${dir === '/' ? '' : dir}/${parts[parts.length - 1]}`;
}

/** rel (relative to the destination root) is the backup directory or inside it */
export function inBackup(b: BackupPlace | null, rel: string): boolean {
  if (!b || b.insideRel === null) return false;
  if (b.insideRel === '.') return true;
  return rel === b.insideRel || rel.startsWith(`${b.insideRel}/`);
}
