// A replica's manifest as changes from the shared baseline (lib/twoway/diff):
// what the client rebuilds from the baseline, the gone list and the sent
// entries must be exactly the replica's tree, and every sent entry must
// come after its directory (the receiver refuses anything else).

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { Filter } from '../../lib/tree/filter.js';
import { Batcher, Scanner, type ScannedFile } from '../../lib/tree/scan.js';
import { parentOf } from '../../lib/tree/paths.js';
import { applyDiff, diffFromBaseline } from '../../lib/twoway/diff.js';
import type { Entry } from '../../lib/wire/schema.js';
import { ArrayTree, PackedTree } from '../../lib/tree/packed.js';
import { makeRandomTree, mutateTree } from '../helpers/tree.js';

function scan(root: string): ScannedFile[][] {
  return [...new Scanner(Filter.create([], { ignoreFiles: false }), () => {}).scan([{ abs: root, contents: true }])];
}

const entries = (batches: ScannedFile[][]): Entry[] => batches.flat().map((f) => f.entry);
const byPath = (list: Iterable<Entry>) => new Map([...list].map((e) => [e.path, e]));
/** a baseline as the replica holds it: sorted, packed, without the root */
const packed = (list: Entry[]) => PackedTree.fromSorted(ArrayTree.of(list.filter((e) => e.path !== '.')).entries(), (p) => new Error(`twice: ${p}`));

/** each sent entry after its directory, the root first, no path twice */
function ordered(sent: Entry[]): string[] {
  const seen = new Set<string>();
  const bad: string[] = [];
  sent.forEach((e, i) => {
    if (i === 0 ? e.path !== '.' : e.path !== '.' && !seen.has(parentOf(e.path)) && parentOf(e.path) !== '.') bad.push(e.path);
    if (seen.has(e.path)) bad.push(`twice: ${e.path}`);
    seen.add(e.path);
  });
  return bad;
}

t.test('nothing changed: the root alone, nothing gone', async (t) => {
  const root = t.testdir();
  await makeRandomTree(root, 7, { files: 60, bigFiles: 0 });
  const base = entries(scan(root));
  const d = diffFromBaseline(scan(root), packed(base));
  t.same(entries(d.batches).map((e) => e.path), ['.']);
  t.same(d.gone, []);
});

t.test('a changed file deep down travels with the directories above it', async (t) => {
  const root = t.testdir();
  fs.mkdirSync(path.join(root, 'a/b/c'), { recursive: true });
  fs.mkdirSync(path.join(root, 'a/z'));
  for (const f of ['a/b/c/deep.txt', 'a/b/c/other.txt', 'a/z/zz.txt', 'top.txt']) fs.writeFileSync(path.join(root, f), 'x');
  const base = entries(scan(root));
  fs.writeFileSync(path.join(root, 'a/b/c/deep.txt'), 'longer now');
  fs.rmSync(path.join(root, 'a/z/zz.txt'));
  const d = diffFromBaseline(scan(root), packed(base));
  const sent = entries(d.batches).map((e) => e.path);
  t.same(sent.filter((p) => p !== 'a/z'), ['.', 'a', 'a/b', 'a/b/c', 'a/b/c/deep.txt'], 'the file, its directories, the root; nothing unchanged besides');
  t.same(
    d.gone.map((e) => e.path),
    ['a/z/zz.txt'],
  );
  t.same(d.gone[0], byPath(base).get('a/z/zz.txt'), 'a gone entry is the baseline entry itself');
});

t.test('random edits: the baseline, less what is gone, plus what is sent, is the tree', async (t) => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const root = path.join(t.testdir(), `s${seed}`);
    await makeRandomTree(root, seed, { files: 80, bigFiles: 0 });
    const base = entries(scan(root));
    const log = await mutateTree(root, seed, { ops: 4 + seed * 3 });
    const now = scan(root);
    const d = diffFromBaseline(now, packed(base));
    const sent = entries(d.batches);
    const rebuilt = applyDiff(packed(base), d.gone, ArrayTree.of(sent));
    const want = ArrayTree.of(entries(now).filter((e) => e.path !== '.'));
    t.same([...rebuilt.entries()], [...want.entries()], `seed ${seed}: rebuilt exactly (${log.length} edits)`);
    t.equal(rebuilt.size, want.size, `seed ${seed}: its size`);
    for (const e of want.entries()) if (rebuilt.get(e.path) !== e && JSON.stringify(rebuilt.get(e.path)) !== JSON.stringify(e)) t.fail(`seed ${seed}: get(${e.path})`);
    t.same(ordered(sent), [], `seed ${seed}: every entry after its directory, the root first`);
    t.ok(sent.length < entries(now).length, `seed ${seed}: ${sent.length} of ${entries(now).length} entries sent`);
  }
});

t.test('sent and gone lists are cut into frame-sized batches', async (t) => {
  const long = 'x'.repeat(2000);
  const many = Array.from({ length: 2500 }, (_, i) => ({ entry: { path: `${long}/${i}`, type: 'f', mode: 0o644, size: 1, mtime: 0 } as Entry }));
  const batches = Batcher.all(many);
  t.ok(batches.length > 20, `${batches.length} batches`);
  t.ok(
    batches.every((b) => b.reduce((n, f) => n + 3 * f.entry.path.length + 40, 0) < (256 << 10) + 3 * 2010 + 40),
    'each under the byte budget (plus at most one entry)',
  );
  t.equal(batches.flat().length, 2500, 'nothing lost');
});

t.test('siblings stay in increasing order: a changed file sends its directories in their places, not when it is reached', async (t) => {
  const { NameGuard, NO_FOLDING } = await import('../../lib/fs/names.js');
  const root = t.testdir();
  fs.mkdirSync(path.join(root, 'a/deep'), { recursive: true });
  fs.mkdirSync(path.join(root, 'c'));
  for (const f of ['a/deep/x.txt', 'b.txt', 'c/y.txt', 'd.txt']) fs.writeFileSync(path.join(root, f), 'x');
  const base = entries(scan(root));
  // the scan lists a directory's files, then each subdirectory with what is below it; a changed file deep down sends its directories in their places
  for (const f of ['a/deep/x.txt', 'b.txt', 'd.txt']) fs.writeFileSync(path.join(root, f), 'changed');
  const sent = entries(diffFromBaseline(scan(root), packed(base)).batches);
  t.same(sent.map((e) => e.path), ['.', 'b.txt', 'd.txt', 'a', 'a/deep', 'a/deep/x.txt'], 'scan order, c left out');
  const guard = new NameGuard(NO_FOLDING, false);
  t.same(sent.map((e) => guard.order(e.path, e.type === 'd')).filter((v) => !v.ok), [], 'the order the receiver checks');
});

t.test('random changes: every diff keeps the sibling order', async (t) => {
  const { NameGuard, NO_FOLDING } = await import('../../lib/fs/names.js');
  for (const seed of [11, 12, 13]) {
    await t.test(`seed ${seed}`, async (t) => {
      const root = t.testdir();
      await makeRandomTree(root, seed, { files: 80, bigFiles: 0 });
      const base = entries(scan(root));
      await mutateTree(root, seed + 100, { ops: 20 });
      const sent = entries(diffFromBaseline(scan(root), packed(base)).batches);
      const guard = new NameGuard(NO_FOLDING, false);
      t.same(sent.map((e) => guard.order(e.path, e.type === 'd')).filter((v) => !v.ok), [], `${sent.length} entries in order`);
    });
  }
});
