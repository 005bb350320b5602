// The matcher: turns a new file, pushed in chunks of any size, into copy and
// literal ops against a basis Signature (rsync's match.c, streaming).
//
// Memory is bounded by the signature plus one buffer of
// max(1 MiB, 4 * (MAX_LITERAL + blockSize)) bytes: at most one pending
// literal run (< 64 KiB, flushed at MAX_LITERAL) and one window are kept
// between pushes.
//
// Search order at a position:
//  1. Right after a match (and at offset 0), the block following the last
//     match is tried first, by strong hash alone (no weak sum is computed:
//     in the common all-matching case each block costs one SHA-256 call).
//     If that block is the basis's short final block it is tried with its own
//     length, so an appended-to file still matches its old tail (rsync only
//     matches the short block at the very end of the new file).
//  2. Otherwise the rolling weak sum is looked up in an open-addressing table
//     of distinct weak sums; on a hit the window's strong hash is computed
//     once and compared with the following block first (rsync's heuristic),
//     then along the chain of blocks with that weak sum.
//  3. At the end of the new file, the short final block is tried against the
//     last bytes.
//
// The table keeps one block per distinct (weak, strong) pair and at most
// `maxChain` distinct strong hashes per weak sum, so a signature crafted with
// many colliding weak sums cannot make the matcher quadratic (skipped blocks
// can still match through step 1).

import { WEAK_TABLE, outTable, weakSum, strongSum } from './rolling.js';
import { MAX_LITERAL, type DeltaOp, type Signature } from './types.js';

export interface MatchOptions {
  /** distinct strong hashes kept per weak sum (default 16) */
  maxChain?: number;
}

export interface MatchStats {
  /** bytes of the new file sent as literals */
  literalBytes: number;
  /** bytes of the new file covered by copy ops */
  matchedBytes: number;
  copyOps: number;
  literalOps: number;
  /** positions where the weak sum was in the table */
  weakHits: number;
  /** weak hits where no block's strong hash matched */
  falseWeakHits: number;
}

const GOLDEN = 0x9e3779b1 | 0;

/**
 * The hot loop: roll the window at `pos` forward until the filter passes a
 * weak sum (returns ~pos, < 0) or the window start reaches `stop` (returns
 * stop). `ab` carries [a, b] in and out. With `skip` the window at `pos` is
 * not tested (it already was). Kept small and monomorphic so V8 optimises it
 * on its own; inlined in the big scan() it ran ~3x slower.
 */
function rollToHit(buf: Uint8Array, pos: number, stop: number, L: number, ab: Int32Array, T: Int32Array, OT: Int32Array, filter: Int32Array, fMask: number, skip: boolean): number {
  let a = ab[0];
  let b = ab[1];
  if (!skip) {
    const w = (b << 16) | a;
    if ((filter[(w >>> 5) & fMask] & (1 << (w & 31))) !== 0) return ~pos;
  }
  while (pos < stop) {
    const out = buf[pos];
    const inb = buf[pos + L];
    a = (a - T[out] + T[inb]) & 0xffff;
    b = (b - OT[out] + a) & 0xffff;
    pos++;
    const w = (b << 16) | a;
    if ((filter[(w >>> 5) & fMask] & (1 << (w & 31))) !== 0) {
      ab[0] = a;
      ab[1] = b;
      return ~pos;
    }
  }
  ab[0] = a;
  ab[1] = b;
  return pos;
}

export class DeltaGenerator {
  readonly stats: MatchStats = { literalBytes: 0, matchedBytes: 0, copyOps: 0, literalOps: 0, weakHits: 0, falseWeakHits: 0 };

  private readonly L: number;
  private readonly sl: number;
  private readonly n: number;
  /** blocks of full length */
  private readonly nFull: number;
  /** length of the last block if it is short, else 0 */
  private readonly shortLen: number;
  private readonly sigWeak: Int32Array;
  private readonly sigStrong: Uint8Array;
  private readonly outT: Int32Array;
  /** pairs [weak, firstBlock + 1] (0 = empty slot) */
  private readonly tab: Int32Array;
  private readonly tabMask: number;
  private readonly tabShift: number;
  /** block -> next block + 1 with the same weak sum (0 = end) */
  private readonly next: Int32Array;
  /** bitmap over weak sums: the per-byte test, small enough for L1/L2 */
  private readonly filter: Int32Array;
  private readonly filterMask: number;
  /** [a, b] in and out of rollToHit */
  private readonly ab = new Int32Array(2);

  private readonly buf: Buffer;
  private end = 0;
  private pos = 0;
  private lit = 0;
  private haveSum = false;
  private a = 0;
  private b = 0;
  private expected = 0;
  private fresh = true;
  private strongPos = -1;
  private strongCur: Uint8Array = new Uint8Array(0);
  private runStart = -1;
  private runCount = 0;
  private ops: DeltaOp[] = [];
  private done = false;

  constructor(sig: Signature, opts: MatchOptions = {}) {
    const L = sig.blockSize;
    if (!Number.isSafeInteger(L) || L < 1) throw new RangeError(`expected blockSize >= 1, got ${L}`);
    if (sig.blockCount !== Math.ceil(sig.fileSize / L)) throw new RangeError('signature blockCount does not match fileSize / blockSize');
    if (sig.weak.length < sig.blockCount || sig.strong.length < sig.blockCount * sig.strongLen) throw new RangeError('signature tables are shorter than blockCount');
    this.L = L;
    this.sl = sig.strongLen;
    this.n = sig.blockCount;
    const rem = sig.fileSize % L;
    this.shortLen = rem;
    this.nFull = rem === 0 ? this.n : this.n - 1;
    this.sigWeak = sig.weak;
    this.sigStrong = sig.strong;
    this.outT = outTable(L);
    const maxChain = opts.maxChain ?? 16;

    let bits = 4;
    while (1 << bits < 2 * this.nFull) bits++;
    const size = 1 << bits;
    this.tabMask = size - 1;
    this.tabShift = 32 - bits;
    this.tab = new Int32Array(size * 2);
    this.next = new Int32Array(this.nFull);
    const chainLen = new Int32Array(size);
    const tab = this.tab;
    for (let i = 0; i < this.nFull; i++) {
      const w = sig.weak[i];
      let s = Math.imul(w, GOLDEN) >>> this.tabShift;
      while (tab[2 * s + 1] !== 0 && tab[2 * s] !== w) s = (s + 1) & this.tabMask;
      if (tab[2 * s + 1] === 0) {
        tab[2 * s] = w;
        tab[2 * s + 1] = i + 1;
        chainLen[s] = 1;
        continue;
      }
      if (chainLen[s] >= maxChain) continue;
      // walk to the tail, dropping i if an identical block is already there
      let blk = tab[2 * s + 1] - 1;
      let dup = false;
      for (;;) {
        if (this.strongEq(this.sigStrong, i * this.sl, blk)) { dup = true; break; }
        const nx = this.next[blk];
        if (nx === 0) break;
        blk = nx - 1;
      }
      if (dup) continue;
      this.next[blk] = i + 1;
      chainLen[s]++;
    }

    // ~32 filter bits per block (a false positive rate of ~3%), between
    // 4 Kibit and 2 Mibit (256 KiB): up to 2^16 blocks the filter stays in L2,
    // while the table itself may not.
    let fbits = 12;
    while (1 << fbits < 32 * this.nFull && fbits < 21) fbits++;
    this.filter = new Int32Array(1 << (fbits - 5));
    this.filterMask = (1 << (fbits - 5)) - 1;
    for (let i = 0; i < size; i++) {
      if (tab[2 * i + 1] === 0) continue;
      const w = tab[2 * i];
      this.filter[(w >>> 5) & this.filterMask] |= 1 << (w & 31);
    }

    const cap = Math.max(1 << 20, 4 * (MAX_LITERAL + L));
    this.buf = Buffer.alloc(cap);
  }

  /**
   * Start over on another piece of new data against the same signature (the
   * holes of a multi-round delta, one at a time), keeping the tables.
   */
  reset(): void {
    this.end = this.pos = this.lit = 0;
    this.haveSum = false;
    this.a = this.b = 0;
    this.expected = 0;
    this.fresh = true;
    this.strongPos = -1;
    this.runStart = -1;
    this.runCount = 0;
    this.ops = [];
    this.done = false;
  }

  /** Feed the next bytes of the new file; returns the ops completed so far. */
  push(chunk: Uint8Array): DeltaOp[] {
    if (this.done) throw new Error('DeltaGenerator: push() after finish()');
    const cap = this.buf.length;
    let off = 0;
    while (off < chunk.length) {
      if (this.end === cap) this.compact();
      const take = Math.min(cap - this.end, chunk.length - off);
      this.buf.set(chunk.subarray(off, off + take), this.end);
      this.end += take;
      off += take;
      this.scan(false);
    }
    return this.drain();
  }

  /** The new file is complete: returns the remaining ops. */
  finish(): DeltaOp[] {
    if (this.done) throw new Error('DeltaGenerator: finish() called twice');
    this.done = true;
    this.scan(true);
    const end = this.end;
    const r = this.shortLen;
    if (r > 0 && end - this.pos >= r) {
      const p = end - r;
      const k = this.n - 1;
      if (weakSum(this.buf, p, r) === this.sigWeak[k] && this.strongEq(strongSum(this.buf, p, r, this.sl), 0, k)) {
        this.emitLiteral(this.lit, p);
        this.emitCopy(k, r);
        this.lit = this.pos = end;
      }
    }
    this.emitLiteral(this.lit, end);
    this.lit = this.pos = end;
    this.flushRun();
    return this.drain();
  }

  private drain(): DeltaOp[] {
    const o = this.ops;
    this.ops = [];
    return o;
  }

  /** strong hash bytes s[off, off+sl) equal block k's */
  private strongEq(s: Uint8Array, off: number, k: number): boolean {
    const ss = this.sigStrong;
    const sl = this.sl;
    const base = k * sl;
    for (let j = 0; j < sl; j++) if (s[off + j] !== ss[base + j]) return false;
    return true;
  }

  private compact(): void {
    const lit = this.lit;
    if (lit === 0) throw new Error('DeltaGenerator: buffer full (internal error)');
    this.buf.copyWithin(0, lit, this.end);
    this.end -= lit;
    this.pos -= lit;
    this.strongPos -= lit;
    this.lit = 0;
  }

  private emitLiteral(from: number, to: number): void {
    if (to <= from) return;
    this.flushRun();
    while (from < to) {
      const e = Math.min(to, from + MAX_LITERAL);
      const data = Buffer.alloc(e - from);
      this.buf.copy(data, 0, from, e);
      this.ops.push({ op: 'literal', data });
      this.stats.literalOps++;
      this.stats.literalBytes += e - from;
      from = e;
    }
  }

  private emitCopy(k: number, len: number): void {
    this.stats.matchedBytes += len;
    this.expected = k + 1;
    this.fresh = true;
    this.haveSum = false;
    if (this.runCount > 0 && this.runStart + this.runCount === k) {
      this.runCount++;
      return;
    }
    this.flushRun();
    this.runStart = k;
    this.runCount = 1;
  }

  private flushRun(): void {
    if (this.runCount === 0) return;
    this.ops.push({ op: 'copy', block: this.runStart, count: this.runCount });
    this.stats.copyOps++;
    this.runCount = 0;
  }

  /** the window's strong hash at `pos` (cached per position) */
  private strongAt(pos: number, len: number): Uint8Array {
    if (this.strongPos !== pos) {
      this.strongCur = strongSum(this.buf, pos, len, this.sl);
      this.strongPos = pos;
    }
    return this.strongCur;
  }

  /** Match at `pos` with block k of length len: emit and move past it. */
  private take(pos: number, k: number, len: number): number {
    this.emitLiteral(this.lit, pos);
    this.emitCopy(k, len);
    pos += len;
    this.lit = pos;
    return pos;
  }

  private scan(final: boolean): void {
    const L = this.L;
    const buf = this.buf;
    const end = this.end;
    const n = this.n;
    const nFull = this.nFull;
    if (n === 0) {
      // empty basis: everything is literal; keep at most one literal's worth
      if (this.end - this.lit >= MAX_LITERAL) {
        const cut = this.lit + Math.floor((this.end - this.lit) / MAX_LITERAL) * MAX_LITERAL;
        this.emitLiteral(this.lit, cut);
        this.lit = cut;
      }
      this.pos = this.end;
      return;
    }
    const T = WEAK_TABLE;
    const OT = this.outT;
    const filter = this.filter;
    const fMask = this.filterMask;
    const sigWeak = this.sigWeak;
    const ab = this.ab;
    let pos = this.pos;

    for (;;) {
      if (this.fresh) {
        const k = this.expected;
        if (k < nFull) {
          if (pos + L > end) break; // wait for a whole block (or the tail, if final)
          this.fresh = false;
          if (this.strongEq(this.strongAt(pos, L), 0, k)) {
            pos = this.take(pos, k, L);
            continue;
          }
        } else if (k < n) {
          const r = this.shortLen;
          if (pos + r > end) { if (!final) break; this.fresh = false; }
          else {
            this.fresh = false;
            if (weakSum(buf, pos, r) === sigWeak[k] && this.strongEq(strongSum(buf, pos, r, this.sl), 0, k)) {
              pos = this.take(pos, k, r);
              continue;
            }
          }
        } else {
          this.fresh = false;
        }
      }
      if (pos + L > end) break;
      // a saved sum belongs to a window that was already looked up
      let skip = this.haveSum;
      if (skip) { ab[0] = this.a; ab[1] = this.b; }
      else {
        const w = weakSum(buf, pos, L);
        ab[0] = w & 0xffff;
        ab[1] = (w >>> 16) & 0xffff;
        this.haveSum = true;
      }
      const last = end - L; // the last window start we have data for
      let matched = -1;
      for (;;) {
        const stop = Math.min(last, this.lit + MAX_LITERAL);
        const r = rollToHit(buf, pos, stop, L, ab, T, OT, filter, fMask, skip);
        skip = true; // the window where rollToHit stopped has been tested
        if (r < 0) {
          pos = ~r;
          matched = this.probe(pos, (ab[1] << 16) | ab[0]);
          if (matched >= 0) break;
          continue;
        }
        pos = r;
        if (pos === last) break;
        // pos - lit reached MAX_LITERAL
        this.emitLiteral(this.lit, pos);
        this.lit = pos;
      }
      if (matched >= 0) {
        pos = this.take(pos, matched, L);
        continue;
      }
      this.a = ab[0];
      this.b = ab[1];
      break;
    }
    this.pos = pos;
  }

  /** the filter passed weak sum w at pos: the matching block, or -1 */
  private probe(pos: number, w: number): number {
    const tab = this.tab;
    let s = Math.imul(w, GOLDEN) >>> this.tabShift;
    for (let h = tab[2 * s + 1]; h !== 0; h = tab[2 * s + 1]) {
      if (tab[2 * s] === w) return this.lookup(pos, w, h - 1);
      s = (s + 1) & this.tabMask;
    }
    return -1;
  }

  /** a weak hit at pos: the matching block, or -1 */
  private lookup(pos: number, w: number, first: number): number {
    this.stats.weakHits++;
    const cur = this.strongAt(pos, this.L);
    const e = this.expected;
    if (e < this.nFull && this.sigWeak[e] === w && this.strongEq(cur, 0, e)) return e;
    for (let blk = first; blk >= 0; blk = this.next[blk] - 1) {
      if (this.strongEq(cur, 0, blk)) return blk;
    }
    this.stats.falseWeakHits++;
    return -1;
  }
}

/** Whole-buffer convenience: the ops turning the signature's basis into `data`. */
export function computeDelta(sig: Signature, data: Uint8Array): DeltaOp[] {
  const g = new DeltaGenerator(sig);
  const ops = g.push(data);
  for (const op of g.finish()) ops.push(op);
  return ops;
}
