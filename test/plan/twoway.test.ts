// The two-way planner as tables: every combination of what each side did
// since the baseline, with and without a baseline, in both argument orders.
import t from 'tap';
import { planTwoWay, needsHash, nextBaseline, conflictName, type Decision, type TwoWayInput, type Side } from '../../lib/plan/twoway.js';
import type { Entry } from '../../lib/wire/schema.js';
import { ArrayTree } from '../../lib/tree/packed.js';

const S = 1_000_000; // one second in microseconds
const T0 = 1_700_000_000 * S;

const file = (path: string, size: number, mtime: number, mode = 0o644): Entry => ({ path, type: 'f', mode, size, mtime });
const dir = (path: string, mode = 0o755): Entry => ({ path, type: 'd', mode, size: 0, mtime: T0 });
const link = (path: string, target: string): Entry => ({ path, type: 'l', mode: 0o777, size: 0, mtime: T0, target });

type State = 'unchanged' | 'modified' | 'same-edit' | 'deleted' | 'created' | 'to-dir' | 'to-link';

/** What a side holds at path "p" after doing `s` to the baseline's file (size 10, mtime T0). */
function stateOf(s: State, side: Side): Entry[] {
  const later = side === 'a' ? 100 * S : 200 * S; // b's edits are the newer ones
  switch (s) {
    case 'unchanged':
      return [file('p', 10, T0)];
    case 'modified':
      return [file('p', side === 'a' ? 11 : 12, T0 + later)];
    case 'same-edit':
      // the same new content on both sides, written at different times
      return [file('p', 13, T0 + later)];
    case 'created':
      return [file('p', side === 'a' ? 21 : 22, T0 + later)];
    case 'deleted':
      return [];
    case 'to-dir':
      return [dir('p'), file('p/inner', 5, T0 + later)];
    case 'to-link':
      return [link('p', side === 'a' ? 'there-a' : 'there-b')];
  }
}

function input(a: Entry[], b: Entry[], base: Entry[] | null, extra: Partial<TwoWayInput> = {}): TwoWayInput {
  const m = (l: Entry[]) => ArrayTree.of(l);
  return { a: m(a), b: m(b), base: base && m(base), sameContent: new Set(), offsetUs: 0, windowUs: 0, hosts: { a: 'alpha', b: 'beta' }, unsure: { a: false, b: false }, ...extra };
}

/** the same run with the sides swapped: b local, a remote */
function swapped(i: TwoWayInput): TwoWayInput {
  return { ...i, a: i.b, b: i.a, offsetUs: -i.offsetUs, hosts: { a: i.hosts.b, b: i.hosts.a }, unsure: { a: i.unsure.b, b: i.unsure.a } };
}

function mirror(d: Decision): Decision {
  const o = (s: Side): Side => (s === 'a' ? 'b' : 'a');
  if (d.do === 'copy') return { ...d, from: o(d.from) };
  if (d.do === 'delete') return { ...d, on: o(d.on) };
  if (d.do === 'conflict') return { ...d, winner: o(d.winner) };
  return d;
}

/** Decisions about "p" only, in a compact form: copy:b:changed, delete:a, conflict:b, hold, none */
function short(ds: Decision[]): string {
  const d = ds.find((x) => x.path === 'p');
  if (!d) return 'none';
  if (d.do === 'copy') return `copy:${d.from}:${d.why}`;
  if (d.do === 'delete') return `delete:${d.on}`;
  if (d.do === 'conflict') return `conflict:${d.winner}`;
  return 'hold';
}

// With a baseline (p was a file of 10 bytes): rows are a's change, columns b's.
const WITH_BASE: Record<string, Record<string, string>> = {
  unchanged: { unchanged: 'none', modified: 'copy:b:changed', deleted: 'delete:a', 'to-dir': 'copy:b:changed', 'to-link': 'copy:b:changed' },
  modified: { unchanged: 'copy:a:changed', modified: 'conflict:b', deleted: 'copy:a:kept', 'to-dir': 'conflict:b', 'to-link': 'conflict:a' },
  deleted: { unchanged: 'delete:b', modified: 'copy:b:kept', deleted: 'none', 'to-dir': 'copy:b:kept', 'to-link': 'copy:b:kept' },
  'to-dir': { unchanged: 'copy:a:changed', modified: 'conflict:a', deleted: 'copy:a:kept', 'to-dir': 'none', 'to-link': 'conflict:a' },
  'to-link': { unchanged: 'copy:a:changed', modified: 'conflict:b', deleted: 'copy:a:kept', 'to-dir': 'conflict:b', 'to-link': 'conflict:b' },
};

t.test('with a baseline: every pair of changes, both argument orders', async (t) => {
  const base = [file('p', 10, T0)];
  for (const [sa, row] of Object.entries(WITH_BASE)) {
    for (const [sb, want] of Object.entries(row)) {
      const i = input(stateOf(sa as State, 'a'), stateOf(sb as State, 'b'), base);
      const got = planTwoWay(i);
      t.equal(short(got), want, `a ${sa}, b ${sb}`);
      t.same(planTwoWay(swapped(i)), got.map(mirror), `a ${sa}, b ${sb}: swapping the sides mirrors every decision`);
    }
  }
});

t.test('without a baseline: union, newer wins, nothing deleted', async (t) => {
  const rows: Array<[State | 'absent', State | 'absent', string]> = [
    ['absent', 'created', 'copy:b:new'],
    ['created', 'absent', 'copy:a:new'],
    ['created', 'created', 'conflict:b'],
    ['same-edit', 'same-edit', 'copy:b:meta'],
    ['to-dir', 'created', 'conflict:a'],
  ];
  for (const [sa, sb, want] of rows) {
    const ea = sa === 'absent' ? [] : stateOf(sa, 'a');
    const eb = sb === 'absent' ? [] : stateOf(sb, 'b');
    const i = input(ea, eb, null, { sameContent: new Set(sa === 'same-edit' ? ['p'] : []) });
    const got = planTwoWay(i);
    t.equal(short(got), want, `first run: a ${sa}, b ${sb}`);
    t.notOk(got.some((d) => d.do === 'delete'), 'a first run deletes nothing');
    t.same(planTwoWay(swapped(i)), got.map(mirror), 'both orders agree');
  }
  // an empty baseline is not "no baseline": it is a first run only where nothing was agreed
  t.equal(short(planTwoWay(input([], [file('p', 1, T0)], []))), 'copy:b:new');
});

t.test('the same edit on both sides is never a conflict, whatever the mtimes say', async (t) => {
  const base = [file('p', 10, T0)];
  const i0 = input(stateOf('same-edit', 'a'), stateOf('same-edit', 'b'), base);
  t.same(needsHash(i0), ['p'], 'equal sizes, different mtimes: only content can tell');
  const got = planTwoWay({ ...i0, sameContent: new Set(['p']) });
  t.equal(short(got), 'copy:b:meta', 'identical content: only the newer mtime travels');
  t.equal(short(planTwoWay(i0)), 'conflict:b', 'different content of the same size: a conflict');
  // twoway-same-size-same-mtime-divergence: both changed to one size and one mtime (touch -r, cp -p, tar, a coarse clock) proves nothing
  const same = input([file('p', 13, T0 + S)], [file('p', 13, T0 + S)], base);
  t.same(needsHash(same), ['p'], 'both changed, same size, same mtime: still hashed');
  t.equal(short(planTwoWay(same)), 'conflict:b', 'different content: a conflict, never taken as identical');
  t.equal(short(planTwoWay({ ...same, sameContent: new Set(['p']) })), 'none', 'the same content: nothing to do');
  t.same(planTwoWay(swapped(same)), planTwoWay(same).map(mirror));
  // inside --modify-window, the same
  const fat = input([file('p', 13, T0 + 2 * S)], [file('p', 13, T0 + 3 * S)], base, { windowUs: 2 * S });
  t.same(needsHash(fat), ['p']);
  t.equal(short(planTwoWay(fat)), 'conflict:b');
  // only one side changed: size and mtime decide, as one-way (nothing to hash)
  const one = input([file('p', 10, T0)], [file('p', 10, T0, 0o600)], base);
  t.same(needsHash(one), [], 'a mode change on one side is no reason to hash');
  t.equal(short(planTwoWay(one)), 'copy:b:meta');
});

t.test('a mode change on one side and a content change on the other merge, as Unison does', async (t) => {
  const base = [file('p', 10, T0)];
  const modeA = [file('p', 10, T0, 0o755)];
  const contentB = [file('p', 12, T0 + 9 * S)];
  const i = input(modeA, contentB, base);
  const got = planTwoWay(i);
  t.same(got, [{ path: 'p', do: 'copy', from: 'b', why: 'merged', mode: 0o755 }], "b's content travels, a's mode stays, on both");
  t.same(planTwoWay(swapped(i)), got.map(mirror), 'both orders agree');
  t.same(nextBaseline({ ...i }, got, new Set()), [file('p', 12, T0 + 9 * S, 0o755)], 'the baseline holds both changes');
  t.same(nextBaseline({ ...i }, got, new Set(['p'])), base, 'a failed merge keeps the old baseline entry');
  // a content change of the same size on the other side: hashed (both changed), found different, merged
  const sameSize = input(modeA, [file('p', 10, T0 + 9 * S)], base);
  t.same(needsHash(sameSize), ['p']);
  t.same(planTwoWay(sameSize), [{ path: 'p', do: 'copy', from: 'b', why: 'merged', mode: 0o755 }]);
  // both changed the mode, or one both mode and content: a real conflict
  t.equal(short(planTwoWay(input([file('p', 10, T0, 0o755)], [file('p', 12, T0 + 9 * S, 0o600)], base))), 'conflict:b');
  t.equal(short(planTwoWay(input([file('p', 11, T0 + S, 0o755)], [file('p', 12, T0 + 9 * S)], base))), 'conflict:b');
  // no baseline: nothing to tell which side changed what
  t.equal(short(planTwoWay(input(modeA, contentB, null))), 'conflict:b');
});

t.test('clock skew: times are compared in the client clock', async (t) => {
  const base = [file('p', 10, T0)];
  // b's clock runs an hour ahead. a edited at real time T0+600s, b at T0+300s (its clock said T0+3900s)
  const a = [file('p', 11, T0 + 600 * S)];
  const b = [file('p', 12, T0 + 3900 * S)];
  t.equal(short(planTwoWay(input(a, b, base, { offsetUs: 3600 * S }))), 'conflict:a', 'the version edited later in real time wins');
  t.equal(short(planTwoWay(input(a, b, base, { offsetUs: 0 }))), 'conflict:b', 'raw mtimes would have picked the other');
  // and an hour behind
  const b2 = [file('p', 12, T0 + 900 * S - 3600 * S)];
  t.equal(short(planTwoWay(input(a, b2, base, { offsetUs: -3600 * S }))), 'conflict:b');
  t.equal(short(planTwoWay(input(a, b2, base, { offsetUs: 0 }))), 'conflict:a');
  // b's entries from several clocks (a vault: each written by another client): offsetOf, per path, overrides offsetUs
  const two = input([file('p', 11, T0 + 600 * S), file('q', 11, T0 + 600 * S)], [file('p', 12, T0 + 3900 * S), file('q', 12, T0 + 900 * S - 3600 * S)], [file('p', 10, T0), file('q', 10, T0)], {
    offsetUs: 0,
    offsetOf: (p: string) => (p === 'p' ? 3600 * S : -3600 * S),
  });
  t.equal(planTwoWay(two).map((d) => `${d.path}:${d.do === 'conflict' ? d.winner : d.do}`).join(' '), 'p:a q:b', 'each path is corrected by its own clock');
  // inside --modify-window content decides: different content is still a conflict, decided without the clock
  const w = input([file('p', 11, T0 + 5 * S)], [file('p', 12, T0 + 6 * S)], base, { windowUs: 2 * S });
  t.equal(short(planTwoWay(w)), 'conflict:b', 'within the window the bigger one stands (a fixed order, the same from both sides)');
  t.same(planTwoWay(swapped(w)), planTwoWay(w).map(mirror));
});

t.test('directories: a deletion gives way to a change beneath it', async (t) => {
  const base = [dir('d'), file('d/x', 1, T0), file('d/y', 1, T0)];
  // a deleted d; b added d/z
  const i = input([], [dir('d'), file('d/x', 1, T0), file('d/y', 1, T0), file('d/z', 2, T0 + S)], base);
  const got = planTwoWay(i);
  t.same(
    got.map((d) => [d.path, d.do, d.do === 'copy' ? d.from : d.do === 'delete' ? d.on : '']),
    [
      ['d', 'copy', 'b'],
      ['d/x', 'delete', 'b'],
      ['d/y', 'delete', 'b'],
      ['d/z', 'copy', 'b'],
    ],
    'd stays (recreated on a) with only the new file',
  );
  // a deleted d, b left it alone: all of it goes
  const j = input([], base, base);
  t.same(
    planTwoWay(j).map((d) => [d.path, d.do]),
    [
      ['d', 'delete'],
      ['d/x', 'delete'],
      ['d/y', 'delete'],
    ],
  );
  // a mode change on one side travels as metadata
  const k = input([dir('d', 0o700), file('d/x', 1, T0), file('d/y', 1, T0)], base, base);
  t.same(planTwoWay(k), [{ path: 'd', do: 'copy', from: 'a', why: 'meta' }]);
});

t.test('a side with read errors deletes nothing by its absences', async (t) => {
  const base = [file('p', 10, T0)];
  const i = input([], [file('p', 10, T0)], base, { unsure: { a: true, b: false } });
  t.same(planTwoWay(i), [{ path: 'p', do: 'hold' }]);
  t.same([...nextBaseline(i, planTwoWay(i), new Set())], base, 'a held deletion keeps its baseline entry');
});

t.test('the next baseline records what completed and keeps the rest', async (t) => {
  const base = [file('p', 10, T0), file('q', 10, T0)];
  const i = input([file('p', 11, T0 + S), file('q', 10, T0)], [file('p', 10, T0)], base);
  const ds = planTwoWay(i);
  t.same(
    ds.map((d) => [d.path, d.do]),
    [
      ['p', 'copy'],
      ['q', 'delete'],
    ],
  );
  t.same([...nextBaseline(i, ds, new Set())], [file('p', 11, T0 + S)], 'done: p as a has it, q gone');
  t.same([...nextBaseline(i, ds, new Set(['p']))], [file('p', 10, T0)], 'p failed: its old entry stays, so the next run tries again');
  // a conflict records both versions
  const c = input([file('p', 11, T0 + S)], [file('p', 12, T0 + 2 * S)], [file('p', 10, T0)]);
  const cd = planTwoWay(c);
  const copy = (cd[0] as Extract<Decision, { do: 'conflict' }>).copy;
  t.same([...nextBaseline(c, cd, new Set())], [file('p', 12, T0 + 2 * S), file(copy, 11, T0 + S)].sort((x, y) => (x.path < y.path ? -1 : 1)));
});

t.test('conflict copy names', async (t) => {
  const us = Date.UTC(2026, 10, 23, 9, 8, 7) * 1000;
  t.equal(conflictName('notes.txt', 'laptop', us, new Set()), 'notes.conflict-laptop-20261123-090807.txt');
  t.equal(conflictName('d/Makefile', 'h', us, new Set()), 'd/Makefile.conflict-h-20261123-090807');
  t.equal(conflictName('.bashrc', 'h', us, new Set()), '.bashrc.conflict-h-20261123-090807', 'a leading dot is not an extension');
  t.equal(conflictName('a.txt', 'we ird/host', us, new Set()), 'a.conflict-we_ird_host-20261123-090807.txt', 'host names are made safe');
  t.equal(conflictName('a.txt', 'h', us, new Set(['a.conflict-h-20261123-090807.txt'])), 'a.conflict-h-20261123-090807-2.txt', 'never an existing name');
  const long = conflictName(`${'é'.repeat(120)}.txt`, 'h', us, new Set());
  t.ok(Buffer.byteLength(long) <= 255, 'within the 255-byte name limit');
  t.match(long, /\.conflict-h-20261123-090807\.txt$/);
});
