// lib/fs/nofollow.ts: reaching a directory under a trusted anchor without
// following a link on the way (reachDir, parentsAreDirs), and where
// --backup-dir keeps things (backupPlace, backupTarget, inBackup): inside the
// destination it is walked from the root, outside it is anchored at its
// real path.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { backupPlace, backupTarget, inBackup, parentsAreDirs, reachDir } from '../../lib/fs/nofollow.js';

/** a testdir by its real path (the walk compares what it reaches with lstat, not through links above it) */
const sandbox = (t: Test, spec: Parameters<Test['testdir']>[0]) => fs.realpathSync(t.testdir(spec));
/** what a directory made with `mode` gets under this process's umask */
const underUmask = (dir: string, mode: number) => {
  const ref = path.join(dir, `ref-${mode.toString(8)}`);
  fs.mkdirSync(ref, { mode });
  return fs.statSync(ref).mode & 0o7777;
};
const modeOf = (p: string) => fs.statSync(p).mode & 0o7777;

t.test('reachDir: walks real directories down from the anchor', async (t) => {
  const root = sandbox(t, { a: { b: { c: {} } } });
  t.equal(reachDir(root, ['a', 'b', 'c']), path.join(root, 'a/b/c'));
  t.equal(reachDir(root, []), root, 'no parts: the anchor itself');
  const parts = root.split('/').filter(Boolean);
  t.equal(reachDir('/', parts), root, 'from /, no doubled slash');
});

t.test('reachDir: a link, a file or a missing component is refused, named relative to the anchor', async (t) => {
  const root = sandbox(t, { a: { file: 'x', link: t.fixture('symlink', '../elsewhere'), dangling: t.fixture('symlink', '../made-through') }, elsewhere: { x: {} } });
  const refused = (parts: string[], code: string, shown: string, mkdirMode?: number) => {
    const e = t.throws(() => reachDir(root, parts, mkdirMode), { code }) as Error;
    t.match(e.message, new RegExp(` ${shown}(;| does not exist)`), `${code} names ${shown}`);
    t.notMatch(e.message, root, 'and not the anchor');
  };
  refused(['a', 'link', 'x'], 'ELOOP', 'a/link');
  refused(['a', 'link'], 'ELOOP', 'a/link');
  refused(['a', 'file', 'x'], 'ENOTDIR', 'a/file');
  refused(['a', 'file'], 'ENOTDIR', 'a/file');
  refused(['a', 'nope', 'x'], 'ENOENT', 'a/nope');
  refused(['a', 'link', 'x'], 'ELOOP', 'a/link', 0o755);
  refused(['a', 'dangling', 'x'], 'ELOOP', 'a/dangling', 0o755);
  t.notOk(fs.existsSync(path.join(root, 'made-through')), 'nothing made through a dangling link');
  t.same(fs.readdirSync(path.join(root, 'elsewhere')), ['x'], 'nor through a link to a directory');
});

t.test('reachDir with mkdirMode: a missing component is made, with that mode under the umask', async (t) => {
  const root = sandbox(t, { a: {} });
  const got = reachDir(root, ['a', 'n1', 'n2'], 0o750);
  t.equal(got, path.join(root, 'a/n1/n2'));
  t.ok(fs.lstatSync(got).isDirectory());
  const want = underUmask(root, 0o750);
  t.equal(modeOf(path.join(root, 'a/n1')), want);
  t.equal(modeOf(got), want);
  t.equal(modeOf(path.join(root, 'a')), underUmask(root, 0o777) & 0o777, 'an existing component keeps its mode');
  fs.chmodSync(path.join(root, 'a'), 0o700);
  reachDir(root, ['a', 'n3'], 0o750);
  t.equal(modeOf(path.join(root, 'a')), 0o700, 'and is never chmodded');
  t.equal(reachDir(root, ['a', 'n1', 'n2'], 0o700), got, 'a second walk finds what the first made');
  t.equal(modeOf(got), want);
});

t.test('parentsAreDirs: every directory above rel is real', async (t) => {
  const root = sandbox(t, { a: { b: { f: 'x' }, file: 'x', link: t.fixture('symlink', 'b') } });
  t.equal(parentsAreDirs(root, 'a/b/f'), true);
  t.equal(parentsAreDirs(root, 'a/b/new'), true, 'the last component need not exist');
  t.equal(parentsAreDirs(root, 'top'), true, 'nothing above a top-level name');
  t.equal(parentsAreDirs(root, './a//b/f'), true, 'empty and . components skipped');
  t.equal(parentsAreDirs(root, 'a/link/f'), false, 'a link above');
  t.equal(parentsAreDirs(root, 'a/file/x'), false, 'a file above');
  t.equal(parentsAreDirs(root, 'missing/x'), false, 'a missing directory above');
});

t.test('backupPlace: inside the root, walked from the root', async (t) => {
  const root = sandbox(t, {});
  t.same(backupPlace(root, path.join(root, 'bk/sub')), { anchor: root, prefix: ['bk', 'sub'], insideRel: 'bk/sub' });
  t.same(backupPlace(root, path.join(root, 'bk')), { anchor: root, prefix: ['bk'], insideRel: 'bk' }, 'whether or not it exists');
  t.same(backupPlace(root, root), { anchor: root, prefix: [], insideRel: '.' }, 'the root itself');
  t.same(backupPlace(root, path.join(root, '..bk')), { anchor: root, prefix: ['..bk'], insideRel: '..bk' }, 'a name starting with two dots is inside');
});

t.test('backupPlace: outside the root, anchored at its real path, or at its parent when missing', async (t) => {
  const sb = sandbox(t, { dest: {}, real: { bk: {} }, alias: t.fixture('symlink', 'real/bk') });
  const root = path.join(sb, 'dest');
  t.same(backupPlace(root, path.join(sb, 'real/bk')), { anchor: path.join(sb, 'real/bk'), prefix: [], insideRel: null });
  t.same(backupPlace(root, path.join(sb, 'alias')), { anchor: path.join(sb, 'real/bk'), prefix: [], insideRel: null }, 'a symlinked backup dir: its realpath');
  t.same(backupPlace(root, path.join(sb, 'none/bk')), { anchor: path.join(sb, 'none'), prefix: ['bk'], insideRel: null }, 'missing: parent + basename');
  t.same(backupPlace(root, path.join(sb, 'destx')), { anchor: sb, prefix: ['destx'], insideRel: null }, 'a sibling sharing a prefix is outside');
});

t.test('backupTarget: makes the missing directories, following no link inside the root', async (t) => {
  const sb = sandbox(t, { dest: { data: {} }, out: {}, elsewhere: {} });
  const root = path.join(sb, 'dest');
  const inside = backupPlace(root, path.join(root, 'bk'));
  t.equal(backupTarget(inside, 'x/y/file', 0o700), path.join(root, 'bk/x/y/file'));
  t.ok(fs.lstatSync(path.join(root, 'bk/x/y')).isDirectory(), 'its directories made');
  t.notOk(fs.existsSync(path.join(root, 'bk/x/y/file')), 'the file itself is not');
  t.equal(modeOf(path.join(root, 'bk/x')), underUmask(sb, 0o700));
  t.equal(backupTarget(inside, 'top', 0o700), path.join(root, 'bk/top'));

  const elsewhere = path.join(sb, 'elsewhere');
  fs.symlinkSync(elsewhere, path.join(root, 'bk/x/planted'));
  t.throws(() => backupTarget(inside, 'x/planted/z/file', 0o700), { code: 'ELOOP', message: /bk\/x\/planted/ }, 'a link planted deep inside');
  fs.rmSync(path.join(root, 'bk'), { recursive: true });
  fs.symlinkSync(elsewhere, path.join(root, 'bk'));
  t.throws(() => backupTarget(inside, 'x/file', 0o700), { code: 'ELOOP', message: / bk;/ }, 'a link planted as the backup dir');
  const deep = backupPlace(root, path.join(root, 'data/bk'));
  fs.symlinkSync(elsewhere, path.join(root, 'data/bk'));
  t.throws(() => backupTarget(deep, 'f', 0o700), { code: 'ELOOP' }, 'or at a prefix component');
  t.same(fs.readdirSync(elsewhere), [], 'nothing made through any link');

  const outside = backupPlace(root, path.join(sb, 'out/new'));
  t.equal(backupTarget(outside, 'a/f', 0o755), path.join(sb, 'out/new/a/f'));
  t.ok(fs.lstatSync(path.join(sb, 'out/new/a')).isDirectory(), 'outside: the backup dir made too');
  t.equal(backupTarget({ anchor: '/', prefix: [], insideRel: null }, 'f', 0o755), '/f', 'anchored at /: no doubled slash');
});

t.test('inBackup: the backup directory and what is below it, when inside the root', async (t) => {
  const b = { anchor: '/r', prefix: ['bk'], insideRel: 'bk' };
  t.equal(inBackup(b, 'bk'), true);
  t.equal(inBackup(b, 'bk/x/y'), true);
  t.equal(inBackup(b, 'bkx'), false, 'a name sharing a prefix');
  t.equal(inBackup(b, 'a/bk'), false);
  t.equal(inBackup({ anchor: '/r', prefix: ['a', 'b'], insideRel: 'a/b' }, 'a'), false, 'its parent is not');
  t.equal(inBackup({ anchor: '/r', prefix: [], insideRel: '.' }, 'anything/at/all'), true, 'the root itself as backup dir');
  t.equal(inBackup({ anchor: '/o', prefix: [], insideRel: null }, 'bk'), false, 'outside the root: nothing is');
  t.equal(inBackup(null, 'bk'), false, 'no backup dir');
});
