// tsync vault forget (issue 14's retention and garbage collection): each
// rule on a made-up history (pushes made under libfaketime at chosen
// dates, not by waiting), space freed only after the grace period by the
// host's clock (moved forward with libfaketime), every kept snapshot still
// restoring exactly, and forget and push at the same moment, or killed.

import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { collect, runTsync, spawnTsync, type RunResult } from '../helpers/run.js';
import { diffSnapshots, snapshot } from '../helpers/tree.js';
import { requireOrSkip } from '../helpers/sshd.js';
import { retain } from '../../lib/vault/forget.js';

const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const faketimeMissing = fs.existsSync(FAKETIME_LIB) ? null : `${FAKETIME_LIB} missing (apt-get install faketime)`;

const H = 3600_000;
const D = 24 * H;
const at = (iso: string) => Date.parse(iso);

t.test('retention rules, as restic applies them (UTC buckets)', async (t) => {
  const snaps = [
    ['2026-01-05T10:00Z', 1], ['2026-01-20T10:00Z', 2], ['2026-02-03T09:00Z', 3], ['2026-02-03T09:30Z', 4],
    ['2026-02-03T11:00Z', 5], ['2026-02-10T08:00Z', 6], ['2026-02-11T08:00Z', 7], ['2026-02-11T20:00Z', 8],
  ].map(([time, seq]) => ({ seq: seq as number, time: at(time as string) }));
  const none = { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0 };
  const keep = (p: Partial<typeof none>) => [...retain(snaps, { ...none, ...p })].sort((a, b) => a - b);
  t.same(keep({ last: 3 }), [6, 7, 8], '--keep-last 3: the three newest');
  t.same(keep({ hourly: 3 }), [6, 7, 8], '--keep-hourly 3: the newest of each of the three newest hours that have one');
  t.same(keep({ daily: 3 }), [5, 6, 8], '--keep-daily 3: one per day, newest days first');
  t.same(keep({ weekly: 2 }), [5, 8], '--keep-weekly 2: the newest of ISO weeks 7 and 6');
  t.same(keep({ monthly: 2 }), [2, 8], '--keep-monthly 2: January and February');
  t.same(keep({ last: 1, monthly: 2 }), [2, 8], 'rules add up');
  t.same(keep({}), [], 'no rule keeps nothing (the command refuses that, and always keeps the newest)');
  void D;
});

interface Tool {
  run(args: string[], opts?: { fake?: string; env?: Record<string, string> }): Promise<RunResult>;
}

function client(sb: string, name: string): Tool {
  const env = { XDG_STATE_HOME: path.join(sb, name, 'state'), XDG_CACHE_HOME: path.join(sb, name, 'cache'), TZ: 'UTC' };
  return {
    run: (args, o = {}) => runTsync(args, { env: { ...env, ...(o.fake ? { LD_PRELOAD: FAKETIME_LIB, FAKETIME: o.fake, FAKETIME_DONT_FAKE_MONOTONIC: '1' } : {}), ...o.env } }),
  };
}

const copy = (from: string, to: string) => execFileSync('rsync', ['-a', '--delete', `${from}/`, `${to}/`]);
const same = async (a: string, b: string) => diffSnapshots(await snapshot(a), await snapshot(b), { mtimePrecision: 'ms' });
const du = (dir: string): number => {
  let n = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) (e.isDirectory() ? walk(path.join(d, e.name)) : (n += fs.statSync(path.join(d, e.name)).size));
  };
  walk(dir);
  return n;
};
const ok = (t: Test, r: RunResult, what: string) => t.equal(r.code, 0, `${what}${r.code ? `: ${r.stderr.trim()}` : ''}`);

/** six snapshots on chosen dates; each replaces a 2 MB file and adds a small one */
async function history(t: Test, sb: string, c: Tool, key: string): Promise<{ vault: string; copies: Map<number, string> }> {
  const src = path.join(sb, 'src');
  const vault = path.join(sb, 'vault');
  await fsp.mkdir(src, { recursive: true });
  const copies = new Map<number, string>();
  const dates = ['2026-01-05 10:00:00', '2026-01-20 10:00:00', '2026-02-03 09:00:00', '2026-02-03 11:00:00', '2026-02-10 08:00:00', '2026-02-11 08:00:00'];
  for (const [i, date] of dates.entries()) {
    fs.writeFileSync(path.join(src, 'big.bin'), randomBytes(2 << 20));
    fs.writeFileSync(path.join(src, `small-${i}.txt`), `snapshot ${i + 1}\n`);
    ok(t, await c.run(['--vault', key, `${src}/`, vault], { fake: `@${date}` }), `push ${i + 1} at ${date}`);
    copies.set(i + 1, path.join(sb, `copy${i + 1}`));
    copy(src, copies.get(i + 1)!);
  }
  return { vault, copies };
}

t.test('forget: the rules decide what stays, space is freed a day later by the host clock, kept snapshots restore', async (t) => {
  if (!requireOrSkip(t, faketimeMissing)) return;
  const sb = t.testdir();
  const c = client(sb, 'a');
  const key = path.join(sb, 'key');
  ok(t, await runTsync(['keygen', '--vault', key]), 'keygen');
  const { vault, copies } = await history(t, sb, c, key);
  const log = async () => (JSON.parse((await c.run(['vault', 'log', '--json', '--vault', key, vault])).stdout) as { snapshots: Array<{ snapshot: number }> }).snapshots.map((s) => s.snapshot);
  t.same(await log(), [1, 2, 3, 4, 5, 6], 'six snapshots');
  const dry = await c.run(['vault', 'forget', '--vault', key, vault, '--keep-monthly', '2', '--keep-last', '1', '-n', '--json']);
  ok(t, dry, 'forget -n');
  t.same((JSON.parse(dry.stdout) as { forgotten: number[] }).forgotten, [1, 3, 4, 5], 'it would forget 1, 3, 4 and 5');
  t.same(await log(), [1, 2, 3, 4, 5, 6], '-n changed nothing');
  const size0 = du(vault);
  ok(t, await c.run(['vault', 'forget', '--vault', key, vault, '--keep-monthly', '2', '--keep-last', '1']), 'forget --keep-monthly 2 --keep-last 1');
  t.same(await log(), [2, 6], 'snapshots 2 and 6 are left');
  t.ok(du(vault) >= size0 * 0.9, 'nothing is deleted before the grace period');
  ok(t, await c.run(['vault', 'forget', '--vault', key, vault, '--keep-last', '2'], { fake: '+12h' }), 'forget again 12 hours later');
  t.ok(du(vault) >= size0 * 0.9, 'still nothing deleted');
  ok(t, await c.run(['vault', 'forget', '--vault', key, vault, '--keep-last', '2'], { fake: '+25h' }), 'forget again 25 hours later');
  const size1 = du(vault);
  t.ok(size1 < size0 * 0.6, `space shrinks: ${size0} -> ${size1} bytes`);
  ok(t, await c.run(['vault', 'check', '--read-data', '--vault', key, vault]), 'check --read-data passes after the sweep');
  for (const n of [2, 6]) {
    const dst = path.join(sb, `r${n}`);
    ok(t, await c.run(['--vault', key, '--at', String(n), vault, `${dst}/`]), `restore ${n}`);
    t.same(await same(copies.get(n)!, dst), [], `snapshot ${n} restores exactly`);
  }
  const gone = await c.run(['--vault', key, '--at', '3', vault, `${path.join(sb, 'r3')}/`]);
  t.equal(gone.code, 1, 'a forgotten snapshot cannot be restored');
  t.match(gone.stderr, /forgotten/);
  const ro = path.join(sb, 'ro');
  ok(t, await runTsync(['keygen', '--read-only', key, ro]), 'read-only key');
  t.equal((await c.run(['vault', 'forget', '--vault', ro, vault, '--keep-last', '1'])).code, 15, 'a read-only key cannot forget');
});

t.test('a push during a forget, a forget during a push, and either killed: kept snapshots restore, check passes', async (t) => {
  if (!requireOrSkip(t, faketimeMissing)) return;
  const sb = t.testdir();
  const key = path.join(sb, 'key');
  ok(t, await runTsync(['keygen', '--vault', key]), 'keygen');
  const a = client(sb, 'a');
  const b = client(sb, 'b');
  const src = path.join(sb, 'src');
  const vault = path.join(sb, 'vault');
  await fsp.mkdir(src);
  const env = (c: string) => ({ XDG_STATE_HOME: path.join(sb, c, 'state'), XDG_CACHE_HOME: path.join(sb, c, 'cache') });
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(src, `f${i}`), randomBytes(1 << 20));
    ok(t, await a.run(['--vault', key, `${src}/`, vault]), `round ${round}: a push`);
    fs.writeFileSync(path.join(src, `f${round % 3}`), randomBytes(3 << 20));
    // b forgets (a day later each round, so sweeps happen too) while a pushes again
    const push = spawnTsync(['--vault', key, `${src}/`, vault], { env: env('a') });
    const fgt = spawnTsync(['vault', 'forget', '--vault', key, vault, '--keep-last', '2'], { env: { ...env('b'), LD_PRELOAD: FAKETIME_LIB, FAKETIME: `+${25 * (round + 1)}h` } });
    if (round === 1) setTimeout(() => fgt.kill('SIGKILL'), 150);
    if (round === 2) setTimeout(() => push.kill('SIGKILL'), 300);
    const [p, f] = await Promise.all([collect(push), collect(fgt)]);
    if (round !== 2) ok(t, p, `round ${round}: the push beside the forget`);
    if (round !== 1) ok(t, f, `round ${round}: the forget beside the push`);
    ok(t, await b.run(['vault', 'check', '--read-data', '--vault', key, vault]), `round ${round}: check --read-data`);
  }
  const snaps = (JSON.parse((await a.run(['vault', 'log', '--json', '--vault', key, vault])).stdout) as { snapshots: Array<{ snapshot: number }> }).snapshots;
  t.ok(snaps.length >= 2, `${snaps.length} snapshots kept`);
  for (const s of snaps) {
    const dst = path.join(sb, `r${s.snapshot}`);
    ok(t, await a.run(['--vault', key, '--at', String(s.snapshot), vault, `${dst}/`]), `snapshot ${s.snapshot} restores`);
  }
  const last = path.join(sb, 'last');
  ok(t, await a.run(['--vault', key, `${src}/`, vault]), 'a last push');
  ok(t, await a.run(['--vault', key, vault, `${last}/`]), 'and its restore');
  t.same(await same(src, last), [], 'exactly');
});
