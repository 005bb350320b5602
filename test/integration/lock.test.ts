// The destination lock through the real binary: overlapping runs (push:
// the server takes it; pull: the client does), --wait-lock, a stale lock
// left by a killed run, dry runs, and a run stopped by SIGTERM releasing it.

import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { collect, runTsync, spawnTsync } from '../helpers/run.js';
import { requireOrSkip, toolAvailable } from '../helpers/sshd.js';
import { describe, fatal, remote, standins, until, via, writeTree } from '../helpers/standin.js';
import { diffSnapshots, snapshot } from '../helpers/tree.js';

const lockOf = (dst: string) => path.join(dst, '.tsync', 'lock');

async function bigTree(dir: string): Promise<void> {
  await writeTree(dir, { 'big.bin': randomBytes(20 * 1024 * 1024), 'a.txt': 'alpha\n', 'sub/b.txt': 'beta\n' });
}

async function same(t: Test, a: string, b: string, what: string): Promise<void> {
  const d = diffSnapshots(await snapshot(a, { includeRoot: true }), await snapshot(b, { includeRoot: true }), { labels: ['src', 'dst'] });
  t.same(d.slice(0, 20), [], what);
}

t.test('two pushes into one destination', async (t) => {
  if (!requireOrSkip(t, toolAvailable('perl'))) return;
  const sb = t.testdir();
  const { standin, slowIn } = standins(t);
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 'dst');
  await bigTree(src);

  await t.test('the second fails at once with exit 41, naming the first', async (t) => {
    const first = spawnTsync([...via(slowIn), `${src}/`, remote(`${dst}/`)]);
    const firstDone = collect(first);
    t.ok(await until(() => fs.existsSync(lockOf(dst))), 'the first run took the lock');
    const holder = JSON.parse(fs.readFileSync(lockOf(dst), 'utf8')) as { pid: number; host: string };
    t.equal(holder.host, os.hostname());
    const second = await runTsync([...via(standin), `${src}/`, remote(`${dst}/`)]);
    fatal(t, second, 41, new RegExp(`locked by another tsync run \\(pid ${holder.pid} on `));
    t.match(second.stderr, /--wait-lock/, 'the hint names --wait-lock');
    const r = await firstDone;
    t.equal(r.code, 0, `the first run finishes (${describe(r)})`);
    t.notOk(fs.existsSync(path.join(dst, '.tsync')), 'and leaves no .tsync/ behind');
    await same(t, src, dst, 'the destination is complete, its root mtime untouched by the lock');
  });

  await t.test('with --wait-lock the second waits for the first, then runs', async (t) => {
    fs.rmSync(dst, { recursive: true });
    const first = spawnTsync([...via(slowIn), `${src}/`, remote(`${dst}/`)]);
    const firstDone = collect(first);
    t.ok(await until(() => fs.existsSync(lockOf(dst))), 'the first run took the lock');
    // a new file (editing a listed one could race the first run's read of it): whichever run lists it delivers it
    fs.writeFileSync(path.join(src, 'late.txt'), 'written while the first run went on\n');
    let firstEnded = 0;
    void firstDone.then(() => (firstEnded = Date.now()));
    const second = await runTsync(['-i', '--wait-lock', '120', ...via(standin), `${src}/`, remote(`${dst}/`)]);
    const secondEnded = Date.now();
    const r = await firstDone;
    t.equal(r.code, 0, `first: ${describe(r)}`);
    t.equal(second.code, 0, `second: ${describe(second)}`);
    t.ok(firstEnded > 0 && firstEnded <= secondEnded, 'the second run ended after the first: it waited');
    t.equal(fs.readFileSync(path.join(dst, 'late.txt'), 'utf8'), 'written while the first run went on\n');
    t.notOk(fs.existsSync(path.join(dst, '.tsync')), 'no .tsync/ left');
  });
});

t.test('a pull: the client takes the lock on its own destination', async (t) => {
  const sb = t.testdir();
  const { standin } = standins(t);
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 'dst');
  await writeTree(src, { 'a.txt': 'alpha\n' });
  fs.mkdirSync(dst);
  // a live process that passes for a tsync run holds it
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', 'tsync'], { stdio: 'ignore' });
  t.teardown(() => void holder.kill('SIGKILL'));
  fs.mkdirSync(path.join(dst, '.tsync'));
  fs.writeFileSync(lockOf(dst), JSON.stringify({ pid: holder.pid, host: os.hostname(), started: new Date().toISOString(), tsync: '0.1.0' }));
  const r = await runTsync([...via(standin), remote(`${src}/`), `${dst}/`]);
  fatal(t, r, 41, new RegExp(`^tsync: error: ${dst.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is locked by another tsync run \\(pid ${holder.pid}`));
  t.notOk(fs.existsSync(path.join(dst, 'a.txt')), 'nothing was written');

  const dry = await runTsync(['-n', '-i', ...via(standin), remote(`${src}/`), `${dst}/`]);
  t.equal(dry.code, 0, `a dry run takes no lock, so it runs (${describe(dry)})`);
  t.match(dry.stdout, /^>f\+{9} a\.txt$/m, 'and reports');

  const json = await runTsync(['--json', ...via(standin), remote(`${src}/`), `${dst}/`]);
  t.equal(json.code, 41);
  const o = JSON.parse(json.stdout) as { exitCode: number; errors: Array<{ code: string }> };
  t.equal(o.exitCode, 41, '--json: exitCode 41');
  t.equal(o.errors[0]?.code, 'E_LOCKED', '--json: the error code is E_LOCKED');
});

t.test('a dry run into a destination without .tsync/ creates none', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 'dst');
  await writeTree(src, { 'a.txt': 'alpha\n' });
  await writeTree(dst, { 'old.txt': 'x\n' });
  const r = await runTsync(['-n', '--delete', `${src}/`, `${dst}/`]);
  t.equal(r.code, 0, describe(r));
  t.same(fs.readdirSync(dst), ['old.txt'], 'the destination is as it was');
});

t.test('a stale lock (its run was killed) is taken over with a note', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 'dst');
  await writeTree(src, { 'a.txt': 'alpha\n' });
  fs.mkdirSync(path.join(dst, '.tsync'), { recursive: true });
  const gone = spawn('true');
  await new Promise((r) => gone.on('close', r));
  fs.writeFileSync(lockOf(dst), JSON.stringify({ pid: gone.pid, host: os.hostname(), started: new Date().toISOString(), tsync: '0.1.0' }));
  const r = await runTsync([`${src}/`, `${dst}/`]);
  t.equal(r.code, 0, describe(r));
  t.match(r.stderr, new RegExp(`^tsync: note: removed a stale lock .*pid ${gone.pid} on .* is gone`, 'm'), 'a note says so');
  t.equal(fs.readFileSync(path.join(dst, 'a.txt'), 'utf8'), 'alpha\n', 'the run went ahead');
  t.notOk(fs.existsSync(path.join(dst, '.tsync')), 'the lock is gone, and the empty .tsync/ the dead run had made');
});

t.test('SIGTERM to a pushing client: exit 20, and the server releases the lock', async (t) => {
  if (!requireOrSkip(t, toolAvailable('perl'))) return;
  const sb = t.testdir();
  const { slowIn } = standins(t);
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 'dst');
  await bigTree(src);
  const child = spawnTsync([...via(slowIn), `${src}/`, remote(`${dst}/`)]);
  const done = collect(child);
  t.ok(await until(() => fs.existsSync(lockOf(dst))), 'the server took the lock');
  child.kill('SIGTERM');
  const r = await done;
  fatal(t, r, 20, /interrupted by SIGTERM/);
  t.ok(await until(() => !fs.existsSync(path.join(dst, '.tsync')), 10_000), 'the server removed the lock and its .tsync/ as it died');
  const again = await runTsync([`${src}/`, `${dst}/`]);
  t.equal(again.code, 0, `the next run needs no takeover (${describe(again)})`);
  t.notMatch(again.stderr, /stale/, 'no stale-lock note');
});
