// The receiver's side of a multi-round delta (capability 'delta:rounds'):
// one file's temporary, its basis, and the holes still to fill. Round 1
// signs the whole basis with big blocks; each later round signs the basis
// bytes no copy referenced so far, as one virtual basis, with smaller
// blocks. Copies and literals are written at their final offsets (holes
// are known by length), so the whole-file SHA-256 is checked by re-reading
// the temporary at the end. Every op is checked against the hole it fills
// and the (virtual) basis it copies from: a lying sender gets E_PROTOCOL,
// never a write outside the hole being filled.

import * as fs from 'node:fs';
import { realFs, type FileSystem } from '../fs/seam.js';
import { createHash } from 'node:crypto';
import { TsyncError } from '../errors.js';
import { LIMITS } from '../wire/schema.js';
import { ChunkedHash, chooseStrongLen, encodeSignature, OpsDecoder, roundBlockSizes, roundMinHole, roundStrongLen, SignatureBuilder, SIGNATURE_HEADER_LEN, unreferenced, VirtualBasis, type RoundOp } from '../delta/index.js';
import { NOFOLLOW, readAt, readFull } from './source.js';
import type { Stats } from '../cli/stats.js';

/** basis bytes are read and written in pieces of at most this size */
const CHUNK = 1 << 20;

export class FillFile {
  /** the temporary, once the first round's data begins */
  fd = -1;
  tmp = '';
  /** bytes written to the temporary so far */
  written = 0;
  /** this round's hole threshold, as asked for (0: none allowed) */
  minHole = 0;
  private k = 0;
  private readonly blocks: number[];
  private vb: VirtualBasis;
  private blockSize = 1;
  private referenced = new Uint8Array(0);
  /** flat [offset, length] pairs: what this round fills, and what it leaves for the next */
  private holes: number[];
  private next: number[] = [];
  private hi = 0;
  private hpos = 0;
  private decoder: OpsDecoder | null = null;
  /** a round's signature was made and not yet answered: the only time a FILE_BEGIN is expected */
  private asked = false;
  private readonly buf = Buffer.alloc(CHUNK);
  /** the whole-file hash, computed on the way where writes come in order */
  private readonly hash: ChunkedHash;

  private constructor(
    private readonly basisFd: number,
    basisSize: number,
    readonly size: number,
    private readonly fs: FileSystem,
  ) {
    this.blocks = roundBlockSizes(basisSize);
    this.vb = VirtualBasis.whole(basisSize);
    this.holes = size > 0 ? [0, size] : [];
    this.hash = new ChunkedHash(size);
  }

  /** A file of `size` bytes to rebuild from the basis at basisPath (opened without following links). */
  static open(basisPath: string, size: number, fsys: FileSystem = realFs): FillFile {
    const fd = fsys.openSync(basisPath, NOFOLLOW);
    try {
      return new FillFile(fd, fsys.fstatSync(fd).size, size, fsys);
    } catch (e) {
      fsys.closeSync(fd);
      throw e;
    }
  }

  /** the basis size round 1 was signed over */
  get basisSize(): number {
    return this.vb.size;
  }

  /** This round's signature (of the virtual basis) and the hole threshold to ask for. */
  async sign(): Promise<{ sig: Buffer; holeMin: number }> {
    const size = this.vb.size;
    let holeBytes = 0;
    for (let i = 1; i < this.holes.length; i += 2) holeBytes += this.holes[i];
    let bs = this.blocks[this.k];
    let sl = this.k === 0 ? chooseStrongLen(size, bs) : roundStrongLen(holeBytes, Math.ceil(size / bs));
    // one REQ_FILL frame: bigger blocks when the basis left is large
    const maxBlocks = Math.floor((LIMITS.sig - SIGNATURE_HEADER_LEN) / (4 + sl));
    if (Math.ceil(size / bs) > maxBlocks) {
      bs = Math.ceil(size / maxBlocks / 8) * 8;
      sl = this.k === 0 ? chooseStrongLen(size, bs) : roundStrongLen(holeBytes, Math.ceil(size / bs));
    }
    const b = new SignatureBuilder({ blockSize: bs, strongLen: sl, expectedSize: size });
    for (const r of this.vb.ranges()) {
      for (let o = 0; o < r.length; ) {
        const want = Math.min(CHUNK, r.length - o);
        const { bytesRead } = await readAt(this.basisFd, this.buf, 0, want, r.offset + o);
        if (bytesRead === 0) throw new Error('the basis file shrank while it was being signed');
        b.update(this.buf.subarray(0, bytesRead));
        o += bytesRead;
      }
    }
    const sig = b.finish();
    this.blockSize = bs;
    this.referenced = new Uint8Array(sig.blockCount);
    // nothing left to match against: this is the last round
    this.minHole = size === 0 ? 0 : roundMinHole(this.blocks, this.k);
    this.asked = true;
    return { sig: encodeSignature(sig), holeMin: this.minHole };
  }

  /** FILE_BEGIN of this round's ops */
  begin(): void {
    if (!this.asked) throw new TsyncError('E_PROTOCOL', 'delta data for a round that was not asked for');
    this.asked = false;
    this.decoder = new OpsDecoder({ blockCount: Math.ceil(this.vb.size / this.blockSize), minHole: this.minHole });
    this.hi = 0;
    this.hpos = 0;
    this.next = [];
  }

  /** DATA: ops, written at their offsets */
  data(chunk: Buffer, stats: Stats): void {
    if (!this.decoder) throw new TsyncError('E_PROTOCOL', 'delta data outside a round');
    for (const op of this.decoder.pushRound(chunk)) this.apply(op, stats);
  }

  private apply(op: RoundOp, stats: Stats): void {
    if (this.hi * 2 >= this.holes.length) throw new TsyncError('E_PROTOCOL', 'the sender sent more data than the file has room for');
    const holeLen = this.holes[2 * this.hi + 1];
    const room = holeLen - this.hpos;
    let at = this.holes[2 * this.hi] + this.hpos;
    let len: number;
    if (op.op === 'copy') {
      const from = op.block * this.blockSize;
      len = Math.min(this.vb.size, (op.block + op.count) * this.blockSize) - from;
      if (len > room) throw new TsyncError('E_PROTOCOL', `a copy of ${len} bytes where ${room} are left to fill`);
      for (const r of this.vb.map(from, len, CHUNK)) {
        const buf = this.buf.subarray(0, r.length);
        // a basis that shrank since it was signed: the hash check catches it
        const n = readFull(this.basisFd, buf, r.offset);
        this.write(buf.subarray(0, n), at);
        at += r.length;
      }
      this.referenced.fill(1, op.block, op.block + op.count);
      stats.bytesMatched += len;
    } else if (op.op === 'literal') {
      len = op.data.length;
      if (len > room) throw new TsyncError('E_PROTOCOL', `a literal of ${len} bytes where ${room} are left to fill`);
      this.write(op.data, at);
      stats.bytesLiteral += len;
    } else {
      len = op.length;
      if (len > room) throw new TsyncError('E_PROTOCOL', `a hole of ${len} bytes where ${room} are left to fill`);
      this.next.push(at, len);
    }
    this.hpos += len;
    if (this.hpos === holeLen) {
      this.hi++;
      this.hpos = 0;
    }
  }

  private write(data: Buffer, at: number): void {
    let off = 0;
    while (off < data.length) off += this.fs.writeSync(this.fd, data, off, data.length - off, at + off);
    this.hash.update(at, data);
    this.written += data.length;
  }

  /**
   * FILE_END of this round: every hole filled, and holes left exactly when
   * the sender says so. True if another round follows.
   */
  end(holes: boolean): boolean {
    if (!this.decoder) throw new TsyncError('E_PROTOCOL', 'end of a round that did not begin');
    this.decoder.end();
    this.decoder = null;
    if (this.hi * 2 !== this.holes.length) throw new TsyncError('E_PROTOCOL', `the sender ended a round with ${this.holes[2 * this.hi + 1] - this.hpos} bytes of a hole unfilled`);
    if (holes !== this.next.length > 0) throw new TsyncError('E_PROTOCOL', holes ? 'the sender announced holes it did not send' : 'the sender left holes and declared the file complete');
    if (!holes) return false;
    this.vb = unreferenced(this.vb, this.blockSize, this.referenced);
    this.holes = this.next;
    this.next = [];
    this.k = Math.min(this.k + 1, this.blocks.length - 1);
    return true;
  }

  /** the temporary's whole-file hash (ChunkedHash): chunks not hashed on the way are re-read from disk */
  async digest(): Promise<Buffer> {
    const h = this.hash;
    if (this.fs.fstatSync(this.fd).size !== this.size) return Buffer.alloc(0);
    for (const i of h.missing()) {
      const len = h.chunkLen(i);
      const c = createHash('sha256');
      for (let o = 0; o < len; ) {
        const { bytesRead } = await readAt(this.fd, this.buf, 0, Math.min(CHUNK, len - o), i * h.chunk + o);
        if (bytesRead === 0) return Buffer.alloc(0);
        c.update(this.buf.subarray(0, bytesRead));
        o += bytesRead;
      }
      h.set(i, c.digest());
    }
    return h.root();
  }

  /** close the basis (the temporary stays open for install) */
  closeBasis(): void {
    try {
      this.fs.closeSync(this.basisFd);
    } catch {
      /* already closed */
    }
  }

  /** close both and remove the temporary */
  discard(): void {
    this.closeBasis();
    if (this.fd >= 0) {
      try {
        this.fs.closeSync(this.fd);
      } catch {
        /* already closed */
      }
      this.fd = -1;
      this.fs.rmSync(this.tmp, { force: true });
    }
  }
}
