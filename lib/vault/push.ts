// `tsync --vault KEY SRC/ VAULT`: record a new snapshot of SRC. The tree is
// scanned as a one-way sender scans it (same filters, same order); a file
// whose size, mtime and inode match the files cache is not read again
// (restic's and borg's files cache); the rest is chunked, and only chunks
// the vault does not hold yet are sealed into packs and stored. Then the
// listing, an index segment of what was added, and a head claimed on top of
// the newest one.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import type { Events } from '../cli/report.js';
import { emptyStats, type Stats } from '../cli/stats.js';
import { Filter } from '../tree/filter.js';
import { Scanner, scanOrder, type Source } from '../tree/scan.js';
import { ChangedError, readListed } from '../oneway/source.js';
import type { Entry, StartOptions } from '../wire/schema.js';
import { describeFsError, TsyncError } from '../errors.js';
import { TreeBuilder } from '../tree/packed.js';
import { unchanged } from '../plan/twoway.js';
import { parentOf } from '../tree/paths.js';
import { Chunker } from './chunker.js';
import { BLOB, blobId, type BlobRef, type Head } from './format.js';
import type { HeadInfo, Vault } from './repo.js';
import { LocalStore, type ObjectStore } from './store.js';
import { decodeLine, decodeTree, encodeLine, Listing, type SnapEntry } from './tree.js';

/**
 * The files cache: one JSON line per file this client pushed last time,
 * [path, size, mtime µs, inode, sha256]. Held as path -> "size:mtime:ino:hash";
 * a hit reuses the previous snapshot's chunk list for the file when that
 * snapshot recorded the same content.
 */
function loadFilesCache(vault: Vault): Map<string, string> {
  const out = new Map<string, string>();
  let text: string;
  try {
    text = fs.readFileSync(vault.filesCacheFile, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    try {
      const [p, size, mtime, ino, hash] = JSON.parse(line) as [string, number, number, number, string];
      out.set(p, cacheKey(size, mtime, ino, hash));
    } catch {
      // a torn or foreign line: that file is read again
    }
  }
  return out;
}

const isFsError = (e: unknown): boolean => typeof (e as NodeJS.ErrnoException)?.code === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string';

/** what the cache holds of a file: enough to tell it is the one the previous snapshot recorded */
const cacheKey = (size: number, mtime: number, ino: number, hash: string): string => `${size}:${mtime}:${ino}:${hash.slice(0, 16)}`;

/** The previous snapshot's entries, by path (for -i and the statistics). */
export async function snapshotEntries(vault: Vault, head: Head): Promise<SnapEntry[]> {
  return decodeTree(await vault.treeBytes(head), `the tree of a snapshot`);
}

export interface PushResult {
  stats: Stats;
  /** the snapshot number claimed (0 in a dry run) */
  snapshot: number;
  packs: number;
}

const LINES_BATCH = 64 << 10;

/** what a snapshot's build leaves for its head */
export interface Built {
  stats: Stats;
  treeIds: string[];
  /** the index segment of the blobs this build added (null: none) */
  segment: (BlobRef & { id: string }) | null;
  packs: number;
  /** every entry recorded but the root, when asked for (a two-way run's next baseline) */
  entries: TreeBuilder | null;
  /** keep the files cache this build wrote (after its head is claimed) */
  keepCache(): void;
}

export interface BuildOptions {
  /** the host's clock minus ours, ms: recorded with each entry whose mtime this client read (lib/vault/twoway.ts corrects by it) */
  offsetMs: number;
  /**
   * two-way: an entry that is as the parent snapshot has it by the two-way
   * rules (files by size, mode and mtime; directories by mode; links by
   * target) keeps the parent's line, so runs that only pulled record
   * nothing new; and the entries are kept for the baseline
   */
  twoWay?: boolean;
  /** two-way: entries of the parent the rules leave out of this run, in listing order: recorded again as they are */
  carry?: SnapEntry[];
  /** the parent's listing, when the caller has read it and loaded the parent's index already (a two-way run) */
  parentTree?: Buffer;
}

/** the host's clock minus ours, ms, at the middle of one round trip (a local store is our own clock) */
export async function hostOffsetMs(store: ObjectStore): Promise<number> {
  if (store instanceof LocalStore) return 0;
  const t0 = Date.now();
  const host = await store.now();
  return Math.round(host - (t0 + Date.now()) / 2);
}

export async function pushSnapshot(vault: Vault, sources: Source[], options: StartOptions, events: Events): Promise<PushResult> {
  const offsetMs = await hostOffsetMs(vault.store);
  const built = await buildSnapshot(vault, await vault.refresh(), sources, options, events, { offsetMs });
  if (options.dryRun) return { stats: built.stats, snapshot: 0, packs: built.packs };
  const hostTime = await vault.store.now();
  const info = await vault.commit((p, seq) => newHead(vault, p, seq, built, hostTime, built.segment ? [built.segment] : []));
  built.keepCache();
  return { stats: built.stats, snapshot: info.seq, packs: built.packs };
}

/** a snapshot's head on top of p: its trees, the index so far with these segments added, the forget record carried on */
export function newHead(vault: Vault, p: HeadInfo | null, seq: number, built: Built, hostTime: number, segments: Array<BlobRef & { id: string }>): Head {
  const me = vault.clientId();
  const counters = { ...(p?.head.counters ?? {}) };
  counters[me] = Math.max(counters[me] ?? 0, vault.counter()) + 1;
  return {
    v: 1,
    seq,
    prev: '',
    writer: me,
    counters,
    host: os.hostname(),
    time: Date.now(),
    hostTime,
    trees: built.treeIds.map((id) => ({ id, ...pick(vault.index.get(id)!) })),
    index: [...(p?.head.index ?? []), ...segments],
    files: built.stats.files,
    bytes: built.stats.totalSize,
    // a forget's record goes on with every head
    ...(p?.head.forgotten ? { forgotten: p.head.forgotten } : {}),
    ...(p?.head.marked ? { marked: p.head.marked } : {}),
  };
}

/**
 * Scan sources and store what the vault lacks: chunks, the listing, an
 * index segment. No head: the caller claims one (pushSnapshot on whatever
 * is newest, a two-way run only on the parent it merged with).
 */
export async function buildSnapshot(vault: Vault, parent: HeadInfo | null, sources: Source[], options: StartOptions, events: Events, o: BuildOptions): Promise<Built> {
  const where = 'the tree of the newest snapshot';
  // the previous listing, line by line as stored: parsed only where a path is met again
  let before: Listing | null = null;
  if (parent) {
    if (!o.parentTree) {
      await vault.loadIndex(parent.head);
      vault.dropMarked(parent.head);
    }
    before = new Listing(o.parentTree ?? (await vault.treeBytes(parent.head)), where);
  }
  const cache = loadFilesCache(vault);
  const cacheOut = options.dryRun ? null : new LineFile(vault.filesCacheFile);
  const chunker = new Chunker(vault.keys.cdcKey);
  const packer = vault.packer(options.dryRun);
  const stats = emptyStats();
  const entries = o.twoWay ? new TreeBuilder((p) => new TsyncError('E_INTERNAL', `the scan met ${JSON.stringify(p)} twice`)) : null;
  const scanner = new Scanner(Filter.create(options.rules, { ignoreFiles: options.ignoreFiles }), (w) => events.warn({ path: w.path, code: w.code, message: w.message }));
  const store = async (chunk: Buffer): Promise<string> => {
    const id = blobId(vault.keys, BLOB.Data, chunk);
    const hex = id.toString('hex');
    if (packer.has(hex)) {
      stats.bytesMatched += chunk.length;
      return hex;
    }
    stats.bytesLiteral += chunk.length;
    await packer.add(id, BLOB.Data, chunk);
    return hex;
  };

  /** a file's content: from the files cache and the previous snapshot, else read and chunked */
  const content = async (e: SnapEntry, abs: string, old: SnapEntry | null, ino: number): Promise<boolean> => {
    const hit = cache.get(e.path);
    if (hit && old?.type === 'f' && old.chunks && old.hash && hit === cacheKey(e.size, e.mtime, ino, old.hash) && old.chunks.every((c) => packer.has(c))) {
      e.hash = old.hash;
      e.chunks = old.chunks;
      stats.bytesMatched += e.size;
    } else {
      try {
        const h = createHash('sha256');
        const chunks: string[] = [];
        const hashed = async function* () {
          for await (const b of readListed(abs, e)) {
            h.update(b);
            yield b;
          }
        };
        for await (const c of chunker.chunks(hashed())) chunks.push(await store(c));
        e.hash = h.digest('hex');
        e.chunks = chunks;
      } catch (err) {
        // a file that changed or cannot be read is left out (exit 23); anything else (the vault, the link) ends the push
        if (!(err instanceof ChangedError) && !isFsError(err)) throw err;
        const why = err instanceof ChangedError ? err.message : describeFsError(err);
        events.warn({ path: e.path, code: 'E_PARTIAL', message: `not recorded: ${why}` });
        return false;
      }
    }
    cacheOut?.write(JSON.stringify([e.path, e.size, e.mtime, ino, e.hash]));
    return true;
  };

  // the scan, as the listing's lines in batches: chunked as they come, never held whole
  // two-way: what the rules leave out of this run stays recorded as it was, each line where the scan order puts it
  const carry = o.carry ?? [];
  let ci = 0;
  const dirs = new Set<string>(['.']);
  const carried = (upTo: SnapEntry | null): string => {
    let out = '';
    for (; ci < carry.length && (upTo === null || scanOrder(carry[ci], upTo) < 0); ci++) {
      const c = carry[ci];
      before?.take(c.path);
      // under a directory this run removed: it goes with it (older snapshots keep it)
      if (!dirs.has(parentOf(c.path))) continue;
      if (c.type === 'd') dirs.add(c.path);
      entries?.add(asEntry(c));
      out += encodeLine(c);
    }
    return out;
  };
  const listing = async function* (): AsyncGenerator<Buffer> {
    let lines = '';
    for (const batch of scanner.scan(sources)) {
      for (const { entry, abs, ino } of batch) {
        const e: SnapEntry = { ...entry };
        if (ci < carry.length) lines += carried(e);
        if (e.type === 'd' && carry.length) dirs.add(e.path);
        stats.entries++;
        const raw = before?.take(e.path);
        const old = raw === undefined ? null : decodeLine(raw, where);
        // an mtime this client read is in its clock; one it took from the vault keeps the clock it came with
        const offset = old && old.type === e.type && old.mtime === e.mtime ? (old.o ?? 0) : o.offsetMs;
        if (offset) e.o = offset;
        if (e.type === 'f') {
          stats.files++;
          stats.totalSize += e.size;
        }
        const unchangedHere = o.twoWay && old && unchanged(e, old, 0);
        if (unchangedHere) stats.unchanged++;
        // the parent's line stands: unchanged (two-way), or what could not be read keeps its previous version
        if (unchangedHere || (e.type === 'f' && !(await content(e, abs, old, ino ?? -1)))) {
          if (raw !== undefined && old && (unchangedHere || old.type === 'f')) {
            if (e.path !== '.') entries?.add(asEntry(old));
            lines += `${raw}\n`;
          }
          continue;
        }
        itemize(e, old ?? undefined, events, stats);
        if (e.path !== '.') entries?.add(asEntry(e));
        lines += encodeLine(e);
        if (lines.length >= LINES_BATCH) {
          yield Buffer.from(lines);
          lines = '';
        }
      }
    }
    lines += carried(null);
    if (lines) yield Buffer.from(lines);
  };

  const treeIds: string[] = [];
  for await (const c of chunker.chunks(listing())) {
    const id = blobId(vault.keys, BLOB.Tree, c);
    const hex = id.toString('hex');
    if (!packer.has(hex)) await packer.add(id, BLOB.Tree, c);
    if (!options.dryRun) vault.cachePut('trees', hex, c);
    treeIds.push(hex);
  }
  for (const gone of before?.rest() ?? []) {
    stats.deleted++;
    events.item('*deleting', gone.path, gone.type, '', 0);
  }
  const segment = await packer.indexSegment();
  return { stats, treeIds, segment, packs: packer.packs, entries, keepCache: () => cacheOut?.commit() };
}

/** lines written to a temporary beside file as they come, renamed over it by commit() */
class LineFile {
  private fd: number | null = null;
  private readonly tmp: string;
  private buf = '';
  constructor(private readonly file: string) {
    this.tmp = `${file}.tmp-${process.pid}`;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      this.fd = fs.openSync(this.tmp, 'w', 0o600);
    } catch {
      this.fd = null; // a cache: without it the next push reads everything
    }
  }
  write(line: string): void {
    if (this.fd === null) return;
    this.buf += `${line}\n`;
    if (this.buf.length >= LINES_BATCH) this.flush();
  }
  private flush(): void {
    if (this.fd !== null && this.buf) fs.writeSync(this.fd, this.buf);
    this.buf = '';
  }
  commit(): void {
    if (this.fd === null) return;
    try {
      this.flush();
      fs.closeSync(this.fd);
      fs.renameSync(this.tmp, this.file);
    } catch {
      fs.rmSync(this.tmp, { force: true });
    }
  }
}

/** the entry alone, without the vault's fields (a baseline holds entries) */
const asEntry = (e: SnapEntry): Entry => ({ path: e.path, type: e.type, mode: e.mode, mtime: e.mtime, size: e.size, ...(e.target !== undefined ? { target: e.target } : {}) });

const pick = (r: { pack: string; off: number; len: number }) => ({ pack: r.pack, off: r.off, len: r.len });

/** rsync's sending-side codes, against the snapshot before */
function itemize(e: SnapEntry, old: SnapEntry | undefined, events: Events, stats: Stats): void {
  const t = e.type === 'f' ? 'f' : e.type === 'd' ? 'd' : 'L';
  const lead = e.type === 'f' ? '<' : 'c';
  if (!old || old.type !== e.type) {
    stats.created++;
    events.item(`${lead}${t}+++++++++`, e.path, e.type, e.target ?? '', e.size);
    return;
  }
  const content = e.type === 'f' ? old.hash !== e.hash : e.type === 'l' ? old.target !== e.target : false;
  const size = e.type === 'f' && old.size !== e.size;
  const time = old.mtime !== e.mtime && e.type !== 'l';
  const perms = old.mode !== e.mode && e.type !== 'l';
  if (!content && !size && !time && !perms) {
    stats.unchanged++;
    return;
  }
  if (content) stats.updated++;
  else stats.metaOnly++;
  const code = `${content ? lead : '.'}${t}${content && e.type !== 'f' ? 'c' : '.'}${size ? 's' : '.'}${time ? 't' : '.'}${perms ? 'p' : '.'}.....`;
  events.item(code, e.path, e.type, e.target ?? '', e.size);
}
