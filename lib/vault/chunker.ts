// Keyed content-defined chunking: FastCDC (Xia et al., 2016) with
// normalized chunking, its gear table drawn from the vault's chunker key so
// that where chunks are cut says nothing about the content to someone
// without the key (borg's reason for a keyed chunker). An insertion moves
// only the cut points near it: an edit costs about one chunk.

import { createHmac } from 'node:crypto';

export interface ChunkSizes {
  min: number;
  avg: number;
  max: number;
}

/** measured on the bench trees: see bench/RESULTS.md (vault) and docs/design.md §13 */
export const CHUNK_SIZES: ChunkSizes = { min: 64 << 10, avg: 256 << 10, max: 1 << 20 };

export class Chunker {
  private readonly gear = new Uint32Array(256);
  private readonly maskS: number;
  private readonly maskL: number;

  constructor(
    key: Buffer,
    private readonly sizes: ChunkSizes = CHUNK_SIZES,
  ) {
    const bytes = Buffer.alloc(1024);
    for (let i = 0; i < 32; i++) createHmac('sha256', key).update(`gear ${i}`).digest().copy(bytes, i * 32);
    for (let i = 0; i < 256; i++) this.gear[i] = bytes.readUInt32LE(i * 4);
    const bits = Math.round(Math.log2(sizes.avg));
    // normalized chunking: a harder mask before the average size, an easier one after
    this.maskS = spread(bits + 2);
    this.maskL = spread(bits - 2);
  }

  /** The length of the first chunk of buf (all of it when buf is short and final). */
  cut(buf: Uint8Array, start: number, end: number): number {
    const { min, avg, max } = this.sizes;
    const n = end - start;
    if (n <= min) return n;
    const stop = Math.min(n, max);
    const middle = Math.min(avg, stop);
    const gear = this.gear;
    let h = 0;
    let i = min;
    for (; i < middle; i++) {
      h = ((h << 1) + gear[buf[start + i]]) >>> 0;
      if ((h & this.maskS) === 0) return i + 1;
    }
    for (; i < stop; i++) {
      h = ((h << 1) + gear[buf[start + i]]) >>> 0;
      if ((h & this.maskL) === 0) return i + 1;
    }
    return stop;
  }

  /**
   * The chunks of a stream of buffers. Pieces are gathered until two
   * maximum chunks' worth are there, then cut; holds at most that plus one
   * piece. The chunks are views of the gathered bytes, not copies.
   */
  async *chunks(input: AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<Buffer> {
    const { max } = this.sizes;
    let parts: Buffer[] = [];
    let size = 0;
    for await (const piece of input) {
      parts.push(piece);
      size += piece.length;
      if (size < 2 * max) continue;
      const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
      let off = 0;
      while (buf.length - off >= max) {
        const len = this.cut(buf, off, buf.length);
        yield buf.subarray(off, off + len);
        off += len;
      }
      parts = [buf.subarray(off)];
      size = buf.length - off;
    }
    const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
    let off = 0;
    while (off < buf.length) {
      const len = this.cut(buf, off, buf.length);
      yield buf.subarray(off, off + len);
      off += len;
    }
  }
}

/** a mask of `bits` one bits spread over the word (FastCDC's padded masks cut more evenly than low bits) */
function spread(bits: number): number {
  let m = 0;
  for (let i = 0; i < bits; i++) m |= 1 << Math.floor((i * 31) / bits + 1);
  return m >>> 0;
}
