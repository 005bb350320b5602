import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Filter, IGNORE_FILE } from '../../lib/tree/filter.js';
import { isReserved } from '../../lib/tree/reserved.js';
import { parseRuleArg, parseRuleFile, type CliRule } from '../../lib/tree/rsync-rules.js';
import { TsyncError } from '../../lib/errors.js';

const RSYNC = '/usr/bin/rsync';
const GIT = '/usr/bin/git';

/** rules from rsync-style arguments: '-P' = --exclude P, '+P' = --include P */
function cli(...args: string[]): CliRule[] {
  const out: CliRule[] = [];
  for (const a of args) {
    const r = parseRuleArg(a.slice(1), a[0] === '+' ? 'include' : 'exclude');
    if (r) out.push(r);
  }
  return out;
}

/** a filter with .tsyncignore texts keyed by directory, applied shallowest first */
function withIgnores(base: Filter, files: Record<string, string>): (p: string) => Filter {
  const dirs = Object.keys(files).sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  return (p: string) => {
    let f = base;
    for (const d of dirs) if (d === '' || p.startsWith(`${d}/`)) f = f.withIgnoreFile(d, files[d]);
    return f;
  };
}

t.test('parseRuleArg: prefixes, clear, empty', async (t) => {
  t.same(parseRuleArg('*.o', 'exclude'), { kind: 'exclude', pattern: '*.o' });
  t.same(parseRuleArg('*.o', 'include'), { kind: 'include', pattern: '*.o' });
  t.same(parseRuleArg('+ *.c', 'exclude'), { kind: 'include', pattern: '*.c' });
  t.same(parseRuleArg('- *.c', 'include'), { kind: 'exclude', pattern: '*.c' });
  t.same(parseRuleArg('+  x', 'exclude'), { kind: 'include', pattern: ' x' }, 'only one space is eaten');
  t.same(parseRuleArg('+x', 'exclude'), { kind: 'exclude', pattern: '+x' }, 'no space: not a prefix');
  t.same(parseRuleArg('!', 'exclude'), { kind: 'clear', pattern: '' });
  t.same(parseRuleArg('!x', 'exclude'), { kind: 'exclude', pattern: '!x' });
  t.same(parseRuleArg('- !', 'exclude'), { kind: 'exclude', pattern: '!' });
  t.equal(parseRuleArg('', 'exclude'), null, 'rsync ignores an empty --exclude');
  t.throws(() => parseRuleArg('- ', 'exclude'), TsyncError);
  t.throws(() => parseRuleArg('+ ', 'exclude'), { code: 'E_USAGE' });
});

t.test('parseRuleFile: comments, blank lines, CR, prefixes', async (t) => {
  const text = '# comment\n; also a comment\n\n*.o\r\n+ keep.o\r- /build\n #not a comment\ntrailing \n!\nlast';
  t.same(parseRuleFile(text, 'exclude'), [
    { kind: 'exclude', pattern: '*.o' },
    { kind: 'include', pattern: 'keep.o' },
    { kind: 'exclude', pattern: '/build' },
    { kind: 'exclude', pattern: ' #not a comment' },
    { kind: 'exclude', pattern: 'trailing ' },
    { kind: 'clear', pattern: '' },
    { kind: 'exclude', pattern: 'last' },
  ]);
  t.same(parseRuleFile('a\nb\n', 'include'), [
    { kind: 'include', pattern: 'a' },
    { kind: 'include', pattern: 'b' },
  ]);
  t.same(parseRuleFile('', 'exclude'), []);
});

// [rules, path, isDir, excluded]
type CliCase = [string[], string, boolean, boolean];
const CLI_CASES: CliCase[] = [
  // no slash: the last component, at any depth
  [['-foo'], 'foo', false, true],
  [['-foo'], 'a/b/foo', false, true],
  [['-foo'], 'a/foo/b', false, false],
  [['-foo'], 'a/foo', true, true],
  [['-foo'], 'xfoo', false, false],
  // trailing slash: directories only
  [['-foo/'], 'a/foo', true, true],
  [['-foo/'], 'a/foo', false, false],
  [['-/foo/'], 'foo', true, true],
  [['-/foo/'], 'foo', false, false],
  // leading slash: anchored at the root
  [['-/foo'], 'foo', false, true],
  [['-/foo'], 'a/foo', false, false],
  [['-/a/foo'], 'a/foo', false, true],
  [['-/a/foo'], 'x/a/foo', false, false],
  [['-/*.o'], 'x.o', false, true],
  [['-/*.o'], 'd/x.o', false, false],
  // inner slash: the last n+1 components, NOT anchored
  [['-foo/bar'], 'foo/bar', false, true],
  [['-foo/bar'], 'x/foo/bar', false, true],
  [['-foo/bar'], 'xfoo/bar', false, false],
  [['-foo/bar'], 'foo/bar/baz', false, false],
  [['-foo/*/bar'], 'foo/x/bar', false, true],
  [['-foo/*/bar'], 'a/foo/x/bar', false, true],
  [['-foo/*/bar'], 'foo/x/y/bar', false, false],
  [['-axb/c'], 'q/axb/c', false, true],
  [['-a[!/]b/c'], 'axb/c', false, false, /* the '/' in the class counts: 3 components needed */],
  [['-a[!/]b/c'], 'q/axb/c', false, false],
  [['-a[!/]b'], 'axb', false, false, /* needs 2 components */],
  [['-a[!/]b'], 'q/axb', false, false],
  // '*' never crosses '/', '**' does
  [['-*.o'], 'a/b/c.o', false, true],
  [['-a*'], 'abc', false, true],
  [['-a/*'], 'a/b', false, true],
  [['-a/*'], 'a/b/c', false, false],
  [['-/a/**'], 'a/b/c', false, true],
  [['-/a/**'], 'a', true, false],
  [['-/foo/**/bar'], 'foo/x/bar', false, true],
  [['-/foo/**/bar'], 'foo/bar', false, false],
  [['-x/**/deep'], 'r/x/y/z/deep', false, true, /* ** tried after every slash */],
  [['-foo**'], 'a/foobar/c', false, true],
  [['-foo**'], 'a/xfoo', false, false],
  [['-a**b'], 'a/x/b', false, true],
  // leading '**': matched against '/' + path
  [['-**/foo'], 'foo', false, true],
  [['-**/foo'], 'a/b/foo', false, true],
  [['-**/foo'], 'a/xfoo', false, false],
  [['-**foo'], 'a/xfoo', false, true],
  [['-**.o'], 'a/b.o', false, true],
  [['-**'], 'anything/at/all', false, true],
  // '/***': the directory and everything in it
  [['-foo/***'], 'foo', true, true],
  [['-foo/***'], 'foo', false, false],
  [['-foo/***'], 'x/foo/y/z', false, true],
  [['-/foo/***'], 'x/foo', true, false],
  [['-/foo/***'], 'foo/z', false, true],
  // '?' and classes
  [['-?.txt'], 'a.txt', false, true],
  [['-?.txt'], 'ab.txt', false, false],
  [['-a?b'], 'a/b', false, false],
  [['-[abc]*'], 'bx', false, true],
  [['-[abc]*'], 'dx', false, false],
  [['-[!abc]*'], 'dx', false, true],
  [['-[^abc]*'], 'dx', false, true],
  [['-[!abc]*'], 'ax', false, false],
  [['-[a-c]x'], 'bx', false, true],
  [['-[a-c]x'], 'dx', false, false],
  [['-[]]x'], ']x', false, true],
  [['-[!]]x'], ']x', false, false],
  [['-[a-]x'], '-x', false, true],
  [['-[z-a]x'], 'mx', false, false],
  [['-[[:digit:]]*'], '7up', false, true],
  [['-[[:digit:]]*'], 'up', false, false],
  [['-[[:upper:][:digit:]]x'], 'Qx', false, true],
  [['-[[:bogus:]]x'], 'bx', false, false],
  [['-[[:alpha]x'], ':x', false, true, /* no ':]' : an ordinary '[' */],
  [['-foo['], 'foo[', false, false, /* unclosed: matches nothing */],
  [['-foo'], 'foo[', false, false],
  // backslash: an escape only in a wild pattern
  [['-q\\?mark'], 'q?mark', false, true],
  [['-q\\?mark'], 'qxmark', false, false],
  [['-back\\slash'], 'back\\slash', false, true],
  [['-back\\slash*'], 'back\\slash', false, false],
  [['-back\\\\slash*'], 'back\\slash', false, true],
  [['-star\\*name'], 'star*name', false, true],
  [['-star\\*name'], 'starxname', false, false],
  // bytes: '?' is one byte of UTF-8
  [['-caf?'], 'caf\u00e9', false, false],
  [['-caf??'], 'caf\u00e9', false, true],
  [['-caf[\u00e9]'], 'caf\u00e9', false, false],
  [['-caf\u00e9'], 'd/caf\u00e9', false, true],
  [['-caf*'], 'caf\u00e9', false, true],
  [['-/d\u00e9/?'], 'd\u00e9/x', false, true],
  // spaces are part of the pattern
  [['-trailing '], 'trailing ', false, true],
  [['-trailing '], 'trailing', false, false],
  // first match wins
  [['+*.c', '-*'], 'x.c', false, false],
  [['+*.c', '-*'], 'x.h', false, true],
  [['-*', '+*.c'], 'x.c', false, true],
  [['+*/', '+*.c', '-*'], 'src', true, false],
  [['+*/', '+*.c', '-*'], 'src/x.c', false, false],
  [['+*/', '+*.c', '-*'], 'src/x.h', false, true],
  [['+build/keep.txt', '-build/*'], 'build/keep.txt', false, false],
  [['+build/keep.txt', '-build/*'], 'build/out.o', false, true],
  // '- ' and '+ ' prefixes, and '!' clearing
  [['-+ *.c', '-*'], 'x.c', false, false],
  [['+- *.c', '+*'], 'x.c', false, true],
  [['-*', '-!', '-*.c'], 'x.h', false, false],
  [['-*', '-!', '-*.c'], 'x.c', false, true],
  // no rules
  [[], 'a/b/c', false, false],
];

t.test('command-line rules (rsync semantics)', async (t) => {
  for (const [rules, p, isDir, want] of CLI_CASES) {
    const f = Filter.create(cli(...rules));
    t.equal(f.excluded(p, isDir), want, `${JSON.stringify(rules)} ${isDir ? 'dir' : 'file'} ${JSON.stringify(p)} -> ${want ? 'excluded' : 'included'}`);
  }
});

// [.tsyncignore texts by directory, path, isDir, excluded]
type IgnoreCase = [Record<string, string>, string, boolean, boolean];
const IGNORE_CASES: IgnoreCase[] = [
  // no slash: any depth below the file's directory
  [{ '': 'foo\n' }, 'foo', false, true],
  [{ '': 'foo\n' }, 'a/b/foo', true, true],
  [{ '': 'foo\n' }, 'a/foo/b', false, false],
  [{ a: 'foo\n' }, 'foo', false, false],
  [{ a: 'foo\n' }, 'a/x/foo', false, true],
  [{ a: 'foo\n' }, 'ab/foo', false, false],
  [{ a: '*\n' }, 'a', true, false, /* a file's rules never apply to its own directory */],
  // trailing slash: directories only
  [{ '': 'foo/\n' }, 'x/foo', true, true],
  [{ '': 'foo/\n' }, 'x/foo', false, false],
  // a leading or inner slash anchors at the file's directory
  [{ '': '/foo\n' }, 'foo', false, true],
  [{ '': '/foo\n' }, 'a/foo', false, false],
  [{ a: '/foo\n' }, 'a/foo', false, true],
  [{ a: '/foo\n' }, 'a/b/foo', false, false],
  [{ '': 'a/foo\n' }, 'a/foo', false, true],
  [{ '': 'a/foo\n' }, 'x/a/foo', false, false, /* unlike rsync */],
  [{ x: 'a/foo\n' }, 'x/a/foo', false, true],
  [{ '': '*/bar\n' }, 'foo/bar', false, true],
  [{ '': '*/bar\n' }, 'foo/x/bar', false, false],
  [{ '': 'a/*.c\n' }, 'a/b/c.c', false, false],
  // '**'
  [{ '': '**/foo\n' }, 'foo', false, true],
  [{ '': '**/foo\n' }, 'a/b/foo', false, true],
  [{ '': '**/foo\n' }, 'a/xfoo', false, false],
  [{ '': 'a/**/b\n' }, 'a/b', false, true],
  [{ '': 'a/**/b\n' }, 'a/x/y/b', false, true],
  [{ '': 'a/**/b\n' }, 'xa/b', false, false],
  [{ '': 'a/**\n' }, 'a/x/y', false, true],
  [{ '': 'a/**\n' }, 'a', true, false],
  [{ '': 'a**b\n' }, 'a/x/b', false, false, /* a non-delimited ** is a * */],
  [{ '': 'a**b\n' }, 'axxb', false, true],
  [{ '': 'x/a**b\n' }, 'x/a/b', false, false],
  [{ '': 'foo**/bar\n' }, 'foo/a/b/bar', false, true, /* git quirk: ** right after the literal prefix counts as leading */],
  [{ '': '**\n' }, 'a/b/c', false, true],
  // negation: the last matching line wins
  [{ '': '*.o\n!keep.o\n' }, 'keep.o', false, false],
  [{ '': '*.o\n!keep.o\n' }, 'x.o', false, true],
  [{ '': '!keep.o\n*.o\n' }, 'keep.o', false, true],
  [{ '': 'a/**\n!a/b.c\n' }, 'a/b.c', false, false],
  // deeper files win over shallower ones, both ways
  [{ '': '*.txt\n', docs: '!*.txt\n' }, 'docs/a.txt', false, false],
  [{ '': '*.txt\n', docs: '!*.txt\n' }, 'a.txt', false, true],
  [{ '': '!*.txt\n', docs: '*.txt\n' }, 'docs/x/a.txt', false, true],
  [{ '': 'x.txt\n', docs: 'y.txt\n' }, 'docs/x.txt', false, true, /* no match deeper: the shallower decides */],
  [{ '': '/y/z\n', x: '/y/z\n!/y/z\n' }, 'x/y/z', false, false],
  // comments, escapes, trailing spaces
  [{ '': '# foo\nfoo\n' }, '# foo', false, false],
  [{ '': '\\#hash\n' }, '#hash', false, true],
  [{ '': '#hash\n' }, '#hash', false, false],
  [{ '': '\\!bang\n' }, '!bang', false, true],
  [{ '': 'sp ace.txt   \n' }, 'sp ace.txt', false, true],
  [{ '': 'trailing\\ \n' }, 'trailing ', false, true],
  [{ '': 'trailing\\ \n' }, 'trailing', false, false],
  [{ '': 'trailing \n' }, 'trailing', false, true],
  [{ '': 'a\\*b\n' }, 'a*b', false, true],
  [{ '': 'a\\*b\n' }, 'axb', false, false],
  [{ '': 'back\\slash\n' }, 'backslash', false, true, /* a backslash always escapes in git */],
  [{ '': 'tab\t\n' }, 'tab\t', false, true, /* only spaces are trimmed */],
  [{ '': 'crlf\r\n' }, 'crlf', false, true],
  [{ '': '\ufeffbom\n' }, 'bom', false, true],
  [{ '': 'nolf' }, 'nolf', false, true],
  // '?' and classes
  [{ '': '?.c\n' }, 'a.c', false, true],
  [{ '': '?.c\n' }, 'ab.c', false, false],
  [{ '': 'file[[:digit:]].txt\n' }, 'file1.txt', false, true],
  [{ '': '[!a-z]*\n' }, 'Upper', false, true],
  [{ '': '[!a-z]*\n' }, 'lower', false, false],
  [{ '': 'a[/]b\n' }, 'a/b', false, false],
  [{ '': 'caf?\n' }, 'caf\u00e9', false, false],
  [{ '': 'caf??\n' }, 'caf\u00e9', false, true],
  [{ 'd\u00e9': '/x?\n' }, 'd\u00e9/xy', false, true],
];

t.test('.tsyncignore rules (gitignore semantics)', async (t) => {
  for (const [files, p, isDir, want] of IGNORE_CASES) {
    const f = withIgnores(Filter.create([]), files)(p);
    t.equal(f.excluded(p, isDir), want, `${JSON.stringify(files)} ${isDir ? 'dir' : 'file'} ${JSON.stringify(p)} -> ${want ? 'excluded' : 'included'}`);
  }
});

t.test('command-line rules take precedence over .tsyncignore', async (t) => {
  const ign = { '': '*.log\n!keep.log\n' };
  t.equal(withIgnores(Filter.create(cli('+*.log')), ign)('x.log').excluded('x.log', false), false, 'cli include beats ignore');
  t.equal(withIgnores(Filter.create(cli('-keep.log')), ign)('keep.log').excluded('keep.log', false), true, 'cli exclude beats negation');
  t.equal(withIgnores(Filter.create(cli('-*.tmp')), ign)('x.log').excluded('x.log', false), true, 'no cli match: ignore decides');
  t.equal(withIgnores(Filter.create(cli('-*.tmp')), ign)('x.txt').excluded('x.txt', false), false, 'nothing matches: included');
});

t.test('ignore files can be turned off; empty files add nothing', async (t) => {
  const off = Filter.create([], { ignoreFiles: false });
  t.equal(off.usesIgnoreFiles, false);
  t.equal(off.withIgnoreFile('', '*\n'), off);
  t.equal(off.excluded('x', false), false);
  const on = Filter.create([]);
  t.equal(on.usesIgnoreFiles, true);
  t.equal(on.withIgnoreFile('a', ''), on);
  t.equal(on.withIgnoreFile('a', '# only a comment\n\n   \n'), on);
  const child = on.withIgnoreFile('a', 'x\n');
  t.not(child, on);
  t.equal(child.excluded('a/x', false), true);
  t.equal(child.excluded('x', false), false, 'rules of a/.tsyncignore do not reach outside a/');
  t.equal(on.excluded('a/x', false), false, 'the parent filter is unchanged');
  t.ok(Object.isFrozen(child));
  t.throws(() => on.withIgnoreFile('/a', 'x'));
  t.throws(() => on.withIgnoreFile('a/', 'x'));
  t.equal(IGNORE_FILE, '.tsyncignore');
});

t.test('reserved names are always excluded', async (t) => {
  const f = Filter.create(cli('+*', '+.tsync', '+**'));
  for (const p of ['.tsync', '.tsync/baseline', '.tsync/a/b', '.tsync-tmp-1234', 'a/.tsync-tmp-x', 'a/b/.tsync-partial-foo']) {
    t.equal(isReserved(p), true, p);
    t.equal(f.excluded(p, p === '.tsync'), true, p);
  }
  for (const p of ['a/.tsync', 'a/.tsync/x', '.tsyncignore', '.tsync2', 'x.tsync-tmp-1', '.tsync-tm']) {
    t.equal(isReserved(p), false, p);
    t.equal(f.excluded(p, false), false, p);
  }
});

// ---------------------------------------------------------------------------
// Oracles: real rsync and real git on a real tree

const TREE_FILES = [
  'a.txt', 'b.o', 'c.c', 'README', 'Upper.TXT', '.hidden', '#hash', '!bang', ';semi', 'sp ace.txt',
  'trailing ', 'file1.txt', 'caf\u00e9', 'q?mark', 'star*name', 'back\\slash', 'foo[', 'axb', 'q/axb',
  'foo/bar', 'foo/bar.c', 'foo/x/bar', 'foo/x/y/bar', 'foo/baz/z.txt', 'foo2/bar/inner.txt',
  'bar/foo', 'bar/foo.o', 'build/out.o', 'build/keep.txt', 'build/sub/deep.o', 'src/main.c', 'src/util.h',
  'src/build/x.o', 'src/foo/bar/qux.c', 'docs/a.md', 'docs/a.txt', 'docs/img/logo.png', 'x/y/z/deep.txt',
  'x/y/deep.txt', 'x/deep.txt', 'node_modules/pkg/index.js', 'fooz/file', 'dir.o/inner.c', 'd\u00e9j\u00e0/vu.txt',
  'a/b', 'a/x/y/b', 'axxb', 'foo3/a/b/bar',
];

function makeTree(root: string, extra: Record<string, string> = {}): void {
  for (const f of TREE_FILES) {
    fs.mkdirSync(path.join(root, path.dirname(f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), f);
  }
  for (const [f, text] of Object.entries(extra)) fs.writeFileSync(path.join(root, f), text);
}

/** What the scanner does: depth first, excluded directories not entered. Dirs get a trailing '/'. */
function walk(root: string, filter: Filter, ignoreName: string | null, visit?: (rel: string, isDir: boolean, excluded: boolean) => void): string[] {
  const kept: string[] = [];
  const rec = (dirRel: string, parent: Filter): void => {
    const abs = dirRel ? path.join(root, dirRel) : root;
    const names = fs.readdirSync(abs).sort();
    let f = parent;
    if (ignoreName && names.includes(ignoreName)) f = f.withIgnoreFile(dirRel, fs.readFileSync(path.join(abs, ignoreName), 'utf8'));
    for (const n of names) {
      if (!dirRel && n === '.git') continue;
      const rel = dirRel ? `${dirRel}/${n}` : n;
      const isDir = fs.lstatSync(path.join(abs, n)).isDirectory();
      const ex = f.excluded(rel, isDir);
      visit?.(rel, isDir, ex);
      if (ex) continue;
      kept.push(isDir ? `${rel}/` : rel);
      if (isDir) rec(rel, f);
    }
  };
  rec('', filter);
  return kept.sort();
}

function missingTool(t: Test, tool: string): boolean {
  if (fs.existsSync(tool)) return false;
  const msg = `!!!!! ${tool} NOT FOUND: the oracle test against it cannot run !!!!!`;
  console.error(msg);
  if (process.env.CI === 'true') t.fail(msg);
  else t.pass(`${tool} missing`, { skip: msg });
  return true;
}

function tmpdir(t: Test): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-filter-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

// Each case: rsync arguments. '-P' and '+P' become --exclude=P / --include=P;
// a case that is a single string of several lines is passed as --exclude-from.
const RSYNC_CASES: Array<string[] | string> = [
  ['-*.o'],
  ['-build/'],
  ['-/build'],
  ['-build'],
  ['+*/', '+*.c', '-*'],
  ['+foo/', '+foo/bar.c', '-*'],
  ['-foo/*/bar'],
  ['-/foo/**/bar'],
  ['-**/bar'],
  ['-foo/***'],
  ['-src/**'],
  ['-?.txt', '-[ab]*'],
  ['-[!a-m]*'],
  ['-*[[:digit:]]*', '-[[:upper:]]*'],
  ['-caf?', '-q\\?mark', '-star\\*name'],
  ['-caf??'],
  ['-back\\slash'],
  ['-back\\\\slash*'],
  ['-x/y', '-y/z/deep.txt'],
  ['-z/deep.txt', '-bar/foo'],
  ['+build/keep.txt', '-build/*'],
  ['-**.o'],
  ['-sp ace.txt', '-trailing '],
  ['-*', '-!', '-*.c'],
  ['-a[!/]b', '-q/a[!/]b'],
  ['-/foo/bar/', '-bar/', '-/q'],
  ['-*'],
  ['-***'],
  ['-foo**'],
  ['-node_modules', '-.*'],
  ['-[z-a]*', '-[a-]*', '-[]]*', '-[[:alpha]*'],
  ['-x/**/deep.txt'],
  ['-foo[', '-fo[o'],
  ['-**/x/**', '-/d\u00e9j\u00e0/?u*'],
  ['-a**b', '-/foo3/**/bar'],
  ['+*/', '+**/deep.txt', '-*'],
  ['-+ *.c', '-*.c', '+- *.txt', '+*.txt', '-*.[!c]'],
  '# an exclude-from file\n; more comment\n\n+ foo/bar.c\r\n- foo/*\n*.o\r- /docs/img/\n!\n- *.txt\n+ x/\n- x/**/deep*\n',
];

t.test('oracle: rsync --include/--exclude/--exclude-from', async (t) => {
  if (missingTool(t, RSYNC)) return;
  const dir = tmpdir(t);
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(dst, { recursive: true });
  makeTree(src);
  t.ok(RSYNC_CASES.length >= 10);
  for (const c of RSYNC_CASES) {
    let args: string[];
    let rules: CliRule[];
    if (typeof c === 'string') {
      const file = path.join(dir, 'rules.txt');
      fs.writeFileSync(file, c);
      args = [`--exclude-from=${file}`];
      rules = parseRuleFile(c, 'exclude');
    } else {
      args = c.map((a) => `--${a[0] === '+' ? 'include' : 'exclude'}=${a.slice(1)}`);
      rules = cli(...c);
    }
    const r = spawnSync(RSYNC, ['-a', '-8', '--dry-run', '--out-format=%n', ...args, `${src}/`, `${dst}/`], { encoding: 'utf8' });
    t.equal(r.status, 0, `rsync ${args.join(' ')}: ${r.stderr}`);
    const want = r.stdout.split('\n').filter((l) => l !== '' && l !== './').sort();
    const got = walk(src, Filter.create(rules), null);
    t.same(got, want, `rsync ${JSON.stringify(args)}`);
  }
});

// Each case: .gitignore texts by directory (written as .gitignore for git).
const GIT_CASES: Array<Record<string, string>> = [
  { '': '# comment\n\n*.o\n!b.o\n/README\nbuild/\n\\#hash\n\\!bang\nsp ace.txt   \ntrailing\\ \n' },
  { '': '**/bar\nfoo/**\n!foo/bar.c\nx/**/deep.txt\n' },
  { '': '*.txt\n', docs: '!*.txt\n', x: '!deep.txt\n/y/z\n' },
  { '': '[a-c].*\n?.txt\nfile[[:digit:]].txt\n[!a-z]*\ncaf?\n' },
  { '': 'caf??\nfoo**/bar\na**b\n*/bar\nsrc/*/qux.c\n' },
  { '': 'src/build/\n/node_modules/\nfoo/x\n   \n', foo: 'bar\n!/bar\n*.c\n', 'foo/x': '*\n' },
  { '': 'a/**/b\n**/x/**\n/d\u00e9j\u00e0/?u*\n' },
  { '': '*\n!*/\n!*.c\n' },
  { '': 'bar/\n*/\n!foo/\n', foo: '!x/\n' },
  { '': '/*\n!/src\n', src: '*.h\n!/build/\nbuild/*\n!build/x.o\n' },
];

t.test('oracle: git check-ignore on .gitignore files', async (t) => {
  if (missingTool(t, GIT)) return;
  const env = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', HOME: os.tmpdir(), XDG_CONFIG_HOME: os.tmpdir() };
  for (const [i, files] of GIT_CASES.entries()) {
    const root = path.join(tmpdir(t), 'repo');
    fs.mkdirSync(root);
    makeTree(root);
    for (const [d, text] of Object.entries(files)) fs.writeFileSync(path.join(root, d, '.gitignore'), text);
    t.equal(spawnSync(GIT, ['init', '-q', root], { env }).status, 0);
    const mine = new Map<string, boolean>();
    walk(root, Filter.create([]), '.gitignore', (rel, _isDir, ex) => mine.set(rel, ex));
    const paths = [...mine.keys()];
    const r = spawnSync(GIT, ['check-ignore', '--no-index', '-z', '-v', '-n', '--stdin'], { cwd: root, env, input: paths.join('\0') + '\0', encoding: 'utf8' });
    t.ok(r.status === 0 || r.status === 1, `git check-ignore: ${r.stderr}`);
    const fields = r.stdout.split('\0');
    const theirs = new Map<string, boolean>();
    for (let k = 0; k + 3 < fields.length; k += 4) theirs.set(fields[k + 3], fields[k + 2] !== '' && !fields[k + 2].startsWith('!'));
    const diff = paths.filter((p) => mine.get(p) !== theirs.get(p)).map((p) => `${p}: tsync ${mine.get(p)}, git ${theirs.get(p)}`);
    t.same(diff, [], `case ${i} ${JSON.stringify(files)} (${paths.length} paths)`);
  }
});

// Seeded random patterns over a small tree of 'a'/'b' names, against both oracles.
const FUZZ_FILES = [
  'ba', 'aa/b', 'a/b/a', 'a/b/b', 'a/ab', 'b/a', 'b/ab', 'a/bb/ab', 'x.a', 'a.x', 'ab/ab/ab', 'b/b/b/a', 'a*b', 'a?',
  '[a]', 'a\\b', 'a\u00e9', '\u00e9/a', 'a/a/a/a', 'bb/a.b', '.a', 'bab',
];
const FUZZ_TOKENS = ['*', '**', '***', '**/', '/**', '?', '/', '/', 'a', 'b', 'a', 'b', '[ab]', '[!a]', 'x', '.', '\\*', '\\', '[a-b]', '\u00e9', '[[:alpha:]]'];

function random(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s % n;
  };
}

function randomPattern(rnd: (n: number) => number): string {
  let s = '';
  for (let i = 1 + rnd(5); i > 0; i--) s += FUZZ_TOKENS[rnd(FUZZ_TOKENS.length)];
  return s;
}

function makeFuzzTree(root: string): void {
  for (const f of FUZZ_FILES) {
    fs.mkdirSync(path.join(root, path.dirname(f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), f);
  }
}

t.test('oracle: rsync on seeded random rule lists', async (t) => {
  if (missingTool(t, RSYNC)) return;
  const seed = 20240601;
  const rnd = random(seed);
  const dir = tmpdir(t);
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(dst, { recursive: true });
  makeFuzzTree(src);
  for (let i = 0; i < 60; i++) {
    const rules: CliRule[] = [];
    for (let k = 1 + rnd(3); k > 0; k--) rules.push({ kind: rnd(2) ? 'include' : 'exclude', pattern: randomPattern(rnd) + (rnd(4) ? '' : '/') });
    const args = rules.map((r) => `--${r.kind}=${r.pattern}`);
    const r = spawnSync(RSYNC, ['-a', '-8', '--dry-run', '--out-format=%n', ...args, `${src}/`, `${dst}/`], { encoding: 'utf8' });
    t.equal(r.status, 0, `rsync ${args.join(' ')}: ${r.stderr}`);
    const want = r.stdout.split('\n').filter((l) => l !== '' && l !== './').sort();
    t.same(walk(src, Filter.create(rules), null), want, `seed ${seed} #${i}: rsync ${JSON.stringify(args)}`);
  }
});

t.test('oracle: git on seeded random .gitignore files', async (t) => {
  if (missingTool(t, GIT)) return;
  const seed = 777;
  const rnd = random(seed);
  const env = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', HOME: os.tmpdir(), XDG_CONFIG_HOME: os.tmpdir() };
  const root = path.join(tmpdir(t), 'repo');
  fs.mkdirSync(root);
  makeFuzzTree(root);
  t.equal(spawnSync(GIT, ['init', '-q', root], { env }).status, 0);
  for (let i = 0; i < 150; i++) {
    const lines: string[] = [];
    for (let k = 1 + rnd(3); k > 0; k--) lines.push((rnd(3) ? '' : '!') + (rnd(3) ? '' : '/') + randomPattern(rnd) + (rnd(4) ? '' : '/'));
    const files: Record<string, string> = { '': `${lines.join('\n')}\n` };
    if (rnd(2)) files.a = `${randomPattern(rnd)}\n!${randomPattern(rnd)}\n`;
    for (const d of ['', 'a']) fs.rmSync(path.join(root, d, '.gitignore'), { force: true });
    for (const [d, text] of Object.entries(files)) fs.writeFileSync(path.join(root, d, '.gitignore'), text);
    const mine = new Map<string, boolean>();
    walk(root, Filter.create([]), '.gitignore', (rel, _isDir, ex) => mine.set(rel, ex));
    const paths = [...mine.keys()];
    const r = spawnSync(GIT, ['check-ignore', '--no-index', '-z', '-v', '-n', '--stdin'], { cwd: root, env, input: paths.join('\0') + '\0', encoding: 'utf8' });
    const fields = r.stdout.split('\0');
    const theirs = new Map<string, boolean>();
    for (let k = 0; k + 3 < fields.length; k += 4) theirs.set(fields[k + 3], fields[k + 2] !== '' && !fields[k + 2].startsWith('!'));
    const diff = paths.filter((p) => mine.get(p) !== theirs.get(p)).map((p) => `${p}: tsync ${mine.get(p)}, git ${theirs.get(p)}`);
    t.same(diff, [], `seed ${seed} #${i}: ${JSON.stringify(files)}`);
  }
});
