// Length-prefixed frames: [u32 BE payload length][payload]. No I/O: bytes go
// in through push(), whole payloads come out. A length above the hard
// maximum is an error before anything is allocated.

import { DecodeError } from './codec.js';

export const FRAME_HEADER = 4;

export function encodeFrame(payload: Uint8Array): Buffer {
  const out = Buffer.alloc(FRAME_HEADER + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, FRAME_HEADER);
  return out;
}

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  constructor(private readonly maxFrame: number) {}

  /** Feed bytes; returns the complete frame payloads now available. */
  push(chunk: Buffer): Buffer[] {
    this.feed(chunk);
    const out: Buffer[] = [];
    for (let f = this.next(); f; f = this.next()) out.push(f);
    return out;
  }

  /** Buffer bytes without decoding them. */
  feed(chunk: Buffer): void {
    if (chunk.length) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
  }

  /** The next whole frame's payload, or null until more bytes arrive. */
  next(): Buffer | null {
    if (this.buffered < FRAME_HEADER) return null;
    const len = this.peekLength();
    if (len > this.maxFrame) throw new DecodeError(`frame of ${len} bytes exceeds the maximum of ${this.maxFrame}`);
    if (this.buffered < FRAME_HEADER + len) return null;
    this.take(FRAME_HEADER);
    return this.take(len);
  }

  /** Hand back every buffered byte not yet decoded (the stream changes encoding here). */
  drain(): Buffer {
    const out = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    return out;
  }

  /** bytes received that do not yet make a whole frame */
  get pending(): number {
    return this.buffered;
  }

  private peekLength(): number {
    const first = this.chunks[0];
    if (first.length >= FRAME_HEADER) return first.readUInt32BE(0);
    // the header is split across chunks: look at only as many as it spans
    const head = Buffer.alloc(FRAME_HEADER);
    let got = 0;
    for (let i = 0; got < FRAME_HEADER; i++) got += this.chunks[i].copy(head, got, 0, FRAME_HEADER - got);
    return head.readUInt32BE(0);
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length === n) {
      this.chunks.shift();
      this.buffered -= n;
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.alloc(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}
