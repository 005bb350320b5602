// Before a bundle changes anything: does the receiver's tree still hold what
// the manifest said, wherever the bundle acts? A path is fine when it is as
// the manifest described it, or already as the bundle leaves it (a second
// apply after an interrupted one). And where is every content the bundle
// copies or patches from: a SHA-256 -> a file under the root, including the
// verified temporaries an interrupted apply left behind.

import * as fs from 'node:fs';
import { hashFile, readLocal, staleTemps } from '../fs/apply.js';
import { reachDir } from '../fs/nofollow.js';
import { parentOf, under } from '../tree/paths.js';
import type { Local } from '../plan/oneway.js';
import type { ManifestEntry } from './entries.js';
import type { Op } from './plan.js';

export const partsOf = (rel: string): string[] => (rel === '.' ? [] : rel.split('/'));

/** The receiver's tree, read without following a link anywhere under the root, with file hashes cached. */
export class Tree {
  private readonly hashes = new Map<string, string>();
  private readonly locals = new Map<string, Local | null | 'blocked'>();
  constructor(
    readonly root: string,
    /** what the manifest said stood where the bundle acts */
    private readonly was: ReadonlyMap<string, ManifestEntry | null> = new Map(),
  ) {}

  abs(rel: string): string {
    return under(this.root, rel);
  }

  /** what stands at rel: null for nothing, 'blocked' when a parent is not a real directory */
  local(rel: string): Local | null | 'blocked' {
    if (this.locals.has(rel)) return this.locals.get(rel)!;
    let l: Local | null | 'blocked';
    try {
      reachDir(this.root, partsOf(rel).slice(0, -1));
      l = readLocal(this.abs(rel));
    } catch (e) {
      // under a file nothing stands; under a link we never look: nothing stands there either when the
      // manifest listed that link (the bundle replaces it by a directory first), else the tree is not as it said
      const code = (e as NodeJS.ErrnoException).code;
      l = code === 'ENOENT' || code === 'ENOTDIR' || (code === 'ELOOP' && this.listedLinkAbove(rel)) ? null : 'blocked';
    }
    this.locals.set(rel, l);
    return l;
  }

  /** the first link on the way down to rel is one the manifest listed, with that target */
  private listedLinkAbove(rel: string): boolean {
    const parts = partsOf(rel);
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      const st = fs.lstatSync(this.abs(p), { throwIfNoEntry: false });
      if (!st?.isSymbolicLink()) continue;
      const w = this.was.get(p);
      return w?.type === 'l' && w.target === fs.readlinkSync(this.abs(p), 'utf8');
    }
    return false;
  }

  async hashOf(abs: string): Promise<string> {
    let h = this.hashes.get(abs);
    if (!h) {
      h = (await hashFile(abs)).toString('hex');
      this.hashes.set(abs, h);
    }
    return h;
  }

  /** rel holds the content of file entry e (size and mtime equal, else by hash) */
  async hasContent(rel: string, e: ManifestEntry): Promise<boolean> {
    const l = this.local(rel);
    if (!l || l === 'blocked' || l.type !== 'f' || l.size !== e.size) return false;
    return l.mtime === e.mtime || (await this.hashOf(this.abs(rel))) === e.hash;
  }

  /** rel is as entry w describes it (null: nothing there) */
  async matches(rel: string, w: ManifestEntry | null): Promise<boolean> {
    const l = this.local(rel);
    if (l === 'blocked') return false;
    if (!w) return l === null;
    if (!l) return false;
    if (w.type === 'f') return this.hasContent(rel, w);
    if (w.type === 'd') return l.type === 'd';
    return l.type === 'l' && l.target === w.target;
  }
}

export interface Conflict {
  path: string;
  why: string;
}

/** ops whose path is already as the bundle leaves it (content-wise); the others need their earlier state */
export async function checkTree(t: Tree, ops: readonly Op[], was: ReadonlyMap<string, ManifestEntry | null>): Promise<{ conflicts: Conflict[]; done: Set<string> }> {
  const conflicts: Conflict[] = [];
  const done = new Set<string>();
  const changed = (path: string) => conflicts.push({ path, why: t.local(path) === 'blocked' ? 'a parent directory is not a real directory' : 'changed since the manifest was made' });
  for (const op of ops) {
    const p = op.do === 'delete' ? op.path : op.entry.path;
    const w = was.get(p) ?? null;
    if (await t.matches(p, w)) continue;
    const l = t.local(p);
    if (op.do === 'delete') {
      if (l === null) done.add(p);
      else changed(p);
    } else if (op.do === 'dir') {
      if (l === null || (l !== 'blocked' && l.type === 'd')) continue;
      changed(p);
    } else if (op.do === 'link') {
      if (l && l !== 'blocked' && l.type === 'l' && l.target === op.entry.target) done.add(p);
      else changed(p);
    } else if (await t.hasContent(p, op.entry)) done.add(p);
    else changed(p);
  }
  return { conflicts, done };
}

/** SHA-256 -> a file that has it: manifest files still as they were, files already as the bundle leaves them, leftover temporaries */
export async function contentPool(t: Tree, ops: readonly Op[], was: ReadonlyMap<string, ManifestEntry | null>): Promise<Map<string, string>> {
  const pool = new Map<string, string>();
  for (const [p, w] of was) if (w?.type === 'f' && !pool.has(w.hash!) && (await t.hasContent(p, w))) pool.set(w.hash!, t.abs(p));
  const dirs = new Set<string>(['.']);
  for (const op of ops) {
    if (op.do !== 'file') continue;
    if (!pool.has(op.entry.hash!) && (await t.hasContent(op.entry.path, op.entry))) pool.set(op.entry.hash!, t.abs(op.entry.path));
    dirs.add(parentOf(op.entry.path));
  }
  for (const d of dirs) {
    const l = t.local(d);
    if (!l || l === 'blocked' || l.type !== 'd') continue;
    const dirAbs = t.abs(d);
    for (const name of staleTemps(dirAbs)) {
      const abs = `${dirAbs}/${name}`;
      if (!fs.lstatSync(abs, { throwIfNoEntry: false })?.isFile()) continue;
      const h = await t.hashOf(abs);
      if (!pool.has(h)) pool.set(h, abs);
    }
  }
  return pool;
}
