// The vault's commands from a parsed command line: which endpoint is the
// vault (argument order, as rsync: a vault as DEST is a push, as SRC a
// restore), reaching its store (a directory here, or `tsync --server` over
// ssh or -e), and `tsync vault log|check`.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Endpoint } from '../link/endpoint.js';
import { withPeer, type PeerSpec } from '../link/peer.js';
import { TsyncError } from '../errors.js';
import { VAULT_CAP } from '../wire/caps.js';
import type { StartOptions } from '../wire/schema.js';
import type { Events, Reporter } from '../cli/report.js';
import type { Stats } from '../cli/stats.js';
import { toSources } from '../oneway/sender.js';
import { expandHome } from '../server/serve.js';
import { loadVaultKey, type VaultKeys } from './keys.js';
import { LocalStore, type ObjectStore } from './store.js';
import { RemoteStore } from './remote.js';
import { clientDirs, Vault } from './repo.js';
import { pushSnapshot } from './push.js';
import { prepareTwoWay, vaultTwoWay } from './twoway.js';
import { chooseSnapshot, restoreSnapshot } from './restore.js';
import { openBlob, packPath, seqName, sha256hex, VaultDamage, type IndexEntry } from './format.js';
import { snapshotEntries } from './push.js';

export type Reach = Omit<PeerSpec, 'remote' | 'named'>;

/** run fn on the store at ep: a LocalStore, or a RemoteStore through a `tsync --server` session */
export async function withStore<T>(ep: Endpoint, reach: Reach, options: StartOptions, fn: (store: ObjectStore) => Promise<T>): Promise<{ result: T; wire: { sent: number; received: number } }> {
  if (ep.kind === 'local') return { result: await fn(new LocalStore(path.resolve(expandHome(ep.path)))), wire: { sent: 0, received: 0 } };
  return withPeer({ ...reach, remote: ep, named: ep }, async ({ conn, neg }) => {
    if (!neg.peer.caps.includes(VAULT_CAP)) throw new TsyncError('E_VERSION', `tsync on ${ep.host} (${neg.peer.software}) cannot hold a vault; install a newer tsync there`);
    conn.send({ t: 'start', role: 'vault', paths: [ep.path], options });
    const store = new RemoteStore(conn);
    const result = await fn(store);
    await store.close();
    return { result, wire: { sent: conn.bytesOut, received: conn.bytesIn } };
  });
}

/** a local directory that holds a vault */
export function isLocalVault(ep: Endpoint): boolean {
  if (ep.kind !== 'local') return false;
  try {
    return fs.readFileSync(path.join(expandHome(ep.path), 'config'), 'utf8').includes('"tsync-vault"');
  } catch {
    return false;
  }
}

/** where a vault is written: a vault already, somewhere remote, or a new or empty directory */
function vaultPlace(ep: Endpoint): void {
  if (ep.kind === 'local' && !isLocalVault(ep) && fs.existsSync(ep.path) && fs.readdirSync(ep.path).length > 0) {
    throw new TsyncError('E_USAGE', `${ep.path} is a directory that is not a vault: a vault is made in a new or empty directory`);
  }
}

export const holdsLocalVault = (eps: Endpoint[]): boolean => eps.some(isLocalVault);

export interface VaultRunHooks {
  before(mode: 'push' | 'pull' | 'two-way'): Promise<void>;
  note(s: string): void;
  lockWait: number;
  progress?: () => void;
}

export async function runVault(keyOption: unknown, at: string | undefined, eps: Endpoint[], options: StartOptions, reach: Reach, events: Events, hooks: VaultRunHooks): Promise<{ stats: Stats; wire: { sent: number; received: number } }> {
  if (eps.length !== 2) throw new TsyncError('E_USAGE', '--vault takes one SRC and one DEST: a directory and the vault');
  const [src, dest] = eps;
  const restore = src.kind === 'remote' ? dest.kind === 'local' : dest.kind === 'local' && isLocalVault(src);
  if (src.kind === 'remote' && dest.kind === 'remote') throw new TsyncError('E_USAGE', 'the source and destination cannot both be remote');
  const keys = await loadVaultKey(keyOption);
  const dirs = clientDirs();
  if (restore) {
    await hooks.before('pull');
    const { result, wire } = await withStore(src, reach, options, async (store) => {
      const vault = await Vault.open(store, keys, dirs, { create: false, write: false, note: hooks.note });
      const snap = await chooseSnapshot(vault, at);
      const stats = await restoreSnapshot(vault, snap, dest.path, options, events, hooks);
      if (vault.latest) vault.accept(vault.latest);
      return stats;
    });
    return { stats: result, wire };
  }
  if (at !== undefined) throw new TsyncError('E_USAGE', '--at chooses the snapshot a restore reads: give it with the vault as SRC');
  if (options.delete) throw new TsyncError('E_USAGE', '--delete applies to a restore: a push records SRC as it is, and what SRC no longer has stays in older snapshots');
  vaultPlace(dest);
  if (!keys.signer) throw new TsyncError('E_VAULT_KEY', 'this is a read-only vault key: it can restore, list and check, but never push');
  await hooks.before('push');
  const sources = toSources([src.path]);
  if (!fs.lstatSync(sources[0].abs, { throwIfNoEntry: false })) throw new TsyncError('E_SOURCE_MISSING', `source ${src.path} does not exist`);
  const { result, wire } = await withStore(dest, reach, options, async (store) => {
    const vault = await Vault.open(store, keys, dirs, { create: true, write: true, note: hooks.note });
    const r = await pushSnapshot(vault, sources, options, events);
    if (r.snapshot) hooks.note(`snapshot ${r.snapshot} recorded`);
    return r.stats;
  });
  return { stats: result, wire };
}

/**
 * `--vault KEY --two-way DIR VAULT` (either order): DIR and the vault's
 * newest snapshot, two-way (lib/vault/twoway.ts). The vault is the remote
 * endpoint, or the local one that holds a vault (or, on a first run, the
 * second, as a push makes it).
 */
export async function runVaultTwoWay(keyOption: unknown, eps: Endpoint[], options: StartOptions, reach: Reach, reporter: Reporter, hooks: VaultRunHooks): Promise<{ stats: Stats; wire: { sent: number; received: number } }> {
  if (eps.length !== 2) throw new TsyncError('E_USAGE', '--vault --two-way takes a directory and a vault');
  const [first, second] = eps;
  if (first.kind === 'remote' && second.kind === 'remote') throw new TsyncError('E_USAGE', 'the directory must be local: only the vault can be remote');
  const vaultFirst = first.kind === 'remote' || (second.kind === 'local' && isLocalVault(first) && !isLocalVault(second));
  const [dir, at] = vaultFirst ? [second, first] : [first, second];
  if (dir.kind !== 'local') throw new TsyncError('E_USAGE', 'the directory must be local: only the vault can be remote');
  vaultPlace(at);
  const keys = await loadVaultKey(keyOption);
  // a read-only key is refused before anything changes on either side
  if (!keys.signer) throw new TsyncError('E_VAULT_KEY', 'this is a read-only vault key: it can restore, list and check, but a two-way run records snapshots');
  await hooks.before('two-way');
  const prepared = await prepareTwoWay(dir.path, options, reporter, hooks);
  try {
    const { result, wire } = await withStore(at, reach, options, async (store) => {
      const vault = await Vault.open(store, keys, clientDirs(), { create: !options.dryRun, write: true, note: hooks.note });
      return (await vaultTwoWay(vault, prepared, !vaultFirst, options, reporter, hooks.note)).stats;
    });
    return { stats: result, wire };
  } finally {
    prepared.release();
  }
}

// ---- tsync vault log | check -------------------------------------------------------

export interface LogRow {
  snapshot: number;
  time: string;
  hostTime: string;
  writer: string;
  host: string;
  files: number;
  bytes: number;
}

export async function vaultLog(store: ObjectStore, keys: VaultKeys, note: (s: string) => void): Promise<LogRow[]> {
  const vault = await Vault.open(store, keys, clientDirs(), { create: false, write: false, note });
  const latest = await vault.refresh();
  const rows: LogRow[] = [];
  const forgotten = new Set(latest?.head.forgotten ?? []);
  for (const seq of await vault.headSeqs()) {
    if ((latest && seq > latest.seq) || forgotten.has(seq)) continue;
    const h = await vault.readHead(seq);
    if (!h || h.head.kind === 'forget') continue;
    rows.push({ snapshot: seq, time: new Date(h.head.time).toISOString(), hostTime: new Date(h.head.hostTime).toISOString(), writer: h.head.writer, host: h.head.host, files: h.head.files, bytes: h.head.bytes });
  }
  if (latest) vault.accept(latest);
  return rows;
}

export interface CheckReport {
  snapshots: number;
  packs: number;
  blobs: number;
  problems: string[];
}

/**
 * Every head (signature, chain), every snapshot's index and tree, and that
 * every chunk a snapshot names is in the index. With readData, every pack
 * is read whole: its name against its bytes, and every blob in it opened
 * and checked against its id.
 */
export async function vaultCheck(store: ObjectStore, keys: VaultKeys, readData: boolean, note: (s: string) => void): Promise<CheckReport> {
  const vault = await Vault.open(store, keys, clientDirs(), { create: false, write: false, note });
  const latest = await vault.refresh();
  const problems: string[] = [];
  const damage = (e: unknown) => {
    if (e instanceof VaultDamage) problems.push(e.message);
    else throw e;
  };
  let prevHash = '';
  let snapshots = 0;
  const forgotten = new Set(latest?.head.forgotten ?? []);
  // every snapshot alive is read through the newest index (after a forget, older lists name deleted packs),
  // each segment from the vault itself, not from this client's cache
  for (const ref of latest?.head.index ?? []) {
    try {
      await vault.loadSegment(ref, true);
    } catch (e) {
      damage(e);
    }
  }
  for (let s = 1; s <= (latest?.seq ?? 0); s++) {
    try {
      const h = await vault.mustHead(s);
      if (s > 1 && prevHash && h.head.prev !== prevHash) problems.push(`vault object heads/${seqName(s)}: does not continue snapshot ${s - 1}`);
      prevHash = h.hash;
      // a forgotten snapshot's chunks may be gone: only its head (the chain) is checked
      if (forgotten.has(s) || h.head.kind === 'forget') continue;
      for (const e of await snapshotEntries(vault, h.head)) {
        for (const c of e.chunks ?? []) if (!vault.index.has(c)) throw new VaultDamage(`chunk ${c.slice(0, 16)}`, `of ${JSON.stringify(e.path)} in snapshot ${s} is not in the index (missing)`);
      }
      snapshots++;
    } catch (e) {
      prevHash = '';
      damage(e);
    }
  }
  // every blob the index names, by pack
  const all = vault.index;
  const listed = new Map((await store.list('data')).map((o) => [o.name.slice(8), o.size]));
  const byPack = new Map<string, Array<[string, IndexEntry]>>();
  for (const [id, e] of all) {
    if (!byPack.has(e.pack)) byPack.set(e.pack, []);
    byPack.get(e.pack)!.push([id, e]);
  }
  for (const [pack, blobs] of byPack) {
    if (!listed.has(pack)) {
      problems.push(`vault object ${packPath(pack)}: is missing`);
      continue;
    }
    if (!readData) continue;
    const bytes = await store.get(packPath(pack));
    if (!bytes || sha256hex(bytes) !== pack) {
      problems.push(`vault object ${packPath(pack)}: does not match its name (tampered or corrupt)`);
      continue;
    }
    for (const [id, e] of blobs) {
      try {
        openBlob(keys, e, bytes.subarray(0, 32), bytes.subarray(e.off, e.off + e.len), Buffer.from(id, 'hex'), e.kind);
      } catch (err) {
        damage(err);
      }
    }
  }
  if (latest && problems.length === 0) vault.accept(latest);
  return { snapshots, packs: byPack.size, blobs: all.size, problems };
}
