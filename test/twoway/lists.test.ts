// What each side of a two-way run does, from the plan's decisions
// (lib/twoway/lists.ts): the operations on each replica, the pull map, the
// push list in manifest order with the directories above each entry, and
// the "nothing changed since the baseline" check that lets a re-run skip
// writing a new baseline.

import t from 'tap';
import { TwOp, type Entry } from '../../lib/wire/schema.js';
import { TreeBuilder, type SortedTree } from '../../lib/tree/packed.js';
import type { Decision } from '../../lib/plan/twoway.js';
import { asBefore, holds, opsOn, pullMap, pushList } from '../../lib/twoway/lists.js';

const T = 1_600_000_000_000_000;
const f = (path: string, size = 1, mtime = T, mode = 0o644): Entry => ({ path, type: 'f', mode, size, mtime });
const d = (path: string, mode = 0o755): Entry => ({ path, type: 'd', mode, size: 0, mtime: T });

function tree(...entries: Entry[]): SortedTree {
  const b = new TreeBuilder((p) => new Error(`duplicate ${p}`));
  for (const e of entries) b.add(e);
  return b.finish();
}

const A = tree(d('x'), f('x/one'), f('x/two'), f('gone-there'), f('both', 2), f('merge', 3, T, 0o600), d('deep'), d('deep/er'), f('deep/er/file'));
const B = tree(d('x'), f('x/one'), f('gone-here'), f('both', 5), f('merge', 4), d('deep'), d('deep/er', 0o700));
const input = { a: A, b: B, base: null, offsetUs: 0, windowUs: 0 };

const decisions: Decision[] = [
  { path: 'gone-here', do: 'delete', on: 'b' },
  { path: 'gone-there', do: 'delete', on: 'a' },
  { path: 'both', do: 'conflict', winner: 'a', copy: 'both.conflict-b' },
  { path: 'x/two', do: 'copy', from: 'a', why: 'new' },
  { path: 'deep/er/file', do: 'copy', from: 'a', why: 'new' },
  { path: 'merge', do: 'copy', from: 'b', why: 'merged', mode: 0o600 },
];

t.test('opsOn: each side deletes what the plan deletes there and moves its losing versions aside, deepest first', async (t) => {
  const onA = opsOn('a', decisions, input);
  t.same(
    onA.map((o) => [o.op, o.path, o.to]),
    [[TwOp.Delete, 'gone-there', '']],
    'a deletes gone-there and loses no conflict',
  );
  t.same(onA[0].expect, A.get('gone-there'), 'an op carries the entry it expects to find (nothing changed meanwhile)');
  const onB = opsOn('b', decisions, input);
  t.same(
    onB.map((o) => [o.op, o.path, o.to]),
    [
      [TwOp.Delete, 'gone-here', ''],
      [TwOp.Rename, 'both', 'both.conflict-b'],
    ],
    'b deletes gone-here and moves its losing "both" to the conflict name, in reverse path order',
  );
  const many = opsOn('b', ['a', 'a/b', 'a/b/c'].map((p) => ({ path: p, do: 'delete', on: 'b' }) as Decision), { ...input, b: tree(d('a'), d('a/b'), f('a/b/c')) });
  t.same(many.map((o) => o.path), ['a/b/c', 'a/b', 'a'], 'contents before their directory');
});

t.test('pullMap: b\'s versions that come here, under which name', async (t) => {
  const m = pullMap(decisions, new Set());
  t.same([...m].sort(), [['both', 'both.conflict-b'], ['merge', 'merge']], 'a copy from b and, for a conflict a wins, b\'s version under its conflict name');
  const lost: Decision[] = [{ path: 'c', do: 'conflict', winner: 'b', copy: 'c.conflict-a' }];
  t.same([...pullMap(lost, new Set())], [['c', 'c']], 'a conflict b wins: b\'s version at the path');
  t.same([...pullMap(lost, new Set(['c']))], [], 'unless ours could not be moved aside: taking theirs would lose it');
});

t.test('pushList: b\'s root first, then what goes to b in path order, each with the directories above it as b has them', async (t) => {
  const list = pushList(decisions, { root: '/r', rootEntry: d('.'), entries: A }, B, d('.', 0o700), new Set());
  t.same(
    list.map((s) => s.entry.path),
    ['.', 'both', 'deep', 'deep/er', 'deep/er/file', 'merge', 'x', 'x/two'],
    'root, then sorted paths with their parents',
  );
  t.equal(list[0].entry.mode, 0o700, 'b\'s own root entry (its mode stays)');
  t.equal(list.find((s) => s.entry.path === 'deep/er')!.entry.mode, 0o700, 'a directory above is sent as b has it, so it stays as it is');
  t.equal(list.find((s) => s.entry.path === 'deep/er/file')!.abs, '/r/deep/er/file', 'read from our replica');
  t.same(list.find((s) => s.entry.path === 'merge')!.entry, { ...B.get('merge')!, mode: 0o600 }, 'a merge pushes b\'s content entry with the merged mode (only the mode changes there)');
  t.equal(list.find((s) => s.entry.path === 'both')!.entry.size, 2, 'a conflict we win: our version');
  const bWins: Decision[] = [{ path: 'both', do: 'conflict', winner: 'b', copy: 'both.conflict-a' }];
  const loser = pushList(bWins, { root: '/r', rootEntry: d('.'), entries: A }, B, undefined, new Set());
  t.same(
    loser.map((s) => [s.entry.path, s.abs]),
    [
      ['.', '/r'],
      ['both.conflict-a', '/r/both.conflict-a'],
    ],
    'a conflict b wins: our version goes under its conflict name, and our root stands in for a root b lacks',
  );
  t.same(pushList(bWins, { root: '/r', rootEntry: d('.'), entries: A }, B, undefined, new Set(['both'])).length, 1, 'nothing for a path whose move failed');
});

t.test('holds and asBefore: both sides exactly as the baseline says', async (t) => {
  const base = tree(d('x'), f('x/one'), f('y', 2));
  t.ok(holds(base, tree(d('x'), f('x/one'), f('y', 2))), 'the same entries');
  t.notOk(holds(base, tree(d('x'), f('x/one'), f('y', 3))), 'a size changed');
  t.notOk(holds(base, tree(d('x'), f('x/one'), f('y', 2, T + 1))), 'an mtime changed');
  t.notOk(holds(base, tree(d('x'), f('x/one'))), 'one missing');
  t.notOk(holds(base, tree(d('x'), f('x/one'), f('y', 2), f('z'))), 'one more');
  t.ok(asBefore(base, { a: tree(d('x'), f('x/one'), f('y', 2)), b: tree(d('q'), f('r'), f('s')) }), 'a as the baseline, b by its count (its entries came as a diff against it)');
  t.notOk(asBefore(base, { a: tree(d('x'), f('x/one'), f('y', 2)), b: tree(d('q')) }), 'b\'s count differs');
});
