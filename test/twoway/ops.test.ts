// The ops a two-way run makes on a replica (lib/twoway/ops): deletions (to a
// backup directory or away), losers moved aside as conflict copies, merged
// modes. Each op must refuse, with its own message, a path that changed since
// the scan, and never act through a symlinked parent: nothing outside the
// replica may change. Unsafe paths from a peer are protocol errors.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { applyOp, mergeModes, opOrder, type OpContext, type TwoWayOp } from '../../lib/twoway/ops.js';
import { readLocal } from '../../lib/fs/apply.js';
import { backupPlace } from '../../lib/fs/nofollow.js';
import { ArrayTree } from '../../lib/tree/packed.js';
import { TwOp, type Entry } from '../../lib/wire/schema.js';
import type { ErrorRecord } from '../../lib/cli/stats.js';
import type { Decision } from '../../lib/plan/twoway.js';
import { diffSnapshots, snapshot } from '../helpers/tree.js';

const CHANGED = 'changed since it was scanned: left alone, the next run decides again';
const PARENT = 'a directory above it is missing or is not a directory: left alone';

/** a sandbox: the replica r, and beside it a directory it must never touch */
function sandbox(t: Test) {
  const top = t.testdir({
    outside: { 'victim.txt': 'do not touch', deep: { 'x.txt': 'x' } },
    r: { 'a.txt': 'aaa', 'b.txt': 'bbb', sub: { 'c.txt': 'ccc', deep: { 'd.txt': 'ddd' } }, empty: {}, full: { 'new.txt': 'n' } },
  });
  const root = path.join(top, 'r');
  const ctx: OpContext = { root, dryRun: false, backup: null, dirMode: 0o700, setAside: null };
  return { top, root, ctx, outside: path.join(top, 'outside') };
}

/** the entry at rel as a scan would have recorded it */
const at = (root: string, rel: string): Entry => ({ path: rel, ...(readLocal(path.join(root, rel)) as Omit<Entry, 'path'>) });
const del = (root: string, rel: string, expect = at(root, rel)): TwoWayOp => ({ op: TwOp.Delete, path: rel, to: '', expect });
const ren = (root: string, rel: string, to: string, expect = at(root, rel)): TwoWayOp => ({ op: TwOp.Rename, path: rel, to, expect });
const exists = (p: string) => fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;

t.test('delete removes a file, a symlink itself (never its target), an empty directory', async (t) => {
  const { root, ctx, outside } = sandbox(t);
  fs.symlinkSync(path.join(outside, 'victim.txt'), path.join(root, 'out-link'));
  for (const rel of ['a.txt', 'sub/deep/d.txt', 'out-link', 'empty']) {
    t.equal(applyOp(ctx, del(root, rel)), null, `${rel}: done`);
    t.notOk(exists(path.join(root, rel)), `${rel}: gone`);
  }
  t.ok(exists(path.join(root, 'sub/deep')), 'the directory above a deleted file stays');
  t.equal(fs.readFileSync(path.join(outside, 'victim.txt'), 'utf8'), 'do not touch', "the link's target is untouched");
  t.equal(applyOp(ctx, del(root, 'full')), 'not empty (something new is inside): kept');
  t.ok(exists(path.join(root, 'full/new.txt')), 'a non-empty directory and its contents stay');
});

t.test('delete with --backup-dir moves the file into the backup tree, its directories made', async (t) => {
  const { top, root, ctx } = sandbox(t);
  ctx.backup = backupPlace(root, path.join(top, 'bak'));
  fs.symlinkSync('a.txt', path.join(root, 'rel-link'));
  const ino = fs.statSync(path.join(root, 'sub/deep/d.txt')).ino;
  t.equal(applyOp(ctx, del(root, 'sub/deep/d.txt')), null);
  t.notOk(exists(path.join(root, 'sub/deep/d.txt')), 'gone from the replica');
  t.equal(fs.readFileSync(path.join(top, 'bak/sub/deep/d.txt'), 'utf8'), 'ddd', 'kept in the backup tree at its path');
  t.equal(fs.statSync(path.join(top, 'bak/sub/deep/d.txt')).ino, ino, 'moved, not copied');
  t.equal(fs.statSync(path.join(top, 'bak/sub')).mode & 0o777, 0o700, 'backup directories made with dirMode');
  fs.writeFileSync(path.join(top, 'bak/b.txt'), 'an older backup');
  t.equal(applyOp(ctx, del(root, 'b.txt')), null);
  t.equal(fs.readFileSync(path.join(top, 'bak/b.txt'), 'utf8'), 'bbb', 'an older backup of the same name is replaced');
  t.equal(applyOp(ctx, del(root, 'rel-link')), null);
  t.equal(fs.readlinkSync(path.join(top, 'bak/rel-link')), 'a.txt', 'a symlink is backed up as a link');
  t.equal(applyOp(ctx, del(root, 'empty')), null);
  t.notOk(exists(path.join(root, 'empty')) || exists(path.join(top, 'bak/empty')), 'an empty directory is removed, not backed up');
});

t.test('a backup directory with a symlinked component is refused, nothing moved', async (t) => {
  const { root, ctx, outside } = sandbox(t);
  fs.mkdirSync(path.join(root, 'bak'));
  fs.symlinkSync(outside, path.join(root, 'bak/sub'));
  ctx.backup = backupPlace(root, path.join(root, 'bak'));
  const before = await snapshot(outside, { includeRoot: true });
  t.equal(applyOp(ctx, del(root, 'sub/c.txt')), 'a symbolic link stands at bak/sub; never followed');
  t.equal(fs.readFileSync(path.join(root, 'sub/c.txt'), 'utf8'), 'ccc', 'the file stays');
  t.same(diffSnapshots(before, await snapshot(outside, { includeRoot: true })), [], 'nothing outside changed');
});

t.test('rename moves a losing version aside beside its original', async (t) => {
  const { root, ctx, outside } = sandbox(t);
  fs.symlinkSync(path.join(outside, 'victim.txt'), path.join(root, 'lnk'));
  const ino = fs.statSync(path.join(root, 'sub/c.txt')).ino;
  t.equal(applyOp(ctx, ren(root, 'sub/c.txt', 'sub/c.conflict-h-1.txt')), null);
  t.notOk(exists(path.join(root, 'sub/c.txt')), 'the original name is free for the winner');
  t.equal(fs.readFileSync(path.join(root, 'sub/c.conflict-h-1.txt'), 'utf8'), 'ccc', 'the conflict copy holds the loser');
  t.equal(fs.statSync(path.join(root, 'sub/c.conflict-h-1.txt')).ino, ino, 'the same file, not a copy');
  t.equal(fs.statSync(path.join(root, 'sub/c.conflict-h-1.txt')).nlink, 1, 'no second link left');
  t.equal(applyOp(ctx, ren(root, 'lnk', 'lnk.conflict')), null);
  t.equal(fs.readlinkSync(path.join(root, 'lnk.conflict')), path.join(outside, 'victim.txt'), 'a symlink is moved aside as a link');
  t.notOk(exists(path.join(root, 'lnk')));
  t.equal(fs.readFileSync(path.join(outside, 'victim.txt'), 'utf8'), 'do not touch', 'its target untouched');
});

t.test('rename refuses a taken conflict name, and a directory', async (t) => {
  const { root, ctx } = sandbox(t);
  fs.writeFileSync(path.join(root, 'taken'), 'someone else');
  fs.symlinkSync('nowhere', path.join(root, 'dangling'));
  t.equal(applyOp(ctx, ren(root, 'a.txt', 'taken')), "its conflict copy's name taken is taken: left alone");
  t.equal(applyOp(ctx, ren(root, 'a.txt', 'dangling')), "its conflict copy's name dangling is taken: left alone", 'a dangling link counts as taken');
  t.equal(fs.readFileSync(path.join(root, 'taken'), 'utf8'), 'someone else', 'the taken name is not replaced');
  t.equal(fs.readlinkSync(path.join(root, 'dangling')), 'nowhere');
  t.equal(fs.readFileSync(path.join(root, 'a.txt'), 'utf8'), 'aaa', 'the original stays');
  // directories always win a conflict, so no honest plan moves one aside; if asked, the hard link fails
  t.equal(applyOp(ctx, ren(root, 'full', 'full.conflict')), 'operation not permitted');
  t.ok(exists(path.join(root, 'full/new.txt')) && !exists(path.join(root, 'full.conflict')), 'the directory stays, no copy');
});

t.test('a missing path, or one changed since the scan, is left alone', async (t) => {
  const { root, ctx } = sandbox(t);
  const a = at(root, 'a.txt');
  const cases: [string, TwoWayOp][] = [
    ['missing file (delete)', del(root, 'gone.txt', { ...a, path: 'gone.txt' })],
    ['missing file (rename)', ren(root, 'gone.txt', 'gone.conflict', { ...a, path: 'gone.txt' })],
    ['size differs', del(root, 'a.txt', { ...a, size: a.size + 1 })],
    ['mtime differs', ren(root, 'a.txt', 'a.c', { ...a, mtime: a.mtime - 1 })],
    ['a file where a directory was', del(root, 'a.txt', { ...a, type: 'd', size: 0 })],
    ['a directory where a file was', del(root, 'empty', { ...a, path: 'empty' })],
    ['a link where a file was', del(root, 'lnk', { ...a, path: 'lnk' })],
    ['another link target', del(root, 'lnk', { path: 'lnk', type: 'l', mode: 0o777, size: 0, mtime: 0, target: 'b.txt' })],
  ];
  fs.symlinkSync('a.txt', path.join(root, 'lnk'));
  const before = await snapshot(root);
  for (const [name, op] of cases) t.equal(applyOp(ctx, op), CHANGED, name);
  t.same(diffSnapshots(before, await snapshot(root)), [], 'nothing changed');
  t.equal(applyOp(ctx, del(root, 'b.txt', { ...at(root, 'b.txt'), mode: 0o600 })), CHANGED, 'a mode change since the scan stops an op too (it is not lost)');
  t.ok(exists(path.join(root, 'b.txt')), 'the file stays');
});

t.test('a symlinked, missing or non-directory parent is never walked through', async (t) => {
  const { root, ctx, outside } = sandbox(t);
  fs.symlinkSync(outside, path.join(root, 'via'));
  fs.symlinkSync(outside, path.join(root, 'sub/via'));
  const before = await snapshot(outside, { includeRoot: true });
  const viaStat = at(root, 'via/victim.txt'); // what lstat through the link reports: the op would match it
  ctx.backup = backupPlace(root, path.join(root, 'bak'));
  const ops: [string, TwoWayOp][] = [
    ['delete through a linked parent', del(root, 'via/victim.txt', viaStat)],
    ['delete through a deeper linked parent', del(root, 'sub/via/deep/x.txt')],
    ['delete of a directory through a linked parent', del(root, 'via/deep')],
    ['rename through a linked parent', ren(root, 'via/victim.txt', 'via/victim.conflict', viaStat)],
    ['missing parent', del(root, 'nope/a.txt', { ...at(root, 'a.txt'), path: 'nope/a.txt' })],
    ['a file as parent', del(root, 'a.txt/x', { ...at(root, 'a.txt'), path: 'a.txt/x' })],
  ];
  for (const [name, op] of ops) t.equal(applyOp(ctx, op), PARENT, name);
  ctx.dryRun = true;
  t.equal(applyOp(ctx, ops[0][1]), PARENT, 'a dry run refuses it too');
  t.same(diffSnapshots(before, await snapshot(outside, { includeRoot: true })), [], 'nothing outside changed');
  t.notOk(exists(path.join(root, 'bak')), 'no backup made');
});

t.test('unsafe paths and misplaced conflict names are protocol errors', async (t) => {
  const { root, ctx } = sandbox(t);
  const a = at(root, 'a.txt');
  const unsafe = ['../outside/victim.txt', '/etc/passwd', '.', '', 'sub//c.txt', 'sub/./c.txt', 'sub/../a.txt', 'x\0y', '.tsync', '.tsync/secret', 'sub/.tsync-tmp-x', '.tsync-partial-y'];
  for (const p of unsafe) {
    t.throws(() => applyOp(ctx, del(root, p, { ...a, path: p })), { name: 'TsyncError', code: 'E_PROTOCOL', message: /^the peer named an unsafe path/ }, `delete ${JSON.stringify(p)}`);
    t.throws(() => applyOp(ctx, ren(root, 'a.txt', p, a)), { code: 'E_PROTOCOL' }, `rename to ${JSON.stringify(p)}`);
  }
  const beside = { code: 'E_PROTOCOL', message: /^a conflict copy must sit beside its original/ };
  t.throws(() => applyOp(ctx, ren(root, 'a.txt', 'sub/a.conflict', a)), beside, 'into another directory');
  t.throws(() => applyOp(ctx, ren(root, 'sub/c.txt', 'c.conflict')), beside, 'out of its directory');
  t.throws(() => applyOp(ctx, ren(root, 'a.txt', 'a.txt', a)), beside, 'onto itself');
  t.equal(fs.readFileSync(path.join(root, 'a.txt'), 'utf8'), 'aaa', 'nothing done');
});

t.test('a dry run checks each op but changes nothing', async (t) => {
  const { root, ctx } = sandbox(t);
  ctx.dryRun = true;
  const before = await snapshot(root, { includeRoot: true });
  t.equal(applyOp(ctx, del(root, 'a.txt')), null);
  t.equal(applyOp(ctx, ren(root, 'b.txt', 'b.conflict')), null);
  t.equal(applyOp(ctx, del(root, 'sub/c.txt', { ...at(root, 'sub/c.txt'), size: 9 })), CHANGED, 'a changed path is still reported');
  t.same(diffSnapshots(before, await snapshot(root, { includeRoot: true })), []);
});

t.test('opOrder: deepest and last paths first, so directories are emptied before they go', async (t) => {
  const ops = ['a', 'b', 'a/b/c', 'a/b', 'a b', 'a/c'].map((p) => ({ op: TwOp.Delete, path: p, to: '', expect: {} as Entry }));
  t.same(ops.sort(opOrder).map((o) => o.path), ['b', 'a/c', 'a/b/c', 'a/b', 'a b', 'a']);
});

t.test('mergeModes: sets the merged mode, never through a link, warns for what it cannot', async (t) => {
  const { root, outside } = sandbox(t);
  fs.symlinkSync(outside, path.join(root, 'via'));
  fs.symlinkSync(path.join(outside, 'victim.txt'), path.join(root, 'lnk'));
  fs.chmodSync(path.join(outside, 'victim.txt'), 0o644);
  const names = ['a.txt', 'b.txt', 'sub/c.txt', 'via/victim.txt', 'lnk', 'missing'];
  const tree = ArrayTree.of(names.map((p) => ({ path: p, type: 'f', mode: 0o644, size: 3, mtime: 0 }) as Entry));
  const merged = (p: string, mode?: number): Decision => ({ path: p, do: 'copy', from: 'b', why: mode === undefined ? 'changed' : 'merged', mode });
  const decisions = [merged('a.txt', 0o600), merged('b.txt'), merged('sub/c.txt', 0o640), merged('via/victim.txt', 0o666), merged('lnk', 0o666), merged('missing', 0o600)];
  const warned: ErrorRecord[] = [];
  const events = { item: () => {}, warn: (w: ErrorRecord) => warned.push(w) };
  const input = { a: tree, b: tree, base: null, offsetUs: 0, windowUs: 0, hosts: { a: 'a', b: 'b' }, unsure: { a: false, b: false } };
  mergeModes(root, decisions, input, new Set(['sub/c.txt']), events);
  const mode = (p: string) => fs.lstatSync(path.join(root, p)).mode & 0o777;
  t.equal(mode('a.txt'), 0o600, 'the merged mode is set');
  t.equal(mode('b.txt'), 0o644, 'a copy without a merged mode is left as it is');
  t.equal(mode('sub/c.txt'), 0o644, 'a failed path is skipped');
  t.equal(fs.statSync(path.join(outside, 'victim.txt')).mode & 0o777, 0o644, 'the file outside keeps its mode');
  t.same(
    warned.map((w) => [w.path, w.code, w.message]),
    [
      ['via/victim.txt', 'E_PARTIAL', 'its merged mode could not be set: a directory above it is missing or is not a directory'],
      ['lnk', 'E_PARTIAL', 'its merged mode could not be set: too many symbolic links encountered'],
      ['missing', 'E_PARTIAL', 'its merged mode could not be set: no such file or directory'],
    ],
  );
});
