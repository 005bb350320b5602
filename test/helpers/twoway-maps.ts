// The two-way planner as it was before it read sorted streams (lib/plan/
// twoway.ts at fe890e5): every tree a Map. Kept as the oracle the streaming
// planner is checked against (test/plan/twoway-stream.test.ts); not used by
// lib/.

import type { Entry } from '../../lib/wire/schema.js';
import { baseOf, parentOf } from '../../lib/tree/paths.js';
import { sameTime } from '../../lib/plan/oneway.js';

export type Side = 'a' | 'b';

export function other(s: Side): Side {
  return s === 'a' ? 'b' : 'a';
}

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

export type Why = 'new' | 'changed' | 'kept' | 'meta' | 'merged';

export type Decision =
  /** make the other side like `from` (create, replace, or fix metadata); `kept`: deleted on the other side but changed here */
  | { path: string; do: 'copy'; from: Side; why: Why; mode?: number }
  | { path: string; do: 'delete'; on: Side }
  /** both changed: the winner's version stays at path on both sides, the loser's is kept as `copy` on both */
  | { path: string; do: 'conflict'; winner: Side; copy: string }
  /** a deletion not trusted (the deleting side had I/O errors): nothing done, the baseline keeps its entry */
  | { path: string; do: 'hold' };

/** An entry is unchanged since the baseline: dirs by mode, links by target, files by size, mode and mtime. */
export function unchanged(cur: Entry | undefined, base: Entry | undefined, windowUs: number): boolean {
  if (!cur || !base) return cur === base;
  if (cur.type !== base.type) return false;
  if (cur.type === 'd') return cur.mode === base.mode;
  if (cur.type === 'l') return cur.target === base.target;
  return cur.size === base.size && cur.mode === base.mode && sameTime(cur.mtime, base.mtime, windowUs);
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

/** one side's mode and the other's content: both survive */
function mergeable(c: Ctx, p: string, a: Entry, b: Entry): Decision | null {
  const base = c.i.base?.get(p);
  if (!base || base.type !== 'f' || a.type !== 'f' || b.type !== 'f') return null;
  const content = (e: Entry) => e.size !== base.size || !sameTime(e.mtime, base.mtime, c.i.windowUs);
  const mode = (e: Entry) => e.mode !== base.mode;
  if (content(a) && !mode(a) && !content(b) && mode(b)) return { path: p, do: 'copy', from: 'a', why: 'merged', mode: b.mode };
  if (content(b) && !mode(b) && !content(a) && mode(a)) return { path: p, do: 'copy', from: 'b', why: 'merged', mode: a.mode };
  return null;
}

/** a's view of a side's time */
function timeOf(c: Ctx, side: Side, e: Entry): number {
  return side === 'a' ? e.mtime : e.mtime - c.i.offsetUs;
}

/**
 * Which side's version is newer (clock-skew corrected). Inside the window,
 * a fixed order that does not care which side is local decides: a
 * directory beats the rest, then a file beats a link, then the bigger one,
 * then the host name.
 */
function newer(c: Ctx, a: Entry, b: Entry): Side {
  if (a.type === 'd' && b.type !== 'd') return 'a';
  if (b.type === 'd' && a.type !== 'd') return 'b';
  const ta = timeOf(c, 'a', a);
  const tb = timeOf(c, 'b', b);
  if (!sameTime(ta, tb, c.i.windowUs)) return ta > tb ? 'a' : 'b';
  const rank = { d: 2, f: 1, l: 0 } as const;
  if (a.type !== b.type) return rank[a.type] > rank[b.type] ? 'a' : 'b';
  if (a.size !== b.size) return a.size > b.size ? 'a' : 'b';
  if (a.mode !== b.mode) return a.mode > b.mode ? 'a' : 'b';
  if ((a.target ?? '') !== (b.target ?? '')) return (a.target ?? '') > (b.target ?? '') ? 'a' : 'b';
  return c.i.hosts.a >= c.i.hosts.b ? 'a' : 'b';
}

/** Both have it with the same content: only metadata may need to travel. */
function metaOnly(c: Ctx, p: string, a: Entry, b: Entry): Decision | null {
  const sameMeta = a.mode === b.mode && (a.type !== 'f' || sameTime(a.mtime, b.mtime, c.i.windowUs));
  if (sameMeta || a.type === 'l') return null;
  const base = c.i.base?.get(p);
  const ca = !unchanged(a, base, c.i.windowUs);
  const cb = !unchanged(b, base, c.i.windowUs);
  const from: Side = ca && !cb ? 'a' : cb && !ca ? 'b' : newer(c, a, b);
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
      else if (a && b && (d = mergeable(c, p, a, b))) {
        // merged
      } else if (a && b) {
        const winner = newer(c, a, b);
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
 * NAME.conflict-HOST-YYYYMMDD-HHMMSS.EXT beside the original: the host whose
 * version lost and that version's mtime (its own clock, UTC). Unique among
 * `taken`.
 */
export function conflictName(p: string, host: string, mtimeUs: number, taken: ReadonlySet<string>): string {
  const dir = parentOf(p);
  const base = baseOf(p);
  const dot = base.lastIndexOf('.');
  const hasExt = dot > 0 && base.length - dot <= 10;
  let stem = hasExt ? base.slice(0, dot) : base;
  const ext = hasExt ? base.slice(dot) : '';
  const stamp = new Date(Math.floor(mtimeUs / 1000)).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const safeHost = host.replace(/[^A-Za-z0-9.-]/g, '_').slice(0, 32) || 'host';
  const tag = `.conflict-${safeHost}-${stamp}`;
  // a name stays within 255 bytes: shorten the stem, never the tag
  while (Buffer.byteLength(stem + tag + ext) > 250) stem = [...stem].slice(0, -1).join('');
  for (let n = 1; ; n++) {
    const name = `${stem}${tag}${n > 1 ? `-${n}` : ''}${ext}`;
    const full = dir === '.' ? name : `${dir}/${name}`;
    if (!taken.has(full)) return full;
  }
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
