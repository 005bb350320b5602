// Pure: the two replicas' trees and their baseline, each a stream of
// entries in path order, walked together as one stream of rows, one per
// path, with what each of the three has there. The two-way planner reads
// its input this way, so it never needs the trees as maps.

import type { Entry } from '../wire/schema.js';

export interface Row {
  path: string;
  a?: Entry;
  b?: Entry;
  base?: Entry;
}

/** Every path of a, b and base once, in path order; the root ('.') is left out. Each stream must be in path order. */
export function* mergeRows(a: Iterable<Entry>, b: Iterable<Entry>, base: Iterable<Entry> | null): Generator<Row> {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  const io = base?.[Symbol.iterator]();
  const next = (it: Iterator<Entry> | undefined): Entry | undefined => {
    if (!it) return undefined;
    for (;;) {
      const n = it.next();
      if (n.done) return undefined;
      if (n.value.path !== '.') return n.value;
    }
  };
  let ea = next(ia);
  let eb = next(ib);
  let eo = next(io);
  while (ea || eb || eo) {
    let path = (ea ?? eb ?? eo)!.path;
    if (eb && eb.path < path) path = eb.path;
    if (eo && eo.path < path) path = eo.path;
    const row: Row = { path };
    if (ea?.path === path) {
      row.a = ea;
      ea = next(ia);
    }
    if (eb?.path === path) {
      row.b = eb;
      eb = next(ib);
    }
    if (eo?.path === path) {
      row.base = eo;
      eo = next(io);
    }
    yield row;
  }
}
