// What a bundle does to the tree a manifest describes: a pure function from
// the manifest's entries and the sender's (with hashes) to a list of ops.
// A file whose content the receiver already holds somewhere (a rename, a
// move, a copy, a swap, a file about to be deleted) becomes a copy of that
// content, not data. No I/O.

import { parentOf } from '../tree/paths.js';
import { plain, type ManifestEntry } from './entries.js';

/** where a file's new content comes from */
export type FileFrom =
  /** the whole file travels in tar entry `data` */
  | { how: 'data'; data: number }
  /** rolling-checksum delta ops in tar entry `data` against the content with hash `basis` */
  | { how: 'delta'; data: number; basis: string; blockSize: number }
  /** the receiver holds this content already (SHA-256 `source`) */
  | { how: 'copy'; source: string }
  /** same content: mode and mtime only */
  | { how: 'meta' };

export type Op =
  | { do: 'dir'; entry: ManifestEntry }
  | { do: 'link'; entry: ManifestEntry }
  | { do: 'file'; entry: ManifestEntry; from: FileFrom }
  | { do: 'delete'; path: string; type: ManifestEntry['type'] };

/** a file op before the writer chose data or delta: `basis` is the receiver's old file there, when it has a signature */
export type Planned = Exclude<Op, { do: 'file' }> | { do: 'file'; entry: ManifestEntry; from: Exclude<FileFrom, { how: 'data' | 'delta' }> | { how: 'send'; basis?: ManifestEntry } };

export interface Plan {
  ops: Planned[];
  /** what the manifest said stood at every path the bundle touches or copies from (null: nothing) */
  was: Record<string, ManifestEntry | null>;
}

export interface PlanOptions {
  delete: boolean;
  /** a receiver path that the filters leave out (never deleted) */
  excluded: (path: string, isDir: boolean) => boolean;
}

const sameMeta = (a: ManifestEntry, b: ManifestEntry): boolean => a.mode === b.mode && a.mtime === b.mtime;

export function planBundle(against: readonly ManifestEntry[], result: readonly ManifestEntry[], o: PlanOptions): Plan {
  const old = new Map(against.map((e) => [e.path, e]));
  const byHash = new Map<string, ManifestEntry>();
  for (const e of against) if (e.type === 'f' && !byHash.has(e.hash!)) byHash.set(e.hash!, e);
  const was: Record<string, ManifestEntry | null> = Object.create(null);
  const touch = (p: string) => {
    if (!(p in was)) was[p] = old.has(p) ? plain(old.get(p)!) : null;
  };
  const byPath = new Map<string, Planned>();
  for (const e of result) {
    const a = old.get(e.path);
    let op: Planned | null = null;
    if (e.type === 'd') {
      if (!a || a.type !== 'd' || a.mode !== e.mode || a.mtime !== e.mtime) op = { do: 'dir', entry: e };
    } else if (e.type === 'l') {
      if (!a || a.type !== 'l' || a.target !== e.target || a.mtime !== e.mtime) op = { do: 'link', entry: e };
    } else if (a?.type === 'f' && a.hash === e.hash) {
      if (!sameMeta(a, e)) op = { do: 'file', entry: e, from: { how: 'meta' } };
    } else {
      const src = byHash.get(e.hash!);
      if (src) {
        touch(src.path);
        op = { do: 'file', entry: e, from: { how: 'copy', source: e.hash! } };
      } else op = { do: 'file', entry: e, from: { how: 'send', basis: a?.type === 'f' && a.sig ? a : undefined } };
    }
    if (op) {
      byPath.set(e.path, op);
      touch(e.path);
    }
  }
  const deletes: Planned[] = [];
  if (o.delete) {
    const kept = new Set(result.map((e) => e.path));
    const excludedDirs: string[] = [];
    for (const a of against) {
      if (kept.has(a.path) || a.path === '.') continue;
      if (excludedDirs.some((d) => a.path.startsWith(`${d}/`))) continue;
      if (o.excluded(a.path, a.type === 'd')) {
        if (a.type === 'd') excludedDirs.push(a.path);
        continue;
      }
      deletes.push({ do: 'delete', path: a.path, type: a.type });
      touch(a.path);
    }
    deletes.reverse(); // children before their directory
  }
  // a directory whose contents change gets its time set again afterwards
  const resultDirs = new Map(result.filter((e) => e.type === 'd').map((e) => [e.path, e]));
  for (const p of [...byPath.keys(), ...deletes.map((d) => (d as { path: string }).path)]) {
    if (p === '.') continue;
    const dir = resultDirs.get(parentOf(p));
    if (dir && !byPath.has(dir.path)) {
      byPath.set(dir.path, { do: 'dir', entry: dir });
      touch(dir.path);
    }
  }
  const ops = result.filter((e) => byPath.has(e.path)).map((e) => byPath.get(e.path)!);
  return { ops: [...ops, ...deletes], was };
}

/**
 * An op as plan.json holds it: the entry it leaves is the result manifest's
 * entry at its path, so only the path travels; a metadata-only file change
 * carries the mode and mtime the manifest had there (its content, size and
 * hash are the result's) instead of a `was` entry.
 */
export type WireOp =
  | { do: 'dir' | 'link'; path: string }
  | { do: 'file'; path: string; from: Exclude<FileFrom, { how: 'meta' }> }
  | { do: 'meta'; path: string; mode: number; mtime: number }
  | { do: 'delete'; path: string; type: ManifestEntry['type'] };

/** ops and `was` into plan.json's form */
export function toWire(ops: readonly Op[], was: Readonly<Record<string, ManifestEntry | null>>): { ops: WireOp[]; was: Record<string, ManifestEntry | null> } {
  const w: Record<string, ManifestEntry | null> = { ...was };
  const out = ops.map((op): WireOp => {
    if (op.do === 'delete') return op;
    if (op.do !== 'file') return { do: op.do, path: op.entry.path };
    if (op.from.how !== 'meta') return { do: 'file', path: op.entry.path, from: op.from };
    const old = was[op.entry.path]!;
    delete w[op.entry.path];
    return { do: 'meta', path: op.entry.path, mode: old.mode, mtime: old.mtime };
  });
  return { ops: out, was: w };
}

