// tsync doctor's checks: a pure function of the probes (lib/doctor/probe.ts)
// and the handshake. Each check says what it found and, when it warns or
// fails, what to fix.

import type { ErrorCode } from '../errors.js';
import { formatBytes } from '../cli/progress.js';
import type { RootProbe } from './probe.js';

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
