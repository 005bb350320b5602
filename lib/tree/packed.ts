// A whole tree held compactly: its entries sorted by path (JavaScript string
// order, as baselines are) and kept in the manifest's canonical encoding,
// batches of about a thousand with shared path prefixes. A million entries
// take some 20 MB this way against some 150 MB as objects in a Map, so a
// two-way client can hold its own tree, the replica's and the baseline at
// once. Entries are decoded as they are walked or looked up.
//
// Built from entries in any order: they are taken in chunks, each chunk is
// sorted and encoded, and the sorted chunks are merged into one sorted
// list, where a path seen twice is reported. A tree that fits in one chunk
// stays as objects: packing and unpacking it would cost more CPU time than
// its memory is worth (a two-way re-run of 25,000 entries would pay ~60 ms).

import { decodeEntries, encodeEntries, type Entry } from '../wire/schema.js';

/** A tree as its entries in path order, walkable more than once. */
export interface SortedTree {
  /** every entry, in path order */
  entries(): Iterable<Entry>;
  /** the entry at `path`, if any */
  get(path: string): Entry | undefined;
  readonly size: number;
}

/** A sorted tree whose entries have positions (a bitmap can stand for a set of them). */
export interface IndexedTree extends SortedTree {
  /** the position of `path` in path order, or -1 */
  indexOf(path: string): number;
}

export const byPath = (x: Entry, y: Entry): number => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0);

/** entries per encoded batch */
const BATCH = 1000;
/** entries sorted in memory at a time while building */
const CHUNK = 1 << 17;

/** A small tree from entries as objects (tests, and lists that are small anyway). */
export class ArrayTree implements IndexedTree {
  private constructor(private readonly list: readonly Entry[]) {}

  static of(entries: Iterable<Entry>): ArrayTree {
    return new ArrayTree([...entries].sort(byPath));
  }

  /** entries already in path order, each path once */
  static sorted(entries: readonly Entry[]): ArrayTree {
    return new ArrayTree(entries);
  }

  get size(): number {
    return this.list.length;
  }

  entries(): Iterable<Entry> {
    return this.list;
  }

  get(path: string): Entry | undefined {
    const i = this.indexOf(path);
    return i < 0 ? undefined : this.list[i];
  }

  indexOf(path: string): number {
    const i = lowerBound(this.list.length, (k) => this.list[k].path < path);
    return this.list[i]?.path === path ? i : -1;
  }
}

export class PackedTree implements IndexedTree {
  private cached = -1;
  private cachedEntries: Entry[] = [];

  /** batches: sorted across and within; firsts: each batch's first path; starts: each batch's first index (see PackWriter) */
  constructor(
    private readonly batches: readonly Buffer[],
    private readonly firsts: readonly string[],
    private readonly starts: readonly number[],
    readonly size: number,
  ) {}

  static readonly empty = new PackedTree([], [], [], 0);

  /**
   * Entries already in path order (a baseline): packed as they come. Throws
   * `bad(path)` at the first entry not after the one before it.
   */
  static fromSorted(entries: Iterable<Entry>, bad: (path: string) => Error): PackedTree {
    const w = new PackWriter(bad);
    for (const e of entries) w.add(e);
    return w.finish();
  }

  /**
   * Batches already encoded and in path order, checked by `check` (which
   * sees every entry, decoded once). A small tree keeps its entries as
   * decoded.
   */
  static fromBatches(batches: readonly Buffer[], check: (e: Entry) => void): IndexedTree {
    const firsts: string[] = [];
    const starts: number[] = [];
    let size = 0;
    const kept: Buffer[] = [];
    let all: Entry[] | null = [];
    for (const b of batches) {
      const list = decodeEntries(b);
      for (const e of list) check(e);
      if (list.length === 0) continue;
      kept.push(b);
      firsts.push(list[0].path);
      starts.push(size);
      size += list.length;
      if (all && size <= CHUNK) all.push(...list);
      else all = null;
    }
    return all ? ArrayTree.sorted(all) : new PackedTree(kept, firsts, starts, size);
  }

  /** The batches, as a baseline stores them. */
  encoded(): readonly Buffer[] {
    return this.batches;
  }

  *entries(): Generator<Entry> {
    for (const b of this.batches) yield* decodeEntries(b);
  }

  get(path: string): Entry | undefined {
    const at = this.locate(path);
    return at ? this.batch(at.k)[at.i] : undefined;
  }

  /** the position of `path` in path order, or -1 */
  indexOf(path: string): number {
    const at = this.locate(path);
    return at ? this.starts[at.k] + at.i : -1;
  }

  /** batch k, entry i within it */
  private locate(path: string): { k: number; i: number } | null {
    // the last batch whose first path is not after `path`
    const k = lowerBound(this.firsts.length, (j) => this.firsts[j] <= path) - 1;
    if (k < 0) return null;
    const list = this.batch(k);
    const i = lowerBound(list.length, (j) => list[j].path < path);
    return list[i]?.path === path ? { k, i } : null;
  }

  /** lookups mostly come in path order: the last batch decoded is kept */
  private batch(k: number): Entry[] {
    if (k !== this.cached) {
      this.cachedEntries = decodeEntries(this.batches[k]);
      this.cached = k;
    }
    return this.cachedEntries;
  }
}

/** Packs entries that come in path order, one batch at a time. */
export class PackWriter {
  private readonly batches: Buffer[] = [];
  private readonly firsts: string[] = [];
  private readonly starts: number[] = [];
  private pending: Entry[] = [];
  private last: string | null = null;
  private size = 0;

  constructor(private readonly bad: (path: string) => Error) {}

  add(e: Entry): void {
    if (this.last !== null && !(this.last < e.path)) throw this.bad(e.path);
    this.last = e.path;
    this.pending.push(e);
    if (this.pending.length >= BATCH) this.flush();
  }

  finish(): PackedTree {
    this.flush();
    return new PackedTree(this.batches, this.firsts, this.starts, this.size);
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.firsts.push(this.pending[0].path);
    this.starts.push(this.size);
    this.size += this.pending.length;
    // a copy of exactly the encoded bytes, not the writer's larger buffer
    this.batches.push(Buffer.from(encodeEntries(this.pending)));
    this.pending = [];
  }
}

/**
 * Packs entries that come in any order (a scan, a manifest): sorted a chunk
 * at a time, then the chunks merged. `duplicate(path)` is thrown for a path
 * given twice.
 */
export class TreeBuilder {
  private chunk: Entry[] = [];
  private readonly runs: PackedTree[] = [];

  /** chunk: entries sorted in memory at a time (smaller only in tests, to make many chunks) */
  constructor(
    private readonly duplicate: (path: string) => Error,
    private readonly chunkSize = CHUNK,
  ) {}

  add(e: Entry): void {
    this.chunk.push(e);
    if (this.chunk.length >= this.chunkSize) this.seal();
  }

  get count(): number {
    return this.runs.reduce((n, r) => n + r.size, 0) + this.chunk.length;
  }

  finish(): SortedTree {
    if (this.runs.length === 0) {
      const sorted = this.chunk.sort(byPath);
      for (let i = 1; i < sorted.length; i++) if (sorted[i - 1].path === sorted[i].path) throw this.duplicate(sorted[i].path);
      return ArrayTree.sorted(sorted);
    }
    this.seal();
    if (this.runs.length === 1) return this.runs[0];
    return PackedTree.fromSorted(mergeSorted(this.runs.map((r) => r.entries())), this.duplicate);
  }

  private seal(): void {
    if (this.chunk.length === 0) return;
    const sorted = this.chunk.sort(byPath);
    this.chunk = [];
    this.runs.push(PackedTree.fromSorted(sorted, this.duplicate));
  }
}

/** Pure: several path-ordered streams as one, in path order (a path in two streams comes out twice, side by side). */
export function* mergeSorted(streams: Iterable<Entry>[]): Generator<Entry> {
  const heads: Array<{ e: Entry; it: Iterator<Entry> }> = [];
  for (const s of streams) {
    const it = s[Symbol.iterator]();
    const n = it.next();
    if (!n.done) heads.push({ e: n.value, it });
  }
  // a binary heap on the head entries' paths
  const less = (i: number, j: number) => heads[i].e.path < heads[j].e.path;
  const swap = (i: number, j: number) => ([heads[i], heads[j]] = [heads[j], heads[i]]);
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heads.length && less(l, m)) m = l;
      if (r < heads.length && less(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  for (let i = (heads.length >> 1) - 1; i >= 0; i--) down(i);
  while (heads.length > 0) {
    const top = heads[0];
    yield top.e;
    const n = top.it.next();
    if (n.done) {
      heads[0] = heads[heads.length - 1];
      heads.pop();
    } else top.e = n.value;
    if (heads.length > 0) down(0);
  }
}

/** the first k in [0, n) for which below(k) is false, where below is true then false */
function lowerBound(n: number, below: (k: number) => boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (below(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
