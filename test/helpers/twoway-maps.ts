// The two-way planner as it was before it read sorted streams (lib/plan/
// twoway.ts at fe890e5): every tree a Map. Kept as the oracle the streaming
// planner is checked against (test/plan/twoway-stream.test.ts); not used by
// lib/. What it checks is the walk: the rules for one path seen on both
// sides (which version is newer, a mode/content merge) are the planner's
// own, imported, not a second copy.

import type { Entry } from '../../lib/wire/schema.js';
import { parentOf } from '../../lib/tree/paths.js';
import { sameTime } from '../../lib/plan/oneway.js';
import { conflictName, mergeable, newer, other, unchanged, type Decision, type Side, type Why } from '../../lib/plan/twoway.js';

export { conflictName, other, unchanged, type Decision, type Side, type Why };

export interface TwoWayInput {
  a: ReadonlyMap<string, Entry>;
  b: ReadonlyMap<string, Entry>;
  /** the state both agreed on after their last run together; null on a first run */
  base: ReadonlyMap<string, Entry> | null;
  /** files whose content was hashed on both sides and found identical (see needsHash) */
  sameContent: ReadonlySet<string>;
  /** b's clock minus a's, in microseconds */
  offsetUs: number;
  /** mtimes this close count as equal (--modify-window) */
  windowUs: number;
  hosts: { a: string; b: string };
  /** a side whose scan had I/O errors: what it lacks may only be unreadable, so its absences delete nothing */
  unsure: { a: boolean; b: boolean };
}

/** Directories with something changed beneath them, on one side. */
function dirtyDirs(cur: ReadonlyMap<string, Entry>, base: ReadonlyMap<string, Entry> | null, windowUs: number): Set<string> {
  const dirty = new Set<string>();
  const mark = (p: string) => {
    for (let d = parentOf(p); d !== '.' && !dirty.has(d); d = parentOf(d)) dirty.add(d);
  };
  for (const [p, e] of cur) if (!unchanged(e, base?.get(p), windowUs)) mark(p);
  if (base) for (const p of base.keys()) if (!cur.has(p)) mark(p);
  return dirty;
}

function union(i: TwoWayInput): string[] {
  const all = new Set<string>([...i.a.keys(), ...i.b.keys(), ...(i.base?.keys() ?? [])]);
  all.delete('.');
  return [...all].sort();
}

interface Ctx {
  i: TwoWayInput;
  dirty: { a: Set<string>; b: Set<string> };
}

function changed(c: Ctx, side: Side, p: string): boolean {
  const cur = c.i[side].get(p);
  if (!unchanged(cur, c.i.base?.get(p), c.i.windowUs)) return true;
  return cur?.type === 'd' && c.dirty[side].has(p);
}

/** Files both sides changed, of equal size and different mtimes: only their content can tell whether they differ. */
export function needsHash(i: Omit<TwoWayInput, 'sameContent'>): string[] {
  const c: Ctx = { i: { ...i, sameContent: new Set() }, dirty: { a: new Set(), b: new Set() } };
  const out: string[] = [];
  for (const [p, a] of i.a) {
    const b = i.b.get(p);
    if (!b || a.type !== 'f' || b.type !== 'f' || a.size !== b.size) continue;
    if (changed(c, 'a', p) && changed(c, 'b', p)) out.push(p);
  }
  return out.sort();
}

/** Same content (what a copy would carry), metadata aside. */
function sameContent(c: Ctx, p: string, a: Entry, b: Entry): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'd') return true;
  if (a.type === 'l') return a.target === b.target;
  if (a.size !== b.size) return false;
  if (c.i.sameContent.has(p)) return true;
  if (changed(c, 'a', p) && changed(c, 'b', p)) return false;
  return sameTime(a.mtime, b.mtime, c.i.windowUs);
}

/** Both have it with the same content: only metadata may need to travel. */
function metaOnly(c: Ctx, p: string, a: Entry, b: Entry): Decision | null {
  const sameMeta = a.mode === b.mode && (a.type !== 'f' || sameTime(a.mtime, b.mtime, c.i.windowUs));
  if (sameMeta || a.type === 'l') return null;
  const base = c.i.base?.get(p);
  const ca = !unchanged(a, base, c.i.windowUs);
  const cb = !unchanged(b, base, c.i.windowUs);
  const from: Side = ca && !cb ? 'a' : cb && !ca ? 'b' : newer(c.i, a, b);
  return { path: p, do: 'copy', from, why: 'meta' };
}

/** One side changed, the other did not: the change travels. */
function propagate(c: Ctx, p: string, from: Side): Decision | null {
  const src = c.i[from].get(p);
  const dst = c.i[other(from)].get(p);
  if (src) return { path: p, do: 'copy', from, why: dst ? 'changed' : 'new' };
  if (!dst) return null;
  if (c.i.unsure[from]) return { path: p, do: 'hold' };
  return { path: p, do: 'delete', on: other(from) };
}

export function planTwoWay(i: TwoWayInput): Decision[] {
  const c: Ctx = { i, dirty: { a: dirtyDirs(i.a, i.base, i.windowUs), b: dirtyDirs(i.b, i.base, i.windowUs) } };
  const taken = new Set<string>([...i.a.keys(), ...i.b.keys()]);
  const out: Decision[] = [];
  for (const p of union(i)) {
    const a = i.a.get(p);
    const b = i.b.get(p);
    if (a && b && sameContent(c, p, a, b)) {
      const d = metaOnly(c, p, a, b);
      if (d) out.push(d);
      continue;
    }
    const ca = changed(c, 'a', p);
    const cb = changed(c, 'b', p);
    let d: Decision | null = null;
    if (ca && !cb) d = propagate(c, p, 'a');
    else if (cb && !ca) d = propagate(c, p, 'b');
    else if (ca && cb) {
      // deleted on one side, changed on the other: the change survives
      if (!a && b) d = { path: p, do: 'copy', from: 'b', why: 'kept' };
      else if (a && !b) d = { path: p, do: 'copy', from: 'a', why: 'kept' };
      else if (a && b && (d = mergeable(c.i, p, c.i.base?.get(p), a, b))) {
        // merged
      } else if (a && b) {
        const winner = newer(c.i, a, b);
        const loser = other(winner);
        const lost = loser === 'a' ? a : b;
        d = { path: p, do: 'conflict', winner, copy: conflictName(p, i.hosts[loser], lost.mtime, taken) };
        taken.add(d.copy);
      }
    }
    if (d) out.push(d);
  }
  return out;
}

/**
 * The baseline after a run: every path's agreed state, except where the
 * run did not finish (failed paths, held deletions) which keep the entry
 * they had, so the next run sees them as they were and decides again.
 */
export function nextBaseline(i: TwoWayInput, decisions: readonly Decision[], failed: ReadonlySet<string>): Entry[] {
  const out = new Map<string, Entry>();
  const byPath = new Map(decisions.map((d) => [d.path, d]));
  const keepOld = (p: string) => {
    const old = i.base?.get(p);
    if (old) out.set(p, old);
  };
  for (const p of union(i)) {
    const d = byPath.get(p);
    const a = i.a.get(p);
    const b = i.b.get(p);
    if (!d) {
      if (a && b) out.set(p, a);
      else keepOld(p);
      continue;
    }
    if (d.do === 'hold' || failed.has(p) || (d.do === 'conflict' && failed.has(d.copy))) {
      keepOld(p);
      continue;
    }
    if (d.do === 'copy') out.set(p, d.mode === undefined ? (d.from === 'a' ? a : b)! : { ...(d.from === 'a' ? a : b)!, mode: d.mode });
    else if (d.do === 'conflict') {
      const win = (d.winner === 'a' ? a : b)!;
      const lose = (d.winner === 'a' ? b : a)!;
      out.set(p, win);
      out.set(d.copy, { ...lose, path: d.copy });
    }
  }
  for (const [p, e] of out) if (e.path !== p) out.set(p, { ...e, path: p });
  return [...out.keys()].sort().map((p) => out.get(p)!);
}
