// Multi-round (coarse-then-fine) deltas, the pure parts. See DESIGN.md.
//
// Round 1 signs the whole basis with big blocks; the sender answers with
// copies, literals for short unmatched runs and holes for long ones. Each
// later round signs only the basis bytes no copy has referenced so far,
// concatenated as one "virtual basis", with smaller blocks, and the sender
// matches each hole against it on its own. The last round allows no holes.
//
//   HoleFilter      sender: literal runs of >= minHole bytes -> hole ops
//   VirtualBasis    receiver: virtual offsets <-> basis ranges
//   unreferenced()  receiver: the virtual basis of the next round
//   roundBlockSizes, roundStrongLen: the parameters

import { createHash, type Hash } from 'node:crypto';
import { TsyncError } from '../errors.js';
import type { DeltaOp, RoundOp } from './types.js';

/** files (their basis) below this keep the single round */
export const ROUNDS_MIN = 16 << 20;
/** the smallest hole a receiver may allow (bounds both sides' hole lists) */
export const MIN_HOLE = 256;

/**
 * Block sizes of the rounds for a basis of this size: B1 = size / 4096 as a
 * power of two in 64 KiB..1 MiB, then / 64 (at least 1 KiB), then / 16 (at
 * least 128 B). 1 GiB: 256K / 4K / 256; 64 MiB: 64K / 1K / 128 (DESIGN.md).
 */
export function roundBlockSizes(basisSize: number): number[] {
  let b1 = 64 << 10;
  while (b1 < 1 << 20 && b1 * 2 * 4096 <= basisSize) b1 *= 2;
  const b2 = Math.max(1024, b1 / 64);
  const b3 = Math.max(128, b2 / 16);
  return [b1, b2, b3];
}

/** the hole threshold the receiver asks for in round `k` (0-based) of these rounds: 0 in the last */
export function roundMinHole(blocks: readonly number[], k: number): number {
  return k + 1 < blocks.length ? Math.max(MIN_HOLE, 2 * blocks[k + 1]) : 0;
}

/**
 * Strong-hash bytes for a later round: the expected false matches over the
 * holes stay below 2^-20 (as chooseStrongLen), but 4 bytes suffice for the
 * few MB a later round searches. The whole-file SHA-256 backs it.
 */
export function roundStrongLen(holeBytes: number, blocks: number): number {
  const bits = 20 + Math.log2(holeBytes + 1) + Math.log2(blocks + 1) - 32;
  return Math.min(16, Math.max(4, Math.ceil(bits / 8)));
}

/**
 * The sender's side of a round: passes copies through, keeps literals of an
 * unmatched run until it is known to be short (< minHole: sent as
 * literals) or long (a hole: its bytes are dropped). Memory: < minHole
 * bytes. With minHole 0 it passes everything through. Records each hole
 * as [offset, length] in new-file coordinates.
 */
export class HoleFilter {
  /** flat [offset, length] pairs of the holes so far */
  readonly holes: number[] = [];
  private pos = 0;
  private run: DeltaOp[] = [];
  private runLen = 0;
  private inHole = false;

  constructor(
    private readonly minHole: number,
    private readonly blockSize: number,
    private readonly basisSize: number,
  ) {}

  /** the next ops start at this new-file offset */
  startAt(offset: number): void {
    this.pos = offset;
  }

  push(ops: readonly DeltaOp[]): RoundOp[] {
    if (this.minHole === 0) {
      for (const op of ops) this.pos += this.len(op);
      return ops as DeltaOp[];
    }
    const out: RoundOp[] = [];
    for (const op of ops) {
      if (op.op === 'copy') {
        this.flush(out);
        out.push(op);
        this.pos += this.len(op);
        continue;
      }
      this.runLen += op.data.length;
      if (this.inHole) continue;
      this.run.push(op);
      if (this.runLen >= this.minHole) {
        this.inHole = true;
        this.run = [];
      }
    }
    return out;
  }

  /** the end of a piece (a hole of the previous round, or the file) */
  finish(): RoundOp[] {
    const out: RoundOp[] = [];
    this.flush(out);
    return out;
  }

  private len(op: DeltaOp): number {
    if (op.op === 'literal') return op.data.length;
    return Math.min(this.basisSize, (op.block + op.count) * this.blockSize) - op.block * this.blockSize;
  }

  private flush(out: RoundOp[]): void {
    if (this.runLen === 0) return;
    if (this.inHole) {
      out.push({ op: 'hole', length: this.runLen });
      this.holes.push(this.pos, this.runLen);
    } else out.push(...this.run);
    this.pos += this.runLen;
    this.run = [];
    this.runLen = 0;
    this.inHole = false;
  }
}

export interface Range {
  offset: number;
  length: number;
}

/**
 * Ranges of the basis file seen as one contiguous virtual basis, in order.
 * Built from flat [offset, length] pairs, which must be sorted, disjoint and
 * non-empty.
 */
export class VirtualBasis {
  readonly size: number;
  /** virtual start of each segment, and one past the end */
  private readonly starts: number[];

  constructor(private readonly segs: readonly number[]) {
    if (segs.length % 2 !== 0) throw new RangeError('segments are [offset, length] pairs');
    this.starts = [0];
    let acc = 0;
    let prevEnd = 0;
    for (let i = 0; i < segs.length; i += 2) {
      const o = segs[i];
      const l = segs[i + 1];
      if (!Number.isSafeInteger(o) || !Number.isSafeInteger(l) || l < 1 || o < prevEnd) throw new RangeError(`bad segment [${o}, ${l}]`);
      prevEnd = o + l;
      acc += l;
      this.starts.push(acc);
    }
    this.size = acc;
  }

  static whole(size: number): VirtualBasis {
    return new VirtualBasis(size > 0 ? [0, size] : []);
  }

  get segments(): number {
    return this.segs.length / 2;
  }

  /** the basis ranges under virtual [offset, offset + length), at most maxRange bytes each */
  map(offset: number, length: number, maxRange = Number.MAX_SAFE_INTEGER): Range[] {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new TsyncError('E_PROTOCOL', `invalid delta op: virtual range ${offset}+${length} outside a virtual basis of ${this.size} bytes`);
    }
    const out: Range[] = [];
    let s = this.segmentAt(offset);
    let v = offset;
    const end = offset + length;
    while (v < end) {
      const segEnd = this.starts[s + 1];
      const stop = Math.min(end, segEnd);
      const base = this.segs[2 * s] + (v - this.starts[s]);
      for (let o = 0; o < stop - v; o += maxRange) out.push({ offset: base + o, length: Math.min(maxRange, stop - v - o) });
      v = stop;
      s++;
    }
    return out;
  }

  /** the basis [offset, length] pairs for each segment, in order */
  *ranges(): Generator<Range> {
    for (let i = 0; i < this.segs.length; i += 2) yield { offset: this.segs[i], length: this.segs[i + 1] };
  }

  /** the segment holding virtual offset v (v < size) */
  private segmentAt(v: number): number {
    let lo = 0;
    let hi = this.starts.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= v) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/**
 * The virtual basis of the next round: the blocks of `vb` (signed with
 * `blockSize`) whose `referenced` flag is 0, back in basis coordinates,
 * adjacent ranges merged.
 */
export function unreferenced(vb: VirtualBasis, blockSize: number, referenced: Uint8Array): VirtualBasis {
  const segs: number[] = [];
  const n = Math.ceil(vb.size / blockSize);
  for (let k = 0; k < n; ) {
    if (referenced[k]) {
      k++;
      continue;
    }
    let e = k + 1;
    while (e < n && !referenced[e]) e++;
    const from = k * blockSize;
    for (const r of vb.map(from, Math.min(vb.size, e * blockSize) - from)) {
      const last = segs.length - 2;
      if (last >= 0 && segs[last] + segs[last + 1] === r.offset) segs[last + 1] += r.length;
      else segs.push(r.offset, r.length);
    }
    k = e;
  }
  return new VirtualBasis(segs);
}

/** chunk size of ChunkedHash: 256 KiB, doubled until a file has at most 65,536 chunks */
export function hashChunkSize(size: number): number {
  let c = 256 << 10;
  while (size / c > 65536) c *= 2;
  return c;
}

/**
 * The whole-file hash of a multi-round delta: SHA-256 over
 * "tsync-chunked-sha256" || size (u64) || chunk size (u32) || the SHA-256 of
 * each chunk, in order. As strong as SHA-256 of the file, but computable
 * from pieces written out of order: the receiver hashes each chunk it wrote
 * in one go from its start while writing, and re-reads only the chunks a
 * hole interrupted.
 */
export class ChunkedHash {
  readonly chunk: number;
  readonly count: number;
  private readonly digests: Buffer;
  private readonly have: Uint8Array;
  private cur = -1;
  private h: Hash | null = null;
  private filled = 0;

  constructor(readonly size: number) {
    this.chunk = hashChunkSize(size);
    this.count = Math.ceil(size / this.chunk);
    this.digests = Buffer.alloc(this.count * 32);
    this.have = new Uint8Array(this.count);
  }

  chunkLen(i: number): number {
    return Math.min(this.chunk, this.size - i * this.chunk);
  }

  /** bytes written at `at`: hashed on the way when they continue the chunk in hand, else its digest is dropped */
  update(at: number, data: Uint8Array): void {
    for (let o = 0; o < data.length; ) {
      const pos = at + o;
      const i = Math.floor(pos / this.chunk);
      const within = pos - i * this.chunk;
      const take = Math.min(data.length - o, this.chunkLen(i) - within);
      if (take <= 0) throw new RangeError(`write at ${pos} past the end (${this.size})`);
      if (i !== this.cur) {
        this.cur = i;
        this.h = within === 0 ? createHash('sha256') : null;
        this.filled = 0;
      }
      this.have[i] = 0;
      if (this.h && within === this.filled) {
        this.h.update(data.subarray(o, o + take));
        this.filled += take;
        if (this.filled === this.chunkLen(i)) {
          this.set(i, this.h.digest());
          this.h = null;
        }
      } else this.h = null;
      o += take;
    }
  }

  /** chunks whose digest is not known (to be re-read) */
  missing(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.count; i++) if (!this.have[i]) out.push(i);
    return out;
  }

  set(i: number, digest: Uint8Array): void {
    this.digests.set(digest, i * 32);
    this.have[i] = 1;
  }

  root(): Buffer {
    if (this.missing().length > 0) throw new Error('ChunkedHash: chunks missing');
    const head = Buffer.alloc(12);
    head.writeUInt32BE(Math.floor(this.size / 0x100000000), 0);
    head.writeUInt32BE(this.size % 0x100000000, 4);
    head.writeUInt32BE(this.chunk, 8);
    return createHash('sha256').update('tsync-chunked-sha256').update(head).update(this.digests).digest();
  }
}
