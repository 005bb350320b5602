// MoveIndex: what a receiver holds, for moves. The walk takes regular files
// only (no link, nothing under a link, nothing of tsync's own, nothing the
// caller skips), and the picks: same size by name similarity, and a fuzzy
// basis by base name, then by a similar name in the same directory.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { MoveIndex, MOVE_MIN, MAX_HASHED, similarity } from '../../lib/oneway/move-index.js';
import { realFs } from '../../lib/fs/seam.js';

function write(root: string, rel: string, size: number): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), Buffer.alloc(size, 7));
}

t.test('the walk: regular files of at least MOVE_MIN bytes, no links, no reserved names, nothing skipped', async (t) => {
  const sb = t.testdir();
  const root = path.join(sb, 'root');
  const outside = path.join(sb, 'outside');
  write(outside, 'secret.bin', 1000);
  write(root, 'a/one.bin', 1000);
  write(root, 'b/two.bin', 1000);
  write(root, 'tiny.txt', MOVE_MIN - 1);
  write(root, 'a/.tsync-tmp-x-000000000000', 1000);
  write(root, '.tsync/moves-abc/0', 1000);
  write(root, 'bak/old.bin', 1000);
  fs.symlinkSync(path.join(outside, 'secret.bin'), path.join(root, 'link.bin'));
  fs.symlinkSync(outside, path.join(root, 'linkdir'));
  const ix = MoveIndex.build(root, realFs, (rel) => rel === 'bak', [{ rel: 'gone/three.bin', abs: path.join(root, '.tsync/moves-abc/0') }]);
  const found = ix.sameSize(1000, 'new.bin').map((c) => `${c.rel}${c.gone ? ' (set aside)' : ''}`).sort();
  t.same(found, ['a/one.bin', 'b/two.bin', 'gone/three.bin (set aside)'], 'only real files inside the root, and the set-aside one');
  t.notOk(ix.hasSameSize(MOVE_MIN - 1, 'x'), 'a file under MOVE_MIN is not a candidate');
  t.same(ix.sameSize(1000, 'a/one.bin').map((c) => c.rel).includes('a/one.bin'), false, 'a file is not its own candidate');
});

t.test('same size: the most similar names first, at most MAX_HASHED', async (t) => {
  const root = t.testdir();
  for (let i = 0; i < MAX_HASHED + 5; i++) write(root, `d${i}/file${i}.dat`, 300);
  write(root, 'x/report.pdf', 300);
  const ix = MoveIndex.build(root, realFs, () => false, []);
  const got = ix.sameSize(300, 'y/report.pdf');
  t.equal(got.length, MAX_HASHED, 'capped');
  t.equal(got[0].rel, 'x/report.pdf', 'the same base name first');
});

t.test('fuzzy: the same base name elsewhere, else a similar name nearby; sizes within a factor of two', async (t) => {
  const root = t.testdir();
  write(root, 'old/data.db', 40_000);
  write(root, 'docs/draft-1.txt', 30_000);
  write(root, 'docs/unrelated', 30_000);
  write(root, 'docs/huge-draft.txt', 400_000);
  const ix = MoveIndex.build(root, realFs, () => false, []);
  t.equal(ix.fuzzy('new/data.db', 41_000, 16384)?.rel, 'old/data.db', 'same base name in another directory');
  t.equal(ix.fuzzy('docs/draft-2.txt', 31_000, 16384)?.rel, 'docs/draft-1.txt', 'a similar name in the same directory');
  t.equal(ix.fuzzy('docs/zzz', 31_000, 16384), null, 'a name with nothing in common: no basis');
  t.equal(ix.fuzzy('new/data.db', 200_000, 16384), null, 'too different in size');
  t.equal(ix.fuzzy('new/data.db', 41_000, 50_000), null, 'below the minimum basis size');
});

t.test('similarity', async (t) => {
  t.ok(similarity('a/x.bin', 'b/x.bin') > similarity('a/x.bin', 'a/x2.bin'), 'the same base name beats a similar one');
  t.ok(similarity('a/report-1.pdf', 'a/report-2.pdf') > similarity('a/report-1.pdf', 'a/zzz'), 'shared prefix and suffix count');
  t.equal(similarity('a/abc', 'b/xyz'), 0, 'nothing in common');
});
