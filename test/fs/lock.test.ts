// lib/fs/lock.ts on a real filesystem: taking and releasing DEST/.tsync/lock,
// refusing a live holder, waiting, and taking over stale locks; judge()
// and parseLock() as tables.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { acquireLock, inspectLock, judge, lockPath, parseLock, destLock, type LockInfo } from '../../lib/fs/lock.js';
import { TsyncError } from '../../lib/errors.js';

const HOST = os.hostname();
const ROOT_TIME = 1_500_000_000.5;

function root(t: Test): string {
  const r = path.join(t.testdir(), 'dest');
  fs.mkdirSync(r);
  fs.utimesSync(r, ROOT_TIME, ROOT_TIME);
  return r;
}

function writeLock(r: string, info: Partial<LockInfo>, ageSeconds = 0): string {
  const file = lockPath(r);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ pid: 1, host: HOST, started: new Date().toISOString(), tsync: '0.0.1', ...info }));
  if (ageSeconds) fs.utimesSync(file, Date.now() / 1000 - ageSeconds, Date.now() / 1000 - ageSeconds);
  return file;
}

/** a live process; with 'tsync' among its arguments it passes for a tsync run */
function live(t: Test, tsyncLike: boolean): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', ...(tsyncLike ? ['tsync', '--server'] : [])], { stdio: 'ignore' });
  t.teardown(() => void child.kill('SIGKILL'));
  return child;
}

async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((r) => child.on('close', r));
  return child.pid!;
}

const rejects = async (p: Promise<unknown>): Promise<TsyncError | null> => p.then(() => null, (e) => e as TsyncError);
const quiet = { waitSeconds: 0, note: () => {} };

t.test('take and release: the lock holds who, and leaves no trace', async (t) => {
  const r = root(t);
  const lock = await acquireLock(r, quiet);
  const info = parseLock(fs.readFileSync(lockPath(r), 'utf8'));
  t.equal(info?.pid, process.pid, 'our pid');
  t.equal(info?.host, HOST, 'our host');
  t.ok(Date.now() - Date.parse(info!.started) < 60_000, 'a start time of now');
  t.match(info?.tsync, /^\d+\.\d+\.\d+/, 'our version');
  t.equal(fs.statSync(r).mtimeMs / 1000, ROOT_TIME, 'making .tsync/ did not change the root mtime');
  t.same(fs.readdirSync(path.join(r, '.tsync')), ['lock'], 'no temporary file beside it');
  lock.release();
  lock.release();
  t.notOk(fs.existsSync(path.join(r, '.tsync')), '.tsync/ made for the lock is gone');
  t.equal(fs.statSync(r).mtimeMs / 1000, ROOT_TIME, 'and the root mtime is as it was');
});

t.test('an existing .tsync/ stays, with what is in it', async (t) => {
  const r = root(t);
  fs.mkdirSync(path.join(r, '.tsync'));
  fs.writeFileSync(path.join(r, '.tsync', 'baseline'), 'x');
  const lock = await acquireLock(r, quiet);
  lock.release();
  t.same(fs.readdirSync(path.join(r, '.tsync')), ['baseline']);
});

t.test('a live holder: E_LOCKED at once, naming it; waiting works', async (t) => {
  const r = root(t);
  const first = await acquireLock(r, quiet);
  const e = await rejects(acquireLock(r, quiet));
  t.equal(e?.code, 'E_LOCKED');
  t.equal(e?.exitCode, 41);
  t.match(e?.message, new RegExp(`locked by another tsync run \\(pid ${process.pid} on ${HOST}, since `));
  const waiting = acquireLock(r, { waitSeconds: 30, note: () => {} });
  setTimeout(() => first.release(), 300);
  const second = await waiting;
  t.equal(parseLock(fs.readFileSync(lockPath(r), 'utf8'))?.pid, process.pid, 'the waiter holds it now');
  second.release();
  const third = await acquireLock(r, quiet);
  const e2 = await rejects(acquireLock(r, { waitSeconds: 1, note: () => {} }));
  t.equal(e2?.code, 'E_LOCKED', 'a wait that runs out fails too');
  third.release();
  t.notOk(fs.existsSync(path.join(r, '.tsync')), 'nothing left');
});

t.test('another live tsync process holds it', async (t) => {
  const r = root(t);
  const holder = live(t, true);
  writeLock(r, { pid: holder.pid });
  const e = await rejects(acquireLock(r, quiet));
  t.equal(e?.code, 'E_LOCKED');
  t.match(e?.message, `pid ${holder.pid}`);
});

t.test('stale locks are taken over with a note', async (t) => {
  const cases: Array<[string, () => Promise<Partial<LockInfo>> | Partial<LockInfo>, RegExp]> = [
    ['its process is gone', async () => ({ pid: await deadPid() }), /is gone/],
    ['its pid now runs another program', () => ({ pid: live(t, false).pid }), /now another program/],
  ];
  for (const [what, info, why] of cases) {
    const r = root(t);
    writeLock(r, await info());
    const notes: string[] = [];
    const lock = await acquireLock(r, { waitSeconds: 0, note: (s) => notes.push(s) });
    t.equal(parseLock(fs.readFileSync(lockPath(r), 'utf8'))?.pid, process.pid, `${what}: ours now`);
    t.equal(notes.length, 1, `${what}: one note`);
    t.match(notes[0], /removed a stale lock/);
    t.match(notes[0], why);
    lock.release();
    t.notOk(fs.existsSync(path.join(r, '.tsync')), `${what}: the .tsync/ the dead run made is gone with the lock`);
  }
});

t.test('never stale: a lock from another host, a fresh unreadable lock', async (t) => {
  const r = root(t);
  writeLock(r, { pid: await deadPid(), host: 'elsewhere.example' });
  const e = await rejects(acquireLock(r, quiet));
  t.equal(e?.code, 'E_LOCKED', 'another host: its pid means nothing here');
  t.match(e?.message, 'on elsewhere.example');
  const r2 = root(t);
  fs.mkdirSync(path.join(r2, '.tsync'));
  fs.writeFileSync(lockPath(r2), '{"pid":');
  const e2 = await rejects(acquireLock(r2, quiet));
  t.equal(e2?.code, 'E_LOCKED', 'unreadable and fresh: someone may be writing it');
  t.match(e2?.message, 'unreadable');
  fs.utimesSync(lockPath(r2), 1_000_000_000, 1_000_000_000);
  const notes: string[] = [];
  (await acquireLock(r2, { waitSeconds: 0, note: (s) => notes.push(s) })).release();
  t.match(notes.join(), /unreadable lock file/, 'unreadable and old: stale');
});

t.test('.tsync that is not a directory: E_IO', async (t) => {
  const r = root(t);
  fs.writeFileSync(path.join(r, '.tsync'), '');
  const e = await rejects(acquireLock(r, quiet));
  t.equal(e?.code, 'E_IO');
  t.match(e?.message, /not a directory/);
  fs.rmSync(path.join(r, '.tsync'));
  fs.symlinkSync(os.tmpdir(), path.join(r, '.tsync'));
  t.equal((await rejects(acquireLock(r, quiet)))?.code, 'E_IO', 'nor a symlink to one');
});

t.test('inspectLock, judge and parseLock', async (t) => {
  const r = root(t);
  t.equal(inspectLock(lockPath(r)), null, 'no lock');
  const me = { pid: process.pid, host: HOST, started: 'x', tsync: '1' };
  t.same(judge(me, HOST), { stale: false, why: 'held by this process' });
  t.equal(judge({ ...me, started: '2000-01-01T00:00:00Z', pid: 1 }, HOST).stale, fs.existsSync('/proc/stat'), 'taken before the last boot (where the boot time is known)');
  t.equal(judge({ ...me, pid: await deadPid() }, HOST).stale, true);
  t.equal(judge({ ...me, pid: await deadPid() }, 'other').stale, false);
  const parses: Array<[string, boolean]> = [
    ['{"pid":12,"host":"h","started":"s","tsync":"v"}', true],
    ['{"pid":12,"host":"h","started":"s"}', true],
    ['{"pid":0,"host":"h","started":"s"}', false],
    ['{"pid":1.5,"host":"h","started":"s"}', false],
    ['{"pid":"12","host":"h","started":"s"}', false],
    ['{"pid":12,"started":"s"}', false],
    ['[]', false],
    ['null', false],
    ['', false],
  ];
  for (const [text, ok] of parses) t.equal(parseLock(text) !== null, ok, text || '(empty)');
});

t.test('destLock: none for a dry run', async (t) => {
  t.equal(destLock({ dryRun: true }, () => {}), undefined);
  t.type(destLock({ dryRun: false, lockWait: 3 }, () => {}), 'function');
});
