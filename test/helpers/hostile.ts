// A lying peer for tests: a second, deliberately small implementation of
// the tsync protocol that plays one side of a session against the REAL
// binary on the other. It builds its frames with lib/wire/* and signs its
// manifests with lib/tree/manifest.ts, so a session is valid except for the
// one field a test breaks on purpose.
//
// How it is reached: remoteStandIn() listens on a unix socket and writes a
// tiny `-e` command that ignores its arguments (host, tsync path, --server;
// a --tsync-path is given, so the client does not start the zero-install boot)
// and bridges its stdin/stdout to that socket. The real client spawns it as
// it would spawn ssh, and the test plays the server in-process:
//
//   const remote = await remoteStandIn(t);
//   const run = runTsync(['-e', remote.rsh, '--tsync-path', 'tsync', 'host:src/', `${dst}/`]);
//   const p = await remote.accept();
//   const { key } = await serverHandshake(p);   // HELLO both ways, START read
//   ...send a manifest with one thing wrong...
//
// The same WirePeer speaks to a `tsync --server` child directly, as a
// hostile client (clientHandshake).

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable, Transform, Writable } from 'node:stream';
import { chooseCodec, compressor, decompressor, type Codec, type Compressor } from '../../lib/link/compress.js';
import { CAPS } from '../../lib/link/handshake.js';
import { deriveKey, MacChain } from '../../lib/tree/manifest.js';
import { encodeFrame, FrameDecoder } from '../../lib/wire/frames.js';
import { decodeEntries, decodeMessage, encodeEntries, encodeMessage, FileStatus, LIMITS, MAGIC, PROTOCOL_MIN, PROTOCOL_VERSION, type Entry, type Message, type StartOptions } from '../../lib/wire/schema.js';
import type { TeardownHost } from './sshd.js';
import { ManifestIntake } from '../../lib/oneway/manifest-intake.js';

type Start = Extract<Message, { t: 'start' }>;
type Req = Extract<Message, { t: 'req' }>;

export class PeerClosed extends Error {}

/** One end of a tsync session: frames in, frames out, nothing checked beyond what decoding needs. */
export class WirePeer {
  private readonly decoder = new FrameDecoder(LIMITS.frame + 16);
  private preamble: Buffer | null = Buffer.alloc(0);
  private readonly queue: Message[] = [];
  private waiter: { resolve: (m: Message) => void; reject: (e: Error) => void } | null = null;
  private ended: Error | null = null;
  private inflater: Transform | null = null;
  private deflater: Compressor | null = null;
  /** every message the other side sent, keepalives included */
  readonly received: Message[] = [];
  /** every byte the other side sent, after decompression */
  readonly bytesIn: Buffer[] = [];
  /** set: the peer compresses everything after a START that asks for -z, with this codec */
  inflateAfterStart: (() => Codec) | null = null;

  constructor(
    readonly input: Readable,
    readonly output: Writable,
    opts: { magic?: boolean } = {},
  ) {
    output.on('error', () => {});
    input.on('data', (b: Buffer) => this.onData(b));
    input.on('end', () => this.close(new PeerClosed('the other side hung up')));
    input.on('error', (e) => this.close(new PeerClosed(`the other side's stream failed: ${e.message}`)));
    if (opts.magic !== false) output.write(MAGIC);
  }

  /** Raw bytes to the other side (through the compressor once it is on). */
  raw(b: Buffer): void {
    if (this.deflater) {
      this.deflater.stream.write(b);
      this.deflater.flush();
    } else this.output.write(b);
  }

  send(m: Message): void {
    this.raw(encodeFrame(encodeMessage(m)));
  }

  /** a frame around any payload, valid or not */
  sendPayload(payload: Buffer): void {
    this.raw(encodeFrame(payload));
  }

  /** The next message other than a keepalive; rejects with PeerClosed when the stream ends first. */
  next(): Promise<Message> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The next message, which must be of type t. */
  async expect<T extends Message['t']>(t: T): Promise<Extract<Message, { t: T }>> {
    const m = await this.next();
    if (m.t !== t) throw new Error(`hostile peer: expected ${t}, got ${m.t}${m.t === 'error' ? ` (${m.code}: ${m.message})` : ''}`);
    return m as Extract<Message, { t: T }>;
  }

  /** Messages until the other side hangs up (or `ms` pass): what it said last. */
  async drain(ms = 15_000): Promise<Message[]> {
    const out: Message[] = [];
    const timer = setTimeout(() => this.close(new PeerClosed('drain timed out')), ms);
    try {
      for (;;) out.push(await this.next());
    } catch {
      return out;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Bytes straight to the stream, past the compressor (a hand-made compressed stream). */
  rawOutput(b: Buffer): void {
    this.output.write(b);
  }

  startCompress(codec: Codec, level = 6): void {
    const c = compressor(codec, level);
    c.stream.pipe(this.output);
    this.deflater = c;
  }

  /** End our side (after the compressor's last bytes). */
  end(): void {
    if (this.deflater) this.deflater.stream.end();
    else this.output.end();
  }

  /** Hang up at once, both ways. */
  destroy(): void {
    this.input.destroy();
    this.output.destroy();
    this.close(new PeerClosed('we hung up'));
  }

  private onData(b: Buffer): void {
    if (this.preamble) {
      const got = Buffer.concat([this.preamble, b]);
      if (got.length < MAGIC.length) {
        this.preamble = got;
        return;
      }
      if (!got.subarray(0, MAGIC.length).equals(MAGIC)) return this.close(new Error(`hostile peer: no preamble, got ${JSON.stringify(got.toString('latin1').slice(0, 80))}`));
      this.preamble = null;
      b = got.subarray(MAGIC.length);
    }
    if (this.inflater) this.inflater.write(b);
    else this.frames(b);
  }

  private frames(b: Buffer): void {
    this.bytesIn.push(b);
    this.decoder.feed(b);
    for (;;) {
      let f: Buffer | null;
      let m: Message;
      try {
        f = this.decoder.next();
        if (!f) return;
        m = decodeMessage(Buffer.from(f));
      } catch (e) {
        return this.close(new Error(`hostile peer: undecodable input: ${(e as Error).message}`));
      }
      this.received.push(m);
      if (m.t !== 'keepalive') this.deliver(m);
      if (m.t === 'start' && this.inflateAfterStart && m.options.compress) {
        const rest = this.decoder.drain();
        const inf = decompressor(this.inflateAfterStart());
        inf.on('data', (d: Buffer) => this.frames(d));
        inf.on('error', (e) => this.close(new Error(`hostile peer: bad compressed input: ${e.message}`)));
        this.inflater = inf;
        if (rest.length) inf.write(rest);
        return;
      }
    }
  }

  private deliver(m: Message): void {
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w.resolve(m);
    } else this.queue.push(m);
  }

  private close(e: Error): void {
    if (this.ended) return;
    this.ended = e;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(e);
  }
}

function hello(nonce: Buffer, caps: string[]): Message {
  return { t: 'hello', version: PROTOCOL_VERSION, minVersion: PROTOCOL_MIN, software: 'hostile-test-peer', caps, clock: Date.now(), nonce };
}

const UNKEYED = Buffer.from('tsync-unkeyed');
const INFO = 'tsync manifest v1';

/**
 * Play the server: HELLO both ways, then read START (switching to
 * compression when it asks; `caps` decide the codec as for a real peer).
 * Returns the manifest key.
 */
export async function serverHandshake(p: WirePeer, opts: { caps?: string[] } = {}): Promise<{ key: Buffer; start: Start; codec: Codec }> {
  const nonce = randomBytes(32);
  const caps = opts.caps ?? CAPS;
  const codecOf = () => {
    const theirs = p.received.find((m) => m.t === 'hello');
    return chooseCodec(caps, theirs?.t === 'hello' ? theirs.caps : []);
  };
  p.inflateAfterStart = codecOf;
  p.send(hello(nonce, caps));
  const theirs = await p.expect('hello');
  const start = await p.expect('start');
  if (start.options.compress) p.startCompress(codecOf());
  return { key: deriveKey(UNKEYED, Buffer.concat([theirs.nonce, nonce]), INFO), start, codec: codecOf() };
}

/** Play the client against a real `tsync --server`: HELLO both ways, then our START. */
export async function clientHandshake(p: WirePeer, start: Omit<Start, 't'>): Promise<{ key: Buffer }> {
  const nonce = randomBytes(32);
  p.send(hello(nonce, CAPS));
  const theirs = await p.expect('hello');
  p.send({ t: 'start', ...start });
  return { key: deriveKey(UNKEYED, Buffer.concat([nonce, theirs.nonce]), INFO) };
}

export const OPTIONS: StartOptions = {
  delete: false,
  dryRun: false,
  checksum: false,
  update: false,
  ignoreFiles: true,
  rules: [],
  backupDir: '',
  modifyWindow: 0,
  timeout: 0,
  compress: false,
  compressLevel: 6,
  partial: false,
};

export const MTIME = 1_600_000_000_000_000;
export const dir = (p: string, mtime = MTIME): Entry => ({ path: p, type: 'd', mode: 0o755, size: 0, mtime });
export const file = (p: string, size: number, mtime = MTIME): Entry => ({ path: p, type: 'f', mode: 0o644, size, mtime });
export const link = (p: string, target: string): Entry => ({ path: p, type: 'l', mode: 0o777, size: 0, mtime: MTIME, target });
export const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

export interface ManifestOptions {
  singleFile?: boolean;
  ioErrors?: number;
  /** replace a batch's encoded bytes before it is MACed (to send what encodeEntries cannot) */
  rawBatches?: Buffer[];
  /** send this MAC instead of the right one for batch i */
  badMac?: number;
  /** announce this many entries at the end instead of the real count */
  count?: number;
}

/** FLIST_HEAD, the batches (each MAC-chained, as a real sender does), FLIST_END. */
export function sendManifest(p: WirePeer, key: Buffer, batches: Entry[][], o: ManifestOptions = {}): void {
  const mac = new MacChain(key);
  const single = o.singleFile ?? false;
  p.send({ t: 'flist_head', singleFile: single });
  const datas = o.rawBatches ?? batches.map((b) => encodeEntries(b));
  datas.forEach((data, i) => {
    const m = mac.next(data);
    p.send({ t: 'flist', data, mac: i === o.badMac ? Buffer.alloc(32, 0xab) : m });
  });
  const n = batches.reduce((a, b) => a + b.length, 0);
  p.send({ t: 'flist_end', count: o.count ?? n, mac: mac.final(n, o.ioErrors ?? 0, single), ioErrors: o.ioErrors ?? 0 });
}

/**
 * FLIST_HEAD .. FLIST_END as the other side sent them: the entries in index
 * order and the single-file flag. With the session's key, every batch and
 * the end are checked as a receiver checks them (MAC chain, order, names).
 */
export async function readManifest(p: WirePeer, key?: Buffer): Promise<{ entries: Entry[]; single: boolean }> {
  const intake = key ? new ManifestIntake(key) : null;
  const head = await p.expect('flist_head');
  intake?.head(head);
  const entries: Entry[] = [];
  for (;;) {
    const m = await p.next();
    if (m.t === 'flist') entries.push(...(intake ? intake.batch(m) : decodeEntries(m.data)));
    else if (m.t === 'flist_end') {
      intake?.end(m, entries.length);
      return { entries, single: head.singleFile };
    }
  }
}

/** A whole file the honest way: FILE_BEGIN, DATA pieces, FILE_END with its SHA-256. */
export function sendFile(p: WirePeer, index: number, content: Buffer, o: { hash?: Buffer; size?: number } = {}): void {
  p.send({ t: 'file_begin', index, size: o.size ?? content.length, delta: false });
  for (let off = 0; off < content.length; off += LIMITS.data) p.send({ t: 'data', data: content.subarray(off, off + LIMITS.data) });
  p.send({ t: 'file_end', index, status: FileStatus.Sent, hash: o.hash ?? sha256(content), message: '' });
}

/**
 * Answer requests until the receiver says DONE: each REQ goes to `answer`,
 * which returns true when it handled it; otherwise the file in `files` is
 * sent honestly. Returns the requests seen.
 */
export async function serveRequests(p: WirePeer, files: Map<number, Buffer>, answer: (r: Req, nth: number) => boolean = () => false): Promise<Req[]> {
  const reqs: Req[] = [];
  for (;;) {
    const m = await p.next();
    if (m.t === 'done') break;
    if (m.t !== 'req') continue;
    reqs.push(m);
    if (answer(m, reqs.length - 1)) continue;
    const content = files.get(m.index);
    if (!content) throw new Error(`hostile peer: asked for ${m.index}, which it does not have`);
    sendFile(p, m.index, content);
  }
  p.end();
  return reqs;
}

// ---------------------------------------------------------------- the stand-in remote

export interface RemoteStandIn {
  /** the -e command: ignores its arguments, bridges stdio to this process */
  rsh: string;
  /** the next connection the client makes */
  accept(): Promise<WirePeer>;
}

const BRIDGE = `import * as net from 'node:net';
const s = net.connect(process.argv[2]);
process.stdin.pipe(s);
s.pipe(process.stdout);
s.on('error', () => process.exit(255));
s.on('close', () => process.stdout.write('', () => process.exit(0)));
`;

/** A unix socket the `-e` stand-in connects to; closed at teardown. */
export async function remoteStandIn(t: TeardownHost): Promise<RemoteStandIn> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-hostile-'));
  const sock = path.join(tmp, 's');
  fs.writeFileSync(path.join(tmp, 'bridge.mjs'), BRIDGE);
  const rsh = path.join(tmp, 'rsh');
  fs.writeFileSync(rsh, `#!/bin/sh\nexec env -u NODE_OPTIONS '${process.execPath}' '${tmp}/bridge.mjs' '${sock}'\n`, { mode: 0o755 });
  const waiting: Array<(p: WirePeer) => void> = [];
  const ready: WirePeer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    const p = new WirePeer(s, s);
    const w = waiting.shift();
    if (w) w(p);
    else ready.push(p);
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  return {
    rsh,
    accept: () => {
      const p = ready.shift();
      return p ? Promise.resolve(p) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}
