// Two-way decisions, pure: for every path, from the two replicas' current
// entries and the baseline they last agreed on, what happens. No I/O;
// test/plan/twoway.test.ts tables every combination. The three trees are
// read as sorted streams (lib/plan/rows), walked twice: once for the
// directories with changes beneath them, once for the decisions; nothing
// holds a whole tree as a map.
//
// "a" is the local replica, "b" the remote one; b's times are mapped into
// a's clock (offsetUs) before any newest-wins choice. Nothing here depends
// on which side is which except that mapping, so swapping the sides (and
// negating the offset) mirrors every decision.

import type { Entry } from '../wire/schema.js';
import type { SortedTree } from '../tree/packed.js';
import { baseOf, parentOf } from '../tree/paths.js';
import { sameTime } from './oneway.js';
import { mergeRows, type Row } from './rows.js';

export type Side = 'a' | 'b';

export function other(s: Side): Side {
  return s === 'a' ? 'b' : 'a';
}

export interface TwoWayInput {
  a: SortedTree;
  b: SortedTree;
  /** the state both agreed on after their last run together; null on a first run */
  base: SortedTree | null;
  /** files whose content was hashed on both sides and found identical (see needsHash) */
  sameContent: ReadonlySet<string>;
  /** b's clock minus a's, in microseconds */
  offsetUs: number;
  /** per path, where b's entries come from more than one clock (a vault: each mtime is its writer's); overrides offsetUs */
  offsetOf?: (path: string) => number;
  /** mtimes this close count as equal (--modify-window) */
  windowUs: number;
  hosts: { a: string; b: string };
  /** a side whose scan had I/O errors: what it lacks may only be unreadable, so its absences delete nothing */
  unsure: { a: boolean; b: boolean };
}

export type Why = 'new' | 'changed' | 'kept' | 'meta' | 'merged';

export type Decision =
  /**
   * make the other side like `from` (create, replace, or fix metadata); `kept`: deleted on the other side but changed here;
   * `merged` (with `mode`): `from` changed the content, the other side the mode: both end with from's content and this mode
   */
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

/** Every path of both sides and the baseline, in path order. */
export function rowsOf(i: Pick<TwoWayInput, 'a' | 'b' | 'base'>): Generator<Row> {
  return mergeRows(i.a.entries(), i.b.entries(), i.base?.entries() ?? null);
}

/** Directories with something changed beneath them, on each side (one walk of the rows; only directory paths are kept). */
function dirtyDirs(i: Omit<TwoWayInput, 'sameContent'>): Ctx['dirty'] {
  const dirty = { a: new Set<string>(), b: new Set<string>() };
  const mark = (set: Set<string>, p: string) => {
    for (let d = parentOf(p); d !== '.' && !set.has(d); d = parentOf(d)) set.add(d);
  };
  for (const r of rowsOf(i)) {
    if (!unchanged(r.a, r.base, i.windowUs)) mark(dirty.a, r.path);
    if (!unchanged(r.b, r.base, i.windowUs)) mark(dirty.b, r.path);
  }
  return dirty;
}

interface Ctx {
  i: TwoWayInput;
  dirty: { a: Set<string>; b: Set<string> };
}

function changed(c: Ctx, side: Side, r: Row): boolean {
  const cur = r[side];
  if (!unchanged(cur, r.base, c.i.windowUs)) return true;
  return cur?.type === 'd' && c.dirty[side].has(r.path);
}

/**
 * Files both sides changed, of equal size: only their content can tell
 * whether they differ. Equal mtimes prove nothing here (touch -r, cp -p,
 * tar, two edits in one tick of a coarse clock, FAT's 2 s).
 */
export function needsHash(i: Omit<TwoWayInput, 'sameContent'>): string[] {
  const c: Ctx = { i: { ...i, sameContent: new Set() }, dirty: { a: new Set(), b: new Set() } };
  const out: string[] = [];
  for (const r of rowsOf(i)) {
    const { a, b } = r;
    if (!a || !b || a.type !== 'f' || b.type !== 'f' || a.size !== b.size) continue;
    if (changed(c, 'a', r) && changed(c, 'b', r)) out.push(r.path);
  }
  return out;
}

/**
 * Same content (what a copy would carry), metadata aside. Files both sides
 * changed are the same only when their contents hashed the same; where at
 * most one side changed, size and mtime tell, as in a one-way run.
 */
function sameContent(c: Ctx, r: Row, a: Entry, b: Entry): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'd') return true;
  if (a.type === 'l') return a.target === b.target;
  if (a.size !== b.size) return false;
  if (c.i.sameContent.has(r.path)) return true;
  if (changed(c, 'a', r) && changed(c, 'b', r)) return false;
  return sameTime(a.mtime, b.mtime, c.i.windowUs);
}

/**
 * Both sides changed a file the baseline holds: one only its mode, the
 * other only its content. The content travels and both keep the new mode
 * (Unison merges the same way); null when it is a real conflict.
 */
export function mergeable(i: Pick<TwoWayInput, 'windowUs'>, p: string, base: Entry | undefined, a: Entry, b: Entry): Decision | null {
  if (!base || base.type !== 'f' || a.type !== 'f' || b.type !== 'f') return null;
  const content = (e: Entry) => e.size !== base.size || !sameTime(e.mtime, base.mtime, i.windowUs);
  const mode = (e: Entry) => e.mode !== base.mode;
  if (content(a) && !mode(a) && !content(b) && mode(b)) return { path: p, do: 'copy', from: 'a', why: 'merged', mode: b.mode };
  if (content(b) && !mode(b) && !content(a) && mode(a)) return { path: p, do: 'copy', from: 'b', why: 'merged', mode: a.mode };
  return null;
}

/**
 * Which side's version is newer (clock-skew corrected: b's times are moved
 * into a's clock). Inside the window, a fixed order that does not care
 * which side is local decides: a directory beats the rest, then a file
 * beats a link, then the bigger one, then the host name.
 */
export function newer(i: Pick<TwoWayInput, 'offsetUs' | 'offsetOf' | 'windowUs' | 'hosts'>, a: Entry, b: Entry): Side {
  if (a.type === 'd' && b.type !== 'd') return 'a';
  if (b.type === 'd' && a.type !== 'd') return 'b';
  const ta = a.mtime;
  const tb = b.mtime - (i.offsetOf?.(b.path) ?? i.offsetUs);
  if (!sameTime(ta, tb, i.windowUs)) return ta > tb ? 'a' : 'b';
  const rank = { d: 2, f: 1, l: 0 } as const;
  if (a.type !== b.type) return rank[a.type] > rank[b.type] ? 'a' : 'b';
  if (a.size !== b.size) return a.size > b.size ? 'a' : 'b';
  if (a.mode !== b.mode) return a.mode > b.mode ? 'a' : 'b';
  if ((a.target ?? '') !== (b.target ?? '')) return (a.target ?? '') > (b.target ?? '') ? 'a' : 'b';
  return i.hosts.a >= i.hosts.b ? 'a' : 'b';
}

/** Both have it with the same content: only metadata may need to travel. */
function metaOnly(c: Ctx, r: Row, a: Entry, b: Entry): Decision | null {
  const sameMeta = a.mode === b.mode && (a.type !== 'f' || sameTime(a.mtime, b.mtime, c.i.windowUs));
  if (sameMeta || a.type === 'l') return null;
  const ca = !unchanged(a, r.base, c.i.windowUs);
  const cb = !unchanged(b, r.base, c.i.windowUs);
  const from: Side = ca && !cb ? 'a' : cb && !ca ? 'b' : newer(c.i, a, b);
  return { path: r.path, do: 'copy', from, why: 'meta' };
}

/** One side changed, the other did not: the change travels. */
function propagate(c: Ctx, r: Row, from: Side): Decision | null {
  const p = r.path;
  const src = r[from];
  const dst = r[other(from)];
  if (src) return { path: p, do: 'copy', from, why: dst ? 'changed' : 'new' };
  if (!dst) return null;
  if (c.i.unsure[from]) return { path: p, do: 'hold' };
  return { path: p, do: 'delete', on: other(from) };
}

/** The decisions, in path order. */
export function planTwoWay(i: TwoWayInput): Decision[] {
  const c: Ctx = { i, dirty: dirtyDirs(i) };
  // conflict copies take names neither side has, nor an earlier copy
  const copies = new Set<string>();
  const taken = { has: (p: string) => copies.has(p) || i.a.get(p) !== undefined || i.b.get(p) !== undefined };
  const out: Decision[] = [];
  for (const r of rowsOf(i)) {
    const { path: p, a, b } = r;
    if (a && b && sameContent(c, r, a, b)) {
      const d = metaOnly(c, r, a, b);
      if (d) out.push(d);
      continue;
    }
    const ca = changed(c, 'a', r);
    const cb = changed(c, 'b', r);
    let d: Decision | null = null;
    if (ca && !cb) d = propagate(c, r, 'a');
    else if (cb && !ca) d = propagate(c, r, 'b');
    else if (ca && cb) {
      // deleted on one side, changed on the other: the change survives
      if (!a && b) d = { path: p, do: 'copy', from: 'b', why: 'kept' };
      else if (a && !b) d = { path: p, do: 'copy', from: 'a', why: 'kept' };
      else if (a && b && (d = mergeable(c.i, r.path, r.base, a, b))) {
        // one side's mode and the other's content: both survive
      } else if (a && b) {
        const winner = newer(c.i, a, b);
        const loser = other(winner);
        const lost = loser === 'a' ? a : b;
        d = { path: p, do: 'conflict', winner, copy: conflictName(p, i.hosts[loser], lost.mtime, taken) };
        copies.add(d.copy);
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
export function conflictName(p: string, host: string, mtimeUs: number, taken: { has(path: string): boolean }): string {
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
 * The baseline after a run, in path order: every path's agreed state,
 * except where the run did not finish (failed paths, held deletions) which
 * keep the entry they had, so the next run sees them as they were and
 * decides again. `decisions` are planTwoWay's, in path order. A conflict
 * copy is recorded under its own name (and stands over a baseline entry
 * of that name that neither side still has).
 */
export function* nextBaseline(i: TwoWayInput, decisions: readonly Decision[], failed: ReadonlySet<string>): Generator<Entry> {
  const done = (d: Decision) => d.do !== 'hold' && !failed.has(d.path) && !(d.do === 'conflict' && failed.has(d.copy));
  const copies: Entry[] = [];
  for (const d of decisions) {
    if (d.do !== 'conflict' || !done(d)) continue;
    const lose = (d.winner === 'a' ? i.b : i.a).get(d.path)!;
    copies.push({ ...lose, path: d.copy });
  }
  copies.sort((x, y) => (x.path < y.path ? -1 : 1));
  let k = 0;
  let c = 0;
  for (const r of rowsOf(i)) {
    const { path: p, a, b } = r;
    while (c < copies.length && copies[c].path < p) yield copies[c++];
    const d = decisions[k]?.path === p ? decisions[k++] : undefined;
    if (c < copies.length && copies[c].path === p) continue;
    if (!d) {
      if (a && b) yield a;
      else if (r.base) yield r.base;
    } else if (!done(d)) {
      if (r.base) yield r.base;
    } else if (d.do === 'copy') yield d.mode === undefined ? (d.from === 'a' ? a : b)! : { ...(d.from === 'a' ? a : b)!, mode: d.mode };
    else if (d.do === 'conflict') yield (d.winner === 'a' ? a : b)!;
  }
  while (c < copies.length) yield copies[c++];
}
