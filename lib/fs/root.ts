// The root of a tree that receives: a directory, made (like rsync's
// destination) when only its parent exists. One copy for the one-way
// receiver and the two-way replica and client.

import { realFs, type FileSystem } from './seam.js';
import * as path from 'node:path';
import { TsyncError } from '../errors.js';

/**
 * The destination directory `dest` (trailing slashes dropped), made when
 * missing and its parent exists (not in a dry run). created: it was made, or
 * would be. mode: for the new directory (default: 0o777, less the umask).
 */
export function ensureRootDir(dest: string, dryRun: boolean, mode?: number, fsys: FileSystem = realFs): { root: string; created: boolean } {
  const root = dest.replace(/\/+$/, '') || '/';
  const st = fsys.statSync(root, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) throw new TsyncError('E_DEST_PARENT', `destination ${root} exists and is not a directory`);
  if (st) return { root, created: false };
  const parent = path.dirname(root);
  if (!fsys.statSync(parent, { throwIfNoEntry: false })?.isDirectory()) throw new TsyncError('E_DEST_PARENT', `destination's parent directory ${parent} does not exist`);
  if (!dryRun) fsys.mkdirSync(root, mode === undefined ? undefined : { mode });
  return { root, created: true };
}

/** --backup-dir resolved against the destination directory (relative unless absolute); null without one. */
export function backupRoot(destDir: string, backupDir: string): string | null {
  return backupDir ? path.resolve(destDir.replace(/\/+$/, '') || '/', backupDir) : null;
}
