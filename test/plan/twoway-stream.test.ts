// The two-way planner reads sorted streams (lib/plan/rows, lib/tree/packed)
// instead of maps. On seeded random trees, a baseline and two sides edited
// from it, it must decide exactly as the map-based planner it replaced
// (kept as the oracle in test/helpers/twoway-maps.ts): the same decisions,
// the same content checks, the same next baseline.
import t from 'tap';
import { mulberry32 } from '../helpers/prng.mjs';
import * as maps from '../helpers/twoway-maps.js';
import { planTwoWay, needsHash, nextBaseline, type TwoWayInput } from '../../lib/plan/twoway.js';
import { mergeRows } from '../../lib/plan/rows.js';
import { ArrayTree, PackedTree, TreeBuilder, mergeSorted, byPath } from '../../lib/tree/packed.js';
import type { Entry } from '../../lib/wire/schema.js';

const S = 1_000_000;
const T0 = 1_700_000_000 * S;

type Rand = () => number;
const pick = <T>(r: Rand, list: readonly T[]): T => list[Math.floor(r() * list.length)];

/** names that sort around '/' ('a-b', 'a.b', 'a0' next to 'a/...') and one beyond the BMP */
const NAMES = ['a', 'a-b', 'a.b', 'a0', 'b', 'B', 'c.txt', 'c', 'ü', '😀x', 'z z', '.hid'];

/** A random tree: directories up to depth 3, files, links; every entry after its directory exists. */
function randomTree(r: Rand, n: number): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const dirs = [''];
  for (let k = 0; k < n; k++) {
    const parent = pick(r, dirs);
    const path = parent ? `${parent}/${pick(r, NAMES)}` : pick(r, NAMES);
    if (out.has(path) || path.split('/').length > 4) continue;
    const kind = r();
    if (kind < 0.25) {
      out.set(path, { path, type: 'd', mode: 0o755, size: 0, mtime: T0 });
      dirs.push(path);
    } else if (kind < 0.3) out.set(path, { path, type: 'l', mode: 0o777, size: 0, mtime: T0, target: pick(r, NAMES) });
    else out.set(path, { path, type: 'f', mode: 0o644, size: Math.floor(r() * 4), mtime: T0 + Math.floor(r() * 3) * S });
  }
  return out;
}

/** One side's edits of the baseline: some entries changed, some removed (with what is under them), some added. */
function edit(r: Rand, base: Map<string, Entry>, side: number): Map<string, Entry> {
  const out = new Map(base);
  for (const [p, e] of base) {
    const x = r();
    if (x < 0.08) for (const q of [...out.keys()]) if (q === p || q.startsWith(`${p}/`)) out.delete(q);
    if (x >= 0.08 && x < 0.2 && e.type === 'f') out.set(p, { ...e, size: e.size + (r() < 0.5 ? 0 : 1), mtime: T0 + (10 + side) * S });
    if (x >= 0.2 && x < 0.23) out.set(p, { ...e, mode: 0o600 });
    if (x >= 0.23 && x < 0.25 && e.type !== 'd') out.set(p, { path: p, type: 'l', mode: 0o777, size: 0, mtime: T0, target: `t${side}` });
  }
  for (const [p, e] of randomTree(r, 12)) if (!out.has(p) && (!p.includes('/') || out.get(p.slice(0, p.lastIndexOf('/')))?.type === 'd')) out.set(p, { ...e, mtime: e.mtime + side * S });
  return out;
}

const file = (path: string): Entry => ({ path, type: 'f', mode: 0o644, size: 1, mtime: T0 });

const packed = (m: Map<string, Entry>) => {
  const b = new TreeBuilder((p) => new Error(`twice: ${p}`), 7);
  for (const e of m.values()) b.add(e);
  return b.finish();
};

t.test('a packed tree: built from any order in small chunks, walked and looked up in path order', async (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const r = mulberry32(seed);
    const m = randomTree(r, 80);
    const tree = packed(m);
    const want = [...m.values()].sort(byPath);
    t.same([...tree.entries()], want, `seed ${seed}: path order`);
    t.equal(tree.size, want.length);
    t.ok(
      want.every((e, i) => tree.get(e.path)?.path === e.path && tree.indexOf(e.path) === i),
      `seed ${seed}: every path found at its place`,
    );
    t.equal(tree.get('no/such'), undefined);
    t.equal(tree.indexOf(''), -1);
    const twice = new TreeBuilder((p) => new Error(`twice: ${p}`), 5);
    for (const e of [...want, want[Math.floor(r() * want.length)]]) twice.add(e);
    t.throws(() => twice.finish(), /twice: /, `seed ${seed}: a path given twice is refused`);
  }
  const one = new TreeBuilder((p) => new Error(`twice: ${p}`));
  for (const e of [file('b'), file('a'), file('b')]) one.add(e);
  t.throws(() => one.finish(), /twice: b/, 'a tree of one chunk refuses a path given twice too');
  const small = new TreeBuilder((p) => new Error(`twice: ${p}`));
  for (const e of [file('b'), file('a/x'), file('a')]) small.add(e);
  t.same(
    [...small.finish().entries()].map((e) => e.path),
    ['a', 'a/x', 'b'],
  );
  t.same([...mergeSorted([[], []])], []);
  t.same([...PackedTree.empty.entries()], []);
});

t.test('rows: every path of the three trees once, in order, with what each holds', async (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const r = mulberry32(seed * 7);
    const base = randomTree(r, 60);
    const a = edit(r, base, 1);
    const b = edit(r, base, 2);
    const rows = [...mergeRows(packed(a).entries(), packed(b).entries(), packed(base).entries())];
    const all = [...new Set([...a.keys(), ...b.keys(), ...base.keys()])].sort();
    t.same(
      rows.map((x) => x.path),
      all,
      `seed ${seed}: the union, sorted`,
    );
    t.ok(
      rows.every((x) => x.a === a.get(x.path) || JSON.stringify(x.a) === JSON.stringify(a.get(x.path))),
      `seed ${seed}: a's entries`,
    );
    t.ok(
      rows.every((x) => JSON.stringify(x.base) === JSON.stringify(base.get(x.path))),
      `seed ${seed}: the baseline's`,
    );
  }
});

t.test('the streaming planner decides as the map-based one did', async (t) => {
  let decided = 0;
  let conflicts = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const r = mulberry32(seed * 31);
    const firstRun = seed % 5 === 0;
    const base = randomTree(r, 50);
    const a = edit(r, base, 1);
    const b = edit(r, base, 2);
    const common = {
      offsetUs: pick(r, [0, S, -S, 3600 * S]),
      windowUs: pick(r, [0, 0, 2 * S]),
      hosts: { a: 'alpha', b: 'beta' },
      unsure: { a: r() < 0.1, b: r() < 0.1 },
    };
    const old: Omit<maps.TwoWayInput, 'sameContent'> = { a, b, base: firstRun ? null : base, ...common };
    const now: Omit<TwoWayInput, 'sameContent'> = { a: packed(a), b: packed(b), base: firstRun ? null : packed(base), ...common };
    const hashed = maps.needsHash(old);
    t.same(needsHash(now), hashed, `seed ${seed}: the same files need their content compared`);
    const sameContent = new Set(hashed.filter(() => r() < 0.5));
    const want = maps.planTwoWay({ ...old, sameContent });
    const got = planTwoWay({ ...now, sameContent });
    t.same(got, want, `seed ${seed}: the same decisions`);
    const failed = new Set(want.filter(() => r() < 0.2).map((d) => d.path));
    t.same([...nextBaseline({ ...now, sameContent }, got, failed)], maps.nextBaseline({ ...old, sameContent }, want, failed), `seed ${seed}: the same next baseline`);
    decided += want.length;
    conflicts += want.filter((d) => d.do === 'conflict').length;
  }
  t.ok(decided > 1000 && conflicts > 50, `the cases are not trivial: ${decided} decisions, ${conflicts} conflicts`);
});

t.test('an array tree looks paths up like a packed one', async (t) => {
  const r = mulberry32(99);
  const m = randomTree(r, 100);
  const arr = ArrayTree.of(m.values());
  const pk = packed(m);
  t.same([...arr.entries()], [...pk.entries()]);
  for (const p of [...m.keys(), 'zz', '', 'a/none']) t.same(arr.get(p), pk.get(p), `get(${p})`);
});
