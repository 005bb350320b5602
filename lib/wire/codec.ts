// Byte-level encoding used by every message: unsigned LEB128 varints, length-
// prefixed byte strings, UTF-8 strings. No I/O. The Reader checks every
// length against what is left and against a caller's limit before it copies.

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

export class Writer {
  private buf: Buffer;
  private pos = 0;
  constructor(initial = 256) {
    this.buf = Buffer.alloc(initial);
  }
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): this {
    this.room(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }
  /** unsigned integer up to 2^53 - 1 as LEB128 */
  uint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`expected a safe unsigned integer, got ${v}`);
    this.room(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }
  /** signed integer within the safe range: a sign byte (0 or 1), then the magnitude */
  int(v: number): this {
    if (!Number.isSafeInteger(v)) throw new RangeError(`expected a safe integer, got ${v}`);
    return this.u8(v < 0 ? 1 : 0).uint(Math.abs(v));
  }
  f64(v: number): this {
    this.room(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.uint(b.length);
    this.raw(b);
    return this;
  }
  raw(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  str(s: string): this {
    const n = Buffer.byteLength(s);
    this.uint(n);
    this.room(n);
    this.buf.write(s, this.pos);
    this.pos += n;
    return this;
  }
  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }
  get length(): number {
    return this.pos;
  }
  /** the encoded bytes (a view; do not keep the Writer writing after this) */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  private need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) throw new DecodeError(`truncated ${what}: need ${n} bytes, have ${this.buf.length - this.pos}`);
  }
  u8(): number {
    this.need(1, 'byte');
    return this.buf[this.pos++];
  }
  uint(max = Number.MAX_SAFE_INTEGER): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (i >= 8) throw new DecodeError('varint too long');
      this.need(1, 'varint');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw new DecodeError('non-canonical varint');
        break;
      }
      scale *= 0x80;
    }
    if (result > max) throw new DecodeError(`value ${result} exceeds limit ${max}`);
    return result;
  }
  int(): number {
    const sign = this.u8();
    if (sign > 1) throw new DecodeError(`bad sign byte ${sign}`);
    const v = this.uint();
    if (sign === 1 && v === 0) throw new DecodeError('non-canonical negative zero');
    return sign ? -v : v;
  }
  f64(): number {
    this.need(8, 'float');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }
  bytes(max: number): Buffer {
    const n = this.uint(max);
    return this.raw(n);
  }
  raw(n: number): Buffer {
    this.need(n, 'bytes');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  str(max: number): string {
    const b = this.bytes(max);
    const s = b.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(b)) throw new DecodeError('string is not valid UTF-8');
    return s;
  }
  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new DecodeError(`bad boolean ${v}`);
    return v === 1;
  }
  end(what: string): void {
    if (this.pos !== this.buf.length) throw new DecodeError(`${this.buf.length - this.pos} trailing bytes after ${what}`);
  }
}
