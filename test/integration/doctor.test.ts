// `tsync doctor` through the real binary: a local path, a stand-in remote
// (the server answers START role doctor), a remote with a clock an hour
// behind (faketime), the ways reaching a peer fails, and a real sshd.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { TSYNC_BIN, runTsync } from '../helpers/run.js';
import { requireOrSkip, sshdAvailable, startSshd, toolAvailable } from '../helpers/sshd.js';
import { describe, remote, standins, via } from '../helpers/standin.js';

interface Report {
  ok: boolean;
  exitCode: number;
  endpoints: Array<{ endpoint: string; checks: Array<{ name: string; status: string; detail: string; fix?: string }>; probe: { path: string; caseInsensitive: boolean } | null }>;
  pair: unknown[];
}

const statuses = (e: Report['endpoints'][number]) => Object.fromEntries(e.checks.map((c) => [c.name, c.status]));
const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

t.test('a local path', async (t) => {
  const dir = t.testdir({ 'a.txt': 'x' });
  const r = await runTsync(['doctor', dir]);
  t.equal(r.code, 0, describe(r));
  t.match(r.stdout, new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n  ok    connect  local path; tsync \\S+\\n  ok    root     ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: a directory, readable and writable\\n  ok    space    .* free of .*\\n  info  names    case-sensitive; Unicode names kept as written\\n  ok    lock     not locked\\ntsync doctor: nothing to fix\\n$`));
  t.equal(r.stderr, '');
  t.same(fs.readdirSync(dir), ['a.txt'], 'nothing left in the root');
});

t.test('problems: what to fix, and exit 44', async (t) => {
  const dir = t.testdir();
  const r = await runTsync(['doctor', path.join(dir, 'no', 'such')]);
  t.equal(r.code, 44, describe(r));
  t.match(r.stdout, /  fail  root     .*no\/such does not exist, nor does its parent\n {17}fix: create it: mkdir -p .*\n/);
  t.match(r.stdout, /tsync doctor: 1 problem \(exit 44\)\n$/);
  const w = await runTsync(['doctor', path.join(dir, 'new')]);
  t.equal(w.code, 0, 'a warning alone is not a failure');
  t.match(w.stdout, /  warn  root     .*new does not exist yet; a sync into it creates it\n {17}fix: /);
  t.match(w.stdout, /tsync doctor: 1 warning\n$/);
});

t.test('a remote through a stand-in, and both sides at once', async (t) => {
  const dir = t.testdir({ here: {}, there: {} });
  const { standin } = standins(t);
  const r = await runTsync(['doctor', '--json', ...via(standin), remote(`${dir}/there/`)]);
  t.equal(r.code, 0, describe(r));
  const o = JSON.parse(r.stdout) as Report;
  t.equal(o.ok, true);
  const e = o.endpoints[0];
  t.equal(e.endpoint, remote(`${dir}/there/`));
  t.same(statuses(e), { connect: 'ok', clock: 'ok', root: 'ok', space: 'ok', names: 'info', lock: 'ok' });
  t.match(e.checks[0].detail, /^tsync \S+ \(protocol 1-1\) on localhost; this tsync \S+ speaks 1-1; using protocol 1$/);
  t.match(e.checks[1].detail, /^localhost is \d+\.\d{3} s (ahead of|behind) this host \(±\d+\.\d{3} s\)$/);
  t.equal(e.probe?.path, `${dir}/there`, 'the probe ran on the remote side, on its path');
  t.same(fs.readdirSync(path.join(dir, 'there')), [], 'and left nothing there');

  const both = await runTsync(['doctor', ...via(standin), `${dir}/here/`, remote(`${dir}/there/`)]);
  t.equal(both.code, 0, describe(both));
  t.match(both.stdout, new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/here/\\n(  \\S.*\\n)+localhost:`), 'one block per endpoint');
  t.notMatch(both.stdout, /between the two/, 'two alike filesystems: nothing to compare');
});

t.test('a remote clock an hour behind (faketime): a warning', async (t) => {
  if (!requireOrSkip(t, fs.existsSync(FAKETIME_LIB) ? null : 'faketime is not installed (apt-get install faketime)')) return;
  const dir = t.testdir();
  const { standin } = standins(t);
  const r = await runTsync(['doctor', '-e', standin, '--tsync-path', `env FAKETIME=-3600 LD_PRELOAD=${FAKETIME_LIB} ${TSYNC_BIN}`, remote(dir)]);
  t.equal(r.code, 0, `a warning is not a failure: ${describe(r)}`);
  t.match(r.stdout, /  warn  clock    localhost is 3[56]\d\d\.\d{3} s behind this host/);
  t.match(r.stdout, /fix: run NTP/);
});

t.test('when the peer cannot be reached or spoken to', async (t) => {
  const dir = t.testdir();
  const { standin } = standins(t);
  const cases: Array<[string, string[], number, RegExp]> = [
    ['no tsync there', ['-e', standin, '--tsync-path', '/nonexistent/tsync'], 5, /fail {2}connect {2}tsync not found on localhost/],
    ['another protocol', ['-e', standin, '--tsync-path', `env TSYNC_TEST_PROTOCOL=5-7 ${TSYNC_BIN}`], 2, /fail {2}connect {2}.*share no protocol version/],
    ['an rsh that is not there', ['-e', '/nonexistent/rsh'], 10, /fail {2}connect {2}cannot run the remote shell/],
  ];
  for (const [what, args, code, pattern] of cases) {
    const r = await runTsync(['doctor', ...args, remote(dir)]);
    t.equal(r.code, code, `${what}: exit ${code} (${describe(r)})`);
    t.match(r.stdout, pattern, what);
    t.match(r.stdout, /\n {17}fix: /, `${what}: with a fix`);
  }
  const u = await runTsync(['doctor']);
  t.equal(u.code, 1, 'no endpoint: usage');
  t.match(u.stderr, /^tsync: error: usage: tsync doctor /);
  const u3 = await runTsync(['doctor', 'a', 'b', 'c']);
  t.equal(u3.code, 1, 'three endpoints: usage');
});

t.test('over a real sshd', async (t) => {
  if (!requireOrSkip(t, sshdAvailable())) return;
  if (!requireOrSkip(t, toolAvailable('ssh', 'openssh-client'))) return;
  const sshd = await startSshd(t);
  const dir = t.testdir({ data: {} });
  const r = await runTsync(['doctor', '--json', '-e', sshd.rsh, '--tsync-path', TSYNC_BIN, `${sshd.host}:${dir}/data`]);
  t.equal(r.code, 0, describe(r));
  const o = JSON.parse(r.stdout) as Report;
  t.same(statuses(o.endpoints[0]), { connect: 'ok', clock: 'ok', root: 'ok', space: 'ok', names: 'info', lock: 'ok' });
  const bad = await runTsync(['doctor', '-e', `${sshd.rsh.replace(/-p \d+/, '-p 1')} -o ConnectTimeout=3`, '--tsync-path', TSYNC_BIN, `${sshd.host}:${dir}`]);
  t.equal(bad.code, 10, `nothing listens on port 1: exit 10 (${describe(bad)})`);
  t.match(bad.stdout, /fail {2}connect {2}could not connect to 127\.0\.0\.1/);
});
