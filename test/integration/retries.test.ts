// --retries N (issue 15): the fault relay cuts the link once, then twice, at
// chosen bytes of the direction the data flows, during a push and a pull of
// a 64 MiB file beside a small tree, and of a two-way run that moves a big
// file each way (32 and 16 MiB). Each attempt is a new -e
// process (a new relay, cut or not as the attempt's number says). With
// --retries 3 the run exits 0, the trees equal an uncut run's, and the bytes
// of all attempts together are at most 1.3 times an uncut run's; with
// --retries 0 the run ends as today (exit 10).

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { TSYNC_BIN, runTsync, type RunResult } from '../helpers/run.js';
import { RELAY, makeWorld, readLog, serverGone, type World } from '../helpers/faults.js';
import { diffSnapshots, snapshot } from '../helpers/tree.js';
import { describe } from '../helpers/standin.js';

const BIG = 64 << 20;

interface Cutter {
  rsh: string;
  /** the relay logs of every attempt so far, in order */
  logs(): string[];
}

let cutters = 0;

/** An -e command whose attempt k goes through the relay with cuts[k - 1] (relay options), none after the last. */
function cutter(w: World, cuts: string[][]): Cutter {
  const dir = path.join(w.dir, `cutter-${++cutters}`);
  fs.mkdirSync(dir);
  const cases = cuts.map((c, i) => `  ${i + 1}) cut='${c.join(' ')}' ;;`).join('\n');
  const script = path.join(dir, 'rsh');
  fs.writeFileSync(
    script,
    `#!/bin/sh
n=$(cat '${dir}/count' 2>/dev/null || echo 0); n=$((n + 1)); echo $n > '${dir}/count'
cut=''
case $n in
${cases}
esac
exec env -u NODE_OPTIONS '${process.execPath}' '${RELAY}' --log '${dir}/'$n.log $cut '${w.standin}' "$@"
`,
    { mode: 0o755 },
  );
  const logs = () => {
    const n = Number(fs.readFileSync(path.join(dir, 'count'), 'utf8'));
    return Array.from({ length: n }, (_, i) => path.join(dir, `${i + 1}.log`));
  };
  return { rsh: script, logs };
}

/** bytes each way over every attempt, once each attempt's server has exited */
async function wireBytes(t: Test, c: Cutter): Promise<{ up: number; down: number; attempts: number }> {
  let up = 0;
  let down = 0;
  for (const log of c.logs()) {
    t.ok(await serverGone(log), `the server behind ${path.basename(log)} exited`);
    const l = readLog(log);
    up += l.up;
    down += l.down;
  }
  return { up, down, attempts: c.logs().length };
}

type Test = Parameters<Parameters<typeof t.test>[1]>[0];

function copyTree(from: string, to: string): string {
  fs.rmSync(to, { recursive: true, force: true });
  fs.cpSync(from, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  return to;
}

async function makeBigWorld(dir: string): Promise<World> {
  const w = await makeWorld(dir, 1515);
  fs.writeFileSync(path.join(w.src, 'big.bin'), crypto.randomBytes(BIG));
  return { ...w, NEW: await snapshot(w.src) };
}

function oneWay(w: World, dir: 'pull' | 'push', dst: string, rsh: string, extra: string[]): Promise<RunResult> {
  const ends = dir === 'pull' ? [`localhost:${w.src}/`, `${dst}/`] : [`${w.src}/`, `localhost:${dst}/`];
  return runTsync(['--delete', '-e', rsh, '--tsync-path', TSYNC_BIN, '--json', ...extra, ...ends], { timeoutMs: 300_000 });
}

function json(r: RunResult): { reconnects?: number; bytes?: { sent: number; received: number } } {
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { reconnects?: number };
  } catch {
    return {};
  }
}

const tempsIn = (root: string): string[] => fs.readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((n) => /(^|\/)\.tsync-(tmp|partial)-/.test(n));

t.test('one-way runs survive one and two cuts with --retries 3', async (t) => {
  const w = await makeBigWorld(t.testdir());
  for (const dir of ['push', 'pull'] as const) {
    const way = dir === 'push' ? '--cut-up' : '--cut-down';
    const uncut = cutter(w, []);
    const whole = await oneWay(w, dir, copyTree(w.old, path.join(w.dir, `${dir}-uncut`)), uncut.rsh, []);
    t.equal(whole.code, 0, `uncut ${dir}: ${describe(whole)}`);
    const base = await wireBytes(t, uncut);
    const data = dir === 'push' ? base.up : base.down;
    t.ok(data > BIG, `the uncut ${dir} moved the big file (${data} bytes)`);

    // --retries 0: today's behaviour, a lost link
    const never = cutter(w, [[way, String(Math.floor(data * 0.4))]]);
    const lost = await oneWay(w, dir, copyTree(w.old, path.join(w.dir, `${dir}-r0`)), never.rsh, []);
    t.equal(lost.code, 10, `--retries 0 ${dir} cut once: exit 10 (${describe(lost)})`);
    t.equal(never.logs().length, 1, 'one attempt only');

    for (const cuts of [[0.4], [0.4, 0.3]]) {
      const name = `${dir} cut at ${cuts.join(' then ')} of ${data} bytes`;
      const c = cutter(
        w,
        cuts.map((f) => [way, String(Math.floor(data * f))]),
      );
      const dst = copyTree(w.old, path.join(w.dir, `${dir}-${cuts.length}`));
      const r = await oneWay(w, dir, dst, c.rsh, ['--retries', '3']);
      t.equal(r.code, 0, `${name}: exit 0 (${describe(r)})`);
      const j = json(r);
      t.equal(j.reconnects, cuts.length, `--json counts ${cuts.length} reconnect(s)`);
      const all = await wireBytes(t, c);
      t.equal(all.attempts, cuts.length + 1, 'one attempt per cut, then one that completes');
      t.same(diffSnapshots(w.NEW, await snapshot(dst), { labels: ['source', 'destination'] }).slice(0, 20), [], `${name}: the destination equals the source`);
      t.same(tempsIn(dst), [], 'no temporary or partial left');
      const ratio = (all.up + all.down) / (base.up + base.down);
      t.ok(ratio <= 1.3, `${name}: ${all.up + all.down} bytes in all, ${ratio.toFixed(3)} times the uncut run's ${base.up + base.down}`);
      // what this process wrote, every attempt's included (more than the relay passed on: a cut drops what was in flight)
      const passed = dir === 'push' ? all.up : all.down;
      const said = dir === 'push' ? j.bytes?.sent : j.bytes?.received;
      // the last attempt alone moves only the rest of the big file: the count holds the earlier attempts too
      t.ok(said !== undefined && said >= data && said <= passed * 1.3, `--json counts every attempt's bytes (${said}; the uncut run ${data}, the relay passed on ${passed})`);
      t.match(r.stderr, /connecting again in 1 s \(retry 1 of 3\)/, 'the reconnect is said on stderr');
    }
  }
});

function twoWay(a: string, b: string, rsh: string, extra: string[]): Promise<RunResult> {
  return runTsync(['--two-way', '-e', rsh, '--tsync-path', TSYNC_BIN, '--json', ...extra, `${a}/`, `localhost:${b}/`], { timeoutMs: 300_000 });
}

t.test('two-way runs survive one and two cuts with --retries 3, in each direction', async (t) => {
  // half the one-way test's sizes (32 MiB one way, 16 MiB the other): the resume is the same code, the suite's time is not
  const w = await makeWorld(t.testdir(), 1515);
  fs.writeFileSync(path.join(w.src, 'big.bin'), crypto.randomBytes(BIG / 2));
  // replica A (local): the source tree with its big file; replica B (behind the relay): another and a few small ones of its own (a first run is their union)
  const bBig = path.join(w.dir, 'big-b-model');
  fs.mkdirSync(path.join(bBig, 'b-only'), { recursive: true });
  fs.writeFileSync(path.join(bBig, 'big-b.bin'), crypto.randomBytes(BIG / 4));
  for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(bBig, 'b-only', `note-${i}.txt`), `note ${i}\n`);
  const pair = (name: string) => {
    const a = copyTree(w.src, path.join(w.dir, `${name}-a`));
    const b = copyTree(bBig, path.join(w.dir, `${name}-b`));
    return { a, b };
  };
  const uncut = cutter(w, []);
  const u = pair('uncut');
  const whole = await twoWay(u.a, u.b, uncut.rsh, []);
  t.equal(whole.code, 0, `uncut: ${describe(whole)}`);
  const base = await wireBytes(t, uncut);
  t.ok(base.up > BIG / 2 && base.down > BIG / 4, `the uncut run moved both big files (up ${base.up}, down ${base.down})`);
  const WANT = await snapshot(u.a);
  t.same(diffSnapshots(WANT, await snapshot(u.b), { ignoreDirMtime: true, ignoreSymlinkMtime: true, ignore: (p) => p.startsWith('.tsync') }).slice(0, 10), [], 'uncut: the replicas agree');

  for (const [way, data] of [['--cut-up', base.up], ['--cut-down', base.down]] as const) {
    for (const cuts of [[0.4], [0.4, 0.3]]) {
      const name = `two-way ${way} at ${cuts.join(' then ')} of ${data} bytes`;
      const c = cutter(
        w,
        cuts.map((f) => [way, String(Math.floor(data * f))]),
      );
      const { a, b } = pair(`${way}-${cuts.length}`);
      const r = await twoWay(a, b, c.rsh, ['--retries', '3']);
      t.equal(r.code, 0, `${name}: exit 0 (${describe(r)})`);
      t.equal(json(r).reconnects, cuts.length, `--json counts ${cuts.length} reconnect(s)`);
      const all = await wireBytes(t, c);
      t.equal(all.attempts, cuts.length + 1, 'one attempt per cut, then one that completes');
      // a directory or link made by a run has that run's time (two-way keeps files' times, not theirs)
      const same = { ignoreDirMtime: true, ignoreSymlinkMtime: true, ignore: (p: string) => p.startsWith('.tsync') };
      t.same(diffSnapshots(WANT, await snapshot(a), { ...same, labels: ['uncut', 'A'] }).slice(0, 10), [], `${name}: A is what an uncut run makes`);
      t.same(diffSnapshots(WANT, await snapshot(b), { ...same, labels: ['uncut', 'B'] }).slice(0, 10), [], `${name}: and so is B`);
      t.same([...tempsIn(a), ...tempsIn(b)], [], 'no temporary or partial left on either side');
      const ratio = (all.up + all.down) / (base.up + base.down);
      t.ok(ratio <= 1.3, `${name}: ${all.up + all.down} bytes in all, ${ratio.toFixed(3)} times the uncut run's ${base.up + base.down}`);
      const again = await twoWay(a, b, cutter(w, []).rsh, []);
      t.equal(again.code, 0, `${name}: a plain re-run exits 0`);
      t.match(again.stdout, /"created":0,"updated":0,"metaOnly":0,"deleted":0/, `${name}: and changes nothing (the baseline was written)`);
    }
  }
});

t.test('--retries 0 with --two-way: a cut in either direction ends the run with exit 10', async (t) => {
  // the cut during the pull (down) used to end the client with exit 0 and no output: nothing kept the event loop alive
  const w = await makeWorld(t.testdir(), 1616);
  for (const way of ['--cut-up', '--cut-down']) {
    const a = copyTree(w.src, path.join(w.dir, `a${way}`));
    const b = copyTree(w.old, path.join(w.dir, `b${way}`));
    fs.writeFileSync(path.join(way === '--cut-up' ? a : b, 'big.bin'), crypto.randomBytes(BIG / 4));
    const c = cutter(w, [[way, String(BIG / 8)]]);
    const r = await twoWay(a, b, c.rsh, []);
    t.equal(r.code, 10, `${way}: exit 10 (${describe(r)})`);
    t.match(r.stdout, /"exitCode":10/, `${way}: the --json summary says so`);
    t.equal(c.logs().length, 1, `${way}: one attempt only`);
  }
});
