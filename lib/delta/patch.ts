// The receiver's side: ops -> what to read from the basis and what to write.
// No I/O here: the caller reads each planned basis range (in order) and
// writes it, or writes the literal, to the new file.

import { TsyncError } from '../errors.js';
import type { DeltaOp } from './types.js';

export type PatchStep =
  | { kind: 'basis'; offset: number; length: number }
  | { kind: 'literal'; data: Buffer };

export interface PatcherOptions {
  blockSize: number;
  basisSize: number;
  /** split basis ranges into pieces of at most this many bytes (default 4 MiB) */
  maxRange?: number;
}

export const DEFAULT_MAX_RANGE = 4 * 1024 * 1024;

export class Patcher {
  readonly blockSize: number;
  readonly basisSize: number;
  readonly blockCount: number;
  private readonly maxRange: number;
  /** bytes of output planned so far */
  written = 0;

  constructor(opts: PatcherOptions) {
    const { blockSize, basisSize } = opts;
    if (!Number.isSafeInteger(blockSize) || blockSize < 1) throw new RangeError(`expected blockSize >= 1, got ${blockSize}`);
    if (!Number.isSafeInteger(basisSize) || basisSize < 0) throw new RangeError(`expected basisSize >= 0, got ${basisSize}`);
    const maxRange = opts.maxRange ?? DEFAULT_MAX_RANGE;
    if (!Number.isSafeInteger(maxRange) || maxRange < 1) throw new RangeError(`expected maxRange >= 1, got ${maxRange}`);
    this.blockSize = blockSize;
    this.basisSize = basisSize;
    this.blockCount = Math.ceil(basisSize / blockSize);
    this.maxRange = maxRange;
  }

  /** The steps for one op. Throws TsyncError E_PROTOCOL on an op that does not fit the basis. */
  plan(op: DeltaOp): PatchStep[] {
    if (op.op === 'literal') {
      if (!(op.data instanceof Uint8Array)) throw new TsyncError('E_PROTOCOL', 'invalid delta op: literal without data');
      if (op.data.length === 0) return [];
      this.written += op.data.length;
      return [{ kind: 'literal', data: op.data }];
    }
    if (op.op !== 'copy') throw new TsyncError('E_PROTOCOL', `invalid delta op: ${String((op as { op: unknown }).op)}`);
    const { block, count } = op;
    if (!Number.isSafeInteger(block) || !Number.isSafeInteger(count) || block < 0 || count < 1 || block + count > this.blockCount) {
      throw new TsyncError('E_PROTOCOL', `invalid delta op: copy of ${count} blocks from block ${block}, but the basis has ${this.blockCount} blocks`);
    }
    const start = block * this.blockSize;
    const stop = Math.min(this.basisSize, (block + count) * this.blockSize);
    const steps: PatchStep[] = [];
    for (let o = start; o < stop; o += this.maxRange) {
      steps.push({ kind: 'basis', offset: o, length: Math.min(this.maxRange, stop - o) });
    }
    this.written += stop - start;
    return steps;
  }
}

/** Pure, in-memory patch (tests and small files): the new file. */
export function applyDelta(basis: Uint8Array, ops: readonly DeltaOp[], blockSize: number): Buffer {
  const p = new Patcher({ blockSize, basisSize: basis.length, maxRange: Number.MAX_SAFE_INTEGER });
  const parts: Uint8Array[] = [];
  for (const op of ops) {
    for (const s of p.plan(op)) parts.push(s.kind === 'literal' ? s.data : basis.subarray(s.offset, s.offset + s.length));
  }
  return Buffer.concat(parts, p.written);
}
