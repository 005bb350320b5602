// tsync doctor: what each side of a pair is like, and what to fix. The probe
// runs where the path is (in this process for a local path, in the server
// for START role doctor, answered with one DIAG); the checks are a pure
// function of the probes and the handshake (lib/doctor/checks.ts).
// lib/doctor/run.ts is the command.
//
// Probing writes nothing but two temporary files with a reserved name
// (.tsync-tmp-doctor-*), removed at once, to learn whether the filesystem
// ignores case and whether it rewrites Unicode names (lib/fs/probe.ts); and
// nothing at all for a read-only server, which looks up names already there
// under other spellings instead.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeHolder, inspectLock, lockPath } from '../fs/lock.js';
import { lookNames, probeNames, type UnicodeBehaviour } from '../fs/probe.js';
import { VERSION } from '../version.js';

export type { UnicodeBehaviour } from '../fs/probe.js';

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
