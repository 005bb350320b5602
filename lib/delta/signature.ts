// Block signatures of a basis file: choosing the block size, building one
// from a stream of chunks, and the binary format.
//
// Format, version 1 (all integers big-endian):
//
//   offset size  field
//   0      3     magic "TSG"
//   3      1     version (1)
//   4      1     strongLen (4..32)
//   5      4     blockSize (1..MAX_BLOCK_SIZE)
//   9      8     fileSize (u64, must be <= 2^53 - 1)
//   17     4     blockCount (must equal ceil(fileSize / blockSize))
//   21     ...   blockCount times: weak u32, strong[strongLen]
//
// A 1 GiB file: 32 KiB blocks, 32768 blocks, 6-byte strong => 21 + 32768*10
// bytes = 328 KiB. A 10 GiB file: 103 KiB blocks, ~102k blocks => ~1 MB.

import { TsyncError } from '../errors.js';
import { weakSum, strongSum, MAX_STRONG_LEN } from './rolling.js';
import type { Signature } from './types.js';

export const SIGNATURE_VERSION = 1;
export const SIGNATURE_HEADER_LEN = 21;
const MAGIC = [0x54, 0x53, 0x47]; // "TSG"

/** rsync's floor for the block size. */
export const MIN_BLOCK_SIZE = 700;
/** rsync's ceiling for the sqrt rule (protocol >= 30). */
export const SQRT_MAX_BLOCK_SIZE = 128 * 1024;
/** Block count chooseBlockSize aims to stay under (for files up to 16 TiB). */
export const TARGET_MAX_BLOCKS = 1 << 20;
/** Hard ceiling on the block size anyone may ask for (bounds the matcher's buffer). */
export const MAX_BLOCK_SIZE = 16 * 1024 * 1024;
export const MIN_STRONG_LEN = 4;
export const DEFAULT_STRONG_LEN = 8;

/**
 * rsync's rule, then a floor that bounds the block count:
 *   - size <= 700^2: 700 bytes;
 *   - otherwise floor(sqrt(size)) rounded down to a multiple of 8, at most
 *     128 KiB. sqrt balances the two costs: the signature grows as size/B and
 *     the literal sent per edit as B; sqrt is their optimum when a file has
 *     on the order of (bytes per block entry) = ~10 edits;
 *   - at least ceil(size / 2^20) rounded up to a multiple of 8, so a file up
 *     to 128 GiB keeps rsync's choice and larger ones stay <= 2^20 blocks
 *     (a signature <= ~14 MiB in memory and on the wire) up to 16 TiB, where
 *     MAX_BLOCK_SIZE caps the block.
 */
export function chooseBlockSize(fileSize: number): number {
  checkSize(fileSize);
  let bs: number;
  if (fileSize <= MIN_BLOCK_SIZE * MIN_BLOCK_SIZE) bs = MIN_BLOCK_SIZE;
  else bs = Math.min(SQRT_MAX_BLOCK_SIZE, Math.floor(Math.sqrt(fileSize) / 8) * 8);
  const floor = Math.ceil(Math.ceil(fileSize / TARGET_MAX_BLOCKS) / 8) * 8;
  return Math.min(MAX_BLOCK_SIZE, Math.max(bs, floor));
}

/**
 * Strong-hash bytes per block so that, if the new file is about as large as
 * the basis, the expected number of false block matches per file is below
 * 2^-20: weak hits ~ positions * blocks / 2^32, each passing the strong check
 * with probability 2^-(8*strongLen). At least 6 bytes because real data is not
 * uniform (repetitive content makes weak hits common); at most 16. A false
 * match is caught by the caller's whole-file SHA-256 (costing a retry).
 */
export function chooseStrongLen(fileSize: number, blockSize: number): number {
  checkSize(fileSize);
  const blocks = Math.ceil(fileSize / blockSize);
  const bits = 20 + Math.log2(fileSize + 1) + Math.log2(blocks + 1) - 32;
  return Math.min(16, Math.max(6, Math.ceil(bits / 8)));
}

function checkSize(fileSize: number): void {
  if (!Number.isSafeInteger(fileSize) || fileSize < 0) throw new RangeError(`expected a file size (safe integer >= 0), got ${fileSize}`);
}

export interface SignatureOptions {
  blockSize: number;
  /** default DEFAULT_STRONG_LEN */
  strongLen?: number;
  /** the basis size if known: preallocates the tables */
  expectedSize?: number;
  /** throw if the input grows past this many blocks */
  maxBlocks?: number;
}

/** Builds a Signature from a basis file pushed in chunks of any size. */
export class SignatureBuilder {
  readonly blockSize: number;
  readonly strongLen: number;
  private readonly maxBlocks: number;
  private weak: Int32Array;
  private strong: Uint8Array;
  private count = 0;
  private size = 0;
  private readonly partial: Uint8Array;
  private fill = 0;
  private done = false;

  constructor(opts: SignatureOptions) {
    const { blockSize } = opts;
    const strongLen = opts.strongLen ?? DEFAULT_STRONG_LEN;
    if (!Number.isSafeInteger(blockSize) || blockSize < 1 || blockSize > MAX_BLOCK_SIZE) throw new RangeError(`expected blockSize in 1..${MAX_BLOCK_SIZE}, got ${blockSize}`);
    if (!Number.isInteger(strongLen) || strongLen < MIN_STRONG_LEN || strongLen > MAX_STRONG_LEN) throw new RangeError(`expected strongLen in ${MIN_STRONG_LEN}..${MAX_STRONG_LEN}, got ${strongLen}`);
    this.blockSize = blockSize;
    this.strongLen = strongLen;
    this.maxBlocks = opts.maxBlocks ?? Number.MAX_SAFE_INTEGER;
    const cap = opts.expectedSize !== undefined ? Math.max(1, Math.min(Math.ceil(opts.expectedSize / blockSize), this.maxBlocks, 1 << 24)) : 64;
    this.weak = new Int32Array(cap);
    this.strong = new Uint8Array(cap * strongLen);
    this.partial = new Uint8Array(blockSize);
  }

  update(chunk: Uint8Array): void {
    if (this.done) throw new Error('SignatureBuilder: update() after finish()');
    const bs = this.blockSize;
    let i = 0;
    const n = chunk.length;
    this.size += n;
    if (this.fill > 0) {
      const take = Math.min(bs - this.fill, n);
      this.partial.set(chunk.subarray(0, take), this.fill);
      this.fill += take;
      i = take;
      if (this.fill < bs) return;
      this.addBlock(this.partial, 0, bs);
      this.fill = 0;
    }
    for (; i + bs <= n; i += bs) this.addBlock(chunk, i, bs);
    if (i < n) {
      this.partial.set(chunk.subarray(i), 0);
      this.fill = n - i;
    }
  }

  finish(): Signature {
    if (this.done) throw new Error('SignatureBuilder: finish() called twice');
    if (this.fill > 0) this.addBlock(this.partial, 0, this.fill);
    this.done = true;
    const c = this.count;
    return {
      blockSize: this.blockSize,
      strongLen: this.strongLen,
      fileSize: this.size,
      blockCount: c,
      weak: this.weak.length === c ? this.weak : this.weak.slice(0, c),
      strong: this.strong.length === c * this.strongLen ? this.strong : this.strong.slice(0, c * this.strongLen),
    };
  }

  private addBlock(data: Uint8Array, start: number, len: number): void {
    if (this.count >= this.maxBlocks) throw new RangeError(`signature would exceed ${this.maxBlocks} blocks`);
    if (this.count === this.weak.length) {
      const w = new Int32Array(this.weak.length * 2);
      w.set(this.weak);
      this.weak = w;
      const s = new Uint8Array(w.length * this.strongLen);
      s.set(this.strong);
      this.strong = s;
    }
    this.weak[this.count] = weakSum(data, start, len);
    this.strong.set(strongSum(data, start, len, this.strongLen), this.count * this.strongLen);
    this.count++;
  }
}

/** Signature of a whole buffer (tests, small files). */
export function signatureOf(data: Uint8Array, blockSize: number, strongLen?: number): Signature {
  const b = new SignatureBuilder({ blockSize, strongLen, expectedSize: data.length });
  b.update(data);
  return b.finish();
}

export function encodeSignature(sig: Signature): Buffer {
  const per = 4 + sig.strongLen;
  const out = Buffer.alloc(SIGNATURE_HEADER_LEN + sig.blockCount * per);
  out[0] = MAGIC[0]; out[1] = MAGIC[1]; out[2] = MAGIC[2];
  out[3] = SIGNATURE_VERSION;
  out[4] = sig.strongLen;
  out.writeUInt32BE(sig.blockSize, 5);
  out.writeUInt32BE(Math.floor(sig.fileSize / 0x100000000), 9);
  out.writeUInt32BE(sig.fileSize % 0x100000000, 13);
  out.writeUInt32BE(sig.blockCount, 17);
  let o = SIGNATURE_HEADER_LEN;
  const sl = sig.strongLen;
  for (let i = 0; i < sig.blockCount; i++) {
    out.writeInt32BE(sig.weak[i], o);
    out.set(sig.strong.subarray(i * sl, i * sl + sl), o + 4);
    o += per;
  }
  return out;
}

export interface SignatureLimits {
  /** refuse signatures with more blocks than this */
  maxBlocks: number;
  /** refuse block sizes above this (default MAX_BLOCK_SIZE) */
  maxBlockSize?: number;
}

function bad(msg: string): never {
  throw new TsyncError('E_PROTOCOL', `invalid delta signature: ${msg}`);
}

/** Parse and validate a signature. Throws TsyncError E_PROTOCOL on anything malformed. */
export function decodeSignature(buf: Uint8Array, limits: SignatureLimits): Signature {
  if (buf.length < SIGNATURE_HEADER_LEN) bad(`truncated header (${buf.length} of ${SIGNATURE_HEADER_LEN} bytes)`);
  if (buf[0] !== MAGIC[0] || buf[1] !== MAGIC[1] || buf[2] !== MAGIC[2]) bad('bad magic');
  if (buf[3] !== SIGNATURE_VERSION) bad(`unsupported version ${buf[3]} (this tsync reads version ${SIGNATURE_VERSION})`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const strongLen = buf[4];
  if (strongLen < MIN_STRONG_LEN || strongLen > MAX_STRONG_LEN) bad(`strongLen ${strongLen} not in ${MIN_STRONG_LEN}..${MAX_STRONG_LEN}`);
  const blockSize = dv.getUint32(5);
  const maxBs = Math.min(limits.maxBlockSize ?? MAX_BLOCK_SIZE, MAX_BLOCK_SIZE);
  if (blockSize < 1 || blockSize > maxBs) bad(`blockSize ${blockSize} not in 1..${maxBs}`);
  const hi = dv.getUint32(9);
  if (hi > 0x1fffff) bad('fileSize exceeds 2^53 - 1');
  const fileSize = hi * 0x100000000 + dv.getUint32(13);
  const blockCount = dv.getUint32(17);
  if (blockCount !== Math.ceil(fileSize / blockSize)) bad(`blockCount ${blockCount} does not match fileSize ${fileSize} / blockSize ${blockSize}`);
  if (blockCount > limits.maxBlocks) bad(`${blockCount} blocks exceeds the limit of ${limits.maxBlocks}`);
  const per = 4 + strongLen;
  const want = SIGNATURE_HEADER_LEN + blockCount * per;
  if (buf.length < want) bad(`truncated (${buf.length} of ${want} bytes)`);
  if (buf.length > want) bad(`${buf.length - want} trailing bytes`);
  const weak = new Int32Array(blockCount);
  const strong = new Uint8Array(blockCount * strongLen);
  let o = SIGNATURE_HEADER_LEN;
  for (let i = 0; i < blockCount; i++) {
    weak[i] = dv.getInt32(o);
    strong.set(buf.subarray(o + 4, o + per), i * strongLen);
    o += per;
  }
  return { blockSize, strongLen, fileSize, blockCount, weak, strong };
}
