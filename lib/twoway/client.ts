// The client's side of `tsync --two-way A B`: it holds one replica (the
// local one, "a") and drives the other ("b", a spawned `tsync --server`).
// In order: clock offset, ids and baselines, b's manifest and our own scan,
// content checks where only content can decide, the plan (lib/plan/twoway),
// then our deletions and conflict moves, the pull, b's deletions and
// conflict moves, the push, and last the new baseline on both sides.
// A run cut off anywhere leaves every file old or new and the old
// baseline (or, between the two saves, two baselines whose agreed part is
// used), which the next run reads without false conflicts.

import * as os from 'node:os';
import type { Connection } from '../link/connection.js';
import { FileStatus, ReqFlag, TwOp, encodeEntries, decodeEntries, type Entry, type Message, type StartOptions } from '../wire/schema.js';
import { ManifestIntake } from '../oneway/manifest-intake.js';
import { TWOWAY_CAP } from '../wire/caps.js';
import { TreeBuilder, type SortedTree } from '../tree/packed.js';
import { Filter } from '../tree/filter.js';
import { Batcher, Scanner, type ScannedFile } from '../tree/scan.js';
import { under } from '../tree/paths.js';
import { Sender } from '../oneway/sender.js';
import { Receiver } from '../oneway/receiver.js';
import { hashFile } from '../fs/apply.js';
import type { Events, Reporter } from '../cli/report.js';
import { addStats, emptyStats, type Stats } from '../cli/stats.js';
import { TsyncError } from '../errors.js';
import { withPeer, type PeerSpec } from '../link/peer.js';
import { acquireLock, withLockWait } from '../fs/lock.js';
import { planTwoWay, needsHash, nextBaseline, type TwoWayInput } from '../plan/twoway.js';
import { agreed, sameEntry, decodeBaseline, encodeBaseline, loadBaseline, replicaId, saveBaseline, NO_DIGEST, type Baseline } from './baseline.js';
import { applyOp, mergeModes, type TwoWayOp } from './ops.js';
import { ensureRoot, opContext } from './replica.js';
import { estimateOffset } from './clock.js';
import { applyDiff, readGone } from './diff.js';
import { describeDecision, type ConflictRecord } from './describe.js';
import { asBefore, every, holds, opsOn, pullMap, pushList } from './lists.js';

export interface TwoWaySpec {
  peer: PeerSpec;
  /** the local replica's path, and the remote (or second local) replica's path as the server sees it */
  localPath: string;
  remotePath: string;
  /** the local replica was named first on the command line */
  localFirst: boolean;
  options: StartOptions;
  /** --wait-lock: seconds to wait for another run on either replica */
  lockWait: number;
}

export interface TwoWayResult {
  stats: Stats;
  wire: { sent: number; received: number };
  conflicts: ConflictRecord[];
}

interface Theirs {
  /** the replica's root entry, and the rest of what it sent, packed in path order */
  root: Entry | undefined;
  tree: SortedTree;
  messages: Message[];
  ioErrors: number;
}

export async function runTwoWay(spec: TwoWaySpec, reporter: Reporter): Promise<TwoWayResult> {
  const { options } = spec;
  const root = ensureRoot(spec.localPath, options.dryRun);
  // one run at a time per replica: ours here, theirs on their side (START's lockWait)
  const lock = options.dryRun ? null : await acquireLock(root, { waitSeconds: spec.lockWait, note: (s) => reporter.note(s) });
  try {
    return await twoWay(spec, root, reporter);
  } finally {
    lock?.release();
  }
}

async function twoWay(spec: TwoWaySpec, root: string, reporter: Reporter): Promise<TwoWayResult> {
  const { options } = spec;
  const failures = new Failures(reporter);
  const { failed, events } = failures;
  const scan = new LocalScan(root, options, events);
  let receiver: Receiver | null = null;
  return withPeer(
    spec.peer,
    async ({ conn, neg }) => {
      if (!neg.peer.caps.includes(TWOWAY_CAP)) throw new TsyncError('E_VERSION', `the remote tsync ${neg.peer.software} cannot do two-way runs; install tsync 0.1 or later there`);
      conn.doneEnds = false;
      conn.send({ t: 'start', role: 'twoway', paths: [spec.remotePath], options: withLockWait(options, spec.lockWait, neg.peer.caps) });
      if (options.compress) {
        conn.startCompress(neg.codec, options.compressLevel);
        conn.startInflate(neg.codec);
      }
      // ids, clocks, baselines
      const self = replicaId(root);
      conn.send({ t: 'tw_hello', replica: self, host: os.hostname(), digest: NO_DIGEST, baseCount: 0 });
      const hello = await conn.next();
      if (hello.t !== 'tw_hello') throw new TsyncError('E_PROTOCOL', `expected the replica's hello, got ${hello.t}`);
      if (hello.replica === self) throw new TsyncError('E_USAGE', 'both replicas have the same id (one tree, .tsync included, was copied from the other, or both are the same directory); remove .tsync/id on one side');
      const offsetUs = await estimateOffset(conn);
      const mine = loadBaseline(root, hello.replica);
      const match = mine ? mine.digest.equals(hello.digest) : hello.digest.length === 0;
      const wantBase = !match && mine !== null && hello.baseCount > 0;
      // the same baseline on both sides: the replica need only send what changed since
      const diff = match && mine !== null && neg.diff;
      conn.send(diff ? { t: 'tw_diff' } : { t: 'tw_go', wantBase });
      let base: SortedTree | null = null;
      if (wantBase) {
        const got: Buffer[] = [];
        while (got.length < hello.baseCount) {
          const m = await conn.next();
          if (m.t !== 'tw_base') throw new TsyncError('E_PROTOCOL', `expected the replica's baseline, got ${m.t}`);
          got.push(m.data);
        }
        const theirs = decodeBaseline(got, "the peer's baseline");
        if (!theirs.digest.equals(hello.digest)) throw new TsyncError('E_PROTOCOL', "the peer's baseline does not match its digest");
        base = agreed(mine, theirs);
      }
      // both manifests
      const inBase = (p: string) => mine!.tree.get(p);
      const gone = diff ? await readGone(conn, neg.key, inBase) : null;
      const theirs = await readManifest(conn, neg.key, events);
      const local = await scan.done;
      const a = local.tree;
      const aRoot = local.root;
      const bRoot = theirs.root;
      // the pull phase (nothing pulled) and the run end here when there is nothing more to do
      const end = (stats: Stats, conflicts: ConflictRecord[]): TwoWayResult => {
        conn.send({ t: 'done', stats: '{}' });
        conn.send({ t: 'done', stats: '{}' });
        return { stats, wire: { sent: conn.bytesOut, received: conn.bytesIn }, conflicts };
      };
      // the usual re-run: both sides exactly as the baseline says; nothing to plan, move or save
      if (gone !== null && gone.length === 0 && every(theirs.tree.entries(), (e) => sameEntry(inBase(e.path), e)) && holds(mine!.tree, a)) {
        return end({ ...emptyStats(), entries: 2 * a.size }, []);
      }
      if (match && mine) base = mine.tree;
      const b = gone ? applyDiff(base!, gone, theirs.tree) : theirs.tree;
      const input: Omit<TwoWayInput, 'sameContent'> = {
        a,
        b,
        base,
        offsetUs,
        windowUs: Math.round(options.modifyWindow * 1e6),
        hosts: { a: os.hostname(), b: hello.host },
        unsure: { a: local.ioErrors > 0, b: theirs.ioErrors > 0 },
      };
      const plan = { ...input, sameContent: await compareContent(conn, root, input, theirs) };
      const decisions = planTwoWay(plan);
      const conflicts: ConflictRecord[] = [];
      for (const d of decisions) {
        const c = describeDecision(d, spec.localFirst, plan);
        reporter.decision(c.line, c.conflict);
        if (c.conflict) conflicts.push(c.conflict);
      }
      const stats = emptyStats();
      stats.entries = input.a.size + input.b.size;
      if (options.dryRun) return end(stats, conflicts);
      const ctx = opContext(root, options, neg.moves);
      // ours: deletions, and our losing versions moved aside
      for (const op of opsOn('a', decisions, input)) {
        const why = applyOp(ctx, op);
        if (why) events.warn({ path: op.path, code: 'E_PARTIAL', message: why });
        else if (op.op === TwOp.Delete) stats.deleted++;
      }
      // the pull
      const pulls = pullMap(decisions, failed);
      if (pulls.size > 0) {
        receiver = new Receiver(conn, { dest: root, options, key: neg.key, rounds: neg.rounds, moves: neg.moves, setAside: ctx.setAside?.files, select: (e) => pulls.get(e.path) ?? null }, events);
        receiver.preload(theirs.messages);
        addStats(stats, await receiver.run());
        receiver = null;
        conn.release();
      }
      ctx.setAside?.clear();
      conn.send({ t: 'done', stats: '{}' });
      // merged files: ours take the mode of the merge (the pulled ones have arrived by now)
      mergeModes(root, decisions, input, failed, events);
      // theirs: deletions and losing versions moved aside
      const remoteOps = opsOn('b', decisions, input);
      if (remoteOps.length > 0) await remoteApply(conn, remoteOps, events, stats);
      // the push
      const push = pushList(decisions, { root, rootEntry: aRoot, entries: a }, b, bRoot, failed);
      if (push.length > 1) {
        const sender = new Sender({ sources: [{ abs: root, contents: true }], options, scanned: { batches: Batcher.all(push), ioErrors: 0 } }, events);
        addStats(stats, await sender.run(conn, neg.key));
      }
      // the new baseline, theirs first: a run cut off between the two saves leaves baselines whose agreement the next run uses
      if (!failures.trouble) {
        // nothing new to agree on (the usual re-run): both baselines stay as they are
        const settled = match && mine !== null && decisions.length === 0 && failed.size === 0 && asBefore(mine.tree, plan);
        if (!settled) await save(conn, root, self, hello.replica, encodeBaseline(nextBaseline(plan, decisions, failed)));
      }
      conn.send({ t: 'done', stats: '{}' });
      return { stats, wire: { sent: conn.bytesOut, received: conn.bytesIn }, conflicts };
    },
    { abandon: () => receiver?.abandon() },
  );
}

/** A run's warnings, passed on and remembered: the paths that failed, and whether anything failed that names no path. */
export class Failures {
  readonly failed = new Set<string>();
  trouble = false;
  readonly events: Events;
  constructor(reporter: Pick<Events, 'warn'>) {
    this.events = {
      item: () => {},
      warn: (w) => {
        if (w.path) this.failed.add(w.path);
        else this.trouble = true;
        reporter.warn(w);
      },
    };
  }
}

/**
 * Our own tree, scanned in the background (a batch per event-loop turn)
 * while the peer starts and scans its own.
 */
export class LocalScan {
  private readonly scanner: Scanner;
  /** entries only, packed: a million absolute paths would cost a hundred MB, and each is its root and path joined */
  readonly done: Promise<{ root: Entry; tree: SortedTree; ioErrors: number }>;

  constructor(root: string, options: StartOptions, events: Events) {
    this.scanner = new Scanner(Filter.create(options.rules, { ignoreFiles: options.ignoreFiles }), (w) => events.warn(w));
    this.done = this.run(this.scanner.scan([{ abs: root, contents: true }]));
    this.done.catch(() => {});
  }

  private async run(batches: Iterator<ScannedFile[]>): Promise<{ root: Entry; tree: SortedTree; ioErrors: number }> {
    const tree = new TreeBuilder((p) => new TsyncError('E_INTERNAL', `the scan met ${JSON.stringify(p)} twice`));
    let root: Entry | undefined;
    for (let n = batches.next(); !n.done; n = batches.next()) {
      for (const f of n.value) {
        if (f.entry.path === '.') root = f.entry;
        else tree.add(f.entry);
      }
      await new Promise((r) => setImmediate(r));
    }
    return { root: root!, tree: tree.finish(), ioErrors: this.scanner.warnings };
  }
}

/** The replica's manifest, verified batch by batch; kept as messages too, for the pull to replay. */
function readManifest(conn: Connection, key: Buffer, events: Events): Promise<Theirs> {
  const intake = new ManifestIntake(key);
  const duplicate = (p: string) => new TsyncError('E_PROTOCOL', `duplicate path in manifest: ${JSON.stringify(p)}`);
  const tree = new TreeBuilder(duplicate);
  const out: Theirs = { root: undefined, tree: undefined as unknown as SortedTree, messages: [], ioErrors: 0 };
  let count = 0;
  return new Promise((resolve, reject) => {
    conn.onMessage((m) => {
      if (m.t === 'warn') return events.warn({ path: m.path, code: m.code, message: m.message });
      if (m.t === 'flist_head') {
        intake.head(m);
        out.messages.push(m);
      } else if (m.t === 'flist') {
        for (const e of intake.batch(m)) {
          intake.checkPath(e);
          count++;
          if (e.path !== '.') tree.add(e);
          else if (out.root) throw duplicate(e.path);
          else out.root = e;
        }
        out.messages.push(m);
      } else if (m.t === 'flist_end') {
        intake.end(m, count);
        // duplicates show up here, side by side once sorted
        out.tree = tree.finish();
        out.messages.push(m);
        out.ioErrors = m.ioErrors;
        conn.release();
        resolve(out);
      } else throw new TsyncError('E_PROTOCOL', `unexpected ${m.t} in the replica's manifest`);
    });
    conn.failed().catch(reject);
  });
}

/**
 * Files both sides changed to the same size: hash ours, ask the replica
 * whether its copy hashes the same (a dry-run content check, no data).
 */
async function compareContent(conn: Connection, root: string, input: Omit<TwoWayInput, 'sameContent'>, theirs: Theirs): Promise<Set<string>> {
  const paths = needsHash(input);
  const same = new Set<string>();
  if (paths.length === 0) return same;
  const waiting = new Map<number, string>();
  const answered = new Promise<void>((resolve) => {
    conn.onMessage((m) => {
      if (m.t !== 'file_end') throw new TsyncError('E_PROTOCOL', `unexpected ${m.t} while comparing content`);
      const p = waiting.get(m.index);
      if (p === undefined) throw new TsyncError('E_PROTOCOL', `an answer for file ${m.index}, which was not asked about`);
      waiting.delete(m.index);
      if (m.status === FileStatus.Same) same.add(p);
      if (waiting.size === 0) resolve();
    });
  });
  const indexes = manifestIndexes(theirs.messages, paths);
  for (const p of paths) {
    const index = indexes.get(p)!;
    waiting.set(index, p);
    conn.send({ t: 'req', index, flags: ReqFlag.Dry, check: await hashFile(under(root, p)), sig: Buffer.alloc(0) });
  }
  await answered;
  conn.release();
  return same;
}

async function remoteApply(conn: Connection, ops: TwoWayOp[], events: Events, stats: Stats): Promise<void> {
  for (const op of ops) conn.send({ t: 'tw_op', op: op.op, path: op.path, to: op.to, expect: encodeEntries([op.expect]) });
  conn.send({ t: 'tw_ops_end' });
  const refused = new Set<string>();
  for (;;) {
    const m = await conn.next();
    if (m.t === 'warn') {
      refused.add(m.path);
      events.warn({ path: m.path, code: m.code, message: m.message });
    } else if (m.t === 'tw_ops_done') break;
    else throw new TsyncError('E_PROTOCOL', `unexpected ${m.t} while the replica applied changes`);
  }
  stats.deleted += ops.filter((o) => o.op === TwOp.Delete && !refused.has(o.path)).length;
}

/** Where each of `paths` stands in the manifest as it was sent (the index a request names). */
function manifestIndexes(messages: readonly Message[], paths: readonly string[]): Map<string, number> {
  const want = new Set(paths);
  const out = new Map<string, number>();
  let index = 0;
  for (const m of messages) {
    if (m.t !== 'flist') continue;
    for (const e of decodeEntries(m.data)) {
      if (want.has(e.path)) out.set(e.path, index);
      index++;
    }
  }
  return out;
}

async function save(conn: Connection, root: string, self: string, peer: string, next: Baseline): Promise<void> {
  for (const data of next.batches) conn.send({ t: 'tw_save', data });
  conn.send({ t: 'tw_save_end', count: next.count, digest: next.digest });
  const m = await conn.next();
  if (m.t !== 'tw_saved') throw new TsyncError('E_PROTOCOL', `expected the replica to confirm its baseline, got ${m.t}`);
  saveBaseline(root, self, peer, next);
}
