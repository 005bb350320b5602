// A framed message channel over any pair of byte streams (child process
// pipes, our own stdin/stdout, an ssh2 channel). It owns the preamble check,
// framing, the idle timeout and keepalives; it knows nothing of roles.

import type { Readable, Transform, Writable } from 'node:stream';
import { compressor, decompressor, type Codec, type Compressor } from './compress.js';
import { DecodeError } from './wire/codec.js';
import { encodeFrame, FrameDecoder, FRAME_HEADER } from './wire/frames.js';
import { decodeMessage, encodeMessage, LIMITS, MAGIC, type Message, type MessageType } from './wire/schema.js';
import type { Opener } from './wire/secure.js';
import { isErrorCode, TsyncError } from './errors.js';
import { printable } from './text.js';

export interface ConnectionOptions {
  /** seconds without any incoming byte before giving up; 0 = never */
  timeout: number;
  /** true on the client: unexpected preamble bytes are a remote shell's chatter */
  expectJunk: boolean;
}

type Handler = (m: Message) => void;

/** frames are gathered up to this many bytes before a write */
const BATCH = 64 << 10;

export class Connection {
  private readonly decoder = new FrameDecoder(LIMITS.frame + 16);
  private preamble: Buffer | null = Buffer.alloc(0);
  private handler: Handler | null = null;
  private backlog: Message[] = [];
  private failure: TsyncError | null = null;
  private failWaiters: Array<(e: TsyncError) => void> = [];
  private lastIn = Date.now();
  private lastOut = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private ended = false;
  private finished = false;
  private compressor: Compressor | null = null;
  private inflater: Transform | null = null;
  /** checked for each incoming message before it is dispatched: a codec means "decompress what follows" */
  inflateAfter: ((m: Message) => Codec | null) | null = null;
  /** keyed sessions: sealing of what we send, opening of what we receive (lib/wire/secure.ts) */
  private sealer: Transform | null = null;
  private opener: Opener | null = null;
  /** decoding stops after a message of this type (then paused is true), until startOpen() */
  private pauseType: MessageType | null = null;
  private paused = false;
  private outBuf: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  private blocked = false;
  bytesIn = 0;
  bytesOut = 0;
  /** whether DONE is the peer's last word (a two-way run has several phases, each ended by DONE) */
  doneEnds = true;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private opts: ConnectionOptions,
  ) {
    input.on('data', (chunk: Buffer) => this.onData(chunk));
    input.on('end', () => this.onEnd());
    input.on('error', (err) => this.fail(new TsyncError('E_CONNECTION_LOST', `reading from peer: ${err.message}`)));
    output.on('error', (err: NodeJS.ErrnoException) => {
      if (this.finished) return;
      const lost = new TsyncError('E_CONNECTION_LOST', err.code === 'EPIPE' ? 'the peer closed the connection' : `writing to peer: ${err.message}`);
      if (err.code === 'EPIPE' && !this.ended) {
        // a peer that stopped reading may have said why first: read to its end, then give up
        setTimeout(() => this.fail(lost), 500).unref();
        return;
      }
      this.fail(lost);
    });
    output.on('drain', () => {
      this.blocked = false;
    });
    this.output.write(MAGIC);
    this.setTimeout(opts.timeout);
  }

  setTimeout(seconds: number): void {
    this.opts = { ...this.opts, timeout: seconds };
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (seconds > 0) {
      const tick = Math.max(50, Math.min(1000, (seconds * 1000) / 4));
      this.timer = setInterval(() => this.tick(), tick);
      this.timer.unref();
    }
  }

  private tick(): void {
    const now = Date.now();
    const limit = this.opts.timeout * 1000;
    if (now - this.lastIn > limit) {
      this.fail(new TsyncError('E_TIMEOUT', `no data received for ${this.opts.timeout} seconds`));
      return;
    }
    if (now - this.lastOut > limit / 3 && !this.finished) this.send({ t: 'keepalive' });
  }

  /** Deliver every message (in order) to fn; messages that arrived earlier are replayed. */
  onMessage(fn: Handler): void {
    this.handler = fn;
    const queued = this.backlog;
    this.backlog = [];
    for (const m of queued) if (!this.failure) this.dispatch(m);
  }

  /** Stop delivering: what arrives waits for the next onMessage (one phase of a two-way run has ended). */
  release(): void {
    this.handler = null;
  }

  /** Resolves with the next message; for the handshake, before a handler is installed. */
  next(): Promise<Message> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      const prev = this.handler;
      const onFail = (e: TsyncError) => reject(e);
      this.failWaiters.push(onFail);
      this.handler = null;
      const take = (m: Message) => {
        this.failWaiters = this.failWaiters.filter((f) => f !== onFail);
        this.handler = prev;
        resolve(m);
      };
      if (this.backlog.length) take(this.backlog.shift()!);
      else this.handler = take;
    });
  }

  /**
   * Queue a message; never waits. Small frames are gathered and written
   * together (one write per 64 KiB or per event-loop turn), which saves a
   * syscall per frame when thousands of small files go by. Returns false
   * when the stream wants the writer to wait for 'drain'.
   */
  send(m: Message): boolean {
    if (this.failure && m.t !== 'error') return false;
    const frame = encodeFrame(encodeMessage(m));
    this.lastOut = Date.now();
    if (frame.length >= BATCH) {
      this.flush();
      return this.write(frame);
    }
    this.outBuf.push(frame);
    this.outBytes += frame.length;
    if (this.outBytes >= BATCH) return this.flush();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
    return !this.blocked;
  }

  /** Write whatever is gathered. */
  flush(): boolean {
    if (this.outBytes === 0) return !this.blocked;
    const data = this.outBuf.length === 1 ? this.outBuf[0] : Buffer.concat(this.outBuf, this.outBytes);
    this.outBuf = [];
    this.outBytes = 0;
    return this.write(data);
  }

  /** where outgoing bytes go first: compressed, then sealed, then out */
  private get head(): Writable {
    return this.compressor?.stream ?? this.sealer ?? this.output;
  }

  private write(data: Buffer): boolean {
    const head = this.head;
    if (head === this.output) this.bytesOut += data.length;
    this.blocked = !head.write(data);
    this.compressor?.flush();
    return !this.blocked;
  }

  /** Send and wait until the stream accepts more: for bulk data. */
  async sendWait(m: Message): Promise<void> {
    if (this.send(m)) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        this.failWaiters = this.failWaiters.filter((f) => f !== onFail);
        resolve();
      };
      const sink = this.head;
      const onFail = (e: TsyncError) => {
        sink.off('drain', onDrain);
        reject(e);
      };
      this.failWaiters.push(onFail);
      sink.once('drain', onDrain);
    });
  }

  /** A promise that rejects when the connection fails; never resolves. */
  failed(): Promise<never> {
    return new Promise((_, reject) => {
      if (this.failure) reject(this.failure);
      else this.failWaiters.push(reject);
    });
  }

  get error(): TsyncError | null {
    return this.failure;
  }

  /** Tell the peer about a fatal error, then stop. */
  abort(err: TsyncError): void {
    if (!err.remote && !this.ended) {
      this.send({ t: 'error', code: err.code, message: err.message });
      this.flush();
    }
    this.fail(err);
  }

  /** Finish cleanly: stop timers, end our side. */
  close(): void {
    this.finished = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
    // a compressor or sealer ends the output through its pipe, after its last bytes
    this.head.end();
  }

  fail(err: TsyncError): void {
    if (this.failure) return;
    this.failure = err;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const waiters = this.failWaiters;
    this.failWaiters = [];
    for (const w of waiters) w(err);
  }

  private onData(chunk: Buffer): void {
    this.lastIn = Date.now();
    this.bytesIn += chunk.length;
    if (this.failure) return;
    if (this.preamble) {
      const got = Buffer.concat([this.preamble, chunk]);
      if (got.length < MAGIC.length && MAGIC.subarray(0, got.length).equals(got)) {
        this.preamble = got;
        return;
      }
      if (!got.subarray(0, MAGIC.length).equals(MAGIC)) {
        this.preamble = got;
        this.junk(got);
        return;
      }
      this.preamble = null;
      chunk = got.subarray(MAGIC.length);
    }
    this.fromWire(chunk);
  }

  /** Bytes as they came off the wire: opened first in a keyed session. */
  private fromWire(bytes: Buffer): void {
    if (!this.opener) return this.plain(bytes);
    this.opener.feed(bytes);
    try {
      for (let clear = this.opener.next(); clear && !this.failure; clear = this.opener.next()) this.plain(clear);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.abort(new TsyncError('E_PROTOCOL', e.message));
    }
  }

  /** Bytes as the peer wrote them: decompressed first after -z switched on. */
  private plain(bytes: Buffer): void {
    if (this.inflater) this.inflater.write(bytes);
    else this.frames(bytes);
  }

  /** Decode and dispatch every whole frame in bytes (plain, or already decompressed). */
  private frames(bytes: Buffer): void {
    if (this.failure) return;
    this.decoder.feed(bytes);
    for (;;) {
      if (this.paused) return;
      let f: Buffer | null;
      try {
        f = this.decoder.next();
      } catch (e) {
        this.abort(new TsyncError('E_PROTOCOL', (e as Error).message));
        return;
      }
      if (!f) return;
      let m: Message;
      try {
        m = decodeMessage(f);
      } catch (e) {
        this.abort(new TsyncError('E_PROTOCOL', e instanceof DecodeError ? e.message : String(e)));
        return;
      }
      if (m.t === 'keepalive') continue;
      if (m.t === 'error') {
        const code = isErrorCode(m.code) ? m.code : 'E_PROTOCOL';
        this.fail(new TsyncError(code, m.message, { remote: true }));
        return;
      }
      const codec = this.inflateAfter?.(m) ?? null;
      this.dispatch(m);
      if (this.failure) return;
      if (m.t === this.pauseType) {
        this.pauseType = null;
        this.paused = true;
        return;
      }
      if (codec) {
        // every byte after this frame is compressed
        this.inflateAfter = null;
        this.startInflate(codec);
        return;
      }
    }
  }

  /** Decompress everything the peer sends from now on (bytes already buffered included). */
  startInflate(codec: Codec): void {
    const rest = this.decoder.drain();
    const inflater = decompressor(codec);
    inflater.on('data', (d: Buffer) => this.frames(d));
    // the link ending inside a compressed block is a lost link (exit 10), not bad data from the peer
    inflater.on('error', (e: NodeJS.ErrnoException) =>
      this.abort(this.ended && e.code === 'Z_BUF_ERROR' ? new TsyncError('E_CONNECTION_LOST', 'the peer closed the connection in the middle of compressed data') : new TsyncError('E_PROTOCOL', `bad compressed data from the peer: ${e.message}`)));
    this.inflater = inflater;
    if (rest.length) inflater.write(rest);
    if (this.ended) inflater.end();
  }

  /** Compress everything we send from now on (and seal it after, if sealing is on). */
  startCompress(codec: Codec, level: number): void {
    this.flush();
    const c = compressor(codec, level);
    c.stream.on('data', (d: Buffer) => {
      if (!this.sealer) this.bytesOut += d.length;
    });
    c.stream.on('drain', () => {
      this.blocked = false;
    });
    c.stream.pipe(this.sealer ?? this.output);
    this.compressor = c;
  }

  /** Stop decoding after the next message of this type: what follows it is sealed (see startOpen). */
  pauseAfter(type: MessageType): void {
    this.pauseType = type;
  }

  /** Seal everything we send from now on (a stream of sealed frames, lib/keyed.ts); what is already queued goes out as it is. */
  startSeal(sealer: Transform): void {
    if (this.compressor) throw new Error('sealing must start before compression');
    this.flush();
    sealer.on('data', (d: Buffer) => {
      this.bytesOut += d.length;
    });
    sealer.on('drain', () => {
      this.blocked = false;
    });
    sealer.on('error', (e) => this.fail(new TsyncError('E_INTERNAL', `sealing: ${e.message}`)));
    sealer.pipe(this.output);
    this.sealer = sealer;
  }

  /** Open everything the peer sends from now on (bytes already buffered included), and decode again. */
  startOpen(opener: Opener): void {
    this.paused = false;
    this.pauseType = null;
    this.opener = opener;
    const rest = this.decoder.drain();
    if (rest.length) this.fromWire(rest);
  }

  private dispatch(m: Message): void {
    // DONE is the last message a peer sends: its hang-up after that is expected
    if (m.t === 'done' && this.doneEnds) this.finished = true;
    if (!this.handler) {
      this.backlog.push(m);
      return;
    }
    try {
      this.handler(m);
    } catch (e) {
      this.abort(e instanceof TsyncError ? e : new TsyncError('E_INTERNAL', (e as Error).message, { cause: e }));
    }
  }

  private junk(got: Buffer): void {
    if (!this.opts.expectJunk) {
      this.abort(new TsyncError('E_PROTOCOL', 'the peer did not start with the tsync preamble'));
      return;
    }
    // Give the remote a moment to finish its sentence, then report it.
    if (got.length < 512 && !this.ended) {
      setTimeout(() => this.reportJunk(), 150).unref();
      return;
    }
    this.reportJunk();
  }

  private reportJunk(): void {
    if (this.failure) return;
    const got = this.preamble ?? Buffer.alloc(0);
    // the chatter ends where tsync's own greeting begins
    const magic = got.indexOf(MAGIC);
    const text = printable(got.subarray(0, Math.min(200, magic >= 0 ? magic : got.length)).toString('utf8')).trim();
    this.fail(new TsyncError('E_REMOTE_JUNK', `the remote side printed "${text}" instead of starting tsync`));
  }

  private onEnd(): void {
    this.ended = true;
    if (this.inflater) {
      // what the decompressor still holds comes out before the end counts
      this.inflater.once('end', () => this.endOfStream());
      this.inflater.end();
      return;
    }
    this.endOfStream();
  }

  private endOfStream(): void {
    if (this.failure || this.finished) return;
    if (this.preamble && this.preamble.length > 0) {
      this.reportJunk();
      return;
    }
    const pending = this.decoder.pending + (this.opener?.pending ?? 0);
    const partial = pending > 0 ? ` (in the middle of a ${pending > FRAME_HEADER ? 'frame' : 'frame header'})` : '';
    this.fail(new TsyncError('E_CONNECTION_LOST', `the peer closed the connection${partial}`));
  }

  /** the peer has ended its stream */
  get peerEnded(): boolean {
    return this.ended;
  }
}
