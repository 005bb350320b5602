// What each side of a two-way run does, from the plan's decisions: the
// operations on each replica (deletions, losers moved aside under their
// conflict names), what is pulled and under which name, what is pushed in
// manifest order, and whether both sides are still as the baseline says
// (then a re-run writes no new baseline). Pure functions over the
// decisions and the two trees: lib/twoway/client.ts moves the bytes.

import { TwOp, type Entry } from '../wire/schema.js';
import type { SortedTree } from '../tree/packed.js';
import { mergeRows } from '../plan/rows.js';
import type { ScannedFile } from '../tree/scan.js';
import { parentOf, under } from '../tree/paths.js';
import type { Decision, Side, TwoWayInput } from '../plan/twoway.js';
import { sameEntry } from './baseline.js';
import { opOrder, type TwoWayOp } from './ops.js';

/** The operations on one side (deletions, our losing versions moved aside), in the order they can be applied. */
export function opsOn(side: Side, decisions: readonly Decision[], input: Omit<TwoWayInput, 'sameContent'>): TwoWayOp[] {
  const ops: TwoWayOp[] = [];
  for (const d of decisions) {
    if (d.do === 'delete' && d.on === side) ops.push({ op: TwOp.Delete, path: d.path, to: '', expect: input[side].get(d.path)! });
    else if (d.do === 'conflict' && d.winner !== side) ops.push({ op: TwOp.Rename, path: d.path, to: d.copy, expect: input[side].get(d.path)! });
  }
  return ops.sort(opOrder);
}


/** b's path → where it goes here; a conflict we win pulls their version under its conflict name */
export function pullMap(decisions: readonly Decision[], failed: ReadonlySet<string>): Map<string, string> {
  const m = new Map<string, string>();
  for (const d of decisions) {
    if (d.do === 'copy' && d.from === 'b') m.set(d.path, d.path);
    else if (d.do === 'conflict') {
      if (d.winner === 'a') m.set(d.path, d.copy);
      // ours could not be moved aside: taking theirs would lose it
      else if (!failed.has(d.path)) m.set(d.path, d.path);
    }
  }
  return m;
}

/**
 * What we push, in manifest order: b's root first, then every entry to
 * create or update there with the directories above it (as b has them, so
 * they stay as they are), our conflict losers under their conflict names.
 */
export function pushList(decisions: readonly Decision[], ours: { root: string; rootEntry: Entry; entries: SortedTree }, b: SortedTree, bRoot: Entry | undefined, failed: ReadonlySet<string>): ScannedFile[] {
  const out = new Map<string, ScannedFile>();
  const local = (p: string): ScannedFile | undefined => {
    const entry = ours.entries.get(p);
    return entry && { entry, abs: under(ours.root, p) };
  };
  const add = (f: ScannedFile) => {
    out.set(f.entry.path, f);
    for (let d = parentOf(f.entry.path); d !== '.' && !out.has(d); d = parentOf(d)) {
      const there = b.get(d);
      const here = local(d)!;
      out.set(d, there && there.type === 'd' ? { entry: there, abs: here.abs } : here);
    }
  };
  for (const d of decisions) {
    const mine = local(d.path);
    const theirs = b.get(d.path);
    if (d.do === 'copy' && d.mode !== undefined) {
      // a merge: our content with their mode, or (pulled already) their content with our mode, only the mode to fix there
      if (failed.has(d.path)) continue;
      const e = d.from === 'a' ? mine?.entry : theirs;
      if (e) add({ entry: { ...e, mode: d.mode }, abs: under(ours.root, d.path) });
    } else if (d.do === 'copy' && d.from === 'a' && mine) add(mine);
    else if (d.do === 'conflict' && mine) {
      if (d.winner === 'a' && !failed.has(d.path)) add(mine);
      else if (d.winner === 'b' && !failed.has(d.path)) add({ entry: { ...mine.entry, path: d.copy }, abs: under(ours.root, d.copy) });
    }
  }
  const list = [...out.keys()].sort().map((p) => out.get(p)!);
  return [{ entry: bRoot ?? ours.rootEntry, abs: ours.root }, ...list];
}

export function every<T>(items: Iterable<T>, ok: (x: T) => boolean): boolean {
  for (const x of items) if (!ok(x)) return false;
  return true;
}

/** One side holds exactly what the baseline says, path for path. */
export function holds(base: SortedTree, side: SortedTree): boolean {
  if (base.size !== side.size) return false;
  return every(mergeRows(base.entries(), side.entries(), null), (r) => r.b !== undefined && sameEntry(r.a, r.b));
}

/** Both sides as the baseline says: a entry by entry, b by its count. */
export function asBefore(base: SortedTree, now: Pick<TwoWayInput, 'a' | 'b'>): boolean {
  return base.size === now.b.size && holds(base, now.a);
}
