// `tsync --two-way` end to end, the real binary: first merge, propagation
// both ways, deletions, conflicts kept on both sides, -n and --json, a peer
// whose clock is an hour off (libfaketime) in each direction, different
// time zones, three replicas synced pairwise, and a run killed halfway.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { TSYNC_BIN, collect, runTsync, spawnTsync, type RunResult } from '../helpers/run.js';
import { requireOrSkip, toolAvailable } from '../helpers/sshd.js';
import { diffSnapshots, makeRandomTree, mutateTree, snapshot } from '../helpers/tree.js';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-twoway-'));
t.teardown(() => fs.rmSync(TMP, { recursive: true, force: true }));

function tool(name: string, body: string): string {
  const p = path.join(TMP, name);
  fs.writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return p;
}
/** drops the host, runs the remote command */
const STANDIN = tool('standin-rsh', 'shift\nexec sh -c "$*"');
const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
/** the remote side runs with its clock shifted by $SKEW (libfaketime) and in time zone $PEER_TZ */
/** the remote side plays a tsync without diff manifests (capability twoway:diff) */
const NODIFF = tool('nodiff-rsh', 'shift\nexec env TSYNC_TEST_NO_CAPS=twoway:diff sh -c "$*"');
const SKEWED = tool('skewed-rsh', `shift\nexec env FAKETIME="$SKEW" LD_PRELOAD=${FAKETIME_LIB} TZ="\${PEER_TZ:-UTC}" sh -c "$*"`);

let n = 0;
function pair(): { a: string; b: string } {
  const dir = path.join(TMP, `case${++n}`);
  const a = path.join(dir, 'A');
  const b = path.join(dir, 'B');
  fs.mkdirSync(a, { recursive: true });
  fs.mkdirSync(b, { recursive: true });
  return { a, b };
}

const remote = (p: string) => `localhost:${p}`;
const twoWay = (a: string, b: string, ...opts: string[]): Promise<RunResult> => runTsync(['--two-way', '-e', STANDIN, '--tsync-path', TSYNC_BIN, ...opts, a, b]);

const noState = { exclude: (rel: string) => rel === '.tsync' };
async function assertSame(t: Test, a: string, b: string, what: string): Promise<void> {
  const diff = diffSnapshots(await snapshot(a, noState), await snapshot(b, noState), { ignoreDirMtime: true, ignoreSymlinkMtime: true, mtimePrecision: 'us' });
  t.same(diff, [], what);
}

function write(file: string, text: string, mtimeS: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  fs.utimesSync(file, mtimeS, mtimeS);
}
/** random edits as a user makes them: tsync's own state is not the user's to edit */
async function mutateUser(root: string, seed: number, ops: number): Promise<string[]> {
  const state = path.join(root, '.tsync');
  const aside = `${root}.state-aside`;
  fs.renameSync(state, aside);
  try {
    return await mutateTree(root, seed, { ops });
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
    fs.renameSync(aside, state);
  }
}
const read = (f: string) => fs.readFileSync(f, 'utf8');
const conflictsIn = (dir: string) => fs.readdirSync(dir).filter((x) => x.includes('.conflict-')).sort();

t.test('first run merges both trees; a re-run finds nothing to do', async (t) => {
  const { a, b } = pair();
  await makeRandomTree(a, 11, { files: 40, dirs: 8, bigFiles: 1 });
  await makeRandomTree(path.join(b, 'other'), 12, { files: 30, dirs: 5, bigFiles: 0 });
  const r = await twoWay(a, remote(b), '-i');
  t.equal(r.code, 0, r.stderr);
  await assertSame(t, a, b, 'both sides equal after the first run');
  t.ok(fs.existsSync(path.join(a, '.tsync/id')) && fs.existsSync(path.join(b, '.tsync/id')), 'each side has its state');
  t.notOk(fs.existsSync(path.join(a, '.tsync/.tsync')) || fs.existsSync(path.join(b, 'other/.tsync')), '.tsync is never synced');
  const again = await twoWay(a, remote(b), '-i');
  t.equal(again.code, 0, again.stderr);
  t.equal(again.stdout, '', 'nothing to do the second time');
});

t.test('changes on both sides travel; deletions propagate; nothing is a conflict', async (t) => {
  const { a, b } = pair();
  await makeRandomTree(a, 21, { files: 40, dirs: 8, bigFiles: 1, oddNames: true });
  t.equal((await twoWay(a, b)).code, 0);
  // disjoint changes: a in its own subtree, b elsewhere
  write(path.join(a, 'from-a/new.txt'), 'made on a', 1_700_000_100);
  write(path.join(b, 'from-b/new.txt'), 'made on b', 1_700_000_200);
  const victims = fs.readdirSync(a).filter((x) => fs.lstatSync(path.join(a, x)).isFile()).slice(0, 2);
  for (const v of victims) fs.rmSync(path.join(b, v));
  const r = await twoWay(a, remote(b), '-i');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^--> new +from-a\/$/m);
  t.match(r.stdout, /^<-- new +from-b\/new\.txt$/m);
  for (const v of victims) {
    t.notOk(fs.existsSync(path.join(a, v)), `${v} deleted on b is deleted on a`);
    t.match(r.stdout, new RegExp(`^<-- deleted +${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  }
  await assertSame(t, a, b, 'equal after propagation');
  // random edits on one side (deletes, type changes, chmod) all reach the other
  await mutateUser(b, 5, 25);
  const r2 = await twoWay(remote(b), a);
  t.equal(r2.code, 0, r2.stderr);
  await assertSame(t, a, b, 'random edits on one side, replica named first: equal');
  t.equal(conflictsIn(a).length, 0, 'no conflict copies');
});

t.test('random edits on both sides at once, several seeds: both end equal, and the next run has nothing to do', async (t) => {
  for (const seed of [101, 202, 303, 404]) {
    const { a, b } = pair();
    await makeRandomTree(a, seed, { files: 40, dirs: 8, bigFiles: 1, oddNames: seed % 2 === 0 });
    t.equal((await twoWay(a, remote(b))).code, 0);
    await mutateUser(a, seed + 1, 20);
    await mutateUser(b, seed + 2, 20);
    const r = await twoWay(seed % 2 ? a : remote(b), seed % 2 ? remote(b) : a, '--json');
    t.ok(r.code === 0 || r.code === 40, `seed ${seed}: exit ${r.code} ${r.stderr}`);
    await assertSame(t, a, b, `seed ${seed}: equal`);
    const again = await twoWay(a, remote(b), '-i');
    t.equal(again.code, 0, again.stderr);
    t.equal(again.stdout, '', `seed ${seed}: settled`);
  }
});

t.test('a replica without diff manifests decides the same; with them a quiet re-run sends only its root', async (t) => {
  const viaOld = (a: string, b: string, ...opts: string[]) => runTsync(['--two-way', '-e', NODIFF, '--tsync-path', TSYNC_BIN, ...opts, a, b]);
  const received = (r: RunResult) => JSON.parse(r.stdout).bytes.received as number;
  for (const seed of [505, 606]) {
    const { a, b } = pair();
    await makeRandomTree(a, seed, { files: 60, dirs: 10, bigFiles: 0, oddNames: true });
    t.equal((await twoWay(a, remote(b))).code, 0);
    await mutateUser(a, seed + 1, 15);
    await mutateUser(b, seed + 2, 15);
    const old = await viaOld(a, remote(b), '-n', '-i');
    const cur = await twoWay(a, remote(b), '-n', '-i');
    t.ok(cur.code === 0 || cur.code === 40, `seed ${seed}: exit ${cur.code} ${cur.stderr}`);
    t.equal(cur.code, old.code, `seed ${seed}: the same exit code`);
    t.ok(cur.stdout.split('\n').length > 5, `seed ${seed}: there is something to decide`);
    t.equal(cur.stdout, old.stdout, `seed ${seed}: every decision the same with the diff as with the whole manifest`);
    const r = await twoWay(a, remote(b), '--json');
    t.ok(r.code === 0 || r.code === 40, `seed ${seed}: exit ${r.code} ${r.stderr}`);
    await assertSame(t, a, b, `seed ${seed}: equal`);
    const quietOld = await viaOld(a, remote(b), '--json');
    const quiet = await twoWay(a, remote(b), '--json');
    t.equal(quiet.code, 0, quiet.stderr);
    // handshake, pings, the root entry: under 1,000 bytes whatever the tree's size; the whole manifest is some KB here
    t.ok(received(quiet) < 1000 && received(quietOld) > received(quiet) + 2000, `seed ${seed}: a quiet re-run receives ${received(quiet)} bytes, not ${received(quietOld)}`);
    t.equal(JSON.parse(quiet.stdout).counts.entries, JSON.parse(quietOld.stdout).counts.entries, `seed ${seed}: both count every entry`);
  }
});

t.test('a conflict: the newer version wins, the other is kept on both sides; -n and --json tell', async (t) => {
  const { a, b } = pair();
  write(path.join(a, 'notes.txt'), 'v1', 1_700_000_000);
  t.equal((await twoWay(a, b)).code, 0);
  write(path.join(a, 'notes.txt'), 'edited on a', 1_700_000_100);
  write(path.join(b, 'notes.txt'), 'edited on b, later', 1_700_000_200);
  const before = [await snapshot(a), await snapshot(b)];
  const dry = await twoWay(a, remote(b), '-n');
  t.equal(dry.code, 40, 'a dry run that would leave a conflict says so by its exit code');
  t.match(dry.stdout, /^<-> conflict +notes\.txt: the second's newer version kept, the first's saved as notes\.conflict-.+\.txt$/m);
  t.same(diffSnapshots(await snapshot(a), before[0]), [], '-n changed nothing on a');
  t.same(diffSnapshots(await snapshot(b), before[1]), [], '-n changed nothing on b');
  const r = await twoWay(a, remote(b), '--json');
  t.equal(r.code, 40, r.stderr);
  const j = JSON.parse(r.stdout);
  t.equal(j.exitCode, 40);
  t.equal(j.conflicts.length, 1);
  t.equal(j.conflicts[0].path, 'notes.txt');
  t.equal(j.conflicts[0].kept, 'second');
  const copy = j.conflicts[0].copy as string;
  t.match(copy, new RegExp(`^notes\\.conflict-${os.hostname().replace(/[^A-Za-z0-9.-]/g, '_').slice(0, 32)}-20231114-221500\\.txt$`), 'the name says conflict, the host and the losing version\'s time');
  for (const side of [a, b]) {
    t.equal(read(path.join(side, 'notes.txt')), 'edited on b, later');
    t.equal(read(path.join(side, copy)), 'edited on a');
  }
  const plain = await twoWay(a, remote(b));
  t.equal(plain.code, 0, 'the conflict is settled: the next run is clean');
  // without -i/-v a conflict is still told, on stderr
  write(path.join(a, 'notes.txt'), 'again on a, later', 1_700_000_400);
  write(path.join(b, 'notes.txt'), 'again on b', 1_700_000_300);
  const told = await twoWay(a, remote(b));
  t.equal(told.code, 40);
  t.match(told.stderr, /tsync: conflict: notes\.txt: the first replica's newer version kept, the other saved as notes\.conflict-/);
  t.equal(read(path.join(b, 'notes.txt')), 'again on a, later');
});

t.test('the same edit on both sides is not a conflict', async (t) => {
  const { a, b } = pair();
  write(path.join(a, 'f'), 'old', 1_700_000_000);
  t.equal((await twoWay(a, b)).code, 0);
  write(path.join(a, 'f'), 'same new text', 1_700_000_100);
  write(path.join(b, 'f'), 'same new text', 1_700_000_900);
  const r = await twoWay(a, remote(b), '-i');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^<-- meta +f$/m, 'only the newer mtime travels');
  await assertSame(t, a, b, 'equal, mtimes included');
});

t.test('deleted on one side, changed on the other: the change survives', async (t) => {
  const { a, b } = pair();
  write(path.join(a, 'd/keep.txt'), 'v1', 1_700_000_000);
  write(path.join(a, 'd/other.txt'), 'x', 1_700_000_000);
  t.equal((await twoWay(a, b)).code, 0);
  fs.rmSync(path.join(a, 'd'), { recursive: true });
  write(path.join(b, 'd/keep.txt'), 'v2 on b', 1_700_000_100);
  const r = await twoWay(a, remote(b), '-i');
  t.equal(r.code, 0, r.stderr);
  t.equal(read(path.join(a, 'd/keep.txt')), 'v2 on b', 'the changed file came back');
  t.notOk(fs.existsSync(path.join(b, 'd/other.txt')), 'the untouched one stayed deleted');
  await assertSame(t, a, b, 'equal');
});

for (const [skew, label] of [
  ['+1h', 'an hour ahead'],
  ['-1h', 'an hour behind'],
] as const) {
  t.test(`the peer's clock is ${label}: the version edited later in real time wins`, async (t) => {
    if (!requireOrSkip(t, toolAvailable('faketime') ?? (fs.existsSync(FAKETIME_LIB) ? null : `${FAKETIME_LIB} missing (apt-get install faketime)`))) return;
    const { a, b } = pair();
    const now = Math.floor(Date.now() / 1000);
    const peerClock = (realS: number) => realS + (skew === '+1h' ? 3600 : -3600);
    write(path.join(a, 'f.txt'), 'v1', now - 600);
    write(path.join(a, 'g.txt'), 'v1', now - 600);
    const env = { SKEW: skew === '+1h' ? '+3600' : '-3600' };
    const run = (...opts: string[]) => runTsync(['--two-way', '-e', SKEWED, '--tsync-path', TSYNC_BIN, ...opts, a, remote(b)], { env });
    t.equal((await run()).code, 0);
    // f: edited on the peer first (real time now-300), then here (now-120): ours is the later edit
    write(path.join(b, 'f.txt'), 'peer edit, earlier', peerClock(now - 300));
    write(path.join(a, 'f.txt'), 'local edit, later', now - 120);
    // g: edited here first (now-300), then on the peer (now-120): theirs is the later edit
    write(path.join(a, 'g.txt'), 'local edit, earlier', now - 300);
    write(path.join(b, 'g.txt'), 'peer edit, later', peerClock(now - 120));
    const mtime = (p: string) => fs.statSync(p).mtimeMs;
    const rawPicksPeer = (f: string) => mtime(path.join(b, f)) > mtime(path.join(a, f));
    if (skew === '+1h') t.ok(rawPicksPeer('f.txt'), 'raw mtimes would wrongly pick the peer for f');
    else t.notOk(rawPicksPeer('g.txt'), 'raw mtimes would wrongly pick ours for g');
    const r = await run('-i');
    t.equal(r.code, 40, r.stderr);
    t.equal(read(path.join(b, 'f.txt')), 'local edit, later', 'f: the later real-time edit (ours) wins');
    t.equal(read(path.join(a, 'g.txt')), 'peer edit, later', 'g: the later real-time edit (theirs) wins');
    t.match(r.stdout, /<-> conflict +f\.txt: the first's newer version kept/);
    t.match(r.stdout, /<-> conflict +g\.txt: the second's newer version kept/);
    await assertSame(t, a, b, 'equal, conflict copies included');
  });
}

t.test('time zones change nothing: times are UTC epoch throughout', async (t) => {
  if (!requireOrSkip(t, toolAvailable('faketime') ?? (fs.existsSync(FAKETIME_LIB) ? null : `${FAKETIME_LIB} missing (apt-get install faketime)`))) return;
  const { a, b } = pair();
  write(path.join(a, 'f.txt'), 'v1', 1_700_000_000);
  const env = { SKEW: '+0', TZ: 'America/New_York', PEER_TZ: 'Asia/Tokyo' };
  const run = (...opts: string[]) => runTsync(['--two-way', '-e', SKEWED, '--tsync-path', TSYNC_BIN, ...opts, a, remote(b)], { env });
  t.equal((await run()).code, 0);
  write(path.join(a, 'f.txt'), 'edited here first', 1_700_000_100);
  write(path.join(b, 'f.txt'), 'edited in Tokyo, later', 1_700_000_200);
  const r = await run('-i');
  t.equal(r.code, 40);
  t.equal(read(path.join(a, 'f.txt')), 'edited in Tokyo, later');
  t.match(conflictsIn(a)[0], /-20231114-221500\.txt$/, 'the copy is stamped in UTC, whatever TZ says');
  const again = await runTsync(['--two-way', '-i', a, b], { env: { TZ: 'Pacific/Kiritimati' } });
  t.equal(again.code, 0);
  t.equal(again.stdout, '', 'another time zone sees nothing changed');
});

t.test('three replicas synced pairwise in various orders converge and lose nothing', async (t) => {
  const dir = path.join(TMP, 'three');
  const [a, b, c] = ['A', 'B', 'C'].map((x) => path.join(dir, x));
  await makeRandomTree(a, 31, { files: 30, dirs: 6, bigFiles: 0 });
  await makeRandomTree(path.join(b, 'b-only'), 32, { files: 10, dirs: 2, bigFiles: 0, oddNames: false });
  fs.mkdirSync(c, { recursive: true });
  const sync = async (x: string, y: string) => {
    const r = await twoWay(x, remote(y));
    t.ok(r.code === 0 || r.code === 40, `${path.basename(x)}<->${path.basename(y)}: ${r.stderr}`);
  };
  await sync(a, b);
  await sync(b, c);
  await sync(c, a);
  await assertSame(t, a, b, 'A = B');
  await assertSame(t, b, c, 'B = C');
  // each edits its own file; two edit the same one
  const contents = new Set<string>();
  const edit = (root: string, rel: string, text: string, s: number) => {
    write(path.join(root, rel), text, s);
    contents.add(text);
  };
  edit(a, 'shared.txt', 'A wrote this', 1_700_000_100);
  edit(b, 'shared.txt', 'B wrote this', 1_700_000_200);
  edit(c, 'shared.txt', 'C wrote this', 1_700_000_300);
  edit(a, 'a.txt', 'only A', 1_700_000_100);
  edit(c, 'c.txt', 'only C', 1_700_000_100);
  fs.rmSync(path.join(b, 'b-only'), { recursive: true });
  for (const [x, y] of [
    [a, c],
    [b, a],
    [c, b],
    [a, b],
    [b, c],
  ]) await sync(x, y);
  await assertSame(t, a, b, 'A = B after edits');
  await assertSame(t, b, c, 'B = C after edits');
  const all = new Set<string>();
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d)) {
      if (name === '.tsync') continue;
      const p = path.join(d, name);
      if (fs.lstatSync(p).isDirectory()) walk(p);
      else if (fs.lstatSync(p).isFile()) all.add(read(p));
    }
  };
  walk(a);
  for (const text of contents) t.ok(all.has(text), `"${text}" survives, at its path or as a conflict copy`);
  t.equal(read(path.join(a, 'shared.txt')), 'C wrote this', 'the newest edit holds the name');
  t.notOk(fs.existsSync(path.join(c, 'b-only')), "B's deletion reached C");
});

t.test('a run killed halfway, then repeated, converges with no false conflicts', async (t) => {
  const { a, b } = pair();
  await makeRandomTree(a, 41, { files: 300, dirs: 30, bigFiles: 4, bigMaxBytes: 4 << 20, oddNames: false });
  t.equal((await twoWay(a, b)).code, 0);
  // changes on both sides, deletions included
  const edited = (await mutateUser(a, 42, 30)).join('\n');
  await makeRandomTree(path.join(b, 'new-on-b'), 43, { files: 200, dirs: 10, bigFiles: 4, bigMaxBytes: 4 << 20, oddNames: false });
  // deleted on b, untouched on a (a file a changed would rightly survive)
  const gone = fs.readdirSync(b).filter((x) => x !== '.tsync' && x !== 'new-on-b' && fs.lstatSync(path.join(b, x)).isFile() && !edited.includes(x)).slice(0, 3);
  for (const g of gone) fs.rmSync(path.join(b, g));
  for (const delay of [150, 400]) {
    const child = spawnTsync(['--two-way', '-e', STANDIN, '--tsync-path', TSYNC_BIN, a, remote(b)]);
    const done = collect(child);
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    await done;
  }
  const r = await twoWay(a, remote(b), '-i');
  t.equal(r.code, 0, `no false conflicts after the interruption: ${r.stderr}`);
  t.notMatch(r.stdout, /conflict/);
  for (const g of gone) t.notOk(fs.existsSync(path.join(a, g)), `${g}: the deletion was not lost`);
  await assertSame(t, a, b, 'converged');
  const tmp = [a, b].flatMap((root) => fs.readdirSync(root, { recursive: true }).map(String).filter((p) => /\.tsync-tmp-/.test(p)));
  t.same(tmp, [], 'no temporary files left');
  const clean = await twoWay(a, remote(b), '-i');
  t.equal(clean.stdout, '', 'and then nothing more to do');
});

t.test('a baseline altered at rest is refused', async (t) => {
  const { a, b } = pair();
  write(path.join(a, 'f'), 'x', 1_700_000_000);
  t.equal((await twoWay(a, b)).code, 0);
  const file = fs.readdirSync(path.join(a, '.tsync')).find((x) => x.startsWith('baseline-'))!;
  const p = path.join(a, '.tsync', file);
  const bytes = fs.readFileSync(p);
  bytes[bytes.length - 40] ^= 1;
  fs.writeFileSync(p, bytes);
  const r = await twoWay(a, b);
  t.equal(r.code, 4, 'refused');
  t.match(r.stderr, /^tsync: error: baseline .* failed verification \(altered or damaged\); remove it/m);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

t.test('usage errors', async (t) => {
  const { a, b } = pair();
  const cases: Array<[string[], RegExp]> = [
    [['--two-way', a], /exactly two replicas/],
    [['--two-way', a, b, path.join(b, 'x')], /exactly two replicas/],
    [['--two-way', '--delete', a, b], /--delete does not apply/],
    [['--two-way', 'h1:x', 'h2:y'], /at most one replica can be remote/],
    [['--two-way', a, a], /same id|same directory/],
  ];
  for (const [args, re] of cases) {
    if (args[2] === a && args[3] === a) {
      // the same directory twice: needs a state first
      await twoWay(a, b);
    }
    const r = await runTsync(args);
    t.not(r.code, 0, args.join(' '));
    t.match(r.stderr, re);
  }
});

t.test('one run at a time per replica: a locked replica on either side stops the run (exit 41)', async (t) => {
  const { a, b } = pair();
  write(path.join(a, 'f'), 'x', 1_700_000_000);
  t.equal((await twoWay(a, b)).code, 0);
  write(path.join(a, 'g'), 'new', 1_700_000_100);
  // a live process that passes for a tsync run holds the lock
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', 'tsync'], { stdio: 'ignore' });
  t.teardown(() => void holder.kill('SIGKILL'));
  for (const locked of [a, b]) {
    const lock = path.join(locked, '.tsync', 'lock');
    fs.writeFileSync(lock, JSON.stringify({ pid: holder.pid, host: os.hostname(), started: new Date().toISOString(), tsync: '0.1.0' }));
    const r = await twoWay(a, remote(b));
    t.equal(r.code, 41, `${locked === a ? 'local' : 'remote'} replica locked: ${r.stderr}`);
    t.match(r.stderr, /is locked by another tsync run/);
    t.notOk(fs.existsSync(path.join(b, 'g')), 'nothing was synced');
    fs.rmSync(lock);
  }
  const r = await twoWay(a, remote(b));
  t.equal(r.code, 0, r.stderr);
  t.ok(fs.existsSync(path.join(b, 'g')), 'once free, the run goes');
  t.notOk(fs.existsSync(path.join(a, '.tsync', 'lock')) || fs.existsSync(path.join(b, '.tsync', 'lock')), 'and releases both locks');
});
