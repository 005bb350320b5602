// The receiver's hands: every change to the destination filesystem goes
// through here. Files are written under a temporary name beside their
// target and renamed into place; links are never followed; metadata is set
// through file descriptors or l* calls.

import * as fs from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import type { Entry } from './wire/schema.js';
import type { Local } from './plan/oneway.js';

export const TMP_PREFIX = '.tsync-tmp-';
const SMALL = 1 << 20;

export function readLocal(abs: string): Local | null {
  const st = fs.lstatSync(abs, { throwIfNoEntry: false });
  if (!st) return null;
  const mtime = Math.round(st.mtimeMs * 1000);
  if (st.isFile()) return { type: 'f', mode: st.mode & 0o7777, size: st.size, mtime };
  if (st.isDirectory()) return { type: 'd', mode: st.mode & 0o7777, size: 0, mtime };
  if (st.isSymbolicLink()) return { type: 'l', mode: 0o777, size: 0, mtime, target: fs.readlinkSync(abs, 'utf8') };
  return { type: 'other', mode: st.mode & 0o7777, size: st.size, mtime };
}

/** SHA-256 of a file; small files in one read, big ones in chunks that let the event loop breathe. */
export async function hashFile(abs: string): Promise<Buffer> {
  const flags = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;
  const h = createHash('sha256');
  const fd = fs.openSync(abs, flags);
  try {
    if (fs.fstatSync(fd).size <= SMALL) return h.update(fs.readFileSync(fd)).digest();
  } finally {
    fs.closeSync(fd);
  }
  const fh = await fs.promises.open(abs, flags);
  try {
    const buf = Buffer.alloc(SMALL);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
    return h.digest();
  } finally {
    await fh.close();
  }
}

export function tempName(base: string): string {
  return `${TMP_PREFIX}${base.slice(0, 100)}-${randomBytes(6).toString('hex')}`;
}

/** A new file beside its target that cannot be pre-planted (O_EXCL) nor be a link (O_NOFOLLOW). */
export function openTemp(dirAbs: string, base: string): { fd: number; path: string } {
  for (let i = 0; ; i++) {
    const path = `${dirAbs}/${tempName(base)}`;
    try {
      const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
      return { fd, path };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || i > 5) throw e;
    }
  }
}

export function secondsOf(us: number): number {
  return us / 1e6;
}

export function setFileMeta(fd: number, e: Entry): void {
  fs.fchmodSync(fd, e.mode);
  fs.futimesSync(fd, secondsOf(e.mtime), secondsOf(e.mtime));
}

/** mode and mtime on a path we know is not a symlink (we just made or checked it) */
export function setPathMeta(abs: string, e: Entry, mode: boolean, mtime: boolean): void {
  if (e.type === 'l') {
    if (mtime) fs.lutimesSync(abs, secondsOf(e.mtime), secondsOf(e.mtime));
    return;
  }
  // open without following, then act on the descriptor
  const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | (e.type === 'd' ? fs.constants.O_DIRECTORY : 0));
  try {
    if (mode) fs.fchmodSync(fd, e.mode);
    if (mtime) fs.futimesSync(fd, secondsOf(e.mtime), secondsOf(e.mtime));
  } finally {
    fs.closeSync(fd);
  }
}

/** A symlink put in place atomically (made under a temporary name, then renamed). */
export function placeSymlink(dirAbs: string, abs: string, base: string, target: string, mtimeUs: number): void {
  const tmp = `${dirAbs}/${tempName(base)}`;
  fs.symlinkSync(target, tmp);
  try {
    fs.lutimesSync(tmp, secondsOf(mtimeUs), secondsOf(mtimeUs));
    fs.renameSync(tmp, abs);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export function mkdirp(abs: string): void {
  fs.mkdirSync(abs, { recursive: true });
}

/** Move abs into the backup tree at backupAbs (falling back to copy across filesystems). */
export function moveAside(abs: string, backupAbs: string): void {
  mkdirp(backupAbs.slice(0, backupAbs.lastIndexOf('/')) || '/');
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
export function keepCopy(abs: string, backupAbs: string): void {
  mkdirp(backupAbs.slice(0, backupAbs.lastIndexOf('/')) || '/');
  fs.rmSync(backupAbs, { recursive: true, force: true });
  try {
    fs.linkSync(abs, backupAbs);
  } catch {
    fs.copyFileSync(abs, backupAbs);
  }
}

/** Remove leftovers of an interrupted earlier run in one directory. */
export function cleanStaleTemps(dirAbs: string): number {
  let n = 0;
  let names: string[];
  try {
    names = fs.readdirSync(dirAbs);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (name.startsWith(TMP_PREFIX)) {
      fs.rmSync(`${dirAbs}/${name}`, { recursive: true, force: true });
      n++;
    }
  }
  return n;
}
