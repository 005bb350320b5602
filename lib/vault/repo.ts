// A vault opened by a client: its config checked against the key, its heads
// checked against what this client saw before (rollback and fork show here,
// exit 17), its index and trees read and verified, packs written, and a new
// head claimed. The client's state ($XDG_STATE_HOME/tsync/vaults/) keeps the
// last head accepted and this client's commit counter; its cache
// ($XDG_CACHE_HOME/tsync/) keeps decrypted index segments and the files
// cache of lib/vault/push.ts. Losing the cache costs time; losing the state
// means the next contact trusts what it finds, and says so.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { TsyncError } from '../errors.js';
import type { VaultKeys } from './keys.js';
import type { ObjectStore } from './store.js';
import { Squeezer } from './squeezer.js';
import {
  BLOB,
  blobId,
  decodeIndex,
  encodeIndex,
  judgeConfig,
  newConfig,
  openBlob,
  openHead,
  PACK_TARGET,
  PackBuilder,
  packPath,
  parseConfig,
  SALT_LEN,
  sealHead,
  seqName,
  sha256hex,
  squeeze,
  VaultDamage,
  type BlobKind,
  type BlobRef,
  type Config,
  type Head,
  type IndexEntry,
} from './format.js';

export interface ClientDirs {
  state: string;
  cache: string;
}

export function clientDirs(env: NodeJS.ProcessEnv = process.env): ClientDirs {
  const xdg = (v: string | undefined, fallback: string) => (v && path.isAbsolute(v) ? v : path.join(os.homedir(), fallback));
  return { state: path.join(xdg(env.XDG_STATE_HOME, '.local/state'), 'tsync'), cache: path.join(xdg(env.XDG_CACHE_HOME, '.cache'), 'tsync') };
}

interface State {
  seq: number;
  hash: string;
  counter: number;
}

/** a snapshot's head as read: its number, the head and the hash of its bytes */
export interface HeadInfo {
  seq: number;
  head: Head;
  hash: string;
}

const writeJson = (file: string, v: unknown): void => {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
  fs.writeFileSync(tmp, JSON.stringify(v), { mode: 0o600 });
  fs.renameSync(tmp, file);
};
const readJson = <T>(file: string): T | null => {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
};

export class Vault {
  readonly index = new Map<string, IndexEntry>();
  private readonly salts = new Map<string, Buffer>();
  private readonly packCache = new Map<string, Buffer>();
  latest: HeadInfo | null = null;
  /** said once: this client had no record of the vault */
  firstContact = false;

  private constructor(
    readonly store: ObjectStore,
    readonly keys: VaultKeys,
    readonly config: Config,
    readonly dirs: ClientDirs,
    private readonly note: (s: string) => void,
  ) {}

  /** Open the vault in store; with create, a vault that does not exist yet is made (a first push). */
  static async open(store: ObjectStore, keys: VaultKeys, dirs: ClientDirs, o: { create: boolean; write: boolean; note: (s: string) => void }): Promise<Vault> {
    if (o.write && !keys.signer) throw new TsyncError('E_VAULT_KEY', 'this is a read-only vault key: it can restore, list and check, but never write');
    let raw = await store.get('config');
    if (raw === null) {
      if (!o.create) throw new TsyncError('E_SOURCE_MISSING', 'no vault there (it has no config object); push to it first to create it');
      // two first pushes at once: one claims the config, the other takes it
      if (!(await store.claim('config', Buffer.from(`${JSON.stringify(newConfig(keys), null, 1)}\n`)))) raw = await store.get('config');
      else raw = await store.get('config');
      if (raw === null) throw new TsyncError('E_IO', 'the vault config vanished as it was made');
    }
    const config = parseConfig(raw);
    if (!config) throw new VaultDamage('config', 'is not a vault config');
    const verdict = judgeConfig(keys, config);
    if (verdict === 'key') throw new TsyncError('E_VAULT_KEY', 'this key does not open this vault (it was made with another key)');
    if (verdict === 'format') throw new TsyncError('E_VERSION', `this vault uses format ${config['tsync-vault']} or chunk sizes this tsync does not know`);
    if (verdict === 'damaged') throw new VaultDamage('config', 'is damaged');
    return new Vault(store, keys, config, dirs, o.note);
  }

  private get stateFile(): string {
    return path.join(this.dirs.state, 'vaults', `${this.config.id}.json`);
  }

  private get cacheDir(): string {
    return path.join(this.dirs.cache, this.config.id);
  }

  /** this client's id, made once per state directory */
  clientId(): string {
    const file = path.join(this.dirs.state, 'client-id');
    const have = readJson<string>(file);
    if (typeof have === 'string' && /^[0-9a-f]{16}$/.test(have)) return have;
    const id = randomBytes(8).toString('hex');
    writeJson(file, id);
    return id;
  }

  async readHead(seq: number): Promise<HeadInfo | null> {
    const name = `heads/${seqName(seq)}`;
    const bytes = await this.store.get(name);
    if (bytes === null) return null;
    return { seq, head: openHead(this.keys, bytes, name), hash: sha256hex(bytes) };
  }

  async headSeqs(): Promise<number[]> {
    return (await this.store.list('heads')).map((o) => Number(o.name.slice(6))).sort((a, b) => a - b);
  }

  /**
   * The newest head, checked against this client's state: it must descend
   * from the last head this client accepted (exit 17 otherwise), through
   * heads that each name the one before. Sets `latest`.
   */
  async refresh(): Promise<HeadInfo | null> {
    const seqs = await this.headSeqs();
    const state = readJson<State>(this.stateFile);
    const top = seqs.length ? seqs[seqs.length - 1] : 0;
    if (!state) {
      if (top > 0 && !this.firstContact) this.note(`first contact with this vault from this client: trusting its newest head (snapshot ${top}) as it is`);
      this.firstContact = true;
      this.latest = top ? await this.mustHead(top) : null;
      return this.latest;
    }
    if (top < state.seq) throw new TsyncError('E_VAULT_ROLLBACK', `the vault was rolled back: its newest snapshot is ${top}, but this client saw snapshot ${state.seq} before`);
    let prev = await this.readHead(state.seq);
    if (!prev || prev.hash !== state.hash) throw new TsyncError('E_VAULT_ROLLBACK', `the vault's history forked: snapshot ${state.seq} is not the one this client saw before`);
    for (let s = state.seq + 1; s <= top; s++) {
      const h = await this.mustHead(s);
      if (h.head.prev !== prev.hash) throw new TsyncError('E_VAULT_ROLLBACK', `the vault's history forked: snapshot ${s} does not continue snapshot ${s - 1}`);
      prev = h;
    }
    this.latest = prev;
    return prev;
  }

  /** the head at seq; exit 16 naming it when it is missing */
  async mustHead(seq: number): Promise<HeadInfo> {
    const h = await this.readHead(seq);
    if (!h) throw new VaultDamage(`heads/${seqName(seq)}`, 'is missing');
    return h;
  }

  /** remember a head as accepted (after a push, or a restore that read it) */
  accept(h: HeadInfo, counter?: number): void {
    const old = readJson<State>(this.stateFile);
    if (old && old.seq > h.seq) return;
    writeJson(this.stateFile, { seq: h.seq, hash: h.hash, counter: counter ?? old?.counter ?? 0 });
  }

  counter(): number {
    return readJson<State>(this.stateFile)?.counter ?? 0;
  }

  /** load every index segment a head lists (from the cache when it is there) */
  async loadIndex(head: Head): Promise<void> {
    for (const ref of head.index) await this.loadSegment(ref);
  }

  /** one index segment into the index; fresh: from the vault even when cached (a check verifies the vault, not the cache) */
  async loadSegment(ref: BlobRef & { id: string }, fresh = false): Promise<void> {
    decodeIndex(await this.cachedBlob(ref, ref.id, BLOB.Index, fresh), this.index, `index segment ${ref.id}`);
  }

  /**
   * A listing chunk or an index segment: from the client cache, checked
   * against its id (both are content-addressed), else read from the vault
   * and cached.
   */
  private async cachedBlob(ref: BlobRef, id: string, kind: typeof BLOB.Tree | typeof BLOB.Index, fresh = false): Promise<Buffer> {
    const dir = kind === BLOB.Tree ? 'trees' : 'index';
    if (!fresh) {
      try {
        const b = fs.readFileSync(path.join(this.cacheDir, dir, id));
        if (blobId(this.keys, kind, b).toString('hex') === id) return b;
      } catch {
        // not cached: read it from the vault
      }
    }
    const b = await this.readBlob(ref, id, kind);
    this.cachePut(dir, id, b);
    return b;
  }

  /**
   * Blobs in packs a forget marked are not reused: a new snapshot must not
   * come to depend on a pack that may be deleted once its grace is over.
   */
  dropMarked(head: Head): void {
    const marked = new Set((head.marked ?? []).map((m) => m.pack));
    if (marked.size === 0) return;
    for (const [id, e] of this.index) if (marked.has(e.pack)) this.index.delete(id);
  }

  private async salt(pack: string): Promise<Buffer> {
    let s = this.salts.get(pack) ?? this.packCache.get(pack)?.subarray(0, SALT_LEN);
    if (!s) {
      const got = await this.store.get(packPath(pack), 0, SALT_LEN);
      if (!got || got.length !== SALT_LEN) throw new VaultDamage(packPath(pack), got ? 'truncated' : 'is missing');
      s = got;
      this.salts.set(pack, s);
    }
    return s;
  }

  /** a whole pack, verified against its name, kept while a few more are read */
  async pack(name: string): Promise<Buffer> {
    let bytes = this.packCache.get(name);
    if (bytes) return bytes;
    bytes = (await this.store.get(packPath(name))) ?? undefined;
    if (!bytes) throw new VaultDamage(packPath(name), 'is missing');
    if (sha256hex(bytes) !== name) throw new VaultDamage(packPath(name), 'does not match its name (tampered or corrupt)');
    this.packCache.set(name, bytes);
    if (this.packCache.size > 4) this.packCache.delete(this.packCache.keys().next().value!);
    return bytes;
  }

  /** one blob by reference: a ranged read, or from a pack already fetched */
  async readBlob(ref: BlobRef, id: string, kind: BlobKind, wholePack = false): Promise<Buffer> {
    const cached = wholePack ? await this.pack(ref.pack) : this.packCache.get(ref.pack);
    const sealed = cached ? cached.subarray(ref.off, ref.off + ref.len) : await this.store.get(packPath(ref.pack), ref.off, ref.len);
    if (!sealed) throw new VaultDamage(packPath(ref.pack), 'is missing');
    return openBlob(this.keys, ref, await this.salt(ref.pack), sealed, Buffer.from(id, 'hex'), kind);
  }

  /** a blob by id, through the index */
  async blob(id: string, kind: BlobKind, wholePack = true): Promise<Buffer> {
    const ref = this.index.get(id);
    if (!ref) throw new VaultDamage(`chunk ${id.slice(0, 16)}`, 'is not in the vault\'s index (missing)');
    return this.readBlob(ref, id, kind, wholePack);
  }

  /** the snapshot's tree: its serialized listing (lib/vault/tree.ts reads it) */
  async treeBytes(head: Head): Promise<Buffer> {
    const parts: Buffer[] = [];
    // through the index when it knows the blob: a forget may have moved it to another pack
    for (const t of head.trees) parts.push(await this.cachedBlob(this.index.get(t.id) ?? t, t.id, BLOB.Tree));
    return Buffer.concat(parts);
  }

  /**
   * Claim the next head for what this run wrote: a head built from the
   * newest one each time, so a claim lost to another writer is retried on
   * top of theirs (their index segments are kept in the union). Returns the
   * head claimed.
   */
  async commit(build: (parent: HeadInfo | null, seq: number) => Head): Promise<HeadInfo> {
    for (let attempt = 0; ; attempt++) {
      const parent = this.latest;
      if (await this.claimOn(parent, build(parent, (parent?.seq ?? 0) + 1))) return this.latest!;
      if (attempt > 1000) throw new TsyncError('E_IO', 'could not claim a head after 1000 tries');
      await this.refresh();
    }
  }

  /** keep a blob this client wrote in its cache (trees, index segments): the next run need not fetch it back */
  cachePut(kind: 'trees' | 'index', id: string, plain: Buffer | Uint8Array): void {
    try {
      const file = path.join(this.cacheDir, kind, id);
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      fs.writeFileSync(file, plain, { mode: 0o600 });
    } catch {
      // a cache
    }
  }

  /** one claim of the head after parent (none: the first); false when another writer took that number */
  async claimOn(parent: HeadInfo | null, head: Head): Promise<boolean> {
    const seq = (parent?.seq ?? 0) + 1;
    const h: Head = { ...head, seq, prev: parent?.hash ?? '' };
    const bytes = sealHead(this.keys, h);
    if (!(await this.store.claim(`heads/${seqName(seq)}`, bytes))) return false;
    const info = { seq, head: h, hash: sha256hex(bytes) };
    this.latest = info;
    this.accept(info, h.counters[h.writer]);
    return true;
  }

  /** an index segment of these entries, in a pack of its own; null when there are none */
  async writeIndexSegment(entries: Map<string, IndexEntry>, dryRun = false): Promise<(BlobRef & { id: string; size: number }) | null> {
    if (entries.size === 0) return null;
    const seg = encodeIndex([...entries].map(([id, e]) => [Buffer.from(id, 'hex'), e] as [Buffer, IndexEntry]));
    const id = blobId(this.keys, BLOB.Index, seg);
    const p = new PackBuilder(this.keys);
    p.add(id, BLOB.Index, seg, squeeze(seg));
    const { name, bytes } = p.finish();
    if (!dryRun) {
      await this.store.put(packPath(name), bytes);
      this.cachePut('index', id.toString('hex'), seg);
    }
    return { id: id.toString('hex'), pack: name, off: p.blobs[0].off, len: p.blobs[0].len, size: bytes.length };
  }

  /** a writer of packs for this run; uploads overlap with the work that fills the next one */
  packer(dryRun: boolean): Packer {
    return new Packer(this, dryRun);
  }

  /** the files cache of lib/vault/push.ts */
  get filesCacheFile(): string {
    return path.join(this.cacheDir, 'files.jsonl');
  }
}

/** see Packer.add */
const WORKER_AFTER = 4 << 20;
const IN_FLIGHT = 4 << 20;

export class Packer {
  private pack: PackBuilder | null = null;
  private readonly uploads: Array<Promise<void>> = [];
  /** entries this run added, for its index segment */
  readonly added = new Map<string, IndexEntry>();
  packs = 0;
  bytes = 0;

  constructor(
    private readonly vault: Vault,
    private readonly dryRun: boolean,
  ) {}

  has(id: string): boolean {
    return this.vault.index.has(id) || this.added.has(id) || this.pending.has(id);
  }

  private readonly pending = new Map<string, BlobKind>();
  /** blobs waiting for their deflated form (from the worker), in the order they are sealed */
  private readonly queue: Array<{ id: Buffer; kind: BlobKind; plain: Buffer; z: Promise<Buffer | null> | Buffer | null }> = [];
  private queued = 0;
  /** bulk data goes to a worker once a push has this much (a small one is done before a thread would start) */
  private squeezer: Squeezer | null = null;
  private seen = 0;

  async add(id: Buffer, kind: BlobKind, plain: Buffer): Promise<void> {
    this.pending.set(id.toString('hex'), kind);
    this.seen += plain.length;
    if (!this.squeezer && this.seen >= WORKER_AFTER) this.squeezer = new Squeezer();
    this.queue.push({ id, kind, plain, z: this.squeezer ? this.squeezer.squeeze(plain) : squeeze(plain) });
    this.queued += plain.length;
    // a few MB in flight keep both threads busy; more would only hold memory
    if (this.queued >= IN_FLIGHT) await this.seal(false);
  }

  /** seal queued blobs into the open pack, in order (all, or until few enough wait); full packs go */
  private async seal(all: boolean): Promise<void> {
    while (this.queue.length > 0 && (all || this.queued >= IN_FLIGHT / 2)) {
      const b = this.queue.shift()!;
      this.queued -= b.plain.length;
      if (b.z instanceof Promise) this.squeezer!.kick();
      const z = await b.z;
      this.pack ??= new PackBuilder(this.vault.keys);
      this.pack.add(b.id, b.kind, b.plain, z);
      if (this.pack.size >= PACK_TARGET) await this.closePack();
    }
  }

  /** every queued blob sealed, and the open pack closed */
  async flush(): Promise<void> {
    await this.seal(true);
    await this.closePack();
  }

  /** close the open pack and start its upload; at most two uploads at once */
  private async closePack(): Promise<void> {
    const p = this.pack;
    if (!p || p.blobs.length === 0) return;
    this.pack = null;
    const { name, bytes } = p.finish();
    for (const b of p.blobs) {
      const id = b.id.toString('hex');
      const e: IndexEntry = { pack: name, off: b.off, len: b.len, kind: this.pending.get(id)! };
      this.added.set(id, e);
      this.vault.index.set(id, e);
      this.pending.delete(id);
    }
    this.packs++;
    this.bytes += bytes.length;
    if (this.dryRun) return;
    const up = this.vault.store.put(packPath(name), bytes);
    up.catch(() => {}); // seen when awaited below; never an unhandled rejection meanwhile
    this.uploads.push(up);
    if (this.uploads.length >= 2) await this.uploads.shift();
  }

  /** every pack stored */
  async done(): Promise<void> {
    await this.flush();
    await this.squeezer?.close();
    this.squeezer = null;
    await Promise.all(this.uploads.splice(0));
  }

  /** the index segment of what this run added, in a pack of its own; null when nothing was */
  async indexSegment(): Promise<(BlobRef & { id: string }) | null> {
    await this.done();
    const seg = await this.vault.writeIndexSegment(this.added, this.dryRun);
    if (!seg) return null;
    this.packs++;
    this.bytes += seg.size;
    return { id: seg.id, pack: seg.pack, off: seg.off, len: seg.len };
  }
}
