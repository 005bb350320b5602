// Moves in bundles: content the receiver already holds (a renamed 100 MB
// directory, a moved file, two swapped files) travels as a copy instruction,
// not as data, so the bundle stays under 1% of the moved bytes; the applied
// tree equals the sender's.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { runTsync } from '../helpers/run.js';
import { diffSnapshots, snapshot } from '../helpers/tree.js';

const MB = 1 << 20;

t.test('a renamed 100 MB directory, a moved file and swapped files: a tiny bundle, the same tree', async (t) => {
  const dir = t.testdir();
  const dst = path.join(dir, 'dst');
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(dst, 'old-name', 'deeper'), { recursive: true });
  fs.mkdirSync(path.join(dst, 'x'));
  let moved = 0;
  for (let i = 0; i < 10; i++) {
    fs.writeFileSync(path.join(dst, 'old-name', i % 2 ? 'deeper' : '', `f${i}.bin`), randomBytes(10 * MB));
    moved += 10 * MB;
  }
  fs.writeFileSync(path.join(dst, 'x', 'moved.bin'), randomBytes(MB));
  fs.writeFileSync(path.join(dst, 'a.bin'), randomBytes(2 * MB));
  fs.writeFileSync(path.join(dst, 'b.bin'), randomBytes(2 * MB));
  fs.writeFileSync(path.join(dst, 'same.txt'), 'unchanged\n');
  moved += 5 * MB;
  fs.cpSync(dst, src, { recursive: true, preserveTimestamps: true });
  fs.renameSync(path.join(src, 'old-name'), path.join(src, 'new-name'));
  fs.mkdirSync(path.join(src, 'm'));
  fs.renameSync(path.join(src, 'x', 'moved.bin'), path.join(src, 'm', 'moved.bin'));
  fs.renameSync(path.join(src, 'a.bin'), path.join(src, 'tmp'));
  fs.renameSync(path.join(src, 'b.bin'), path.join(src, 'a.bin'));
  fs.renameSync(path.join(src, 'tmp'), path.join(src, 'b.bin'));
  fs.utimesSync(src, 1_500_000_000, 1_500_000_000);

  const m = path.join(dir, 'manifest');
  const b = path.join(dir, 'b.tar');
  t.equal((await runTsync(['manifest', dst, '-o', m])).code, 0, 'manifest');
  const r = await runTsync(['bundle', '-v', '--delete', `${src}/`, '--against', m, '-o', b]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /0 files sent .* 13 copied or moved/, `the bundle copies, sends nothing: ${r.stderr.trim()}`);
  const size = fs.statSync(b).size;
  t.ok(size <= moved / 100, `bundle ${size} bytes <= 1% of the ${moved} bytes moved`);
  t.comment(`bundle: ${size} bytes for ${moved} bytes moved (${((100 * size) / moved).toFixed(4)}%)`);

  const a = await runTsync(['apply', '-i', b, dst]);
  t.equal(a.code, 0, a.stderr);
  t.match(a.stdout, /^>f\+{9} new-name\/f0\.bin$/m, 'the moved files are itemized as new at their new place');
  t.match(a.stdout, /^\*deleting +old-name\/$/m, 'the old directory is deleted');
  const d = diffSnapshots(await snapshot(src, { includeRoot: true }), await snapshot(dst, { includeRoot: true }), { labels: ['src', 'dst'] });
  t.same(d, [], 'the applied tree equals the sender');
});
