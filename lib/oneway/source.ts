// Reading files for the wire: a source file streamed in chunks with the
// check that it did not change while read, and a basis file turned into a
// delta signature. Small files take one synchronous read; big ones go in
// chunks that let the event loop (and keepalives) run.

import { mtimeUs } from '../time.js';
import * as fs from 'node:fs';
import { realFs, type FileSystem } from '../fs/seam.js';
import { promisify } from 'node:util';
import { chooseBlockSize, chooseStrongLen, encodeSignature, SignatureBuilder, SIGNATURE_HEADER_LEN } from '../delta/index.js';
import { LIMITS } from '../wire/schema.js';

export const SMALL = 1 << 20;
/** below this size a changed file is sent whole: a signature round trip would cost more than it saves */
export const DELTA_MIN = 16 << 10;
const CHUNK = 1 << 20;
export const readAt = promisify(fs.read);
export const NOFOLLOW = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;

export class ChangedError extends Error {}

/** Fill buf from fd at position, stopping early only at end of file; the bytes read. */
export function readFull(fd: number, buf: Buffer, position: number): number {
  let n = 0;
  while (n < buf.length) {
    const k = fs.readSync(fd, buf, n, buf.length - n, position + n);
    if (k === 0) break;
    n += k;
  }
  return n;
}

/** What the sender listed: a file is sent only if it still matches. */
export interface Listed {
  size: number;
  mtime: number; // microseconds
}

export function matches(st: fs.Stats, l: Listed): boolean {
  return st.isFile() && st.size === l.size && mtimeUs(st) === l.mtime;
}

/**
 * The file's content in chunks, exactly `listed.size` bytes, never through
 * a symlink. Throws ChangedError when the file is not what was listed, before
 * or after reading (size+1 bytes are asked for, so growth shows).
 */
export async function* readListed(abs: string, listed: Listed): AsyncGenerator<Buffer> {
  const fd = fs.openSync(abs, NOFOLLOW);
  try {
    if (!matches(fs.fstatSync(fd), listed)) throw new ChangedError('file changed since it was listed');
    if (listed.size <= SMALL) {
      const buf = Buffer.alloc(listed.size + 1);
      const n = readFull(fd, buf, 0);
      if (n !== listed.size || !matches(fs.fstatSync(fd), listed)) throw new ChangedError('file changed while it was being read');
      yield buf.subarray(0, n);
      return;
    }
    let off = 0;
    for (;;) {
      const buf = Buffer.alloc(CHUNK);
      const { bytesRead } = await readAt(fd, buf, 0, CHUNK, off);
      if (bytesRead === 0) break;
      off += bytesRead;
      if (off > listed.size) throw new ChangedError('file grew while it was being read');
      yield buf.subarray(0, bytesRead);
    }
    if (off !== listed.size || !matches(fs.fstatSync(fd), listed)) throw new ChangedError('file changed while it was being read');
  } finally {
    fs.closeSync(fd);
  }
}

/** Block size for a basis of this size, bounded so its signature fits one REQ frame. */
export function basisBlockSize(size: number): { blockSize: number; strongLen: number } {
  let blockSize = chooseBlockSize(size);
  let strongLen = chooseStrongLen(size, blockSize);
  const maxBlocks = Math.floor((LIMITS.sig - SIGNATURE_HEADER_LEN) / (4 + strongLen));
  if (Math.ceil(size / blockSize) > maxBlocks) {
    blockSize = Math.ceil(size / maxBlocks / 8) * 8;
    strongLen = chooseStrongLen(size, blockSize);
  }
  return { blockSize, strongLen };
}

/** The encoded delta signature of a receiver's basis file, and the size it covers. */
export async function signFile(abs: string, fsys: FileSystem = realFs): Promise<{ sig: Buffer; size: number }> {
  const fd = fsys.openSync(abs, NOFOLLOW);
  try {
    const size = fsys.fstatSync(fd).size;
    const { blockSize, strongLen } = basisBlockSize(size);
    const b = new SignatureBuilder({ blockSize, strongLen, expectedSize: size });
    const buf = Buffer.alloc(Math.min(CHUNK, Math.max(size, 1)));
    let off = 0;
    for (;;) {
      const { bytesRead } = size <= SMALL ? { bytesRead: fs.readSync(fd, buf, 0, buf.length, off) } : await readAt(fd, buf, 0, buf.length, off);
      if (bytesRead === 0) break;
      b.update(buf.subarray(0, bytesRead));
      off += bytesRead;
    }
    return { sig: encodeSignature(b.finish()), size: off };
  } finally {
    fsys.closeSync(fd);
  }
}
