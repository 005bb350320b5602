// One run at a time per destination: DEST/.tsync/lock, so that two cron runs
// of the same pair never overlap. The receiving side takes it (the server
// for a push, the client for a pull), after the destination directory is
// known and before anything in it changes.
//
// The lock file holds {pid, host, started, tsync}. It appears complete or
// not at all (a temporary file hard-linked into place, which fails if a lock
// exists). A lock whose process is gone on this host is stale: it is taken
// over with a note. A lock held from another host (a shared filesystem) is
// never judged stale. .tsync/ is made when missing and removed when empty
// again, leaving the destination directory's mtime as it was: a lock leaves
// no trace.

import * as fs from 'node:fs';
import { secondsOf } from './apply.js';
import { mtimeUs } from '../time.js';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describeFsError, TsyncError } from '../errors.js';
import { STATE_DIR } from '../tree/reserved.js';
import { LOCK_CAP } from '../wire/caps.js';
import { VERSION } from '../version.js';

export const LOCK_NAME = 'lock';

export interface LockInfo {
  pid: number;
  host: string;
  /** ISO 8601, UTC */
  started: string;
  tsync: string;
}

export interface Lock {
  readonly file: string;
  /** remove the lock, and .tsync/ when nothing else is in it; safe to call twice */
  release(): void;
}

export interface LockOptions {
  /** seconds to wait for a live lock to go; 0 = fail at once */
  waitSeconds: number;
  /** a line for the user (a stale lock taken over) */
  note(s: string): void;
}

/** What stands in a lock file now, and whether it is stale (and why). */
export interface LockState {
  info: LockInfo | null;
  stale: boolean;
  why: string;
}

export function lockPath(root: string): string {
  return path.join(root, STATE_DIR, LOCK_NAME);
}

const POLL_MS = 250;
/** an unreadable lock older than this is a crash mid-write (never happens with link(2)) */
const GARBLED_STALE_MS = 10_000;

export async function acquireLock(root: string, opts: LockOptions): Promise<Lock> {
  const dir = path.join(root, STATE_DIR);
  const file = path.join(dir, LOCK_NAME);
  let made = makeStateDir(root, dir);
  const deadline = Date.now() + opts.waitSeconds * 1000;
  try {
    for (;;) {
      const got = tryCreate(dir, file);
      if (got === 'no-dir') {
        // the run we waited for removed the .tsync/ it had made
        made = makeStateDir(root, dir) || made;
        continue;
      }
      if (got) return holding(root, dir, file);
      const state = inspectLock(file);
      if (!state) continue; // gone between our attempt and our look
      if (state.stale) {
        if (takeOver(file, state)) opts.note(`removed a stale lock ${file} (${state.why})`);
        continue;
      }
      if (Date.now() >= deadline) throw new TsyncError('E_LOCKED', `${root} is locked by another tsync run (${describeHolder(state.info)}); lock file ${file}`);
      await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(10, deadline - Date.now()))));
    }
  } catch (e) {
    if (made) removeStateDir(root, dir);
    throw e;
  }
}

export function describeHolder(info: LockInfo | null): string {
  if (!info) return 'holder unknown: the lock file is unreadable';
  return `pid ${info.pid} on ${info.host}, since ${info.started}`;
}

/** The lock as it stands, or null when there is none. */
export function inspectLock(file: string, host = os.hostname()): LockState | null {
  let text: string;
  let mtimeMs: number;
  try {
    text = fs.readFileSync(file, 'utf8');
    mtimeMs = fs.statSync(file).mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TsyncError('E_IO', `cannot read the lock ${file}: ${describeFsError(e)}`);
  }
  const info = parseLock(text);
  if (!info) {
    const old = Date.now() - mtimeMs > GARBLED_STALE_MS;
    return { info: null, stale: old, why: 'unreadable lock file' };
  }
  return { info, ...judge(info, host) };
}

export function parseLock(text: string): LockInfo | null {
  try {
    const o = JSON.parse(text) as Partial<LockInfo>;
    if (!Number.isSafeInteger(o.pid) || (o.pid as number) <= 0 || typeof o.host !== 'string' || typeof o.started !== 'string') return null;
    return { pid: o.pid as number, host: o.host, started: o.started, tsync: typeof o.tsync === 'string' ? o.tsync : '' };
  } catch {
    return null;
  }
}

/** Stale when its host is this host and its process is gone (or the pid now belongs to something that is not tsync). */
export function judge(info: LockInfo, host: string): { stale: boolean; why: string } {
  if (info.host !== host) return { stale: false, why: `held from another host (${info.host})` };
  if (info.pid === process.pid) return { stale: false, why: 'held by this process' };
  const boot = bootTime();
  if (boot !== null && Date.parse(info.started) < boot) return { stale: true, why: `it was taken before this host last booted (${info.started}, pid ${info.pid})` };
  const cmd = cmdline(info.pid);
  // an empty command line: a zombie, which is as good as gone
  if (!alive(info.pid) || cmd === '') return { stale: true, why: `pid ${info.pid} on ${info.host} is gone; it started ${info.started}` };
  if (cmd !== null && !/tsync/.test(cmd)) return { stale: true, why: `pid ${info.pid} is now another program; the lock dates from ${info.started}` };
  return { stale: false, why: 'held by a running tsync' };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** when this host booted (ms), from /proc/stat on Linux; null elsewhere */
function bootTime(): number | null {
  try {
    const m = /^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'latin1'));
    return m ? Number(m[1]) * 1000 : null;
  } catch {
    return null;
  }
}

/** /proc/PID/cmdline where there is one (Linux), else null */
function cmdline(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ');
  } catch {
    return null;
  }
}

function makeStateDir(root: string, dir: string): boolean {
  const st = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (st) {
    if (!st.isDirectory()) throw new TsyncError('E_IO', `${dir} is not a directory: tsync keeps its lock there; move it away`);
    return false;
  }
  const before = fs.statSync(root);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new TsyncError('E_IO', `cannot create ${dir} for the lock: ${describeFsError(e)}`);
  }
  restoreTimes(root, before);
  return true;
}

function removeStateDir(root: string, dir: string): void {
  try {
    const before = fs.statSync(root);
    fs.rmdirSync(dir);
    restoreTimes(root, before);
  } catch {
    // not empty (another run's lock, or state kept there): it stays
  }
}

function restoreTimes(root: string, st: fs.Stats): void {
  try {
    // to the microsecond (tsync's time unit), not a float that loses one now and then
    fs.utimesSync(root, secondsOf(Math.round(st.atimeMs * 1000)), secondsOf(mtimeUs(st)));
  } catch {
    // the directory's time is cosmetic here; the receiver sets it when it must
  }
}

function lockText(): string {
  const info: LockInfo = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(), tsync: VERSION };
  return `${JSON.stringify(info)}\n`;
}

/** Create the lock complete, or not at all; false when one exists, 'no-dir' when .tsync/ is gone. */
function tryCreate(dir: string, file: string): boolean | 'no-dir' {
  const tmp = path.join(dir, `${LOCK_NAME}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    fs.writeFileSync(tmp, lockText(), { flag: 'wx', mode: 0o644 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'no-dir';
    throw new TsyncError('E_IO', `cannot write the lock in ${dir}: ${describeFsError(e)}`);
  }
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw new TsyncError('E_IO', `cannot take the lock ${file}: ${describeFsError(e)}`);
    // a filesystem without hard links: O_EXCL is the next best thing
    try {
      fs.writeFileSync(file, lockText(), { flag: 'wx', mode: 0o644 });
      return true;
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new TsyncError('E_IO', `cannot take the lock ${file}: ${describeFsError(e2)}`);
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Move a stale lock out of the way. Renamed first and checked, so that two
 * runs taking over the same stale lock at once cannot remove each other's
 * fresh one; false if what we moved was not the stale lock (it is put back).
 */
function takeOver(file: string, state: LockState): boolean {
  const aside = `${file}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new TsyncError('E_IO', `cannot remove the stale lock ${file}: ${describeFsError(e)}`);
  }
  const moved = parseLock(fs.readFileSync(aside, 'utf8'));
  const same = state.info === null ? moved === null : moved !== null && moved.pid === state.info.pid && moved.started === state.info.started && moved.host === state.info.host;
  if (!same) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // someone else holds it now; theirs stands
    }
  }
  fs.rmSync(aside, { force: true });
  return same;
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function holding(root: string, dir: string, file: string): Lock {
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    for (const s of SIGNALS) process.off(s, onSignal);
    process.off('exit', release);
    fs.rmSync(file, { force: true });
    // empty, .tsync/ serves no one (a killed run may have made it): it goes
    removeStateDir(root, dir);
  };
  // killed while holding it: remove it, then die of the same signal unless someone else handles it
  const onSignal = (sig: NodeJS.Signals) => {
    release();
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('exit', release);
  return { file, release };
}

/** The receiver's lock taker for a run with these options: none for a dry run, which changes nothing. */
export function destLock(o: { dryRun: boolean; lockWait?: number }, note: (s: string) => void): ((root: string) => Promise<Lock>) | undefined {
  if (o.dryRun) return undefined;
  return (root) => acquireLock(root, { waitSeconds: o.lockWait ?? 0, note });
}

/** START's options for this peer: lockWait only for a peer that takes locks (older ones would refuse the field) */
export function withLockWait<T extends object>(options: T, lockWait: number, caps: readonly string[]): T & { lockWait?: number } {
  return lockWait > 0 && caps.includes(LOCK_CAP) ? { ...options, lockWait } : options;
}
