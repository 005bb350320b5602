// Several sources merged as rsync merges them (issue 18; rsync's own
// duplicates, merge and trimslash tests): one list in argument order, the
// first occurrence of a path winning (a directory winning over a
// non-directory of the same name, as rsync's flist cleaning does), each
// source's trailing slash keeping its meaning, and the root entry first
// whatever the order of the sources. Every case runs in both argument
// orders, locally, pushing and pulling through the stdio stand-in, with
// `rsync -ai` on an identical copy as the oracle for the tree and for the
// itemized lines (compared sorted: tsync's order is not rsync's, and the
// README says so).

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { runTsync, type RunResult } from '../helpers/run.js';
import { requireOrSkip, toolAvailable } from '../helpers/sshd.js';
import { describe, remote, standins, via, writeTree } from '../helpers/standin.js';
import { diffSnapshots, snapshot } from '../helpers/tree.js';

const execFileP = promisify(execFile);
const haveRsync = toolAvailable('rsync') === null;
const OLD = 1_500_000_000;

/** The sources every case picks from, relative to the test directory. */
const FIXTURE: Record<string, Record<string, string | null>> = {
  a: { one: 'a one\n', sub: null, 'sub/x': 'a x\n', 'sub/deep': null, 'sub/deep/d': 'a d\n', zeta: 'a zeta\n' },
  b: { one: 'b one, longer\n', two: 'b two\n', sub: null, 'sub/x': 'b x\n', 'sub/y': 'b y\n', alpha: null, 'alpha/in': 'b alpha\n' },
  c: { cfile: 'c\n', shallow: 'c has its own shallow\n' },
  from: { f: 'f\n', d: null, 'd/g': 'g\n' },
  // the same name as a file in x and as a directory in y: the directory wins, in either order
  x: { p: 'x p is a file\n', q: 'x q\n' },
  y: { p: null, 'p/in': 'y p/in\n', q: null, 'q/deeper': 'y q/deeper\n' },
};

/** Each case in both argument orders (where they differ). */
const CASES: string[][] = [
  ['a/', 'b/'],
  ['from/', 'from/'],
  ['shallow', 'c/'],
  ['a', 'b/'],
  ['a/sub', 'b/sub'],
  ['x/', 'y/'],
  ['a/sub', 'a/', 'b/'],
];

type Mode = 'local' | 'push' | 'pull';

async function fixture(root: string): Promise<void> {
  for (const [name, spec] of Object.entries(FIXTURE)) await writeTree(path.join(root, name), spec, OLD);
  fs.writeFileSync(path.join(root, 'shallow'), 'the shallow file source\n');
  fs.utimesSync(path.join(root, 'shallow'), OLD, OLD);
}

async function rsyncI(cwd: string, srcs: string[], dest: string): Promise<string> {
  const { stdout } = await execFileP('rsync', ['-ai', ...srcs, dest], { cwd });
  return stdout;
}

function tsyncI(mode: Mode, cwd: string, rsh: string, srcs: string[], dest: string, flags: string[] = ['-i']): Promise<RunResult> {
  const abs = (p: string) => path.join(cwd, p) + (p.endsWith('/') ? '/' : '');
  if (mode === 'local') return runTsync([...flags, ...srcs.map(abs), abs(dest)]);
  if (mode === 'push') return runTsync([...flags, ...via(rsh), ...srcs.map(abs), remote(abs(dest))]);
  return runTsync([...flags, ...via(rsh), ...srcs.map((s) => remote(abs(s))), abs(dest)]);
}

/** the lines of an output, sorted: the order is not compared */
function sorted(out: string): string[] {
  return out.split('\n').filter((l) => l !== '').sort();
}

/** the destination root is compared too when a source gives it (a trailing slash); otherwise both tools just made or changed it now */
async function sameTree(t: Test, ref: string, out: string, what: string, root = true): Promise<void> {
  const d = diffSnapshots(await snapshot(ref, { includeRoot: root }), await snapshot(out, { includeRoot: root }), { labels: ['rsync', 'tsync'] });
  t.same(d, [], `${what}: tsync's tree equals rsync's`);
}

t.test('rsync is available as the oracle', async (t) => {
  if (!requireOrSkip(t, toolAvailable('rsync'))) return;
  t.pass('rsync found');
});

const orders = CASES.flatMap((c) => {
  const rev = [...c].reverse();
  return rev.join(' ') === c.join(' ') ? [c] : [c, rev];
});

for (const srcs of orders) {
  t.test(`tsync ${srcs.join(' ')} DEST/ merges as rsync does`, { skip: haveRsync ? false : 'rsync missing' }, async (t) => {
    const dir = t.testdir();
    await fixture(dir);
    const { standin } = standins(t);
    fs.mkdirSync(path.join(dir, 'ref'));
    const want = await rsyncI(dir, srcs, 'ref/');
    for (const mode of ['local', 'push', 'pull'] as const) {
      const out = `out-${mode}`;
      fs.mkdirSync(path.join(dir, out));
      const r = await tsyncI(mode, dir, standin, srcs, `${out}/`);
      t.equal(r.code, 0, `${mode}: exit 0 (${describe(r)})`);
      t.equal(r.stderr, '', `${mode}: nothing on stderr`);
      await sameTree(t, path.join(dir, 'ref'), path.join(dir, out), mode, srcs.some((s) => s.endsWith('/')));
      t.same(sorted(r.stdout), sorted(want), `${mode}: the same itemized lines as rsync`);
    }
  });
}

t.test('a re-run of merged sources changes nothing, as with rsync', { skip: haveRsync ? false : 'rsync missing' }, async (t) => {
  const dir = t.testdir();
  await fixture(dir);
  const { standin } = standins(t);
  for (const mode of ['local', 'push', 'pull'] as const) {
    const out = `again-${mode}`;
    const first = await tsyncI(mode, dir, standin, ['b/', 'a/'], `${out}/`);
    t.equal(first.code, 0, describe(first));
    const again = await tsyncI(mode, dir, standin, ['b/', 'a/'], `${out}/`);
    t.equal(again.code, 0, describe(again));
    t.equal(again.stdout, '', `${mode}: nothing itemized the second time (a path listed twice would be re-copied each run)`);
  }
});

t.test('--delete with merged sources keeps what any source holds', { skip: haveRsync ? false : 'rsync missing' }, async (t) => {
  const dir = t.testdir();
  await fixture(dir);
  const { standin } = standins(t);
  const extra = { 'stale.txt': 'stale\n', 'sub/old': 'old\n', one: 'will be replaced\n' };
  await writeTree(path.join(dir, 'ref'), extra, OLD);
  await execFileP('rsync', ['-a', '--delete', 'a/', 'b/', 'ref/'], { cwd: dir });
  for (const mode of ['local', 'push', 'pull'] as const) {
    const out = `del-${mode}`;
    await writeTree(path.join(dir, out), extra, OLD);
    const r = await tsyncI(mode, dir, standin, ['a/', 'b/'], `${out}/`, ['--delete']);
    t.equal(r.code, 0, `${mode}: ${describe(r)}`);
    await sameTree(t, path.join(dir, 'ref'), path.join(dir, out), `${mode} --delete`);
  }
});
