// The stack a Connection's bytes pass through after the preamble. Outgoing:
// frames are compressed (-z), then sealed (--key), then written. Incoming:
// bytes are opened (--key), then inflated (-z), then cut into frames and
// decoded into messages. Each layer is switched on at a point of the
// handshake both sides agree on; Connection (lib/link/connection.ts) is
// built on this class and owns everything else (preamble, timeouts,
// batching, failure).

import type { Transform, Writable } from 'node:stream';
import { compressor, decompressor, type Codec, type Compressor } from './compress.js';
import { DecodeError } from '../wire/codec.js';
import { FrameDecoder } from '../wire/frames.js';
import { decodeMessage, LIMITS, type Message, type MessageType } from '../wire/schema.js';
import type { Opener } from '../wire/secure.js';
import { isErrorCode, TsyncError } from '../errors.js';

export abstract class FrameStack {
  protected readonly decoder = new FrameDecoder(LIMITS.frame + 16);
  protected failure: TsyncError | null = null;
  protected ended = false;
  protected compressor: Compressor | null = null;
  protected inflater: Transform | null = null;
  /** checked for each incoming message before it is dispatched: a codec means "decompress what follows" */
  inflateAfter: ((m: Message) => Codec | null) | null = null;
  /** keyed sessions: sealing of what we send, opening of what we receive (lib/wire/secure.ts) */
  protected sealer: Transform | null = null;
  protected opener: Opener | null = null;
  /** decoding stops after a message of this type (then paused is true), until startOpen() */
  protected pauseType: MessageType | null = null;
  protected paused = false;
  protected outBuf: Buffer[] = [];
  protected outBytes = 0;
  protected flushScheduled = false;
  protected blocked = false;
  bytesOut = 0;

  constructor(protected readonly output: Writable) {}

  /** a message decoded: hand it on (Connection delivers it to its handler) */
  protected abstract dispatch(m: Message): void;
  abstract fail(err: TsyncError): void;
  abstract abort(err: TsyncError): void;
  /** write whatever is gathered (before a layer is put in) */
  abstract flush(): boolean;

  /** where outgoing bytes go first: compressed, then sealed, then out */
  protected get head(): Writable {
    return this.compressor?.stream ?? this.sealer ?? this.output;
  }

  protected write(data: Buffer): boolean {
    const head = this.head;
    if (head === this.output) this.bytesOut += data.length;
    this.blocked = !head.write(data);
    this.compressor?.flush();
    return !this.blocked;
  }

  /** Bytes as they came off the wire: opened first in a keyed session. */
  protected fromWire(bytes: Buffer): void {
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
  protected plain(bytes: Buffer): void {
    if (this.inflater) this.inflater.write(bytes);
    else this.frames(bytes);
  }

  /** Decode and dispatch every whole frame in bytes (plain, or already decompressed). */
  protected frames(bytes: Buffer): void {
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
    inflater.on('error', (e) => this.abort(new TsyncError('E_PROTOCOL', `bad compressed data from the peer: ${e.message}`)));
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

  /** Seal everything we send from now on (a stream of sealed frames, lib/link/key-proof.ts); what is already queued goes out as it is. */
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
}
