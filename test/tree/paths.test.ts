import t from 'tap';
import { baseOf, checkRelPath, parentOf, under } from '../../lib/tree/paths.js';
import { LIMITS } from '../../lib/wire/schema.js';
import { Rng } from '../helpers/tree.js';

t.test('checkRelPath accepts ordinary relative paths', async (t) => {
  const ok = [
    '.',
    'a',
    'a/b',
    'a/b/c.txt',
    '.hidden',
    'a/.hidden/b',
    '..x',
    'x..',
    '...',
    'a/.../b',
    '.a/..b',
    'with space',
    ' leading and trailing ',
    'line\nbreak',
    'tab\there',
    'carriage\rreturn',
    '-rf',
    '--delete',
    'a/-x',
    'back\\slash',
    'colon:name',
    'star*and?brackets[]',
    'café',
    'cafe\u0301',
    '日本語/ファイル',
    '😀',
    '\u00a0nbsp',
    'x'.repeat(LIMITS.path),
    'é'.repeat(LIMITS.path / 2), // exactly the limit in bytes
    ('d'.repeat(254) + '/').repeat(15) + 'f',
  ];
  for (const p of ok) t.equal(checkRelPath(p), null, JSON.stringify(p.length > 40 ? p.slice(0, 40) + '…' : p));
});

t.test('checkRelPath rejects unsafe or malformed paths, with a reason', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['', /empty path/],
    ['/', /absolute/],
    ['/abs', /absolute/],
    ['/etc/passwd', /absolute/],
    ['//x', /absolute/],
    ['a//b', /empty path component/],
    ['a/', /empty path component/],
    ['a/b/', /empty path component/],
    ['./a', /"\." component/],
    ['a/.', /"\." component/],
    ['a/./b', /"\." component/],
    ['..', /"\.\." component/],
    ['../a', /"\.\." component/],
    ['a/..', /"\.\." component/],
    ['a/../b', /"\.\." component/],
    ['a/b/../../..', /"\.\." component/],
    ['./', /component/],
    ['a\0b', /NUL/],
    ['\0', /NUL/],
    ['a/\0', /NUL/],
    ['x'.repeat(LIMITS.path + 1), /too long/],
    ['é'.repeat(LIMITS.path / 2 + 1), /too long/], // 2050 characters but 4098 bytes
    ['😀'.repeat(LIMITS.path / 4 + 1), /too long/],
    ['a/'.repeat(3000), /too long/],
  ];
  for (const [p, re] of bad) {
    const why = checkRelPath(p);
    t.type(why, 'string', `${JSON.stringify(p.slice(0, 30))} is refused`);
    t.match(why ?? '', re, `${JSON.stringify(p.slice(0, 30))}: ${why}`);
  }
});

t.test('every way to reach a parent is refused', async (t) => {
  // all joins of the components below that contain '..' or '.' or '' as a component
  const parts = ['a', '..', '.', ''];
  let refused = 0;
  let total = 0;
  for (const x of parts) for (const y of parts) for (const z of parts) {
    const p = [x, y, z].join('/');
    const expectBad = [x, y, z].some((c) => c === '..' || c === '.' || c === '');
    total++;
    if ((checkRelPath(p) !== null) === expectBad) refused++;
    else t.fail(`wrong verdict for ${JSON.stringify(p)}: ${checkRelPath(p)}`);
  }
  t.equal(refused, total);
});

t.test('parentOf and baseOf', async (t) => {
  const rows: Array<[string, string, string]> = [
    ['a', '.', 'a'],
    ['a/b', 'a', 'b'],
    ['a/b/c', 'a/b', 'c'],
    ['dir/-x', 'dir', '-x'],
    ['日本/語', '日本', '語'],
  ];
  for (const [p, parent, base] of rows) {
    t.equal(parentOf(p), parent, `parentOf(${p})`);
    t.equal(baseOf(p), base, `baseOf(${p})`);
  }
});

t.test('under joins without normalising', async (t) => {
  t.equal(under('/root', '.'), '/root');
  t.equal(under('/root', 'a/b'), '/root/a/b');
  t.equal(under('/root/', 'a'), '/root/a');
  t.equal(under('/', 'a'), '/a');
  t.equal(under('rel', '-x'), 'rel/-x');
});

t.test('checkRelPath agrees with the rules spelled out one by one, on random paths', async (t) => {
  // the rules as the comment above checkRelPath states them, without its fast path
  const reference = (p: string): boolean =>
    p === '.' || (p.length > 0 && Buffer.byteLength(p) <= LIMITS.path && !p.includes('\0') && !p.startsWith('/') && p.split('/').every((c) => c !== '' && c !== '.' && c !== '..'));
  const rng = new Rng(4242);
  const alphabet = ['a', 'b', '/', '.', '..', '\0', 'é', '😀', ' ', '-'];
  let disagreements = 0;
  for (let i = 0; i < 20_000; i++) {
    const n = rng.int(0, 8);
    let p = '';
    for (let k = 0; k < n; k++) p += alphabet[rng.int(0, alphabet.length - 1)];
    if ((checkRelPath(p) === null) !== reference(p)) disagreements++;
  }
  for (const p of ['x'.repeat(LIMITS.path), 'x'.repeat(LIMITS.path + 1), 'é'.repeat(2048), 'é'.repeat(2049), '😀'.repeat(1024), '😀'.repeat(1025)]) {
    if ((checkRelPath(p) === null) !== reference(p)) disagreements++;
  }
  t.equal(disagreements, 0);
});
