// The receiver's hands: every change to the destination filesystem goes
// through here. Files are written under a temporary name beside their
// target and renamed into place; links are never followed; metadata is set
// through file descriptors or l* calls.

import { mtimeUs } from '../time.js';
import * as fs from 'node:fs';
import { realFs, type FileSystem } from './seam.js';
import { createHash, randomBytes } from 'node:crypto';
import type { Entry } from '../wire/schema.js';
import type { Local } from '../plan/oneway.js';

import { PARTIAL_PREFIX, TMP_PREFIX } from '../tree/reserved.js';
import { readAt, readFull, SMALL } from '../oneway/source.js';

export function readLocal(abs: string, fsys: FileSystem = realFs): Local | null {
  const st = fsys.lstatSync(abs, { throwIfNoEntry: false });
  if (!st) return null;
  const mtime = mtimeUs(st);
  if (st.isFile()) return { type: 'f', mode: st.mode & 0o7777, size: st.size, mtime };
  if (st.isDirectory()) return { type: 'd', mode: st.mode & 0o7777, size: 0, mtime };
  if (st.isSymbolicLink()) return { type: 'l', mode: 0o777, size: 0, mtime, target: fsys.readlinkSync(abs, 'utf8') };
  return { type: 'other', mode: st.mode & 0o7777, size: st.size, mtime };
}

// One scratch buffer for the synchronous reads below: no allocation per file.
const scratch = Buffer.alloc(SMALL + 1);

/**
 * SHA-256 of a file, never following a symlink. A file up to 1 MiB costs
 * one open, one read and one close, synchronously; a bigger one goes on in
 * chunks that let the event loop breathe. Returns a Buffer when it finished
 * synchronously, else a Promise.
 */
export function hashFile(abs: string, fsys: FileSystem = realFs): Buffer | Promise<Buffer> {
  const fd = fsys.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  let n: number;
  try {
    n = readFull(fd, scratch, 0);
  } catch (e) {
    fsys.closeSync(fd);
    throw e;
  }
  const h = createHash('sha256').update(scratch.subarray(0, n));
  if (n <= SMALL) {
    fsys.closeSync(fd);
    return h.digest();
  }
  return hashRest(fd, n, h, fsys);
}

async function hashRest(fd: number, offset: number, h: ReturnType<typeof createHash>, fsys: FileSystem): Promise<Buffer> {
  const buf = Buffer.alloc(SMALL);
  try {
    for (;;) {
      const { bytesRead } = await readAt(fd, buf, 0, buf.length, offset);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      offset += bytesRead;
    }
    return h.digest();
  } finally {
    fsys.closeSync(fd);
  }
}

/**
 * The first `max` bytes of a name in UTF-8, never splitting a character. A
 * file name's limit (NAME_MAX, 255) is in bytes: a cut by UTF-16 units let
 * 100 CJK characters (300 bytes) into a temporary name.
 */
export function cutUtf8(name: string, max: number): string {
  if (Buffer.byteLength(name) <= max) return name;
  let out = '';
  let n = 0;
  for (const ch of name) {
    const b = Buffer.byteLength(ch);
    if (n + b > max) break;
    out += ch;
    n += b;
  }
  return out;
}

/** what of a file's name its temporaries start with (after TMP_PREFIX): at most 100 bytes */
export function tempStem(base: string): string {
  return cutUtf8(base, 100);
}

/** a temporary beside base: TMP_PREFIX, its stem, a dash, 12 hex digits (at most 124 bytes) */
export function tempName(base: string): string {
  return `${TMP_PREFIX}${tempStem(base)}-${randomBytes(6).toString('hex')}`;
}

/** where --partial keeps what arrived of base (a reserved name, never synced): at most 215 bytes */
export function partialName(base: string): string {
  return `${PARTIAL_PREFIX}${cutUtf8(base, 200)}`;
}

/** A new file beside its target that cannot be pre-planted (O_EXCL) nor be a link (O_NOFOLLOW). */
export function openTemp(dirAbs: string, base: string, mode = 0o600, access = fs.constants.O_WRONLY, fsys: FileSystem = realFs): { fd: number; path: string } {
  for (let i = 0; ; i++) {
    const path = `${dirAbs}/${tempName(base)}`;
    try {
      const fd = fsys.openSync(path, access | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode & 0o777);
      return { fd, path };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || i > 5) throw e;
    }
  }
}

/**
 * Seconds for utimes. libuv truncates the fraction to whole microseconds,
 * and us / 1e6 as a double can land just below the intended microsecond;
 * half a microsecond more makes the truncation land on it exactly. A time
 * before 1970 goes as a numeric string: Node replaces a negative number
 * with the current time (its "invalid time" rule), but passes a string
 * through, and ext4, XFS and btrfs store such times.
 */
export function secondsOf(us: number): number | string {
  return us >= 0 ? (us + 0.5) / 1e6 : String((us - 0.5) / 1e6);
}

/** secondsOf a time in nanoseconds, as a bigint stat gives it */
export function secondsOfNs(ns: bigint): number | string {
  return secondsOf(Number(ns / 1000n));
}

/**
 * The mode and mtime, through the descriptor. The mode is always set: open()
 * applies the process umask, which tsync leaves alone (it is process-wide).
 */
export function setFileMeta(fd: number, e: Entry, fsys: FileSystem = realFs): void {
  fsys.fchmodSync(fd, e.mode);
  fsys.futimesSync(fd, secondsOf(e.mtime), secondsOf(e.mtime));
}

/**
 * Mode and/or mtime on a path, never through a symlink: times with
 * lutimes (utimensat with AT_SYMLINK_NOFOLLOW), the mode through a
 * descriptor opened with O_NOFOLLOW (Linux has no lchmod).
 */
export function setPathMeta(abs: string, e: Entry, mode: boolean, mtime: boolean, fsys: FileSystem = realFs): void {
  if (mode && e.type !== 'l') chmodNoFollow(abs, e, fsys);
  if (mtime) fsys.lutimesSync(abs, secondsOf(e.mtime), secondsOf(e.mtime));
}

/** e's mode on abs, through a descriptor opened without following a link */
function chmodNoFollow(abs: string, e: Entry, fsys: FileSystem): void {
  let fd: number;
  try {
    fd = fsys.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | (e.type === 'd' ? fs.constants.O_DIRECTORY : 0));
  } catch (err) {
    // the owner may chmod what it may not read (a file or directory of mode 000 or 200): by path, once lstat says it is no link
    if ((err as NodeJS.ErrnoException).code !== 'EACCES' || fsys.lstatSync(abs).isSymbolicLink()) throw err;
    fsys.chmodSync(abs, e.mode);
    return;
  }
  try {
    fsys.fchmodSync(fd, e.mode);
  } finally {
    fsys.closeSync(fd);
  }
}

/** A symlink put in place atomically (made under a temporary name, then renamed). */
export function placeSymlink(dirAbs: string, abs: string, base: string, target: string, mtime: number, fsys: FileSystem = realFs): void {
  const tmp = `${dirAbs}/${tempName(base)}`;
  fsys.symlinkSync(target, tmp);
  try {
    fsys.lutimesSync(tmp, secondsOf(mtime), secondsOf(mtime));
    fsys.renameSync(tmp, abs);
  } catch (e) {
    fsys.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Move abs to `backupAbs` in the backup tree (falling back to copy across
 * filesystems). Its directory exists: lib/fs/nofollow.ts backupTarget made
 * it on a walk that followed no link.
 */
export function moveAside(abs: string, backupAbs: string, fsys: FileSystem = realFs): void {
  try {
    fsys.rmSync(backupAbs, { recursive: true, force: true });
    fsys.renameSync(abs, backupAbs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    const st = fsys.lstatSync(abs, { bigint: true });
    fsys.cpSync(abs, backupAbs, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    // cpSync sets times through a Date (milliseconds): the moved thing's own times again, to the microsecond
    fsys.lutimesSync(backupAbs, secondsOfNs(st.atimeNs), secondsOfNs(st.mtimeNs));
    fsys.rmSync(abs, { recursive: true, force: true });
  }
}

/** Keep a copy of a file that is about to be replaced, without ever leaving the target missing (backupAbs as for moveAside). */
export function keepCopy(abs: string, backupAbs: string, fsys: FileSystem = realFs): void {
  fsys.rmSync(backupAbs, { recursive: true, force: true });
  try {
    fsys.linkSync(abs, backupAbs);
  } catch {
    fsys.copyFileSync(abs, backupAbs);
  }
}

/** Remove leftovers of an interrupted earlier run in one directory. */
export function cleanStaleTemps(dirAbs: string, fsys: FileSystem = realFs): number {
  const names = staleTemps(dirAbs, fsys);
  for (const name of names) fsys.rmSync(`${dirAbs}/${name}`, { recursive: true, force: true });
  return names.length;
}

/** The names of tsync's temporaries in a directory (none when it cannot be read). */
export function staleTemps(dirAbs: string, fsys: FileSystem = realFs): string[] {
  try {
    return fsys.readdirSync(dirAbs).filter((n) => n.startsWith(TMP_PREFIX));
  } catch {
    return [];
  }
}

/** remove a temporary after a failure, as far as the file system lets us (a later run sweeps what stays) */
export function dropTemp(fsys: FileSystem, tmp: string): void {
  try {
    fsys.rmSync(tmp, { force: true });
  } catch {
    // reserved name: never synced, swept by the next run in this directory
  }
}
