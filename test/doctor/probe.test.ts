// lib/doctor/probe.ts and the DIAG parser: probes on a real directory, and the
// pure checks as tables (including filesystems this machine does not have:
// case-insensitive, NFD-normalising, read-only).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { probeRoot, type RootProbe } from '../../lib/doctor/probe.js';
import { clockCheck, clockOffset, pairChecks, rootChecks } from '../../lib/doctor/checks.js';
import { parseDiag } from '../../lib/doctor/run.js';
import { acquireLock } from '../../lib/fs/lock.js';
import { TsyncError } from '../../lib/errors.js';

const OK_PROBE: RootProbe = { path: '/srv/x', exists: true, isDir: true, probedIn: '/srv/x', parentExists: true, readable: true, writable: true, writeError: '', caseInsensitive: false, unicode: 'keeps', free: 50 * 2 ** 30, size: 100 * 2 ** 30, lock: null };

t.test('probeRoot on a real directory leaves nothing behind', async (t) => {
  const dir = t.testdir({ 'a.txt': 'x' });
  const before = fs.readdirSync(dir);
  const mtime = fs.statSync(dir).mtimeMs;
  const p = probeRoot(`${dir}/`);
  t.match(p, { path: dir, exists: true, isDir: true, readable: true, writable: true, writeError: '', probedIn: dir, lock: null });
  t.equal(p.caseInsensitive, false, 'Linux filesystems here are case-sensitive');
  t.equal(p.unicode, 'keeps', 'and keep Unicode names as written');
  t.ok(p.free !== null && p.free > 0 && p.size !== null && p.size >= p.free, `free ${p.free} of ${p.size}`);
  t.same(fs.readdirSync(dir), before, 'the temporary names are gone');
  t.ok(fs.statSync(dir).mtimeMs >= mtime, 'made and removed in the root');
});

t.test('probeRoot: missing root, missing parent, a file, a held lock', async (t) => {
  const dir = t.testdir({ 'f.txt': 'x', sub: {} });
  const missing = probeRoot(path.join(dir, 'new'));
  t.match(missing, { exists: false, parentExists: true, writable: true, probedIn: dir }, 'probed in the parent');
  t.same(fs.readdirSync(dir).sort(), ['f.txt', 'sub']);
  t.match(probeRoot(path.join(dir, 'no', 'such')), { exists: false, parentExists: false, probedIn: null, caseInsensitive: null });
  t.match(probeRoot(path.join(dir, 'f.txt')), { exists: true, isDir: false, readable: true });
  const lock = await acquireLock(path.join(dir, 'sub'), { waitSeconds: 0, note: () => {} });
  const held = probeRoot(path.join(dir, 'sub'));
  lock.release();
  t.match(held.lock, { stale: false, holder: new RegExp(`pid ${process.pid} on ${os.hostname()}`) }, 'a held lock is seen');
});

t.test('rootChecks', async (t) => {
  const status = (p: Partial<RootProbe>) => rootChecks({ ...OK_PROBE, ...p }).map((c) => `${c.name}:${c.status}`).join(' ');
  const cases: Array<[string, Partial<RootProbe>, string]> = [
    ['all well', {}, 'root:ok space:ok names:info lock:ok'],
    ['missing, parent writable', { exists: false, isDir: false, lock: null }, 'root:warn space:ok names:info'],
    ['missing, parent read-only', { exists: false, isDir: false, writable: false, writeError: 'EACCES', caseInsensitive: null }, 'root:fail space:ok'],
    ['missing with its parent', { exists: false, isDir: false, parentExists: false, free: null, size: null, caseInsensitive: null }, 'root:fail'],
    ['unreadable', { readable: false }, 'root:fail space:ok names:info lock:ok'],
    ['read-only', { writable: false, writeError: 'EROFS', caseInsensitive: null }, 'root:warn space:ok lock:ok'],
    ['a file', { isDir: false }, 'root:info space:ok names:info'],
    ['low space, absolute', { free: 50 * 2 ** 20 }, 'root:ok space:warn names:info lock:ok'],
    ['low space, relative', { free: 2 * 2 ** 30, size: 100 * 2 ** 30 }, 'root:ok space:warn names:info lock:ok'],
    ['locked', { lock: { holder: 'pid 9 on h, since x', stale: false, why: '' } }, 'root:ok space:ok names:info lock:warn'],
    ['stale lock', { lock: { holder: 'pid 9 on h, since x', stale: true, why: 'gone' } }, 'root:ok space:ok names:info lock:warn'],
  ];
  for (const [what, p, want] of cases) t.equal(status(p), want, what);
  const fail = rootChecks({ ...OK_PROBE, exists: false, parentExists: false })[0];
  t.equal(fail.code, 'E_DOCTOR', 'a failed check ends with the doctor exit status');
  t.match(fail.fix, /mkdir -p/, 'and says what to do');
  t.match(rootChecks({ ...OK_PROBE, caseInsensitive: true, unicode: 'nfd' })[2].detail, /case-insensitive; Unicode names rewritten to NFD/);
});

t.test('clockOffset and clockCheck', async (t) => {
  t.same(clockOffset(1000, 1050, 1060, 1110), { offset: 0, error: 50 }, 'same clocks, 100 ms round trip with 10 ms inside');
  t.same(clockOffset(1000, 3601050, 3601060, 1110), { offset: 3600000, error: 50 }, 'an hour ahead');
  t.same(clockOffset(1000, -1000, -1000, 1000), { offset: -2000, error: 0 }, 'behind, instant round trip');
  t.equal(clockCheck(500, 10, 'h').status, 'ok');
  t.equal(clockCheck(-3_600_000, 50, 'h').status, 'warn');
  t.match(clockCheck(-3_600_000, 50, 'h').detail, /h is 3600\.000 s behind this host \(±0\.050 s\)/);
  t.equal(clockCheck(2500, 1000, 'h').status, 'ok', 'within the uncertainty of the measurement');
});

t.test('pairChecks: what differs between two filesystems', async (t) => {
  const a = { label: 'mac:/Users/x', p: { ...OK_PROBE, caseInsensitive: true, unicode: 'insensitive' as const } };
  const b = { label: '/home/x', p: OK_PROBE };
  const checks = pairChecks(a, b);
  t.same(checks.map((c) => `${c.name}:${c.status}`), ['case:warn', 'unicode:warn']);
  t.match(checks[0].detail, /mac:\/Users\/x ignores case and \/home\/x does not/);
  t.same(pairChecks(b, { label: 'y', p: OK_PROBE }), [], 'alike: nothing to say');
  t.same(pairChecks(b, { label: 'y', p: { ...OK_PROBE, caseInsensitive: null, unicode: null } }), [], 'unknown: nothing to say');
});

t.test('parseDiag trusts nothing', async (t) => {
  const good = { tsync: '0.1.0', host: 'h', platform: 'linux', node: 'v20', received: 1, sent: 2, root: OK_PROBE };
  t.same(parseDiag(JSON.stringify(good)), good);
  const bad: Array<[string, unknown]> = [
    ['not JSON', '{'],
    ['null', null],
    ['a number for host', { ...good, host: 5 }],
    ['no clock', { ...good, sent: undefined }],
    ['an infinite clock', { ...good, received: '1e999' }],
    ['no root', { ...good, root: undefined }],
    ['a string for exists', { ...good, root: { ...OK_PROBE, exists: 'yes' } }],
    ['an odd unicode', { ...good, root: { ...OK_PROBE, unicode: 'nfkc' } }],
    ['a lock without a holder', { ...good, root: { ...OK_PROBE, lock: { stale: true } } }],
    ['free as text', { ...good, root: { ...OK_PROBE, free: '1' } }],
  ];
  for (const [what, v] of bad) {
    let err: unknown = null;
    try {
      parseDiag(typeof v === 'string' ? v : JSON.stringify(v));
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof TsyncError && err.code === 'E_PROTOCOL', `${what}: ${(err as Error)?.message}`);
  }
});
