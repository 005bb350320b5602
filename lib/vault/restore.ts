// `tsync --vault KEY VAULT DEST/`: restore a snapshot. The writing is the
// one-way receiver's own, run in this process: a VaultSender plays the
// sending side over a pair of in-memory streams, listing the snapshot's
// entries and answering each request with the file's chunks, each opened,
// authenticated and checked against its id before a byte of it is sent. So
// a restore writes as a pull does (temporary, verify, rename; --delete,
// --backup-dir, -n, -i, the lock), and a damaged chunk ends the run with
// exit 16 before its file is installed: DEST's files are old or new.

import { PassThrough } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { Connection } from '../link/connection.js';
import { Receiver } from '../oneway/receiver.js';
import type { ReceiverConfig } from '../oneway/receive-core.js';
import type { Events } from '../cli/report.js';
import { parseStats, type Stats } from '../cli/stats.js';
import { MacChain } from '../tree/manifest.js';
import { Filter } from '../tree/filter.js';
import { AsyncQueue } from '../queue.js';
import { encodeEntries, FileStatus, LIMITS, ReqFlag, type Message, type StartOptions } from '../wire/schema.js';
import { TsyncError, toTsyncError } from '../errors.js';
import { destLock } from '../fs/lock.js';
import { BLOB, VaultDamage } from './format.js';
import type { HeadInfo, Vault } from './repo.js';
import { snapshotEntries } from './push.js';
import type { SnapEntry } from './tree.js';

const BATCH = 1000;

/** --at N (a snapshot number) or --at TIME (the last snapshot at or before it) */
export async function chooseSnapshot(vault: Vault, at: string | undefined): Promise<HeadInfo> {
  const latest = await vault.refresh();
  if (!latest) throw new TsyncError('E_SOURCE_MISSING', 'the vault holds no snapshot yet');
  if (at === undefined) return latest;
  if (/^\d+$/.test(at)) {
    const n = Number(at);
    if (n < 1 || n > latest.seq) throw new TsyncError('E_USAGE', `--at ${at}: the vault has snapshots 1 to ${latest.seq}`);
    const h = await vault.mustHead(n);
    if ((latest.head.forgotten ?? []).includes(n)) throw new TsyncError('E_USAGE', `--at ${at}: snapshot ${n} was forgotten (tsync vault forget)`);
    if (h.head.kind === 'forget') throw new TsyncError('E_USAGE', `--at ${at}: ${n} is the record of a forget, not a snapshot`);
    return h;
  }
  const t = Date.parse(at);
  if (Number.isNaN(t)) throw new TsyncError('E_USAGE', `--at takes a snapshot number or a time (2026-12-05T10:00, or any date Date.parse reads), not ${JSON.stringify(at)}`);
  for (let s = latest.seq; s >= 1; s--) {
    if ((latest.head.forgotten ?? []).includes(s)) continue;
    const h = await vault.readHead(s);
    if (h && h.head.kind !== 'forget' && h.head.time <= t) return h;
  }
  throw new TsyncError('E_USAGE', `--at ${at}: the vault has no snapshot that old`);
}

/**
 * The snapshot's entries that the rules let through (an excluded directory
 * takes its contents with it), and the rest, both in listing order.
 */
export function byRules(entries: SnapEntry[], options: StartOptions): { kept: SnapEntry[]; left: SnapEntry[] } {
  if (options.rules.length === 0) return { kept: entries, left: [] };
  const filter = Filter.create(options.rules, { ignoreFiles: false });
  const kept: SnapEntry[] = [];
  const left: SnapEntry[] = [];
  let cut: string | null = null;
  for (const e of entries) {
    if (cut !== null && e.path.startsWith(cut)) {
      left.push(e);
      continue;
    }
    cut = null;
    if (e.path !== '.' && filter.excluded(e.path, e.type === 'd')) {
      if (e.type === 'd') cut = `${e.path}/`;
      left.push(e);
      continue;
    }
    kept.push(e);
  }
  return { kept, left };
}

class VaultSender {
  private readonly requests = new AsyncQueue<Message>();

  constructor(
    private readonly vault: Vault,
    private readonly entries: SnapEntry[],
    private readonly conn: Connection,
  ) {}

  async run(key: Buffer): Promise<Stats> {
    this.conn.onMessage((m) => {
      if (m.t === 'done' || m.t === 'req') this.requests.push(m);
      else throw new TsyncError('E_PROTOCOL', `unexpected ${m.t} message from the receiver`);
    });
    this.conn.send({ t: 'flist_head', singleFile: false });
    const mac = new MacChain(key);
    for (let i = 0; i < this.entries.length; i += BATCH) {
      const data = encodeEntries(this.entries.slice(i, i + BATCH));
      await this.conn.sendWait({ t: 'flist', data, mac: mac.next(data) });
    }
    this.conn.send({ t: 'flist_end', count: this.entries.length, mac: mac.final(this.entries.length, 0, false), ioErrors: 0 });
    for (;;) {
      const m = await this.requests.shift();
      if (m.t === 'done') return parseStats(m.stats);
      if (m.t === 'req') await this.answer(m);
    }
  }

  private async answer(m: Extract<Message, { t: 'req' }>): Promise<void> {
    const e = this.entries[m.index];
    if (!e || e.type !== 'f') throw new TsyncError('E_PROTOCOL', `the receiver asked for entry ${m.index}, which is not a file of the snapshot`);
    const end = (status: FileStatus, hash = Buffer.alloc(0)) => void this.conn.send({ t: 'file_end', index: m.index, status, hash, message: '' });
    if (m.check.length) {
      if (m.check.toString('hex') === e.hash) return end(FileStatus.Same);
      if ((m.flags & ReqFlag.Dry) !== 0) return end(FileStatus.Differs);
    }
    await this.conn.sendWait({ t: 'file_begin', index: m.index, size: e.size, delta: false });
    const h = createHash('sha256');
    let size = 0;
    for (const id of e.chunks ?? []) {
      const chunk = await this.vault.blob(id, BLOB.Data);
      h.update(chunk);
      size += chunk.length;
      for (let off = 0; off < chunk.length; off += LIMITS.data) await this.conn.sendWait({ t: 'data', data: chunk.subarray(off, off + LIMITS.data) });
    }
    const hash = h.digest();
    if (size !== e.size || hash.toString('hex') !== e.hash) throw new VaultDamage(`the tree of this snapshot`, `${JSON.stringify(e.path)}'s chunks do not add up to its recorded content`);
    end(FileStatus.Sent, hash);
  }
}

export interface RestoreHooks {
  note(s: string): void;
  progress?: () => void;
  lockWait: number;
}

export async function restoreSnapshot(vault: Vault, snap: HeadInfo, dest: string, options: StartOptions, events: Events, hooks: RestoreHooks): Promise<Stats> {
  // the newest head's index: it names every blob of every snapshot still alive, wherever a forget moved it
  await vault.loadIndex((vault.latest ?? snap).head);
  const entries = byRules(await snapshotEntries(vault, snap.head), options).kept;
  return receiveEntries(vault, entries, dest, options, events, { lock: destLock({ dryRun: options.dryRun, lockWait: hooks.lockWait }, hooks.note), progress: hooks.progress });
}

/**
 * Entries of a snapshot written into dest by the one-way receiver, fed in
 * this process. select (a two-way run's pulls): which entries are taken and
 * under which name, as a pull's receiver selects.
 */
export async function receiveEntries(vault: Vault, entries: SnapEntry[], dest: string, options: StartOptions, events: Events, o: Pick<ReceiverConfig, 'lock' | 'progress' | 'select'>): Promise<Stats> {
  const toReceiver = new PassThrough();
  const fromReceiver = new PassThrough();
  const rconn = new Connection(toReceiver, fromReceiver, { timeout: 0, expectJunk: false });
  const sconn = new Connection(fromReceiver, toReceiver, { timeout: 0, expectJunk: false });
  const key = randomBytes(32);
  const receiver = new Receiver(rconn, { dest, options, key, ...o }, events);
  const sender = new VaultSender(vault, entries, sconn);
  let senderError: unknown = null;
  const sending = Promise.race([sender.run(key), sconn.failed()]);
  sending.catch((e: unknown) => {
    senderError ??= e;
    sconn.abort(toTsyncError(e));
  });
  try {
    const stats = await Promise.race([receiver.run(), rconn.failed(), sending.then(() => new Promise<never>(() => {}))]);
    rconn.send({ t: 'done', stats: JSON.stringify(stats) });
    await sending.catch(() => {});
    return stats;
  } catch (e) {
    receiver.abandon();
    // the sender's own error (a damaged chunk), not its echo through the receiver
    throw senderError && !(senderError instanceof TsyncError && senderError.remote) ? senderError : e;
  } finally {
    rconn.close();
    sconn.close();
  }
}
