// tsync doctor: what each side of a pair is like, and what to fix. The probe
// runs where the path is (in this process for a local path, in the server
// for START role doctor, answered with one DIAG); the checks are a pure
// function of the probes and the handshake. lib/doctor-run.ts is the command.
//
// Probing writes nothing but two temporary files with a reserved name
// (.tsync-tmp-doctor-*), removed at once, to learn whether the filesystem
// ignores case and whether it rewrites Unicode names; and nothing at all
// for a read-only server, which looks up names already there under other
// spellings instead.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ErrorCode } from './errors.js';
import { describeHolder, inspectLock, lockPath } from './lock.js';
import { lookNames, probeNames, type UnicodeBehaviour } from './fs/probe.js';
import { formatBytes } from './progress.js';
import { VERSION } from './version.js';

export type { UnicodeBehaviour } from './fs/probe.js';
export { lookNames, probeNames } from './fs/probe.js';

export interface RootProbe {
  /** the absolute path probed */
  path: string;
  exists: boolean;
  isDir: boolean;
  /** the directory the name probes ran in: the root, or its parent when the root does not exist yet */
  probedIn: string | null;
  /** when the root does not exist: whether its parent does and can take it */
  parentExists: boolean;
  readable: boolean;
  writable: boolean;
  /** why the write probe failed */
  writeError: string;
  caseInsensitive: boolean | null;
  unicode: UnicodeBehaviour | null;
  free: number | null;
  size: number | null;
  lock: { holder: string; stale: boolean; why: string } | null;
}

/** A DIAG's report: the server's answer to START role doctor. */
export interface DiagReport {
  tsync: string;
  host: string;
  platform: string;
  node: string;
  /** the server's clock (ms) when START arrived and when DIAG left */
  received: number;
  sent: number;
  root: RootProbe;
}

/** readOnly: write nothing (a --read-only server): the name probes only look */
export function probeRoot(root: string, opts: { readOnly?: boolean } = {}): RootProbe {
  const abs = path.resolve(root.replace(/\/+$/, '') || '/');
  const st = fs.statSync(abs, { throwIfNoEntry: false });
  const p: RootProbe = { path: abs, exists: Boolean(st), isDir: Boolean(st?.isDirectory()), probedIn: null, parentExists: true, readable: false, writable: false, writeError: '', caseInsensitive: null, unicode: null, free: null, size: null, lock: null };
  let dir = abs;
  if (!st) {
    dir = path.dirname(abs);
    p.parentExists = Boolean(fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory());
    if (!p.parentExists) return p;
  } else if (!p.isDir) {
    dir = path.dirname(abs);
  }
  p.readable = can(dir, fs.constants.R_OK | fs.constants.X_OK) && (!st || can(abs, fs.constants.R_OK));
  try {
    const s = fs.statfsSync(dir);
    p.free = s.bavail * s.bsize;
    p.size = s.blocks * s.bsize;
  } catch {
    // statfs is not everywhere; the rest still says something
  }
  if (p.isDir) {
    const lock = inspectLockQuietly(lockPath(abs));
    if (lock) p.lock = { holder: describeHolder(lock.info), stale: lock.stale, why: lock.why };
  }
  Object.assign(p, opts.readOnly ? lookNames(dir) : probeNames(dir));
  return p;
}

function can(p: string, mode: number): boolean {
  try {
    fs.accessSync(p, mode);
    return true;
  } catch {
    return false;
  }
}

function inspectLockQuietly(file: string): ReturnType<typeof inspectLock> {
  try {
    return inspectLock(file);
  } catch {
    return null;
  }
}


/**
 * The server's answer to START role doctor (received: when START arrived).
 * shown: how a path is named to the client (a --root server names it from its root).
 */
export function diagReport(root: string, received: number, opts: { readOnly?: boolean; shown?: (abs: string) => string } = {}): DiagReport {
  const probe = probeRoot(root, opts);
  if (opts.shown) {
    probe.path = opts.shown(probe.path);
    if (probe.probedIn !== null) probe.probedIn = opts.shown(probe.probedIn);
  }
  return { tsync: VERSION, host: os.hostname(), platform: `${os.platform()} ${os.release()}`, node: process.version, received, sent: Date.now(), root: probe };
}

// ---- checks: pure ------------------------------------------------------------

export type CheckStatus = 'ok' | 'info' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** what to do about it (warn and fail) */
  fix?: string;
  /** for a failure: the error whose exit status the doctor ends with */
  code?: ErrorCode;
}

/** below this much free space (or 5%) the space check warns */
const LOW_SPACE = 100 * 1024 * 1024;
/** clocks further apart than this (seconds) get a warning */
export const SKEW_WARN = 2;

export function rootChecks(p: RootProbe): Check[] {
  const out: Check[] = [];
  if (!p.exists) {
    if (!p.parentExists) out.push({ name: 'root', status: 'fail', detail: `${p.path} does not exist, nor does its parent`, fix: `create it: mkdir -p '${p.path}'`, code: 'E_DOCTOR' });
    else if (!p.writable) out.push({ name: 'root', status: 'fail', detail: `${p.path} does not exist, and its parent cannot be written (${p.writeError})`, fix: 'create it, or give this user write permission on its parent', code: 'E_DOCTOR' });
    else out.push({ name: 'root', status: 'warn', detail: `${p.path} does not exist yet; a sync into it creates it`, fix: 'check the path if it should exist (as a source it must)' });
  } else if (!p.readable) {
    out.push({ name: 'root', status: 'fail', detail: `${p.path} cannot be read by this user`, fix: `give this user read and search permission (chmod u+rx '${p.path}')`, code: 'E_DOCTOR' });
  } else if (!p.isDir) {
    out.push({ name: 'root', status: 'info', detail: `${p.path} is a file, not a directory (fine for a single-file sync)` });
  } else if (!p.writable) {
    out.push({ name: 'root', status: 'warn', detail: `${p.path} is read-only for this user (${p.writeError}): it can be a source, not a destination`, fix: 'give this user write permission, or check whether the filesystem is mounted read-only' });
  } else {
    out.push({ name: 'root', status: 'ok', detail: `${p.path}: a directory, readable and writable` });
  }
  if (p.free !== null && p.size !== null) {
    const low = p.free < LOW_SPACE || p.free < p.size * 0.05;
    out.push({ name: 'space', status: low ? 'warn' : 'ok', detail: `${formatBytes(p.free)} free of ${formatBytes(p.size)}`, ...(low ? { fix: 'free some space before a large sync' } : {}) });
  }
  if (p.caseInsensitive !== null) {
    const uni = { keeps: 'Unicode names kept as written', nfd: 'Unicode names rewritten to NFD (decomposed), as HFS+ does', nfc: 'Unicode names rewritten to NFC', insensitive: 'NFC and NFD spellings of a name are the same file' }[p.unicode ?? 'keeps'];
    out.push({ name: 'names', status: 'info', detail: `${p.caseInsensitive ? 'case-insensitive' : 'case-sensitive'}; ${uni}` });
  }
  if (p.lock) {
    out.push(
      p.lock.stale
        ? { name: 'lock', status: 'warn', detail: `a stale lock: ${p.lock.why}; the next run takes it over`, fix: `nothing to do, or remove '${p.path}/.tsync/lock'` }
        : { name: 'lock', status: 'warn', detail: `locked now (${p.lock.holder}): a run into it fails with exit 41 until that one ends`, fix: `wait for it; if no such run exists, remove '${p.path}/.tsync/lock'` },
    );
  } else if (p.isDir) out.push({ name: 'lock', status: 'ok', detail: 'not locked' });
  return out;
}

/** The offset of the remote clock from ours (ms) from NTP's four timestamps, and its uncertainty. */
export function clockOffset(t0: number, t1: number, t2: number, t3: number): { offset: number; error: number } {
  const offset = (t1 - t0 + (t2 - t3)) / 2;
  const delay = t3 - t0 - (t2 - t1);
  return { offset, error: Math.max(0, delay) / 2 };
}

export function clockCheck(offsetMs: number, errorMs: number, who: string): Check {
  const s = Math.abs(offsetMs) / 1000;
  const detail = `${who} is ${s.toFixed(3)} s ${offsetMs >= 0 ? 'ahead of' : 'behind'} this host (±${(errorMs / 1000).toFixed(3)} s)`;
  if (s - errorMs / 1000 > SKEW_WARN) return { name: 'clock', status: 'warn', detail, fix: 'run NTP (chrony, systemd-timesyncd) on both hosts; -u compares mtimes without correcting for skew' };
  return { name: 'clock', status: 'ok', detail };
}

/** Two roots compared: what differs between their filesystems. */
export function pairChecks(a: { label: string; p: RootProbe }, b: { label: string; p: RootProbe }): Check[] {
  const out: Check[] = [];
  if (a.p.caseInsensitive !== null && b.p.caseInsensitive !== null && a.p.caseInsensitive !== b.p.caseInsensitive) {
    const [ci, cs] = a.p.caseInsensitive ? [a, b] : [b, a];
    out.push({ name: 'case', status: 'warn', detail: `${ci.label} ignores case and ${cs.label} does not: names that differ only in case on ${cs.label} (README, readme) become one file on ${ci.label}`, fix: `rename such files on ${cs.label}, or exclude one of each pair` });
  }
  if (a.p.unicode && b.p.unicode && a.p.unicode !== b.p.unicode) {
    out.push({ name: 'unicode', status: 'warn', detail: `${a.label} (${a.p.unicode}) and ${b.label} (${b.p.unicode}) treat Unicode names differently: a name with accents may arrive spelled another way`, fix: 'prefer NFC names on both sides' });
  }
  return out;
}
