// The sending role: streams the manifest (MAC-chained batches) and answers
// the receiver's requests with file content, in request order. Reads every
// file through a descriptor opened without following links, and refuses to
// send a file that changed between listing and reading.

import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import type { Connection } from '../link/connection.js';
import { encodeEntries, FileStatus, LIMITS, ReqFlag, type Message, type StartOptions } from '../wire/schema.js';
import { MacChain } from '../tree/manifest.js';
import { Filter } from '../tree/filter.js';
import { Scanner, type ScannedFile, type Source } from '../tree/scan.js';
import { ListedFiles, type ListedFile } from '../tree/listed.js';
import { AsyncQueue } from '../queue.js';
import type { Events } from '../cli/report.js';
import { describeFsError, TsyncError } from '../errors.js';
import { hashFile } from '../fs/apply.js';
import { ChangedError, DELTA_MIN, readListed } from './source.js';
import { decodeSignature, DeltaGenerator, encodeOps, type DeltaOp } from '../delta/index.js';
import { parseStats, type Stats } from '../cli/stats.js';
import { sendRound, type FillState } from './fill-send.js';

export interface SenderConfig {
  sources: Source[];
  options: StartOptions;
  /** an already scanned selection to send instead of scanning (a two-way push), with its scan's I/O error count */
  scanned?: { batches: ScannedFile[][]; ioErrors: number };
}

/** scanned ahead while the peer starts up, at most this many batches */
const PREFETCH_BATCHES = 64;


/** Turn user-given source paths into scan sources (rsync's trailing-slash rule). */
export function toSources(paths: readonly string[]): Source[] {
  return paths.map((p) => {
    const stripped = p.replace(/\/+$/, '');
    const base = stripped.slice(stripped.lastIndexOf('/') + 1);
    const contents = p.endsWith('/') || base === '.' || base === '..' || stripped === '';
    return { abs: stripped === '' ? '/' : stripped, contents };
  });
}

export class Sender {
  /** every file listed, by index, kept packed */
  private readonly files = new ListedFiles();
  /** files between rounds of a multi-round delta */
  private readonly fills = new Map<number, FillState>();
  private readonly requests = new AsyncQueue<Message>();
  private scanner: Scanner | null = null;
  private batches: Iterator<ScannedFile[]> | null = null;
  private readonly ready: ScannedFile[][] = [];

  private conn!: Connection;

  constructor(
    private readonly cfg: SenderConfig,
    private readonly events: Events,
  ) {}

  private startScan(): { scanner: { warnings: number }; batches: Iterator<ScannedFile[]> } {
    const given = this.cfg.scanned;
    if (given) {
      this.batches ??= given.batches[Symbol.iterator]();
      return { scanner: { warnings: given.ioErrors }, batches: this.batches };
    }
    if (!this.scanner || !this.batches) {
      const { options } = this.cfg;
      const warn = (w: { path: string; code: string; message: string }) => this.warn(w.path, w.code, w.message);
      this.scanner = new Scanner(Filter.create(options.rules, { ignoreFiles: options.ignoreFiles }), warn);
      this.batches = this.scanner.scan(this.cfg.sources);
    }
    return { scanner: this.scanner, batches: this.batches };
  }

  /**
   * Scan ahead while `until` is pending (the peer is starting: ssh, node),
   * a batch per event-loop turn, so the handshake is not held up.
   */
  async prefetch(until: Promise<unknown>): Promise<void> {
    let settled = false;
    until.then(
      () => (settled = true),
      () => (settled = true),
    );
    const { batches } = this.startScan();
    while (!settled && this.ready.length < PREFETCH_BATCHES) {
      const next = batches.next();
      if (next.done) return;
      this.ready.push(next.value);
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Every batch of the scan, those scanned ahead first; `ioErrors` counts the scan's problems so far (all of them once every batch is taken). */
  batchesLeft(): { batches: Generator<ScannedFile[]>; ioErrors: () => number } {
    const { scanner, batches } = this.startScan();
    const ready = this.ready;
    const all = function* (): Generator<ScannedFile[]> {
      yield* ready.splice(0);
      for (let n = batches.next(); !n.done; n = batches.next()) yield n.value;
    };
    return { batches: all(), ioErrors: () => scanner.warnings };
  }

  /** Runs until the receiver says it is done; returns the receiver's stats. */
  async run(conn: Connection, key: Buffer): Promise<Stats> {
    this.conn = conn;
    const { sources } = this.cfg;
    const present = sources.filter((s) => fs.lstatSync(s.abs, { throwIfNoEntry: false }));
    if (present.length === 0) {
      const names = sources.map((s) => s.abs).join(', ');
      throw new TsyncError('E_SOURCE_MISSING', `source ${names} does not exist`);
    }
    for (const s of sources) {
      const st = s.contents ? fs.statSync(s.abs, { throwIfNoEntry: false }) : undefined;
      if (st && !st.isDirectory()) throw new TsyncError('E_USAGE', `source ${s.abs}/ has a trailing slash but is not a directory`);
    }
    this.conn.onMessage((m) => {
      if (m.t === 'done') {
        // the receiver's last word in this role: what follows is for whoever runs next
        this.conn.release();
        this.requests.push(m);
      } else if (m.t === 'req' || m.t === 'req_fill') this.requests.push(m);
      else if (m.t === 'item') this.events.item(m.code, m.path, m.type, m.target, m.size);
      else if (m.t === 'warn') this.events.warn({ path: m.path, code: m.code, message: m.message });
      else if (m.t === 'progress') this.events.progress?.(m);
      else throw new TsyncError('E_PROTOCOL', `unexpected ${m.t} message from the receiver`);
    });
    const single = sources.length === 1 && !sources[0].contents && !fs.statSync(sources[0].abs, { throwIfNoEntry: false })?.isDirectory() && !fs.lstatSync(sources[0].abs).isDirectory();
    this.conn.send({ t: 'flist_head', singleFile: single });
    const serving = this.serve();
    serving.catch(() => {});
    const { scanner } = this.startScan();
    const mac = new MacChain(key);
    let index = 0;
    for (const batch of this.batchesLeft().batches) {
      const data = encodeEntries(batch.map((b) => b.entry));
      this.files.add(batch, data);
      index += batch.length;
      await this.conn.sendWait({ t: 'flist', data, mac: mac.next(data) });
    }
    if (present.length < sources.length) {
      for (const s of sources) if (!present.includes(s)) this.warn(s.abs, 'E_PARTIAL', 'source does not exist'), scanner.warnings++;
    }
    this.conn.send({ t: 'flist_end', count: index, mac: mac.final(index, scanner.warnings, single), ioErrors: scanner.warnings });
    return serving;
  }

  private warn(path: string, code: string, message: string): void {
    this.events.warn({ path, code, message });
  }

  private async serve(): Promise<Stats> {
    for (;;) {
      const m = await this.requests.shift();
      if (m.t === 'done') return parseStats(m.stats);
      if (m.t === 'req_fill') {
        await this.fill(m.index, m.holeMin, m.sig);
        continue;
      }
      if (m.t !== 'req') continue;
      const f = this.files.get(m.index);
      if (!f) throw new TsyncError('E_PROTOCOL', `the receiver asked for entry ${m.index}, which is not a file in the manifest`);
      if (m.check.length !== 0 && m.check.length !== 32) throw new TsyncError('E_PROTOCOL', 'bad content check in request');
      if (m.check.length !== 0 && m.sig.length !== 0) throw new TsyncError('E_PROTOCOL', 'a request with both a content check and a signature');
      if ((m.flags & ReqFlag.Dry) !== 0 && m.check.length === 0) throw new TsyncError('E_PROTOCOL', 'a dry-run request without a content check');
      const hashOnly = (m.flags & ReqFlag.Hash) !== 0;
      if (hashOnly && (m.sig.length !== 0 || (m.flags & ReqFlag.Dry) !== 0)) throw new TsyncError('E_PROTOCOL', 'a hash request with a signature or in a dry run');
      try {
        await this.answer(m.index, f, { check: m.check, sig: m.sig, dry: (m.flags & ReqFlag.Dry) !== 0, hashOnly });
      } catch (err) {
        if (err instanceof TsyncError) throw err;
        this.conn.send({ t: 'file_end', index: m.index, status: FileStatus.Failed, hash: Buffer.alloc(0), message: describeFsError(err) });
      }
    }
  }

  /** one round of a multi-round delta */
  private async fill(index: number, holeMin: number, sig: Buffer): Promise<void> {
    const f = this.files.get(index);
    if (!f) throw new TsyncError('E_PROTOCOL', `the receiver asked for entry ${index}, which is not a file in the manifest`);
    const state = this.fills.get(index);
    this.fills.delete(index);
    try {
      const next = await sendRound(this.conn, index, f, { holeMin, sig }, state);
      if (next) this.fills.set(index, next);
    } catch (err) {
      if (err instanceof TsyncError) throw err;
      this.conn.send({ t: 'file_end', index, status: FileStatus.Failed, hash: Buffer.alloc(0), message: describeFsError(err) });
    }
  }

  private async answer(index: number, f: ListedFile, req: { check: Buffer; sig: Buffer; dry: boolean; hashOnly: boolean }): Promise<void> {
    const end = (status: FileStatus, message = '', hash = Buffer.alloc(0)) => void this.conn.send({ t: 'file_end', index, status, hash, message });
    if (req.hashOnly) {
      // moves: the receiver may hold this content under another name; it asks again for the data if not
      const mine = await hashFile(f.abs);
      if (req.check.length && mine.equals(req.check)) return end(FileStatus.Same);
      return end(FileStatus.Hashed, '', Buffer.from(mine));
    }
    if (req.check.length) {
      const mine = await hashFile(f.abs);
      if (mine.equals(req.check)) return end(FileStatus.Same);
      if (req.dry) return end(FileStatus.Differs);
      // worth a delta: ask for the receiver's signature (one round trip, pipelined with other files)
      if (f.entry.size >= DELTA_MIN) return end(FileStatus.NeedSig);
    }
    let gen: DeltaGenerator | null = null;
    if (req.sig.length) gen = new DeltaGenerator(decodeSignature(req.sig, { maxBlocks: LIMITS.sig }));
    const h = createHash('sha256');
    let begun = false;
    try {
      for await (const chunk of readListed(f.abs, f.entry)) {
        if (!begun) {
          await this.conn.sendWait({ t: 'file_begin', index, size: f.entry.size, delta: gen !== null });
          begun = true;
        }
        h.update(chunk);
        if (gen) await this.sendOps(gen.push(chunk));
        else for (let off = 0; off < chunk.length; off += LIMITS.data) await this.conn.sendWait({ t: 'data', data: chunk.subarray(off, off + LIMITS.data) });
      }
    } catch (err) {
      if (err instanceof ChangedError) return end(FileStatus.Failed, err.message);
      throw err;
    }
    if (!begun) await this.conn.sendWait({ t: 'file_begin', index, size: 0, delta: gen !== null });
    if (gen) await this.sendOps(gen.finish());
    end(FileStatus.Sent, '', h.digest());
  }

  /** delta ops as DATA messages; the decoder on the other side takes any split */
  private async sendOps(ops: DeltaOp[]): Promise<void> {
    if (ops.length === 0) return;
    const bytes = encodeOps(ops);
    for (let off = 0; off < bytes.length; off += LIMITS.data) await this.conn.sendWait({ t: 'data', data: bytes.subarray(off, off + LIMITS.data) });
  }
}
