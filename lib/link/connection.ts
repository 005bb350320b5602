// A framed message channel over any pair of byte streams (child process
// pipes, our own stdin/stdout, an ssh2 channel). It owns the preamble check,
// framing, the idle timeout and keepalives; it knows nothing of roles.

import type { Readable, Writable } from 'node:stream';
import { encodeFrame, FRAME_HEADER } from '../wire/frames.js';
import { encodeMessage, MAGIC, type Message } from '../wire/schema.js';
import { TsyncError } from '../errors.js';
import { FrameStack } from './frame-stack.js';
import { junkText, PreambleReader } from './preamble.js';

export interface ConnectionOptions {
  /** seconds without any incoming byte before giving up; 0 = never */
  timeout: number;
  /** true on the client: unexpected preamble bytes are a remote shell's chatter */
  expectJunk: boolean;
}

type Handler = (m: Message) => void;

/** frames are gathered up to this many bytes before a write */
const BATCH = 64 << 10;

export class Connection extends FrameStack {
  private readonly preamble = new PreambleReader();
  private handler: Handler | null = null;
  private backlog: Message[] = [];
  private failWaiters: Array<(e: TsyncError) => void> = [];
  private lastIn = Date.now();
  private lastOut = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private finished = false;
  bytesIn = 0;
  /** whether DONE is the peer's last word (a two-way run has several phases, each ended by DONE) */
  doneEnds = true;

  constructor(
    input: Readable,
    output: Writable,
    private opts: ConnectionOptions,
  ) {
    super(output);
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
  override flush(): boolean {
    if (this.outBytes === 0) return !this.blocked;
    const data = this.outBuf.length === 1 ? this.outBuf[0] : Buffer.concat(this.outBuf, this.outBytes);
    this.outBuf = [];
    this.outBytes = 0;
    return this.write(data);
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
  override abort(err: TsyncError): void {
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

  override fail(err: TsyncError): void {
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
    const rest = this.preamble.feed(chunk);
    if (rest === 'wait') return;
    if (rest === 'junk') return this.junk(this.preamble.held!);
    this.fromWire(rest);
  }

  protected override dispatch(m: Message): void {
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
    this.fail(new TsyncError('E_REMOTE_JUNK', `the remote side printed "${junkText(this.preamble.held ?? Buffer.alloc(0))}" instead of starting tsync`));
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
    if (this.preamble.held && this.preamble.held.length > 0) {
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
