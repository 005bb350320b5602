// tsync over a REAL OpenSSH server on 127.0.0.1 (test/helpers/sshd.ts), with
// rsync over the same sshd as the oracle: push, pull, mutate + --delete, the
// ssh://user@host:port/path form, and failures that only a real ssh produces.
// Without sshd the test skips loudly; under CI=true it fails.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { TSYNC_BIN, runTsync, type RunResult } from '../helpers/run.js';
import { requireOrSkip, sshdAvailable, startSshd, toolAvailable, type Sshd } from '../helpers/sshd.js';
import { diffSnapshots, makeRandomTree, mutateTree, snapshot, type Entry } from '../helpers/tree.js';

const execFileP = promisify(execFile);

// ---------------------------------------------------------------- helpers

function describe(r: RunResult): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? ' TIMED OUT' : ''}; stdout ${JSON.stringify(r.stdout.slice(0, 500))}; stderr ${JSON.stringify(r.stderr.slice(0, 1500))}`;
}

const snap = (dir: string): Promise<Map<string, Entry>> => snapshot(dir, { includeRoot: true });

function same(t: Test, ref: Map<string, Entry>, out: Map<string, Entry>, what: string): void {
  const d = diffSnapshots(ref, out, { labels: ['rsync', 'tsync'] });
  t.same(d.slice(0, 30), [], `${what}${d.length > 30 ? ` (${d.length} differences, first 30 shown)` : ''}`);
}

/** A fatal error: the exit code, one `tsync:` line on stderr, no stack trace. */
function fatal(t: Test, r: RunResult, code: number, pattern: RegExp): void {
  t.equal(r.code, code, `exit ${code} (${describe(r)})`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  t.equal(lines.length, 1, `stderr is exactly one line: ${JSON.stringify(r.stderr)}`);
  t.match(lines[0] ?? '', /^tsync:/, 'the line starts with "tsync:"');
  t.notMatch(r.stderr, /^\s+at /m, 'no stack trace');
  t.equal(r.stdout, '', 'nothing on stdout');
  t.match(r.stderr, pattern, `stderr matches ${pattern}`);
}

function shQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

const ROOT_MTIME_1 = 1_500_000_000.25;
const ROOT_MTIME_2 = 1_650_000_000.5;

// ---------------------------------------------------------------- the tests

t.test('over a real sshd', async (t) => {
  if (!requireOrSkip(t, sshdAvailable())) return;
  if (!requireOrSkip(t, toolAvailable('rsync'))) return;
  const sshd: Sshd = await startSshd(t);
  const host = sshd.host;
  const tsyncOver = (rsh: string) => ['-e', rsh, '--tsync-path', TSYNC_BIN];
  const rsyncOver = (args: string[]) => execFileP('rsync', ['-a', '-e', sshd.rsh, ...args], { maxBuffer: 16 << 20 });

  await t.test('push and pull a random tree; rsync over the same sshd agrees', async (t) => {
    const sb = t.testdir();
    const src = path.join(sb, 'src');
    await makeRandomTree(src, 2024, { files: 50, dirs: 10, bigFiles: 1, bigMaxBytes: 400 * 1024 });
    await fsp.utimes(src, ROOT_MTIME_1, ROOT_MTIME_1);

    await rsyncOver([`${src}/`, `${host}:${sb}/rsync-push/`]);
    let r = await runTsync([...tsyncOver(sshd.rsh), `${src}/`, `${host}:${sb}/push/`]);
    t.equal(r.code, 0, `push: ${describe(r)}`);
    same(t, await snap(path.join(sb, 'rsync-push')), await snap(path.join(sb, 'push')), 'push: tsync equals rsync');

    await rsyncOver([`${host}:${src}/`, `${sb}/rsync-pull/`]);
    r = await runTsync([...tsyncOver(sshd.rsh), `${host}:${src}/`, `${sb}/pull/`]);
    t.equal(r.code, 0, `pull: ${describe(r)}`);
    same(t, await snap(path.join(sb, 'rsync-pull')), await snap(path.join(sb, 'pull')), 'pull: tsync equals rsync');

    const log = await mutateTree(src, 3024);
    await fsp.utimes(src, ROOT_MTIME_2, ROOT_MTIME_2);
    t.comment(`mutations: ${log.join('; ')}`);
    await rsyncOver(['--delete', `${src}/`, `${host}:${sb}/rsync-push/`]);
    r = await runTsync([...tsyncOver(sshd.rsh), '--delete', `${src}/`, `${host}:${sb}/push/`]);
    t.equal(r.code, 0, `push --delete: ${describe(r)}`);
    same(t, await snap(path.join(sb, 'rsync-push')), await snap(path.join(sb, 'push')), 'push after mutate + --delete: tsync equals rsync');

    await rsyncOver(['--delete', `${host}:${src}/`, `${sb}/rsync-pull/`]);
    r = await runTsync([...tsyncOver(sshd.rsh), '--delete', '--json', `${host}:${src}/`, `${sb}/pull/`]);
    t.equal(r.code, 0, `pull --delete: ${describe(r)}`);
    same(t, await snap(path.join(sb, 'rsync-pull')), await snap(path.join(sb, 'pull')), 'pull after mutate + --delete: tsync equals rsync');
    try {
      const j = JSON.parse(r.stdout);
      t.ok(j.bytes.literal < j.bytes.total, `the re-run did not resend everything (literal ${j.bytes.literal} of ${j.bytes.total})`);
    } catch (e) {
      t.fail(`--json over ssh: ${(e as Error).message}: ${r.stdout}`);
    }
  });

  await t.test('the ssh://user@host:port/path form', async (t) => {
    const sb = t.testdir();
    const src = path.join(sb, 'src');
    await makeRandomTree(src, 99, { files: 15, dirs: 4, bigFiles: 0, oddNames: false });
    await fsp.utimes(src, ROOT_MTIME_1, ROOT_MTIME_1);
    await rsyncOver([`${src}/`, `${host}:${sb}/ref/`]);
    // no -p: the port comes from the URL
    const rsh = ['ssh', '-i', shQuote(sshd.clientKey), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'].join(' ');
    const url = (p: string) => `ssh://${sshd.user}@${host}:${sshd.port}${p}`;
    let r = await runTsync([...tsyncOver(rsh), `${src}/`, url(`${sb}/push/`)]);
    t.equal(r.code, 0, `push to ${url(`${sb}/push/`)}: ${describe(r)}`);
    same(t, await snap(path.join(sb, 'ref')), await snap(path.join(sb, 'push')), 'push via ssh:// URL');
    r = await runTsync([...tsyncOver(rsh), url(`${src}/`), `${sb}/pull/`]);
    t.equal(r.code, 0, `pull from ${url(`${src}/`)}: ${describe(r)}`);
    same(t, await snap(path.join(sb, 'ref')), await snap(path.join(sb, 'pull')), 'pull via ssh:// URL');
  });

  await t.test('authentication failure (a key the server does not know): exit 10 with ssh\'s message', async (t) => {
    const sb = t.testdir();
    const src = path.join(sb, 'src');
    await fsp.mkdir(src);
    await fsp.writeFile(path.join(src, 'x.txt'), 'x');
    const wrongKey = path.join(sb, 'wrong_key');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'not-authorized', '-f', wrongKey]);
    const rsh = ['ssh', '-i', shQuote(wrongKey), '-p', String(sshd.port), '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'].join(' ');
    const before = await snapshot(sb);
    const r = await runTsync([...tsyncOver(rsh), `${src}/`, `${host}:${sb}/dst/`], { timeoutMs: 30_000 });
    fatal(t, r, 10, /Permission denied/);
    t.same(diffSnapshots(before, await snapshot(sb)), [], 'nothing written');
    const r2 = await runTsync([...tsyncOver(rsh), `${host}:${src}/`, `${sb}/dst/`], { timeoutMs: 30_000 });
    t.test('pull too', async (t) => fatal(t, r2, 10, /Permission denied/));
    t.notOk(fs.existsSync(path.join(sb, 'dst')), 'no destination was made');
  });

  await t.test('two-way over ssh: both sides change, both end equal, the conflict kept on both', async (t) => {
    const sb = t.testdir();
    const [a, b] = [path.join(sb, 'a'), path.join(sb, 'b')];
    await makeRandomTree(a, 77, { files: 30, dirs: 5, bigFiles: 1, oddNames: true });
    let r = await runTsync(['--two-way', ...tsyncOver(sshd.rsh), a, `${host}:${b}`]);
    t.equal(r.code, 0, describe(r));
    await fsp.writeFile(path.join(a, 'both.txt'), 'from a');
    await fsp.utimes(path.join(a, 'both.txt'), 1_700_000_100, 1_700_000_100);
    await fsp.writeFile(path.join(b, 'both.txt'), 'from b, newer');
    await fsp.utimes(path.join(b, 'both.txt'), 1_700_000_200, 1_700_000_200);
    await fsp.writeFile(path.join(b, 'only-b.txt'), 'b');
    r = await runTsync(['--two-way', '--json', ...tsyncOver(sshd.rsh), `${host}:${b}`, a]);
    t.equal(r.code, 40, describe(r));
    const copy = JSON.parse(r.stdout).conflicts[0].copy as string;
    for (const side of [a, b]) {
      t.equal(await fsp.readFile(path.join(side, 'both.txt'), 'utf8'), 'from b, newer');
      t.equal(await fsp.readFile(path.join(side, copy), 'utf8'), 'from a');
    }
    const noState = { exclude: (rel: string) => rel === '.tsync' };
    t.same(diffSnapshots(await snapshot(a, noState), await snapshot(b, noState), { ignoreDirMtime: true, ignoreSymlinkMtime: true }), [], 'equal');
  });

  await t.test('errors from the remote side arrive with the remote\'s message', async (t) => {
    const sb = t.testdir();
    const r = await runTsync([...tsyncOver(sshd.rsh), `${host}:${sb}/no-such-source/`, `${sb}/dst/`]);
    fatal(t, r, 3, /no-such-source/);
    t.notOk(fs.existsSync(path.join(sb, 'dst')), 'no destination was made');
    await fsp.mkdir(path.join(sb, 'src'));
    const r2 = await runTsync([...tsyncOver(sshd.rsh), `${sb}/src/`, `${host}:${sb}/no/such/parent/dst/`]);
    t.test('missing remote destination parent', async (t) => fatal(t, r2, 3, /no\/such/));
  });
});
