// The sender's packed file table (lib/tree/listed): every file listed is
// given back by its index with its entry and absolute path, exactly as the
// scan made them; directories, links and indexes never listed are not files.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ListedFiles } from '../../lib/tree/listed.js';
import { Filter } from '../../lib/tree/filter.js';
import { Scanner, type ScannedFile } from '../../lib/tree/scan.js';
import { encodeEntries, type Entry } from '../../lib/wire/schema.js';
import { makeRandomTree } from '../helpers/tree.js';

function table(batches: ScannedFile[][]): ListedFiles {
  const l = new ListedFiles();
  for (const b of batches) l.add(b, encodeEntries(b.map((f) => f.entry)));
  return l;
}

t.test('a scanned tree, several sources: each file by its index, the rest not files', async (t) => {
  const dir = t.testdir();
  await makeRandomTree(path.join(dir, 'one'), 3, { files: 300, bigFiles: 0 });
  fs.writeFileSync(path.join(dir, 'single.txt'), 'x');
  fs.mkdirSync(path.join(dir, 'two'));
  fs.writeFileSync(path.join(dir, 'two', 'f'), 'y');
  const sources = [
    { abs: path.join(dir, 'one'), contents: true },
    { abs: path.join(dir, 'single.txt'), contents: false },
    { abs: path.join(dir, 'two'), contents: false },
  ];
  const batches = [...new Scanner(Filter.create([], { ignoreFiles: false }), () => {}).scan(sources)];
  const all = batches.flat();
  const l = table(batches);
  let files = 0;
  all.forEach((f, i) => {
    const got = l.get(i);
    if (f.entry.type === 'f') {
      files++;
      if (!got || got.abs !== f.abs || JSON.stringify(got.entry) !== JSON.stringify(f.entry)) t.fail(`file ${i} ${f.entry.path}: ${JSON.stringify(got)}`);
    } else if (got) t.fail(`entry ${i} (${f.entry.type}) is not a file`);
  });
  t.ok(files > 100, `${files} files given back as listed`);
  // out of order too, as a multi-round delta asks
  for (let i = all.length - 1; i >= 0; i -= 7) t.equal(l.get(i)?.abs, all[i].entry.type === 'f' ? all[i].abs : undefined);
  t.equal(l.get(all.length), undefined, 'past the end');
  t.equal(l.get(-1), undefined);
});

t.test('files whose absolute paths share no prefix are kept as given', async (t) => {
  const e = (p: string): Entry => ({ path: p, type: 'f', mode: 0o644, size: 1, mtime: 5 });
  const batch: ScannedFile[] = [
    { entry: { path: '.', type: 'd', mode: 0o755, size: 0, mtime: 0 }, abs: '/r' },
    { entry: e('a'), abs: '/r/a' },
    { entry: e('b'), abs: '/elsewhere/b' },
    { entry: e('c'), abs: '/odd-name' },
  ];
  const l = table([[{ entry: { path: 'd', type: 'd', mode: 0o755, size: 0, mtime: 0 }, abs: '/r/d' }], batch]);
  t.same(
    [0, 1, 2, 3, 4].map((i) => l.get(i)?.abs),
    [undefined, undefined, '/r/a', '/elsewhere/b', '/odd-name'],
  );
});
