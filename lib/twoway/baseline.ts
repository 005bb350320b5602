// What a replica keeps in ROOT/.tsync/ for two-way runs: its id, a secret
// only it knows, and per peer the baseline (the agreed manifest of their last
// run together), MACed with that secret so a baseline altered at rest is
// refused rather than trusted.
//
// Baseline file: "tsync-baseline 1\n", a JSON header line, then entry
// batches (the manifest's canonical encoding, each with a u32 length), then
// HMAC-SHA256 over everything before it. Both replicas store the very same
// batches, so their digests (SHA-256 over the batches) agree.

import * as fs from 'node:fs';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { encodeEntries, LIMITS, type Entry } from '../wire/schema.js';
import { PackedTree, type IndexedTree, type SortedTree } from '../tree/packed.js';
import { mergeRows } from '../plan/rows.js';
import { checkRelPath } from '../tree/paths.js';
import { STATE_DIR } from '../tree/reserved.js';
import { TsyncError, describeFsError } from '../errors.js';

const MAGIC = 'tsync-baseline 1\n';
const ID_RE = /^[0-9a-f]{32}$/;
const BATCH = 1000;

export interface Baseline {
  /** the entries, sorted by path, packed (decoded as walked) */
  readonly tree: IndexedTree;
  readonly count: number;
  batches: Buffer[];
  digest: Buffer;
}

export const NO_DIGEST = Buffer.alloc(0);

function stateDir(root: string): string {
  return `${root.replace(/\/+$/, '') || ''}/${STATE_DIR}`;
}

/** ROOT/.tsync must be a real directory of ours, never a link somewhere else. */
function checkStateDir(dir: string): boolean {
  const st = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (!st) return false;
  if (!st.isDirectory()) throw new TsyncError('E_REFUSED', `${dir} is not a directory (a symlink or file is in the way of tsync's state)`);
  return true;
}

function readSmall(path: string): Buffer | null {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TsyncError('E_IO', `cannot read ${path}: ${describeFsError(e)}`);
  }
  try {
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** This replica's id: read from .tsync/id, or a fresh one (written with the first baseline). */
export function replicaId(root: string): string {
  const dir = stateDir(root);
  if (!checkStateDir(dir)) return randomBytes(16).toString('hex');
  const id = readSmall(`${dir}/id`)?.toString('utf8').trim();
  if (id === undefined) return randomBytes(16).toString('hex');
  if (!ID_RE.test(id)) throw new TsyncError('E_REFUSED', `${dir}/id is not a tsync replica id; remove it to start this replica afresh`);
  return id;
}

function baselinePath(root: string, peer: string): string {
  if (!ID_RE.test(peer)) throw new TsyncError('E_PROTOCOL', `the peer sent a malformed replica id ${JSON.stringify(peer)}`);
  return `${stateDir(root)}/baseline-${peer}`;
}

/** Entries in path order, encoded as they come (a million of them are never all objects at once). */
export function encodeBaseline(entries: Iterable<Entry>): Baseline {
  const batches: Buffer[] = [];
  let pending: Entry[] = [];
  let count = 0;
  // a copy of exactly the encoded bytes, not the encoder's larger buffer
  const flush = () => {
    if (pending.length > 0) batches.push(Buffer.from(encodeEntries(pending)));
    count += pending.length;
    pending = [];
  };
  for (const e of entries) {
    pending.push(e);
    if (pending.length === BATCH) flush();
  }
  flush();
  return lazyTree(batches, digestOf(batches), count, 'the new baseline', () => new TsyncError('E_INTERNAL', 'the new baseline lost entries'));
}

/** a baseline whose entries are checked and indexed when first walked */
function lazyTree(batches: Buffer[], digest: Buffer, count: number, what: string, mismatch: () => Error): Baseline {
  let tree: IndexedTree | null = null;
  return {
    batches,
    digest,
    count,
    get tree(): IndexedTree {
      tree ??= checkedTree(batches, what);
      if (tree.size !== count) throw mismatch();
      return tree;
    },
  };
}

export function digestOf(batches: readonly Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const b of batches) h.update(b);
  return h.digest();
}

/** Batches a peer or a file gave us, checked entry by entry (canonical, sorted, unique, safe paths) without keeping the entries. */
function checkedTree(batches: Buffer[], what: string): IndexedTree {
  let prev: string | null = null;
  return PackedTree.fromBatches(batches, (e) => {
    const bad = checkRelPath(e.path);
    if (bad || e.path === '.') throw new TsyncError('E_PROTOCOL', `${what} names an unsafe path (${bad ?? 'the root'})`);
    if (prev !== null && prev >= e.path) throw new TsyncError('E_PROTOCOL', `${what} is not sorted or has duplicates`);
    prev = e.path;
  });
}

export function decodeBaseline(batches: Buffer[], what: string): Baseline {
  const tree = checkedTree(batches, what);
  return { tree, count: tree.size, batches, digest: digestOf(batches) };
}

function secret(root: string, create: boolean): Buffer | null {
  const path = `${stateDir(root)}/secret`;
  const have = readSmall(path);
  if (have) {
    if (have.length !== 32) throw new TsyncError('E_REFUSED', `${path} is damaged; remove ${stateDir(root)} to start this replica afresh`);
    return have;
  }
  if (!create) return null;
  const key = randomBytes(32);
  writeNew(path, key);
  return key;
}

/** The baseline this replica keeps for `peer`, verified; null when there is none. */
export function loadBaseline(root: string, peer: string): Baseline | null {
  const path = baselinePath(root, peer);
  if (!checkStateDir(stateDir(root))) return null;
  const raw = readSmall(path);
  if (!raw) return null;
  const refuse = (why: string) => new TsyncError('E_REFUSED', `baseline ${path} ${why}; remove it and the next run merges both sides without deleting anything`);
  const key = secret(root, false);
  if (!key) throw refuse('has no secret to check it with');
  if (raw.length < MAGIC.length + 32 || raw.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw refuse('is not a tsync baseline');
  const body = raw.subarray(0, raw.length - 32);
  const mac = createHmac('sha256', key).update(body).digest();
  if (!timingSafeEqual(mac, raw.subarray(raw.length - 32))) throw refuse('failed verification (altered or damaged)');
  const nl = body.indexOf(0x0a, MAGIC.length);
  let header: { count: number; digest: string; peer?: string };
  try {
    header = JSON.parse(body.subarray(MAGIC.length, nl).toString('utf8')) as typeof header;
  } catch {
    throw refuse('has a damaged header');
  }
  const batches: Buffer[] = [];
  for (let off = nl + 1; off < body.length; ) {
    const n = body.readUInt32BE(off);
    if (n > LIMITS.frame) throw refuse('has an oversized batch');
    batches.push(body.subarray(off + 4, off + 4 + n));
    off += 4 + n;
  }
  const digest = digestOf(batches);
  if (digest.toString('hex') !== header.digest) throw refuse('does not match its header');
  if (!Number.isSafeInteger(header.count)) throw refuse('has a damaged header');
  // signed with the replica's own secret, but for which peer: a file renamed to another peer's name is not that peer's
  if (header.peer !== peer) throw refuse('was saved for another peer');
  // entries are decoded when first walked: a replica serving a peer whose baseline matches never needs them
  return lazyTree(batches, digest, header.count, `baseline ${path}`, () => refuse('does not match its header'));
}

/** Write (atomically) this replica's id, secret and its baseline for `peer`. */
export function saveBaseline(root: string, self: string, peer: string, base: Baseline): void {
  // the peer's id is checked before any state is written
  const target = baselinePath(root, peer);
  const dir = stateDir(root);
  if (!checkStateDir(dir)) fs.mkdirSync(dir, { mode: 0o700 });
  const idPath = `${dir}/id`;
  if (readSmall(idPath)?.toString('utf8').trim() !== self) writeAtomic(idPath, Buffer.from(`${self}\n`));
  const key = secret(root, true)!;
  const header = JSON.stringify({ self, peer, count: base.count, digest: base.digest.toString('hex'), saved: new Date().toISOString() });
  const parts: Buffer[] = [Buffer.from(MAGIC + header + '\n')];
  for (const b of base.batches) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    parts.push(len, b);
  }
  const body = Buffer.concat(parts);
  writeAtomic(target, Buffer.concat([body, createHmac('sha256', key).update(body).digest()]));
}

/** A new file (never one planted there, never through a link), mode 0600, on disk before this returns. */
function writeNew(path: string, data: Buffer): void {
  const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function writeAtomic(path: string, data: Buffer): void {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeNew(tmp, data);
    fs.renameSync(tmp, path);
  } catch (e) {
    // the old file stays as it was; the half-made new one goes
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** The same state, field for field (a baseline records exact values); no entry is never the same */
export function sameEntry(a: Entry | undefined, b: Entry): boolean {
  return a !== undefined && a.type === b.type && a.mode === b.mode && a.size === b.size && a.mtime === b.mtime && (a.target ?? '') === (b.target ?? '');
}

/** Per path, the entries both baselines agree on (they differ only after a run cut off between the two saves). */
export function agreed(mine: Baseline | null, theirs: Baseline | null): SortedTree | null {
  if (!mine || !theirs) return null;
  function* both(): Generator<Entry> {
    for (const r of mergeRows(mine!.tree.entries(), theirs!.tree.entries(), null)) if (r.a && sameEntry(r.b, r.a)) yield r.a;
  }
  return PackedTree.fromSorted(both(), () => new TsyncError('E_PROTOCOL', 'a baseline is not sorted'));
}
