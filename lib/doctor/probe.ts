// tsync doctor: what each side of a pair is like, and what to fix. The probe
// runs where the path is (in this process for a local path, in the server
// for START role doctor, answered with one DIAG); the checks are a pure
// function of the probes and the handshake (lib/doctor/checks.ts).
// lib/doctor/run.ts is the command.
//
// Probing writes nothing but two temporary files with a reserved name
// (.tsync-tmp-doctor-*), removed at once, to learn whether the filesystem
// ignores case and whether it rewrites Unicode names.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describeFsError } from '../errors.js';
import { describeHolder, inspectLock, lockPath } from '../fs/lock.js';
import { TMP_PREFIX } from '../tree/reserved.js';
import { VERSION } from '../version.js';

export type UnicodeBehaviour = 'keeps' | 'nfd' | 'nfc' | 'insensitive';

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

export function probeRoot(root: string): RootProbe {
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
  Object.assign(p, probeNames(dir));
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

/** Create a reserved temporary name, look at it under other spellings, remove it. */
export function probeNames(dir: string): Pick<RootProbe, 'probedIn' | 'writable' | 'writeError' | 'caseInsensitive' | 'unicode'> {
  const stem = `${TMP_PREFIX}doctor-${randomBytes(4).toString('hex')}`;
  const made: string[] = [];
  const create = (name: string) => {
    fs.writeFileSync(path.join(dir, name), '', { flag: 'wx', mode: 0o600 });
    made.push(name);
  };
  try {
    create(`${stem}-case`);
    const caseInsensitive = exists(path.join(dir, `${stem}-case`.toUpperCase()));
    const nfc = `${stem}-\u00e9`; // é, one code point
    const nfd = `${stem}-e\u0301`; // e + combining acute
    create(nfc);
    const listed = fs.readdirSync(dir).filter((n) => n.startsWith(`${stem}-`) && n !== `${stem}-case`);
    made.push(...listed.filter((n) => n !== nfc));
    let unicode: UnicodeBehaviour = 'keeps';
    if (listed.length === 1 && listed[0] === nfd) unicode = 'nfd';
    else if (exists(path.join(dir, nfd))) unicode = 'insensitive';
    return { probedIn: dir, writable: true, writeError: '', caseInsensitive, unicode };
  } catch (e) {
    return { probedIn: dir, writable: false, writeError: describeFsError(e), caseInsensitive: null, unicode: null };
  } finally {
    for (const n of made) fs.rmSync(path.join(dir, n), { force: true });
  }
}

function exists(p: string): boolean {
  return fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
}

/** The server's answer to START role doctor (received: when START arrived). */
export function diagReport(root: string, received: number): DiagReport {
  const probe = probeRoot(root);
  return { tsync: VERSION, host: os.hostname(), platform: `${os.platform()} ${os.release()}`, node: process.version, received, sent: Date.now(), root: probe };
}
