// Two-way through a vault (issue 14): several clients, each with its own
// tree, state and cache, keep one folder in step through a vault they all
// hold the key of. Three clients in several orders (local vault and over
// the real sshd); clocks an hour apart each way (libfaketime on the clients,
// the host's clock true); two clients at the same moment; a read-only key;
// kill -9 mid-run. As between live replicas, directory and symlink mtimes
// are not synced (the live two-way tests compare the same way).

import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TSYNC_BIN, collect, runTsync, spawnTsync, type RunResult } from '../helpers/run.js';
import { diffSnapshots, makeRandomTree, mutateTree, snapshot } from '../helpers/tree.js';
import { requireOrSkip, sshdAvailable, startSshd } from '../helpers/sshd.js';
import { toolbox } from '../helpers/standin.js';

const CONFLICTS = 40;
const AUTH = 15;
const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

interface Client {
  name: string;
  dir: string;
  sync(extra?: string[], env?: Record<string, string>): Promise<RunResult>;
  spawn(env?: Record<string, string>): ReturnType<typeof spawnTsync>;
}

function clients(sb: string, key: string, vault: string, reach: string[] = [], names = ['a', 'b', 'c']): Client[] {
  return names.map((name) => {
    const dir = path.join(sb, `tree-${name}`);
    fs.mkdirSync(dir, { recursive: true });
    const env = { XDG_STATE_HOME: path.join(sb, name, 'state'), XDG_CACHE_HOME: path.join(sb, name, 'cache') };
    const args = ['--vault', key, '--two-way', ...reach, dir, vault];
    return {
      name,
      dir,
      sync: (extra = [], more = {}) => runTsync([...extra, ...args], { env: { ...env, ...more } }),
      spawn: (more = {}) => spawnTsync(args, { env: { ...env, ...more } }),
    };
  });
}

async function keygen(sb: string, name = 'key'): Promise<string> {
  const file = path.join(sb, name);
  const r = await runTsync(['keygen', '--vault', file]);
  if (r.code !== 0) throw new Error(r.stderr);
  return file;
}

const noState = (p: string) => p === '.tsync';
const tree = (dir: string) => snapshot(dir, { exclude: noState });
async function converged(t: Test, cs: Client[], what: string): Promise<void> {
  const first = await tree(cs[0].dir);
  for (const c of cs.slice(1)) t.same(diffSnapshots(first, await tree(c.dir), { ignoreDirMtime: true, ignoreSymlinkMtime: true, mtimePrecision: 'us', labels: [cs[0].name, c.name] }), [], `${what}: ${c.name} is ${cs[0].name}'s tree`);
}
const synced = (t: Test, r: RunResult, what: string, codes = [0]) => t.ok(codes.includes(r.code ?? -1), `${what}: exit ${codes.join(' or ')}${codes.includes(r.code ?? -1) ? '' : ` (got ${r.code}: ${r.stderr.trim()})`}`);

/** write a file with an mtime chosen by the test (seconds since the epoch) */
function put(dir: string, rel: string, text: string, mtime: number): void {
  const abs = path.join(dir, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, text);
  fs.utimesSync(abs, mtime, mtime);
}

/** every file's content below dir whose name is rel or one of its conflict copies */
function versions(dir: string, rel: string): string[] {
  const d = path.join(dir, path.dirname(rel));
  const stem = path.basename(rel).replace(/\.txt$/, '');
  return fs
    .readdirSync(d)
    .filter((n) => n === path.basename(rel) || n.startsWith(`${stem}.conflict-`))
    .map((n) => fs.readFileSync(path.join(d, n), 'utf8'))
    .sort();
}

/**
 * Rounds in which all three change the same file at once (each its own
 * version and mtime), add files of their own, and one deletes what another
 * added; then they sync in the round's order, twice around. They converge,
 * every version of the shared file is current or a conflict copy, and the
 * newest one is current.
 */
async function threeClients(t: Test, cs: Client[], rounds: number): Promise<void> {
  const [a] = cs;
  // the random tree in a directory of its own, so its edits never touch the files the rounds count
  await makeRandomTree(path.join(a.dir, 'rt'), 1401, { files: 60, bigFiles: 1, bigMaxBytes: 1 << 20 });
  for (const c of cs) synced(t, await c.sync(), `first run of ${c.name} (a union)`);
  synced(t, await a.sync(), 'a again');
  await converged(t, cs, 'after the first runs');
  const orders = [
    [0, 1, 2],
    [2, 0, 1],
    [1, 2, 0],
  ];
  const T0 = Math.floor(Date.now() / 1000) - 100_000;
  for (let r = 0; r < rounds; r++) {
    const order = orders[r].map((i) => cs[i]);
    cs.forEach((c, i) => {
      put(c.dir, 'shared.txt', `round ${r} by ${c.name}`, T0 + r * 1000 + 10 * i);
      put(c.dir, `own/${c.name}-${r}.txt`, `${c.name}'s own file of round ${r}`, T0 + r * 1000 + i);
    });
    // one client deletes what the one after it added last round; another edits a file of the random tree
    if (r > 0) fs.rmSync(path.join(order[0].dir, 'own', `${order[1].name}-${r - 1}.txt`));
    await mutateTree(path.join(order[2].dir, 'rt'), 1410 + r);
    const sequence = [...order, order[0], order[1]];
    for (const c of sequence) synced(t, await c.sync(), `round ${r}: ${c.name}`, [0, CONFLICTS]);
    await converged(t, cs, `round ${r}`);
    const kept = versions(a.dir, 'shared.txt');
    for (const c of cs) t.ok(kept.includes(`round ${r} by ${c.name}`), `round ${r}: ${c.name}'s version of shared.txt is current or a conflict copy`);
    t.equal(fs.readFileSync(path.join(a.dir, 'shared.txt'), 'utf8'), `round ${r} by c`, `round ${r}: the newest version (c's) is current`);
    if (r > 0) t.notOk(fs.existsSync(path.join(a.dir, 'own', `${order[1].name}-${r - 1}.txt`)), `round ${r}: the deletion reached everyone`);
    // conflict copies of earlier rounds stay; clear them so the next round counts its own
    for (const c of cs) for (const n of fs.readdirSync(c.dir)) if (n.startsWith('shared.conflict-')) fs.rmSync(path.join(c.dir, n));
    for (const c of [...cs, cs[0]]) synced(t, await c.sync(), `round ${r}: the copies' deletion travels (${c.name})`);
    await converged(t, cs, `round ${r}, after the conflict copies went`);
  }
}

t.test('three clients through a local vault, in several orders', async (t) => {
  const sb = t.testdir();
  const key = await keygen(sb);
  const vault = path.join(sb, 'vault');
  const cs = clients(sb, key, vault);
  await threeClients(t, cs, 2);
  const heads = () => fs.readdirSync(path.join(vault, 'heads')).length;
  const n = heads();
  for (const c of cs) synced(t, await c.sync(), `a run with nothing changed (${c.name})`);
  t.equal(heads(), n, 'runs with nothing changed record no snapshot');
  const check = await runTsync(['vault', 'check', '--read-data', '--vault', key, vault]);
  synced(t, check, 'check --read-data');
});

t.test('three clients through a vault over the real sshd', async (t) => {
  if (!requireOrSkip(t, sshdAvailable())) return;
  const sshd = await startSshd(t);
  const sb = t.testdir();
  const key = await keygen(sb);
  const cs = clients(sb, key, `127.0.0.1:${path.join(sb, 'vault')}`, ['-e', sshd.rsh, '--tsync-path', TSYNC_BIN]);
  await threeClients(t, cs, 1);
});

t.test('clocks an hour fast and an hour slow: the edit made later in real time wins', async (t) => {
  if (!requireOrSkip(t, fs.existsSync(FAKETIME_LIB) ? null : `${FAKETIME_LIB} missing (apt-get install faketime)`)) return;
  const sb = t.testdir();
  const key = await keygen(sb);
  // the host (the server the clients reach through this pipe) keeps the true time
  const tool = toolbox(t);
  const host = tool('true-clock-rsh', 'shift\nexec env -u LD_PRELOAD -u FAKETIME sh -c "$*"');
  const [a, b] = clients(sb, key, `127.0.0.1:${path.join(sb, 'vault')}`, ['-e', host, '--tsync-path', TSYNC_BIN], ['a', 'b']);
  const skew = (s: string) => ({ LD_PRELOAD: FAKETIME_LIB, FAKETIME: s, FAKETIME_DONT_FAKE_MONOTONIC: '1' });
  const fast = skew('+1h');
  const slow = skew('-1h');
  const now = () => Math.floor(Date.now() / 1000);
  put(a.dir, 'notes.txt', 'first', now() + 3600);
  synced(t, await a.sync([], fast), 'a (an hour fast) records notes.txt');
  synced(t, await b.sync([], slow), 'b (an hour slow) takes it');
  // a edits first; b edits a minute later in real time. Each mtime is on its own clock, so a's looks two hours newer
  put(a.dir, 'notes.txt', 'edited by a', now() + 3600);
  put(b.dir, 'notes.txt', 'edited by b, a minute later', now() + 60 - 3600);
  synced(t, await a.sync([], fast), 'a records its edit');
  const r = await b.sync(['-i'], slow);
  synced(t, r, "b meets a's edit", [CONFLICTS]);
  t.match(r.stdout, /conflict\s+notes\.txt: the first's newer version kept/, 'b (the first replica here) wins');
  synced(t, await a.sync([], fast), 'a takes the result');
  for (const c of [a, b]) {
    t.equal(fs.readFileSync(path.join(c.dir, 'notes.txt'), 'utf8'), 'edited by b, a minute later', `${c.name}: the later edit is current`);
    t.same(versions(c.dir, 'notes.txt'), ['edited by a', 'edited by b, a minute later'], `${c.name}: the other is kept as a conflict copy`);
  }
});

t.test('two clients at the same moment, in a loop: both commits are kept, the later one a merge', async (t) => {
  const sb = t.testdir();
  const key = await keygen(sb);
  const vault = path.join(sb, 'vault');
  const [a, b, c] = clients(sb, key, vault);
  synced(t, await a.sync(), 'a creates the vault');
  const heads = () => fs.readdirSync(path.join(vault, 'heads')).length;
  for (let i = 0; i < 3; i++) {
    put(a.dir, `a-${i}.txt`, `a ${i}`, 1_700_000_000 + i);
    put(b.dir, `b-${i}.txt`, `b ${i}`, 1_700_000_000 + i);
    const n = heads();
    // odd rounds: both hold their claims back (b longer), so both have read the same snapshot, a claims first, and b must merge again
    const pause = (ms: number) => (i % 2 ? { TSYNC_TEST_VAULT_PAUSE: String(ms) } : {});
    const [ra, rb] = await Promise.all([collect(a.spawn(pause(1500))), collect(b.spawn(pause(3000)))]);
    synced(t, ra, `round ${i}: a`);
    synced(t, rb, `round ${i}: b`);
    if (i % 2) t.match(rb.stderr, /recorded by another client meanwhile: merging with it/, `round ${i}: b found a's snapshot at its claim and merged`);
    t.equal(heads(), n + 2, `round ${i}: both commits are in the history`);
    // the newest snapshot holds both: whoever claimed second merged with the first
    const fresh = path.join(sb, `restore-${i}`);
    synced(t, await runTsync(['--vault', key, vault, `${fresh}/`], { env: { XDG_STATE_HOME: path.join(sb, 'r', 'state'), XDG_CACHE_HOME: path.join(sb, 'r', 'cache') } }), `round ${i}: restore the newest`);
    for (let k = 0; k <= i; k++) {
      t.equal(fs.readFileSync(path.join(fresh, `a-${k}.txt`), 'utf8'), `a ${k}`, `round ${i}: the newest snapshot holds a-${k}`);
      t.equal(fs.readFileSync(path.join(fresh, `b-${k}.txt`), 'utf8'), `b ${k}`, `round ${i}: and b-${k}`);
    }
  }
  for (const x of [a, b, c, a]) synced(t, await x.sync(), `${x.name} catches up`);
  await converged(t, [a, b, c], 'after the loop');
});

t.test('what one client excludes it neither takes nor removes: the vault keeps it for the others', async (t) => {
  const sb = t.testdir();
  const key = await keygen(sb);
  const vault = path.join(sb, 'vault');
  const [a, b] = clients(sb, key, vault, [], ['a', 'b']);
  put(b.dir, 'notes.txt', 'notes', 1_700_000_000);
  put(b.dir, 'debug.log', 'b log', 1_700_000_000);
  put(b.dir, 'logs/old.log', 'b old log', 1_700_000_000);
  synced(t, await b.sync(), 'b records its files and logs');
  put(a.dir, 'mine.log', 'a log', 1_700_000_000);
  const exclude = ['--exclude', '*.log'];
  synced(t, await a.sync(exclude), 'a runs with --exclude *.log');
  t.equal(fs.readFileSync(path.join(a.dir, 'notes.txt'), 'utf8'), 'notes', 'a takes what its rules let through');
  t.notOk(fs.existsSync(path.join(a.dir, 'debug.log')), 'and not what they leave out');
  put(a.dir, 'notes.txt', 'notes, edited by a', 1_700_000_100);
  synced(t, await a.sync(exclude), 'a records an edit');
  synced(t, await b.sync(), 'b takes it');
  t.equal(fs.readFileSync(path.join(b.dir, 'notes.txt'), 'utf8'), 'notes, edited by a', "b has a's edit");
  t.equal(fs.readFileSync(path.join(b.dir, 'debug.log'), 'utf8'), 'b log', "b's excluded-by-a files are still there");
  t.equal(fs.readFileSync(path.join(b.dir, 'logs', 'old.log'), 'utf8'), 'b old log', 'in subdirectories too');
  t.notOk(fs.existsSync(path.join(b.dir, 'mine.log')), "a's own excluded file was never recorded");
  const fresh = path.join(sb, 'fresh');
  synced(t, await runTsync(['--vault', key, vault, `${fresh}/`], { env: { XDG_STATE_HOME: path.join(sb, 'r', 'state'), XDG_CACHE_HOME: path.join(sb, 'r', 'cache') } }), 'restore the newest');
  t.same(fs.readdirSync(fresh).sort(), ['debug.log', 'logs', 'notes.txt'], 'the newest snapshot holds the logs and the edit');
});

t.test('a read-only key is refused a two-way run before anything changes', async (t) => {
  const sb = t.testdir();
  const key = await keygen(sb);
  const ro = path.join(sb, 'ro');
  synced(t, await runTsync(['keygen', '--read-only', key, ro]), 'a read-only key');
  const vault = path.join(sb, 'vault');
  const [a] = clients(sb, key, vault, [], ['a']);
  put(a.dir, 'f.txt', 'a', 1_700_000_000);
  synced(t, await a.sync(), 'a records');
  const other = path.join(sb, 'other');
  put(other, 'g.txt', 'g', 1_700_000_000);
  const before = await tree(vault);
  const r = await runTsync(['--vault', ro, '--two-way', other, vault], { env: { XDG_STATE_HOME: path.join(sb, 'o', 'state'), XDG_CACHE_HOME: path.join(sb, 'o', 'cache') } });
  t.equal(r.code, AUTH, 'exit 15');
  t.same(fs.readdirSync(other), ['g.txt'], 'the directory is as it was (no state written, nothing pulled)');
  t.same(diffSnapshots(before, await tree(vault)), [], 'the vault is as it was');
});

t.test('kill -9 of a two-way run at several points, then a re-run: converged, no false conflicts', async (t) => {
  const sb = t.testdir();
  const key = await keygen(sb);
  const vault = path.join(sb, 'vault');
  const [a, b] = clients(sb, key, vault, [], ['a', 'b']);
  await makeRandomTree(a.dir, 1420, { files: 200, bigFiles: 3, bigMaxBytes: 4 << 20 });
  synced(t, await a.sync(), 'a records its tree');
  synced(t, await b.sync(), 'b takes it');
  for (const [i, ms] of [150, 600, 1500].entries()) {
    await mutateTree(b.dir, 1440 + i);
    const child = b.spawn();
    setTimeout(() => child.kill('SIGKILL'), ms);
    await collect(child);
    const again = await b.sync(['-i']);
    synced(t, again, `after kill -9 at ${ms} ms: b runs again`);
    t.notMatch(again.stdout, /conflict/, `after kill -9 at ${ms} ms: no conflicts`);
    synced(t, await a.sync(), `a takes b's changes`);
    synced(t, await b.sync(), 'b again');
    await converged(t, [a, b], `after kill -9 at ${ms} ms`);
  }
  synced(t, await runTsync(['vault', 'check', '--read-data', '--vault', key, vault]), 'check --read-data passes');
});
