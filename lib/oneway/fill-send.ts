// The sender's side of a multi-round delta (capability 'delta:rounds'): one
// REQ_FILL answered with FILE_BEGIN, ops as DATA, FILE_END (Holes when a
// later round must fill what this one left, else Sent). Round 1 streams the
// whole file and hashes it; later rounds re-read only the holes, by offset,
// and refuse a file whose size or mtime is no longer what was listed.

import * as fs from 'node:fs';
import type { Connection } from '../link/connection.js';
import { FileStatus, LIMITS, type Entry } from '../wire/schema.js';
import { TsyncError } from '../errors.js';
import { ChunkedHash, decodeSignature, DeltaGenerator, encodeOps, HoleFilter, MIN_HOLE, type RoundOp } from '../delta/index.js';
import { ChangedError, matches, NOFOLLOW, readAt, readListed } from './source.js';

/** what a file's next round needs: its holes (flat [offset, length] pairs) and whole-file hash (ChunkedHash) */
export interface FillState {
  holes: number[];
  hash: Buffer;
}

const CHUNK = 1 << 20;

/**
 * Answer one REQ_FILL for file `index`; the state for its next round, or
 * null when the file is complete (or failed: FILE_END says which).
 */
export async function sendRound(conn: Connection, index: number, f: { entry: Entry; abs: string }, req: { holeMin: number; sig: Buffer }, state: FillState | undefined): Promise<FillState | null> {
  if (req.holeMin !== 0 && req.holeMin < MIN_HOLE) throw new TsyncError('E_PROTOCOL', `a hole threshold of ${req.holeMin} bytes (at least ${MIN_HOLE})`);
  const sig = decodeSignature(req.sig, { maxBlocks: LIMITS.sig });
  const gen = new DeltaGenerator(sig);
  const filter = new HoleFilter(req.holeMin, sig.blockSize, sig.fileSize);
  const size = f.entry.size;
  let begun = false;
  const begin = async () => {
    if (!begun) await conn.sendWait({ t: 'file_begin', index, size, delta: true });
    begun = true;
  };
  const send = async (ops: RoundOp[]) => {
    if (ops.length === 0) return;
    const bytes = encodeOps(ops);
    for (let off = 0; off < bytes.length; off += LIMITS.data) await conn.sendWait({ t: 'data', data: bytes.subarray(off, off + LIMITS.data) });
  };
  let hash: Buffer;
  try {
    if (!state) {
      const h = new ChunkedHash(size);
      let pos = 0;
      for await (const chunk of readListed(f.abs, f.entry)) {
        await begin();
        h.update(pos, chunk);
        pos += chunk.length;
        await send(filter.push(gen.push(chunk)));
      }
      await begin();
      await send(filter.push(gen.finish()));
      await send(filter.finish());
      hash = h.root();
    } else {
      await begin();
      await fillHoles(f, state.holes, gen, filter, send);
      hash = state.hash;
    }
  } catch (err) {
    if (!(err instanceof ChangedError)) throw err;
    conn.send({ t: 'file_end', index, status: FileStatus.Failed, hash: Buffer.alloc(0), message: err.message });
    return null;
  }
  const more = filter.holes.length > 0;
  conn.send({ t: 'file_end', index, status: more ? FileStatus.Holes : FileStatus.Sent, hash, message: '' });
  return more ? { holes: filter.holes, hash } : null;
}

/** match each hole of the file on its own, re-read by offset */
async function fillHoles(f: { entry: Entry; abs: string }, holes: number[], gen: DeltaGenerator, filter: HoleFilter, send: (ops: RoundOp[]) => Promise<void>): Promise<void> {
  const fd = fs.openSync(f.abs, NOFOLLOW);
  try {
    if (!matches(fs.fstatSync(fd), f.entry)) throw new ChangedError('file changed since it was listed');
    const buf = Buffer.alloc(CHUNK);
    for (let i = 0; i < holes.length; i += 2) {
      const start = holes[i];
      const len = holes[i + 1];
      gen.reset();
      filter.startAt(start);
      for (let o = 0; o < len; ) {
        const { bytesRead } = await readAt(fd, buf, 0, Math.min(CHUNK, len - o), start + o);
        if (bytesRead === 0) throw new ChangedError('file shrank while it was being read');
        await send(filter.push(gen.push(buf.subarray(0, bytesRead))));
        o += bytesRead;
      }
      await send(filter.push(gen.finish()));
      await send(filter.finish());
    }
    if (!matches(fs.fstatSync(fd), f.entry)) throw new ChangedError('file changed while it was being read');
  } finally {
    fs.closeSync(fd);
  }
}
