// The sender's tree walk (lib/tree/scan.ts): entries come in manifest order
// (design.md §6: the root '.', then per directory its non-directories by
// name, then each subdirectory and everything below it), checked against an
// order computed here independently; reserved names are never listed;
// --exclude rules and .tsyncignore files leave paths out and excluded
// directories are not entered; symlinks are listed, never followed; what
// cannot be read is a warning counted as an I/O error; special files are
// skipped with a warning; entry fields carry type, mode, size and mtime (µs).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Filter } from '../../lib/tree/filter.js';
import { parseRuleArg, type CliRule } from '../../lib/tree/rsync-rules.js';
import { Scanner, type ScanWarning, type Source } from '../../lib/tree/scan.js';
import type { Entry } from '../../lib/wire/schema.js';

function scan(sources: Source[] | string, filter = Filter.create([])) {
  const warnings: ScanWarning[] = [];
  const scanner = new Scanner(filter, (w) => void warnings.push(w));
  const srcs = typeof sources === 'string' ? [{ abs: sources, contents: true }] : sources;
  const entries: Entry[] = [...scanner.scan(srcs)].flat().map((f) => f.entry);
  return { entries, paths: entries.map((e) => e.path), warnings, ioErrors: scanner.warnings };
}

/** a tree from a spec: 'name/' a directory, 'name' a file with its own name as content */
function build(root: string, spec: string[]): void {
  for (const p of spec) {
    const abs = path.join(root, p);
    if (p.endsWith('/')) fs.mkdirSync(abs, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, p);
    }
  }
}

const rules = (...args: string[]): CliRule[] => args.map((a) => parseRuleArg(a, 'exclude')!);

/**
 * Manifest order as a comparator on whole paths, independent of the
 * scanner's recursion: an ancestor first; else at the first component
 * where they differ, a non-directory before a directory, then by name
 * (UTF-16 code units, design.md §6).
 */
function manifestCompare(a: Entry, b: Entry): number {
  if (a.path === '.') return -1;
  if (b.path === '.') return 1;
  const pa = a.path.split('/');
  const pb = b.path.split('/');
  let i = 0;
  while (i < pa.length && i < pb.length && pa[i] === pb[i]) i++;
  if (i === pa.length) return -1;
  if (i === pb.length) return 1;
  const dirA = i < pa.length - 1 || a.type === 'd' ? 1 : 0;
  const dirB = i < pb.length - 1 || b.type === 'd' ? 1 : 0;
  if (dirA !== dirB) return dirA - dirB;
  return pa[i] < pb[i] ? -1 : 1;
}

t.test('entries come in manifest order: root, non-directories by name, then each directory and its subtree', async (t) => {
  const dir = t.testdir();
  build(dir, ['b', 'a.txt', 'a', 'B', 'a-1', 'a0', '_x', 'é', 'z/', 'z/2', 'z/10', 'z/y/', 'z/y/f', 'a.d/', 'a.d/inner', 'A/', 'c/', 'c.txt']);
  fs.symlinkSync('z', path.join(dir, 'link-to-z'));
  const { paths, entries, warnings } = scan(dir);
  t.same(paths, [
    '.', 'B', '_x', 'a', 'a-1', 'a.txt', 'a0', 'b', 'c.txt', 'link-to-z', 'é',
    'A', 'a.d', 'a.d/inner', 'c', 'z', 'z/10', 'z/2', 'z/y', 'z/y/f',
  ], 'the order rsync lists this tree in');
  t.same(paths, [...entries].sort(manifestCompare).map((e) => e.path), 'the same order as the independent comparator');
  t.same(warnings, []);
  // every directory before anything inside it
  const seen = new Set<string>(['.']);
  for (const p of paths.slice(1)) {
    const parent = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '.';
    if (!seen.has(parent)) t.fail(`${p} listed before its directory ${parent}`);
    seen.add(p);
  }
});

t.test('a larger tree: each directory\'s non-directories and directories come in increasing order', async (t) => {
  const dir = t.testdir();
  const names = ['q', 'Q', 'q.q', 'q_', '0', '~', 'ü', 'Ω', 'q-', 'qq'];
  const spec: string[] = [];
  for (const top of names) {
    spec.push(`${top}/`);
    for (const n of names) spec.push(n === top ? `${top}/${n}/` : `${top}/${n}`);
  }
  build(dir, [...spec, ...names.map((n) => `${n}.file`)]);
  const { entries } = scan(dir);
  t.equal(entries.length, 1 + names.length * (names.length + 2), 'the root, and per name a file, a directory, its 9 files and 1 subdirectory');
  t.same(entries.map((e) => e.path), [...entries].sort(manifestCompare).map((e) => e.path));
});

t.test('names outside the BMP sort by UTF-16 code units (design.md §6), unlike rsync\'s byte order', async (t) => {
  const dir = t.testdir();
  // U+FF01 is EF BC 81 in UTF-8 and FF01 in UTF-16; U+1F600 is F0 9F 98 80 and D83D DE00
  build(dir, ['\uFF01', '\u{1F600}']);
  t.same(scan(dir).paths, ['.', '\u{1F600}', '\uFF01'], 'rsync would list \uFF01 first');
});

t.test('reserved names are never listed: .tsync at the root, temp files anywhere', async (t) => {
  const dir = t.testdir();
  build(dir, ['.tsync/', '.tsync/state', '.tsync-tmp-abc', '.tsync-partial-abc', 'keep', 'sub/.tsync/', 'sub/.tsync/x',
    'sub/.tsync-tmp-1', 'sub/deep/.tsync-partial-2', 'sub/deep/ok', '.tsync-tmp-dir/', '.tsync-tmp-dir/inside']);
  const { paths, warnings } = scan(dir);
  t.same(paths, ['.', 'keep', 'sub', 'sub/.tsync', 'sub/.tsync/x', 'sub/deep', 'sub/deep/ok'], '.tsync below the root is an ordinary name');
  t.same(warnings, []);
  // a source named without a trailing slash: its own .tsync is still its state
  const named = scan([{ abs: dir, contents: false }]).paths.map((p) => p.slice(path.basename(dir).length));
  t.same(named, ['', '/keep', '/sub', '/sub/.tsync', '/sub/.tsync/x', '/sub/deep', '/sub/deep/ok']);
});

t.test('--exclude rules leave out paths, and an excluded directory is not entered', async (t) => {
  const dir = t.testdir();
  build(dir, ['main.c', 'main.o', 'build/', 'build/keep.o', 'build/inner/', 'build/inner/x', 'src/', 'src/build', 'src/a.o', 'src/a.c', 'src/sub/build/', 'src/sub/build/x']);
  // a FIFO inside the excluded directory would be warned about if it were read
  execFileSync('mkfifo', [path.join(dir, 'build', 'fifo')]);
  const { paths, warnings } = scan(dir, Filter.create(rules('build/', '*.o')));
  t.same(paths, ['.', 'main.c', 'src', 'src/a.c', 'src/build', 'src/sub'], "'build/' matches directories only, at any depth");
  t.same(warnings, [], 'nothing under build/ was looked at');
  // an include before the exclude wins (first match decides); still nothing under build/
  const kept = scan(dir, Filter.create([parseRuleArg('+ main.o', 'exclude')!, ...rules('*.o', '/build')])).paths;
  t.same(kept, ['.', 'main.c', 'main.o', 'src', 'src/a.c', 'src/build', 'src/sub', 'src/sub/build', 'src/sub/build/x'], "'/build' is anchored at the root");
});

t.test('.tsyncignore files are honoured per directory, and not when ignore files are off', async (t) => {
  const dir = t.testdir();
  build(dir, ['a.log', 'b.txt', 'tmp/', 'tmp/keep', 'sub/', 'sub/c.log', 'sub/keep.log', 'sub/secret', 'secret', 'other/', 'other/d.log']);
  fs.writeFileSync(path.join(dir, '.tsyncignore'), '*.log\ntmp/\n!tmp/keep\n');
  fs.writeFileSync(path.join(dir, 'sub', '.tsyncignore'), '!keep.log\nsecret\n');
  const on = scan(dir).paths;
  t.same(on, ['.', '.tsyncignore', 'b.txt', 'secret', 'other', 'sub', 'sub/.tsyncignore', 'sub/keep.log'],
    'the deepest file decides first; a file cannot re-include what is under an excluded directory');
  const off = scan(dir, Filter.create([], { ignoreFiles: false })).paths;
  t.same(off, ['.', '.tsyncignore', 'a.log', 'b.txt', 'secret', 'other', 'other/d.log', 'sub', 'sub/.tsyncignore',
    'sub/c.log', 'sub/keep.log', 'sub/secret', 'tmp', 'tmp/keep']);
});

t.test('symlinks are listed as links with their target and never followed', async (t) => {
  const dir = t.testdir();
  build(dir, ['tree/real/', 'tree/real/file', 'outside/', 'outside/secret']);
  const tree = path.join(dir, 'tree');
  fs.symlinkSync('real', path.join(tree, 'to-dir'));
  fs.symlinkSync(path.join(dir, 'outside'), path.join(tree, 'to-outside'));
  fs.symlinkSync('nowhere', path.join(tree, 'dangling'));
  fs.symlinkSync('.', path.join(tree, 'loop'));
  // below the top too (the scanner reads the top and the directories below it on different paths)
  fs.symlinkSync('../../outside', path.join(tree, 'real', 'out'));
  const { entries, warnings, ioErrors } = scan(tree);
  t.same(entries.map((e) => e.path), ['.', 'dangling', 'loop', 'to-dir', 'to-outside', 'real', 'real/file', 'real/out']);
  const links = entries.filter((e) => e.type === 'l');
  t.same(links.map((e) => [e.path, e.target, e.mode, e.size]), [
    ['dangling', 'nowhere', 0o777, 0],
    ['loop', '.', 0o777, 0],
    ['to-dir', 'real', 0o777, 0],
    ['to-outside', path.join(dir, 'outside'), 0o777, 0],
    ['real/out', '../../outside', 0o777, 0],
  ]);
  t.same([warnings, ioErrors], [[], 0]);
  // a source named without a slash that is a link is a link; with a slash it is followed (rsync's rule)
  fs.symlinkSync('tree', path.join(dir, 'alias'));
  t.match(scan([{ abs: path.join(dir, 'alias'), contents: false }]).entries, [{ path: 'alias', type: 'l', target: 'tree' }]);
  t.equal(scan([{ abs: path.join(dir, 'alias'), contents: true }]).entries.length, entries.length);
});

const asRoot = process.getuid?.() === 0 && 'running as root: a directory with mode 000 stays readable to root';
t.test('an unreadable directory is a warning and an I/O error, not a crash', { skip: asRoot }, async (t) => {
  const dir = t.testdir();
  build(dir, ['a', 'locked/', 'locked/hidden', 'z/', 'z/after']);
  fs.chmodSync(path.join(dir, 'locked'), 0);
  let result: ReturnType<typeof scan>;
  try {
    result = scan(dir);
  } finally {
    fs.chmodSync(path.join(dir, 'locked'), 0o755); // so that the sandbox can be removed
  }
  const { paths, warnings, ioErrors } = result;
  t.same(paths, ['.', 'a', 'locked', 'z', 'z/after'], 'the directory itself is listed, the rest of the tree too');
  t.equal(ioErrors, 1);
  t.match(warnings, [{ path: 'locked', code: 'E_PARTIAL', message: /permission denied|EACCES/i }]);
});

t.test('a missing source is a warning and an I/O error; the other sources are still listed', async (t) => {
  const dir = t.testdir({ real: { f: 'x' } });
  const { paths, warnings, ioErrors } = scan([{ abs: path.join(dir, 'gone'), contents: false }, { abs: path.join(dir, 'real'), contents: false }]);
  t.same(paths, ['real', 'real/f']);
  t.equal(ioErrors, 1);
  t.match(warnings, [{ path: path.join(dir, 'gone'), code: 'E_PARTIAL' }]);
});

t.test('a FIFO is skipped with a warning, which is not an I/O error', async (t) => {
  const dir = t.testdir({ a: 'a', sub: { b: 'b' } });
  execFileSync('mkfifo', [path.join(dir, 'pipe'), path.join(dir, 'sub', 'pipe2')]);
  const { paths, warnings, ioErrors } = scan(dir);
  t.same(paths, ['.', 'a', 'sub', 'sub/b']);
  t.same(warnings, [
    { path: 'pipe', code: 'SKIP_SPECIAL', message: 'skipping non-regular file' },
    { path: 'sub/pipe2', code: 'SKIP_SPECIAL', message: 'skipping non-regular file' },
  ]);
  t.equal(ioErrors, 0, 'rsync does not count it as an I/O error either');
});

t.test('entry fields: type, permission bits, size, mtime in microseconds', async (t) => {
  const dir = t.testdir();
  build(dir, ['file', 'empty', 'd/', 'sticky/']);
  fs.writeFileSync(path.join(dir, 'file'), 'hello');
  fs.writeFileSync(path.join(dir, 'empty'), '');
  fs.chmodSync(path.join(dir, 'file'), 0o4751);
  fs.chmodSync(path.join(dir, 'empty'), 0o600);
  fs.chmodSync(path.join(dir, 'd'), 0o750);
  fs.chmodSync(path.join(dir, 'sticky'), 0o1777);
  fs.symlinkSync('file', path.join(dir, 'ln'));
  fs.utimesSync(path.join(dir, 'file'), 1, 1600000000.123456);
  // before the epoch: node's utimes takes a negative time as 'now', touch does not
  execFileSync('touch', ['-m', '-d', '@-1.5', path.join(dir, 'empty')]);
  fs.utimesSync(path.join(dir, 'd'), 1, 1234567890);
  fs.lutimesSync(path.join(dir, 'ln'), 1, 1700000000.25);
  fs.utimesSync(path.join(dir, 'sticky'), 1, 0);
  fs.utimesSync(dir, 1, 42.5);
  const { entries } = scan(dir);
  t.same(entries, [
    { path: '.', type: 'd', mode: fs.statSync(dir).mode & 0o7777, size: 0, mtime: 42500000 },
    { path: 'empty', type: 'f', mode: 0o600, size: 0, mtime: -1500000 },
    { path: 'file', type: 'f', mode: 0o4751, size: 5, mtime: 1600000000123456 },
    { path: 'ln', type: 'l', mode: 0o777, size: 0, mtime: 1700000000250000, target: 'file' },
    { path: 'd', type: 'd', mode: 0o750, size: 0, mtime: 1234567890000000 },
    { path: 'sticky', type: 'd', mode: 0o1777, size: 0, mtime: 0 },
  ]);
});
