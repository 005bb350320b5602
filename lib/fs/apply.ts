// The receiver's hands: every change to the destination filesystem goes
// through here. Files are written under a temporary name beside their
// target and renamed into place; links are never followed; metadata is set
// through file descriptors or l* calls.

import { mtimeUs } from '../time.js';
import * as fs from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import type { Entry } from '../wire/schema.js';
import type { Local } from '../plan/oneway.js';

import { TMP_PREFIX } from '../tree/reserved.js';
import { readAt, readFull, SMALL } from '../oneway/source.js';

export function readLocal(abs: string): Local | null {
  const st = fs.lstatSync(abs, { throwIfNoEntry: false });
  if (!st) return null;
  const mtime = mtimeUs(st);
  if (st.isFile()) return { type: 'f', mode: st.mode & 0o7777, size: st.size, mtime };
  if (st.isDirectory()) return { type: 'd', mode: st.mode & 0o7777, size: 0, mtime };
  if (st.isSymbolicLink()) return { type: 'l', mode: 0o777, size: 0, mtime, target: fs.readlinkSync(abs, 'utf8') };
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
export function hashFile(abs: string): Buffer | Promise<Buffer> {
  const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  let n: number;
  try {
    n = readFull(fd, scratch, 0);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  const h = createHash('sha256').update(scratch.subarray(0, n));
  if (n <= SMALL) {
    fs.closeSync(fd);
    return h.digest();
  }
  return hashRest(fd, n, h);
}

async function hashRest(fd: number, offset: number, h: ReturnType<typeof createHash>): Promise<Buffer> {
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
    fs.closeSync(fd);
  }
}

export function tempName(base: string): string {
  return `${TMP_PREFIX}${base.slice(0, 100)}-${randomBytes(6).toString('hex')}`;
}

/** A new file beside its target that cannot be pre-planted (O_EXCL) nor be a link (O_NOFOLLOW). */
export function openTemp(dirAbs: string, base: string, mode = 0o600, access = fs.constants.O_WRONLY): { fd: number; path: string } {
  for (let i = 0; ; i++) {
    const path = `${dirAbs}/${tempName(base)}`;
    try {
      const fd = fs.openSync(path, access | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode & 0o777);
      return { fd, path };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || i > 5) throw e;
    }
  }
}

/**
 * Seconds for utimes. libuv truncates the fraction to whole microseconds,
 * and us / 1e6 as a double can land just below the intended microsecond;
 * half a microsecond more makes the truncation land on it exactly.
 */
export function secondsOf(us: number): number {
  return us >= 0 ? (us + 0.5) / 1e6 : us / 1e6;
}

/**
 * mtime, and the mode bits open() cannot set, through the descriptor. The
 * receiver runs with umask 0, so openTemp already gave the file its mode.
 */
export function setFileMeta(fd: number, e: Entry): void {
  if (e.mode & 0o7000) fs.fchmodSync(fd, e.mode);
  fs.futimesSync(fd, secondsOf(e.mtime), secondsOf(e.mtime));
}

/**
 * Mode and/or mtime on a path, never through a symlink: times with
 * lutimes (utimensat with AT_SYMLINK_NOFOLLOW), the mode through a
 * descriptor opened with O_NOFOLLOW (Linux has no lchmod).
 */
export function setPathMeta(abs: string, e: Entry, mode: boolean, mtime: boolean): void {
  if (mode && e.type !== 'l') {
    const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | (e.type === 'd' ? fs.constants.O_DIRECTORY : 0));
    try {
      fs.fchmodSync(fd, e.mode);
    } finally {
      fs.closeSync(fd);
    }
  }
  if (mtime) fs.lutimesSync(abs, secondsOf(e.mtime), secondsOf(e.mtime));
}

/** A symlink put in place atomically (made under a temporary name, then renamed). */
export function placeSymlink(dirAbs: string, abs: string, base: string, target: string, mtime: number): void {
  const tmp = `${dirAbs}/${tempName(base)}`;
  fs.symlinkSync(target, tmp);
  try {
    fs.lutimesSync(tmp, secondsOf(mtime), secondsOf(mtime));
    fs.renameSync(tmp, abs);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** directories tsync makes for itself (backups): the user's umask applied by hand, as ours is 0 */
export function mkdirp(abs: string, mode: number): void {
  fs.mkdirSync(abs, { recursive: true, mode });
}

/** Move abs into the backup tree at backupAbs (falling back to copy across filesystems). */
export function moveAside(abs: string, backupAbs: string, dirMode: number): void {
  mkdirp(backupAbs.slice(0, backupAbs.lastIndexOf('/')) || '/', dirMode);
  try {
    fs.rmSync(backupAbs, { recursive: true, force: true });
    fs.renameSync(abs, backupAbs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    fs.cpSync(abs, backupAbs, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    fs.rmSync(abs, { recursive: true, force: true });
  }
}

/** Keep a copy of a file that is about to be replaced, without ever leaving the target missing. */
export function keepCopy(abs: string, backupAbs: string, dirMode: number): void {
  mkdirp(backupAbs.slice(0, backupAbs.lastIndexOf('/')) || '/', dirMode);
  fs.rmSync(backupAbs, { recursive: true, force: true });
  try {
    fs.linkSync(abs, backupAbs);
  } catch {
    fs.copyFileSync(abs, backupAbs);
  }
}

/** Remove leftovers of an interrupted earlier run in one directory. */
export function cleanStaleTemps(dirAbs: string): number {
  const names = staleTemps(dirAbs);
  for (const name of names) fs.rmSync(`${dirAbs}/${name}`, { recursive: true, force: true });
  return names.length;
}

/** The names of tsync's temporaries in a directory (none when it cannot be read). */
export function staleTemps(dirAbs: string): string[] {
  try {
    return fs.readdirSync(dirAbs).filter((n) => n.startsWith(TMP_PREFIX));
  } catch {
    return [];
  }
}
