// `tsync --vault KEY SRC/ VAULT`: record a new snapshot of SRC. The tree is
// scanned as a one-way sender scans it (same filters, same order); a file
// whose size, mtime and inode match the files cache is not read again
// (restic's and borg's files cache); the rest is chunked, and only chunks
// the vault does not hold yet are sealed into packs and stored. Then the
// listing, an index segment of what was added, and a head claimed on top of
// the newest one.

import * as fs from 'node:fs';
import * as os from 'node:os';
import { createHash } from 'node:crypto';
import type { Events } from '../cli/report.js';
import { emptyStats, type Stats } from '../cli/stats.js';
import { Filter } from '../tree/filter.js';
import { Scanner, type Source } from '../tree/scan.js';
import { ChangedError, readListed } from '../oneway/source.js';
import type { StartOptions } from '../wire/schema.js';
import { describeFsError } from '../errors.js';
import { Chunker } from './chunker.js';
import { BLOB, blobId, type Head } from './format.js';
import type { Vault } from './repo.js';
import { decodeTree, encodeLine, type SnapEntry } from './tree.js';

/** path -> [size, mtime us, inode, sha256, chunk ids] */
type FilesCache = Record<string, [number, number, number, string, string[]]>;

function loadFilesCache(vault: Vault): FilesCache {
  try {
    const c = JSON.parse(fs.readFileSync(vault.filesCacheFile, 'utf8')) as FilesCache;
    return typeof c === 'object' && c !== null ? c : {};
  } catch {
    return {};
  }
}

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

export async function pushSnapshot(vault: Vault, sources: Source[], options: StartOptions, events: Events): Promise<PushResult> {
  const parent = await vault.refresh();
  const before = new Map<string, SnapEntry>();
  if (parent) {
    await vault.loadIndex(parent.head);
    for (const e of await snapshotEntries(vault, parent.head)) before.set(e.path, e);
  }
  const cache = loadFilesCache(vault);
  const nextCache: FilesCache = {};
  const chunker = new Chunker(vault.keys.cdcKey);
  const packer = vault.packer(options.dryRun);
  const stats = emptyStats();
  const scanner = new Scanner(Filter.create(options.rules, { ignoreFiles: options.ignoreFiles }), (w) => events.warn({ path: w.path, code: w.code, message: w.message }));
  const lines: string[] = [];
  let total = 0;

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

  for (const batch of scanner.scan(sources)) {
    for (const { entry, abs } of batch) {
      const e: SnapEntry = { ...entry };
      stats.entries++;
      const old = before.get(e.path);
      before.delete(e.path);
      if (e.type === 'f') {
        stats.files++;
        stats.totalSize += e.size;
        const ino = fs.lstatSync(abs, { throwIfNoEntry: false })?.ino ?? -1;
        const hit = cache[e.path];
        if (hit && hit[0] === e.size && hit[1] === e.mtime && hit[2] === ino && hit[4].every((c) => packer.has(c))) {
          e.hash = hit[3];
          e.chunks = hit[4];
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
            const why = err instanceof ChangedError ? err.message : describeFsError(err);
            events.warn({ path: e.path, code: 'E_PARTIAL', message: `not recorded: ${why}` });
            if (old && old.type === 'f') lines.push(encodeLine(old));
            continue;
          }
        }
        nextCache[e.path] = [e.size, e.mtime, ino, e.hash!, e.chunks!];
      }
      itemize(e, old, events, stats);
      lines.push(encodeLine(e));
      total++;
    }
  }
  for (const gone of before.values()) {
    stats.deleted++;
    events.item('*deleting', gone.path, gone.type, '', 0);
  }

  // the listing, chunked like data: an unchanged stretch of a big tree is stored once
  const treeIds: string[] = [];
  for await (const c of chunker.chunks([Buffer.from(lines.join(''))])) {
    const id = blobId(vault.keys, BLOB.Tree, c);
    const hex = id.toString('hex');
    if (!packer.has(hex)) await packer.add(id, BLOB.Tree, c);
    treeIds.push(hex);
  }
  const segment = await packer.indexSegment();
  if (options.dryRun) return { stats, snapshot: 0, packs: packer.packs };
  const hostTime = await vault.store.now();
  const me = vault.clientId();
  const info = await vault.commit((p, seq) => {
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
      trees: treeIds.map((id) => ({ id, ...pick(vault.index.get(id)!) })),
      index: [...(p?.head.index ?? []), ...(segment ? [segment] : [])],
      files: stats.files,
      bytes: stats.totalSize,
    };
  });
  saveFilesCache(vault, nextCache);
  void total;
  return { stats, snapshot: info.seq, packs: packer.packs };
}

const pick = (r: { pack: string; off: number; len: number }) => ({ pack: r.pack, off: r.off, len: r.len });

function saveFilesCache(vault: Vault, c: FilesCache): void {
  try {
    const dir = vault.filesCacheFile.replace(/\/[^/]+$/, '');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${vault.filesCacheFile}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(c), { mode: 0o600 });
    fs.renameSync(tmp, vault.filesCacheFile);
  } catch {
    // a cache: the next push reads everything again
  }
}

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
