// The receiver's file system: every call it makes on the destination, as one
// small interface. The real one is node:fs itself. Tests put another in
// front of it (test/helpers/fake-fs.ts) where this machine cannot make the
// real condition: a destination that folds case or Unicode spellings (no
// ext4 casefold, no vfat here), or one that fails on the Nth call. The
// model is Syncthing's lib/fs with its fake and case-folding file systems.
// Reads of an open descriptor (the basis of a delta, a file being hashed)
// go to the kernel directly: a descriptor is the file the seam opened.

import * as fs from 'node:fs';

export type FileSystem = Pick<
  typeof fs,
  | 'lstatSync'
  | 'statSync'
  | 'fstatSync'
  | 'readdirSync'
  | 'readlinkSync'
  | 'realpathSync'
  | 'openSync'
  | 'writeSync'
  | 'closeSync'
  | 'fchmodSync'
  | 'chmodSync'
  | 'futimesSync'
  | 'lutimesSync'
  | 'utimesSync'
  | 'writeFileSync'
  | 'mkdirSync'
  | 'symlinkSync'
  | 'linkSync'
  | 'copyFileSync'
  | 'cpSync'
  | 'renameSync'
  | 'unlinkSync'
  | 'rmdirSync'
  | 'rmSync'
>;

/** the kernel's file system, as node:fs offers it */
export const realFs: FileSystem = fs;
