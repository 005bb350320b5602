// `tsync --vault KEY --two-way DIR VAULT`: DIR and the vault's newest
// snapshot as the two replicas of a two-way run (docs/design.md §13.9). The
// plan is the live two-way planner's (lib/plan/twoway.ts) with DIR's
// baseline for this vault; the vault side's changes are pulled through the
// one-way receiver (lib/vault/restore.ts), and the vault side's own changes
// (its deletions, our versions, conflict copies) are all made by recording
// DIR afterwards as the next snapshot, claimed only on top of the snapshot
// the run merged with. When another client claimed that number first, the
// run merges again with the newer snapshot (the one it merged with is then
// the base) and claims the next number: nothing either client wrote is lost.
//
// Clocks: each entry of a snapshot records the host's clock minus the clock
// of the client that read its mtime (its `o`), and this run measures its own
// against the host, so every newest-wins choice compares times on one clock.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Reporter } from '../cli/report.js';
import { addStats, emptyStats, type Stats } from '../cli/stats.js';
import { TsyncError } from '../errors.js';
import { acquireLock } from '../fs/lock.js';
import { hashFile } from '../fs/apply.js';
import { under } from '../tree/paths.js';
import { TreeBuilder, type SortedTree } from '../tree/packed.js';
import { STATE_DIR } from '../tree/reserved.js';
import { TwOp, type StartOptions } from '../wire/schema.js';
import { planTwoWay, needsHash, unchanged, type TwoWayInput } from '../plan/twoway.js';
import { mergeRows } from '../plan/rows.js';
import { encodeBaseline, loadBaseline, replicaId, saveBaseline, type Baseline } from '../twoway/baseline.js';
import { Failures, LocalScan } from '../twoway/client.js';
import { describeDecision } from '../twoway/describe.js';
import { every, opsOn, pullMap } from '../twoway/lists.js';
import { applyOp, mergeModes } from '../twoway/ops.js';
import { ensureRoot, opContext } from '../twoway/replica.js';
import type { BlobRef } from './format.js';
import type { HeadInfo, Vault } from './repo.js';
import { buildSnapshot, hostOffsetMs, newHead } from './push.js';
import { byRules, receiveEntries } from './restore.js';
import { decodeTree, type SnapEntry } from './tree.js';

export interface VaultTwoWayResult {
  stats: Stats;
  /** the snapshot recorded; 0 when nothing changed (or a dry run) */
  snapshot: number;
}

/** a give-up bound for runs that keep losing the claim to other writers */
const MAX_ROUNDS = 100;

/** DIR locked and its walk begun before the vault is reached, so the walk overlaps ssh and the server's start */
export interface Prepared {
  root: string;
  release(): void;
  first: { failures: Failures; scan: LocalScan };
}

export async function prepareTwoWay(dir: string, options: StartOptions, reporter: Reporter, hooks: { note(s: string): void; lockWait: number }): Promise<Prepared> {
  const root = ensureRoot(dir, options.dryRun);
  const lock = options.dryRun ? null : await acquireLock(root, { waitSeconds: hooks.lockWait, note: hooks.note });
  const failures = new Failures(reporter);
  return { root, release: () => lock?.release(), first: { failures, scan: new LocalScan(root, options, failures.events) } };
}

/** the vault as a replica id (a baseline file's name) */
const vaultReplica = (vault: Vault): string => crypto.createHash('sha256').update(`tsync vault ${vault.config.id}`).digest('hex').slice(0, 32);

export async function vaultTwoWay(vault: Vault, prepared: Prepared, localFirst: boolean, options: StartOptions, reporter: Reporter, note: (s: string) => void): Promise<VaultTwoWayResult> {
  const { root } = prepared;
  const self = replicaId(root);
  const peer = vaultReplica(vault);
  const saved = loadBaseline(root, peer);
  let base: SortedTree | null = saved?.tree ?? null;
  const offsetMs = await hostOffsetMs(vault.store);
  const stats = emptyStats();
  // segments written by rounds whose claim was lost: their blobs are in this client's index, so the next head lists them
  const segments: Array<BlobRef & { id: string }> = [];
  /** DIR and the vault agree on head: the baseline (written when it changed), then the mark naming head */
  const settle = (next: Baseline, head: HeadInfo): void => {
    if (!saved || !saved.digest.equals(next.digest)) saveBaseline(root, self, peer, next);
    writeMark(root, peer, head.hash);
    vault.accept(head);
  };
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const parent = await vault.refresh();
    const failures = round === 1 ? prepared.first.failures : new Failures(reporter);
    const { failed, events } = failures;
    const scan = round === 1 ? prepared.first.scan : new LocalScan(root, options, events);
    // the usual re-run: the newest snapshot is the one DIR last agreed with, and DIR is as it was then
    if (round === 1 && saved && parent && readMark(root, peer) === parent.hash) {
      const local = await scan.done;
      if (failed.size === 0 && !failures.trouble && alike(local.tree, saved.tree)) {
        stats.entries = 2 * local.tree.size;
        vault.accept(parent);
        return { stats, snapshot: 0 };
      }
    }
    const theirs = await vaultSide(vault, parent, offsetMs, options);
    const local = await scan.done;
    const scanFailed = new Set(failed);
    const scanTrouble = failures.trouble;
    const input: Omit<TwoWayInput, 'sameContent'> = {
      a: local.tree,
      b: theirs.tree,
      base,
      offsetUs: 0,
      offsetOf: theirs.offsetOf,
      windowUs: Math.round(options.modifyWindow * 1e6),
      hosts: { a: os.hostname(), b: parent?.head.host ?? 'vault' },
      unsure: { a: local.ioErrors > 0, b: false },
    };
    const plan = { ...input, sameContent: await sameContent(root, input, theirs.byPath) };
    const decisions = planTwoWay(plan);
    for (const d of decisions) {
      const c = describeDecision(d, localFirst, plan);
      reporter.decision(c.line, c.conflict);
    }
    stats.entries = input.a.size + input.b.size;
    if (options.dryRun) {
      if (parent) vault.accept(parent);
      return { stats, snapshot: 0 };
    }
    // the usual re-run: DIR is as the snapshot has it, so the snapshot is what a new one would be (no second scan)
    if (parent && decisions.length === 0 && failed.size === 0 && !failures.trouble && alike(input.a, input.b)) {
      settle(encodeBaseline(theirs.tree.entries()), parent);
      return { stats, snapshot: 0 };
    }
    // ours: deletions, and our losing versions moved aside; then what the vault side brings
    const ctx = opContext(root, options);
    for (const op of opsOn('a', decisions, input)) {
      const why = applyOp(ctx, op);
      if (why) events.warn({ path: op.path, code: 'E_PARTIAL', message: why });
      else if (op.op === TwOp.Delete) stats.deleted++;
    }
    const pulls = pullMap(decisions, failed);
    if (pulls.size > 0) addStats(stats, await receiveEntries(vault, theirs.entries, root, options, events, { select: (e) => pulls.get(e.path) ?? null }));
    mergeModes(root, decisions, input, failed, events);
    // something the plan needed was not done here: recording DIR now could undo a change of the vault's
    if (failures.trouble !== scanTrouble || [...failed].some((p) => !scanFailed.has(p))) {
      if (parent) vault.accept(parent);
      note('nothing was recorded in the vault: some changes could not be made here (see above); the next run tries again');
      return { stats, snapshot: 0 };
    }
    // the vault side: DIR as it is now, on top of the snapshot merged with
    const built = await buildSnapshot(vault, parent, [{ abs: root, contents: true }], options, events, { offsetMs, twoWay: true, carry: theirs.left, parentTree: theirs.listing });
    if (built.segment) segments.push(built.segment);
    // what the vault side gained, changed and lost, as a push counts them against the snapshot merged with
    for (const k of ['created', 'updated', 'metaOnly', 'deleted', 'bytesLiteral', 'bytesMatched'] as const) stats[k] += built.stats[k];
    const next = encodeBaseline(built.entries!.finish().entries());
    const same = parent !== null && built.treeIds.join() === parent.head.trees.map((t) => t.id).join();
    if (same) {
      built.keepCache();
      settle(next, parent);
      return { stats, snapshot: 0 };
    }
    // TSYNC_TEST_VAULT_PAUSE=ms holds the first claim back, so that a test can let another client's go first (tests only)
    if (round === 1 && Number(process.env.TSYNC_TEST_VAULT_PAUSE) > 0) await new Promise((r) => setTimeout(r, Number(process.env.TSYNC_TEST_VAULT_PAUSE)));
    const hostTime = await vault.store.now();
    if (await vault.claimOn(parent, newHead(vault, parent, (parent?.seq ?? 0) + 1, built, hostTime, segments))) {
      built.keepCache();
      settle(next, vault.latest!);
      note(`snapshot ${vault.latest!.seq} recorded${round > 1 ? ' (merged with what other clients recorded meanwhile)' : ''}`);
      return { stats, snapshot: vault.latest!.seq };
    }
    // another client recorded first: what we merged with is now what both of us start from
    note(`snapshot ${(parent?.seq ?? 0) + 1} was recorded by another client meanwhile: merging with it`);
    base = theirs.tree;
  }
  throw new TsyncError('E_IO', `could not record a snapshot after ${MAX_ROUNDS} merges: other clients keep recording first`);
}

interface VaultSide {
  /** the snapshot's listing as stored (none: the vault is empty) */
  listing: Buffer | undefined;
  /** the snapshot's entries as recorded (the pulls' source), and as a tree without the root */
  entries: SnapEntry[];
  /** the entries the rules leave out */
  left: SnapEntry[];
  tree: SortedTree;
  byPath: Map<string, SnapEntry>;
  /** per path, the clock of the client that read its mtime minus ours, µs */
  offsetOf: (path: string) => number;
}

async function vaultSide(vault: Vault, parent: HeadInfo | null, offsetMs: number, options: StartOptions): Promise<VaultSide> {
  let listing: Buffer | undefined;
  if (parent) {
    await vault.loadIndex(parent.head);
    vault.dropMarked(parent.head);
    listing = await vault.treeBytes(parent.head);
  }
  // what the rules leave out is neither pulled nor counted, and is recorded again as it is
  const { kept: entries, left } = byRules(listing ? decodeTree(listing, 'the tree of a snapshot') : [], options);
  const tree = new TreeBuilder((p) => new TsyncError('E_VAULT_DAMAGED', `the snapshot lists ${JSON.stringify(p)} twice`));
  const byPath = new Map<string, SnapEntry>();
  for (const e of entries) {
    if (e.path === '.') continue;
    tree.add(e);
    byPath.set(e.path, e);
  }
  // b's clock minus ours = (host - ours) - (host - theirs)
  return { listing, entries, left, tree: tree.finish(), byPath, offsetOf: (p) => (offsetMs - (byPath.get(p)?.o ?? 0)) * 1000 };
}

/** files both sides changed to the same size: the same content when ours hashes to what the snapshot recorded */
async function sameContent(root: string, input: Omit<TwoWayInput, 'sameContent'>, theirs: Map<string, SnapEntry>): Promise<Set<string>> {
  const same = new Set<string>();
  for (const p of needsHash(input)) {
    try {
      if ((await hashFile(under(root, p))).toString('hex') === theirs.get(p)?.hash) same.add(p);
    } catch {
      // unreadable now: not known to be the same, so both versions are kept
    }
  }
  return same;
}

/** a and b hold the same paths, each unchanged from the other by the two-way rules */
function alike(a: SortedTree, b: SortedTree): boolean {
  return a.size === b.size && every(mergeRows(a.entries(), b.entries(), null), (r) => r.a !== undefined && r.b !== undefined && unchanged(r.a, r.b, 0));
}

/**
 * Which snapshot DIR's baseline for this vault is (the hash of its head):
 * when it is still the newest, the vault side has nothing new and a run
 * need only look at DIR. Written after the baseline; a stale or missing
 * mark only costs a full run.
 */
const markFile = (root: string, peer: string) => path.join(root, STATE_DIR, `vault-${peer}`);

function readMark(root: string, peer: string): string | null {
  try {
    return fs.readFileSync(markFile(root, peer), 'utf8').trim();
  } catch {
    return null;
  }
}

function writeMark(root: string, peer: string, hash: string): void {
  const file = markFile(root, peer);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, `${hash}\n`, { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}
