// twoway-same-size-same-mtime-divergence: both sides change a file since
// the baseline, to the same size and to equal mtimes (`touch -r`, `cp -p`,
// tar, two edits in one tick of a coarse clock, FAT's 2 s). Before, the two
// were taken as identical without a hash: exit 0 every run, the replicas
// stayed different. Now both-changed files are identical only when their
// contents hash the same; otherwise a conflict. And a permission change on
// one side with a content change on the other merge into one file with
// both, as Unison does (it was a conflict).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { TSYNC_BIN, runTsync, type RunResult } from '../helpers/run.js';
import { diffSnapshots, snapshot } from '../helpers/tree.js';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-diverge-'));
t.teardown(() => fs.rmSync(TMP, { recursive: true, force: true }));
const STANDIN = path.join(TMP, 'standin-rsh');
fs.writeFileSync(STANDIN, '#!/bin/sh\nshift\nexec sh -c "$*"\n', { mode: 0o755 });

let n = 0;
async function synced(t: Test, files: Record<string, string>): Promise<{ a: string; b: string }> {
  const dir = path.join(TMP, `case${++n}`);
  const a = path.join(dir, 'A');
  const b = path.join(dir, 'B');
  fs.mkdirSync(a, { recursive: true });
  fs.mkdirSync(b, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    fs.writeFileSync(path.join(a, name), text);
    fs.utimesSync(path.join(a, name), 1_600_000_000, 1_600_000_000);
  }
  const r = await twoWay(a, `localhost:${b}`);
  t.equal(r.code, 0, `the first run (${r.stderr})`);
  return { a, b };
}

const twoWay = (a: string, b: string, ...opts: string[]): Promise<RunResult> => runTsync(['--two-way', '-e', STANDIN, '--tsync-path', TSYNC_BIN, ...opts, a, b]);
const noState = { exclude: (rel: string) => rel === '.tsync' || rel.startsWith('.tsync/') };
const read = (p: string) => fs.readFileSync(p, 'utf8');
const conflictCopies = (dir: string) => fs.readdirSync(dir).filter((f) => f.includes('.conflict-'));

for (const [what, window] of [
  ['equal mtimes (touch -r)', []],
  ['mtimes 1 s apart, inside --modify-window 2 (FAT)', ['--modify-window', '2']],
] as const) {
  t.test(`both sides edited to the same size, ${what}: a conflict, never a silent divergence`, async (t) => {
    const { a, b } = await synced(t, { 'f.txt': 'base version\n' });
    fs.writeFileSync(path.join(a, 'f.txt'), 'edit on AAAA\n');
    fs.writeFileSync(path.join(b, 'f.txt'), 'edit on BBBB\n');
    const when = 1_700_000_000;
    fs.utimesSync(path.join(a, 'f.txt'), when, when);
    fs.utimesSync(path.join(b, 'f.txt'), when + (window.length ? 1 : 0), when + (window.length ? 1 : 0));
    const r = await twoWay(a, `localhost:${b}`, ...window);
    t.equal(r.code, 40, `a conflict, exit 40 (${r.stderr})`);
    t.equal(read(path.join(a, 'f.txt')), read(path.join(b, 'f.txt')), 'both sides hold the same version at f.txt');
    t.equal(conflictCopies(a).length, 1, 'the other version is kept beside it');
    t.same(diffSnapshots(await snapshot(a, noState), await snapshot(b, noState), { ignoreDirMtime: true }), [], 'the replicas are equal');
    const again = await twoWay(a, `localhost:${b}`, ...window);
    t.equal(again.code, 0, `the next run has nothing to do (${again.stderr})`);
  });
}

t.test('both sides made the same edit with equal mtimes: hashed, found the same, no conflict', async (t) => {
  const { a, b } = await synced(t, { 'f.txt': 'base version\n' });
  for (const side of [a, b]) {
    fs.writeFileSync(path.join(side, 'f.txt'), 'same new text\n');
    fs.utimesSync(path.join(side, 'f.txt'), 1_700_000_000, 1_700_000_000);
  }
  const r = await twoWay(a, `localhost:${b}`);
  t.equal(r.code, 0, r.stderr);
  t.same(conflictCopies(a), [], 'no conflict copy');
});

t.test('a permission change on one side, a content change on the other: merged, as Unison does', async (t) => {
  const { a, b } = await synced(t, { 'run.sh': 'echo base\n', 'other.txt': 'x\n' });
  fs.chmodSync(path.join(a, 'run.sh'), 0o755);
  fs.writeFileSync(path.join(b, 'run.sh'), 'echo changed on B\n');
  fs.utimesSync(path.join(b, 'run.sh'), 1_700_000_000, 1_700_000_000);
  // and the other way round on another file
  fs.writeFileSync(path.join(a, 'other.txt'), 'changed on A\n');
  fs.chmodSync(path.join(b, 'other.txt'), 0o600);
  const r = await twoWay(a, `localhost:${b}`);
  t.equal(r.code, 0, `no conflict (${r.stderr})`);
  for (const side of [a, b]) {
    t.equal(read(path.join(side, 'run.sh')), 'echo changed on B\n', `${path.basename(side)}: B's content`);
    t.equal(fs.statSync(path.join(side, 'run.sh')).mode & 0o777, 0o755, `${path.basename(side)}: A's mode`);
    t.equal(read(path.join(side, 'other.txt')), 'changed on A\n', `${path.basename(side)}: A's content`);
    t.equal(fs.statSync(path.join(side, 'other.txt')).mode & 0o777, 0o600, `${path.basename(side)}: B's mode`);
    t.same(conflictCopies(side), [], `${path.basename(side)}: no conflict copy`);
  }
  const again = await twoWay(a, `localhost:${b}`, '-v');
  t.equal(again.code, 0, again.stderr);
  t.equal(again.stdout.trim(), '', `the next run has nothing to do: ${again.stdout}`);
});
