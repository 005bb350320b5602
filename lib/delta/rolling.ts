// The weak rolling checksum and the strong per-block hash.
//
// Weak sum: rsync's two-part Adler-like sum, but over a byte->16-bit table
// instead of the raw byte values (the "table-mapped" variant, as in bup's and
// buzhash-style rollers). For a window x[0..L-1]:
//
//   a = sum T[x[i]]             mod 2^16
//   b = sum (L - i) * T[x[i]]   mod 2^16
//   weak = (b << 16) | a        (an int32; its bit pattern is the wire u32)
//
// Rolling one byte (drop x[0], take x[L]):
//   a' = a - T[x[0]] + T[x[L]]
//   b' = b - L * T[x[0]] + a'
//
// Why the table: rsync sums raw bytes, so `a` of an L-byte window clusters
// near L*mean with spread ~sqrt(L)*stddev, and text (bytes 0x20..0x7a) uses a
// tiny part of the 2^32 space; weak hits that the strong hash must then reject
// are common. With random 16-bit table entries both halves are uniform mod
// 2^16, so false weak hits drop to ~blocks/2^32 per position (measured in
// bench/delta-micro.mjs). The cost is one table load per byte, and the roll
// stays plain small-integer arithmetic (no Math.imul, no doubles).
//
// Strong hash: SHA-256 from node:crypto (one-shot crypto.hash), truncated.
// Measured on this machine (SHA-NI): sha256 ~1.1 GB/s on 64 KiB blocks and
// ~0.9 GB/s on 8 KiB, md5 ~0.5 GB/s, sha1 about sha256's speed but broken.
// The caller verifies the whole file with SHA-256 anyway, so truncation to
// 8..16 bytes only costs a retry on a (vanishingly rare) false match.

import { hash } from 'node:crypto';

// The table is part of the signature format (version 1): never change it
// without bumping SIGNATURE_VERSION. Generated once from a fixed xorshift32
// seed so it is reproducible; values are 16-bit.
function makeTable(): Int32Array {
  const t = new Int32Array(256);
  const used = new Set<number>();
  let s = 0x9e3779b9 >>> 0;
  for (let i = 0; i < 256;) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    const v = (s >>> 8) & 0xffff;
    if (used.has(v)) continue; // distinct values: no two bytes look alike
    used.add(v);
    t[i++] = v;
  }
  return t;
}

/** byte -> 16-bit value used by the weak sum. */
export const WEAK_TABLE: Int32Array = makeTable();

/**
 * `(len * WEAK_TABLE[x]) & 0xffff` for every byte x: what rolling a byte out
 * of a window of `len` bytes subtracts from `b`. Precomputed so the roll
 * never leaves small-integer range.
 */
export function outTable(len: number): Int32Array {
  const t = new Int32Array(256);
  const l = len & 0xffff; // only len mod 2^16 matters
  for (let i = 0; i < 256; i++) t[i] = (l * WEAK_TABLE[i]) & 0xffff;
  return t;
}

/** Weak sum of data[start, start+len), as an int32 `(b << 16) | a`. */
export function weakSum(data: Uint8Array, start: number, len: number): number {
  const T = WEAK_TABLE;
  let a = 0;
  let b = 0;
  const end = start + len;
  let i = start;
  // b = sum over prefixes of a = sum (len - i) * T[x[i]]
  for (; i + 4 <= end; i += 4) {
    a = (a + T[data[i]]) & 0xffff; b = (b + a) & 0xffff;
    a = (a + T[data[i + 1]]) & 0xffff; b = (b + a) & 0xffff;
    a = (a + T[data[i + 2]]) & 0xffff; b = (b + a) & 0xffff;
    a = (a + T[data[i + 3]]) & 0xffff; b = (b + a) & 0xffff;
  }
  for (; i < end; i++) {
    a = (a + T[data[i]]) & 0xffff; b = (b + a) & 0xffff;
  }
  return (b << 16) | a;
}

/**
 * A rolling weak sum over a fixed-length window. The matcher inlines the
 * same arithmetic in its loop; this class is the readable reference and what
 * tests check the matcher against.
 */
export class RollingSum {
  readonly len: number;
  private a = 0;
  private b = 0;
  private readonly outT: Int32Array;
  constructor(len: number) {
    if (!Number.isSafeInteger(len) || len < 1) throw new RangeError(`expected window length >= 1, got ${len}`);
    this.len = len;
    this.outT = outTable(len);
  }
  /** Start over on data[start, start+len). */
  init(data: Uint8Array, start: number): void {
    const w = weakSum(data, start, this.len);
    this.a = w & 0xffff;
    this.b = (w >>> 16) & 0xffff;
  }
  /** Slide the window one byte: `out` leaves at the front, `inb` enters at the back. */
  roll(out: number, inb: number): void {
    this.a = (this.a - WEAK_TABLE[out] + WEAK_TABLE[inb]) & 0xffff;
    this.b = (this.b - this.outT[out] + this.a) & 0xffff;
  }
  get value(): number {
    return (this.b << 16) | this.a;
  }
}

/** Largest strong-hash length (SHA-256 output). */
export const MAX_STRONG_LEN = 32;

/** Truncated SHA-256 of data[start, start+len) (a fresh Buffer of strongLen bytes, or a view on one). */
export function strongSum(data: Uint8Array, start: number, len: number, strongLen: number): Buffer {
  const d = hash('sha256', data.subarray(start, start + len), 'buffer');
  return strongLen === d.length ? d : d.subarray(0, strongLen);
}
