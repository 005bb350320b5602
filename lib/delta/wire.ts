// The delta op stream on the wire.
//
//   copy:    0x01, varint block, varint count      (count >= 1)
//   literal: 0x02, varint length, length bytes     (1 <= length <= maxLiteral)
//   hole:    0x03, varint length                   (length >= minHole; only
//            in a round of a multi-round delta that allows holes)
//
// Varints are unsigned LEB128, canonical (no trailing zero groups), at most 8
// bytes, values <= 2^53 - 1. The stream has no end marker: the caller's
// framing says where it ends, and OpsDecoder.end() checks nothing is left
// half-read. The decoder keeps at most one literal (<= maxLiteral bytes) and
// validates every length and block index before allocating or returning.

import { TsyncError } from '../errors.js';
import { MAX_LITERAL, type DeltaOp, type RoundOp } from './types.js';

export const OP_COPY = 0x01;
export const OP_LITERAL = 0x02;
export const OP_HOLE = 0x03;

function varintLen(v: number): number {
  let n = 1;
  while (v >= 0x80) { v = Math.floor(v / 128); n++; }
  return n;
}

function writeVarint(out: Buffer, o: number, v: number): number {
  while (v >= 0x80) {
    out[o++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[o++] = v;
  return o;
}

function checkCount(v: number, what: string): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`expected ${what} to be a safe integer >= 0, got ${v}`);
}

/** Encode ops; literals longer than MAX_LITERAL are split, empty ones dropped. */
export function encodeOps(ops: readonly RoundOp[]): Buffer {
  let size = 0;
  for (const op of ops) {
    if (op.op === 'hole') {
      checkCount(op.length, 'hole length');
      if (op.length < 1) throw new RangeError(`expected hole length >= 1, got ${op.length}`);
      size += 1 + varintLen(op.length);
    } else if (op.op === 'copy') {
      checkCount(op.block, 'copy block');
      checkCount(op.count, 'copy count');
      if (op.count < 1) throw new RangeError(`expected copy count >= 1, got ${op.count}`);
      size += 1 + varintLen(op.block) + varintLen(op.count);
    } else {
      const n = op.data.length;
      for (let o = 0; o < n; o += MAX_LITERAL) size += 1 + varintLen(Math.min(MAX_LITERAL, n - o)) + Math.min(MAX_LITERAL, n - o);
    }
  }
  const out = Buffer.alloc(size);
  let o = 0;
  for (const op of ops) {
    if (op.op === 'hole') {
      out[o++] = OP_HOLE;
      o = writeVarint(out, o, op.length);
    } else if (op.op === 'copy') {
      out[o++] = OP_COPY;
      o = writeVarint(out, o, op.block);
      o = writeVarint(out, o, op.count);
    } else {
      const d = op.data;
      for (let s = 0; s < d.length; s += MAX_LITERAL) {
        const len = Math.min(MAX_LITERAL, d.length - s);
        out[o++] = OP_LITERAL;
        o = writeVarint(out, o, len);
        out.set(d.subarray(s, s + len), o);
        o += len;
      }
    }
  }
  return out;
}

export interface OpsLimits {
  /** the signature's block count: copies must stay below it */
  blockCount: number;
  /** largest literal accepted (default MAX_LITERAL) */
  maxLiteral?: number;
  /** accept hole ops of at least this many bytes (default 0: holes are refused) */
  minHole?: number;
}

// decoder states
const St = { Tag: 0, CopyBlock: 1, CopyCount: 2, LitLen: 3, LitData: 4, HoleLen: 5 } as const;
type St = (typeof St)[keyof typeof St];

/** Chunk-wise decoder: push() any split of the stream, end() when it is complete. */
export class OpsDecoder {
  private readonly blockCount: number;
  private readonly maxLiteral: number;
  private readonly minHole: number;
  private st: St = St.Tag;
  private v = 0;
  private mul = 1;
  private vBytes = 0;
  private block = 0;
  private lit: Buffer | null = null;
  private litFill = 0;
  /** bytes consumed so far, for messages */
  private offset = 0;

  constructor(limits: OpsLimits) {
    checkCount(limits.blockCount, 'blockCount');
    this.blockCount = limits.blockCount;
    this.maxLiteral = limits.maxLiteral ?? MAX_LITERAL;
    this.minHole = limits.minHole ?? 0;
    checkCount(this.minHole, 'minHole');
  }

  private fail(msg: string, at: number): never {
    throw new TsyncError('E_PROTOCOL', `invalid delta stream at byte ${at}: ${msg}`);
  }

  /** The ops completed by this chunk (no holes unless minHole was given). */
  push(chunk: Uint8Array): DeltaOp[] {
    return this.pushRound(chunk) as DeltaOp[];
  }

  /** push() for a round of a multi-round delta: holes too. */
  pushRound(chunk: Uint8Array): RoundOp[] {
    const ops: RoundOp[] = [];
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.st === St.LitData) {
        const lit = this.lit as Buffer;
        const take = Math.min(lit.length - this.litFill, n - i);
        lit.set(chunk.subarray(i, i + take), this.litFill);
        this.litFill += take;
        i += take;
        if (this.litFill === lit.length) {
          ops.push({ op: 'literal', data: lit });
          this.lit = null;
          this.st = St.Tag;
        }
        continue;
      }
      const byte = chunk[i];
      const at = this.offset + i;
      i++;
      if (this.st === St.Tag) {
        if (byte === OP_COPY) this.st = St.CopyBlock;
        else if (byte === OP_LITERAL) this.st = St.LitLen;
        else if (byte === OP_HOLE && this.minHole > 0) this.st = St.HoleLen;
        else this.fail(`unknown op tag 0x${byte.toString(16).padStart(2, '0')}`, at);
        this.v = 0; this.mul = 1; this.vBytes = 0;
        continue;
      }
      // a varint byte
      if (this.vBytes === 8) this.fail('varint longer than 8 bytes', at);
      if (byte === 0 && this.vBytes > 0) this.fail('non-canonical varint', at);
      this.v += (byte & 0x7f) * this.mul;
      this.mul *= 128;
      this.vBytes++;
      if (byte & 0x80) continue;
      const v = this.v;
      if (v > Number.MAX_SAFE_INTEGER) this.fail('varint exceeds 2^53 - 1', at);
      this.v = 0; this.mul = 1; this.vBytes = 0;
      if (this.st === St.CopyBlock) {
        if (v >= this.blockCount) this.fail(`copy of block ${v}, but the basis has ${this.blockCount} blocks`, at);
        this.block = v;
        this.st = St.CopyCount;
      } else if (this.st === St.CopyCount) {
        if (v < 1) this.fail('copy of 0 blocks', at);
        if (this.block + v > this.blockCount) this.fail(`copy of blocks ${this.block}..${this.block + v - 1}, but the basis has ${this.blockCount} blocks`, at);
        ops.push({ op: 'copy', block: this.block, count: v });
        this.st = St.Tag;
      } else if (this.st === St.HoleLen) {
        if (v < this.minHole) this.fail(`hole of ${v} bytes, shorter than the ${this.minHole} asked for`, at);
        ops.push({ op: 'hole', length: v });
        this.st = St.Tag;
      } else {
        if (v < 1 || v > this.maxLiteral) this.fail(`literal length ${v} not in 1..${this.maxLiteral}`, at);
        this.lit = Buffer.alloc(v);
        this.litFill = 0;
        this.st = St.LitData;
      }
    }
    this.offset += n;
    return ops;
  }

  /** Throws if the stream stopped in the middle of an op. */
  end(): void {
    if (this.st !== St.Tag) this.fail(this.st === St.LitData ? `truncated literal (${this.litFill} of ${(this.lit as Buffer).length} bytes)` : 'truncated op', this.offset);
  }
}

/** Decode a complete op stream. */
export function decodeOps(buf: Uint8Array, limits: OpsLimits): DeltaOp[] {
  const d = new OpsDecoder(limits);
  const ops = d.push(buf);
  d.end();
  return ops;
}
