// The built-in SSH client (`-e builtin`) against the real sshd the suite
// starts: ~/.ssh/config (Host, HostName, Port, User, IdentityFile,
// ProxyJump, StrictHostKeyChecking), a real ssh-agent, a key file, hashed
// known_hosts, and the refusals (unknown host, changed host key, a key that
// needs a passphrase with no terminal) with their exit codes. Each case has
// its own HOME, so nothing of the user's ~/.ssh is read.

import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { TSYNC_BIN, runTsync, type RunResult } from '../helpers/run.js';
import { requireOrSkip, sshdAvailable, startSshd, toolAvailable, type Sshd } from '../helpers/sshd.js';
import { describe, fatal, writeTree } from '../helpers/standin.js';

const TREE = { 'a.txt': 'alpha\n', 'd/b.bin': Buffer.alloc(70_000, 7), 'd/e/c.txt': 'gamma\n' };

function home(t: Test, config: string, knownHosts = ''): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-home-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, '.ssh'), { mode: 0o700 });
  fs.writeFileSync(path.join(dir, '.ssh', 'config'), config);
  fs.writeFileSync(path.join(dir, '.ssh', 'known_hosts'), knownHosts);
  return dir;
}

const hostKeyPub = (s: Sshd) => fs.readFileSync(path.join(s.dir, 'host_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
const knownLine = (s: Sshd) => `[127.0.0.1]:${s.port} ${hostKeyPub(s)}\n`;
const fingerprintOf = (s: Sshd) => execFileSync('ssh-keygen', ['-lf', path.join(s.dir, 'host_key.pub')], { encoding: 'utf8' }).split(/\s+/)[1];

function block(alias: string, s: Sshd, lines: string[] = []): string {
  return [`Host ${alias}`, '  HostName 127.0.0.1', `  Port ${s.port}`, `  User ${s.user}`, ...lines.map((l) => `  ${l}`), ''].join('\n');
}

async function push(t: Test, env: Record<string, string | undefined>, target: string, rsh = ['-e', 'builtin']): Promise<{ r: RunResult; dst: string }> {
  const sb = t.testdir();
  await writeTree(path.join(sb, 'src'), TREE);
  const r = await runTsync([...rsh, '--tsync-path', TSYNC_BIN, `${sb}/src/`, `${target}:${sb}/dst/`], { env: { SSH_AUTH_SOCK: undefined, ...env } });
  return { r, dst: path.join(sb, 'dst') };
}

function arrived(t: Test, dst: string): void {
  t.equal(fs.readFileSync(path.join(dst, 'a.txt'), 'utf8'), 'alpha\n', 'a.txt arrived');
  t.equal(fs.readFileSync(path.join(dst, 'd/e/c.txt'), 'utf8'), 'gamma\n', 'd/e/c.txt arrived');
  t.equal(fs.statSync(path.join(dst, 'd/b.bin')).size, 70_000, 'd/b.bin arrived whole');
}

t.test('the built-in SSH client against a real sshd', async (t) => {
  if (!requireOrSkip(t, sshdAvailable())) return;
  if (!requireOrSkip(t, toolAvailable('ssh-agent', 'openssh-client'))) return;
  const sshd = await startSshd(t, { extraConfig: ['AcceptEnv XDG_CACHE_HOME'] });

  await t.test('a key file named by IdentityFile, a hashed known_hosts entry', async (t) => {
    const h = home(t, block('box', sshd, [`IdentityFile ${sshd.clientKey}`]), knownLine(sshd));
    execFileSync('ssh-keygen', ['-H', '-f', path.join(h, '.ssh', 'known_hosts')], { stdio: 'ignore' });
    t.match(fs.readFileSync(path.join(h, '.ssh', 'known_hosts'), 'utf8'), /^\|1\|/, 'the entry is hashed');
    const { r, dst } = await push(t, { HOME: h }, 'box');
    t.equal(r.code, 0, describe(r));
    arrived(t, dst);
  });

  await t.test('no ssh on the PATH and no -e: the built-in client is used', async (t) => {
    const h = home(t, block('box', sshd, [`IdentityFile ${sshd.clientKey}`]), knownLine(sshd));
    const bin = path.join(h, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    const { r, dst } = await push(t, { HOME: h, PATH: bin }, 'box', []);
    t.equal(r.code, 0, describe(r));
    arrived(t, dst);
  });

  await t.test('a remote with node and no tsync: the built-in client installs it (SetEnv from the config reaches the server)', async (t) => {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-zi-cache-'));
    t.teardown(() => fs.rmSync(cache, { recursive: true, force: true }));
    const h = home(t, block('box', sshd, [`IdentityFile ${sshd.clientKey}`, `SetEnv XDG_CACHE_HOME=${cache}`]), knownLine(sshd));
    const sb = t.testdir();
    await writeTree(path.join(sb, 'src'), TREE);
    // no --tsync-path: the remote PATH (sshd's) has node and no tsync
    const first = await runTsync(['-e', 'builtin', `${sb}/src/`, `box:${sb}/dst/`], { env: { HOME: h, SSH_AUTH_SOCK: undefined } });
    t.equal(first.code, 0, describe(first));
    arrived(t, path.join(sb, 'dst'));
    t.match(first.stderr, /installing tsync \S+ on box/, 'it says it installs');
    t.equal(fs.readdirSync(path.join(cache, 'tsync', 'server')).length, 1, 'into the cache SetEnv named');
    const second = await runTsync(['-e', 'builtin', `box:${sb}/src/`, `${sb}/pulled/`], { env: { HOME: h, SSH_AUTH_SOCK: undefined } });
    t.equal(second.code, 0, describe(second));
    arrived(t, path.join(sb, 'pulled'));
    t.equal(second.stderr, '', 'the second run (a pull) reuses the cache and says nothing');
  });

  await t.test('a key held by a real ssh-agent (no key file anywhere)', async (t) => {
    const h = home(t, block('box', sshd), knownLine(sshd));
    const sock = path.join(h, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    t.teardown(() => void agent.kill());
    for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    execFileSync('ssh-add', [sshd.clientKey], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
    const { r, dst } = await push(t, { HOME: h, SSH_AUTH_SOCK: sock }, 'box');
    t.equal(r.code, 0, describe(r));
    arrived(t, dst);
    const without = await push(t, { HOME: h }, 'box');
    fatal(t, without.r, 10, /permission denied \(tried no agent and no key file\)/);
  });

  await t.test('an unknown host is refused with its fingerprint; accept-new adds it', async (t) => {
    const h = home(t, block('box', sshd, [`IdentityFile ${sshd.clientKey}`]));
    const { r, dst } = await push(t, { HOME: h }, 'box');
    fatal(t, r, 10, /host key of \[127\.0\.0\.1\]:\d+ is not known/);
    t.ok(r.stderr.includes(fingerprintOf(sshd)), `the message names ${fingerprintOf(sshd)}`);
    t.match(r.stderr, /ssh-keyscan -p \d+ 127\.0\.0\.1 >> ~\/\.ssh\/known_hosts/, 'and says how to accept it');
    t.notOk(fs.existsSync(dst), 'nothing was written');

    fs.appendFileSync(path.join(h, '.ssh', 'config'), 'Host *\n  StrictHostKeyChecking accept-new\n');
    const again = await push(t, { HOME: h }, 'box');
    t.equal(again.r.code, 0, describe(again.r));
    arrived(t, again.dst);
    t.equal(fs.readFileSync(path.join(h, '.ssh', 'known_hosts'), 'utf8'), knownLine(sshd), 'accept-new wrote the key to known_hosts');
  });

  await t.test('a changed host key is refused, even with accept-new', async (t) => {
    const other = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-key-')), 'other');
    t.teardown(() => fs.rmSync(path.dirname(other), { recursive: true, force: true }));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const wrong = `[127.0.0.1]:${sshd.port} ${fs.readFileSync(`${other}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')}\n`;
    const h = home(t, block('box', sshd, [`IdentityFile ${sshd.clientKey}`, 'StrictHostKeyChecking accept-new']), wrong);
    const { r, dst } = await push(t, { HOME: h }, 'box');
    fatal(t, r, 10, /host key of \[127\.0\.0\.1\]:\d+ has CHANGED/);
    t.ok(r.stderr.includes(fingerprintOf(sshd)), 'the message names the offered key');
    t.match(r.stderr, /ssh-keygen -R '\[127\.0\.0\.1\]:\d+'/, 'and how to drop the old entry');
    t.notOk(fs.existsSync(dst), 'nothing was written');
    t.equal(fs.readFileSync(path.join(h, '.ssh', 'known_hosts'), 'utf8'), wrong, 'known_hosts untouched');
  });

  await t.test('a key with a passphrase and no terminal: skipped, said so, exit 10', async (t) => {
    const locked = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-key-')), 'locked');
    t.teardown(() => fs.rmSync(path.dirname(locked), { recursive: true, force: true }));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'sesame', '-f', locked]);
    const h = home(t, block('box', sshd, [`IdentityFile ${locked}`]), knownLine(sshd));
    const { r } = await push(t, { HOME: h }, 'box');
    fatal(t, r, 10, /permission denied \(tried no agent and no key file; ~?\/.*locked needs a passphrase and there is no terminal to ask on\)/);
  });

  await t.test('ProxyJump through a second sshd', async (t) => {
    const jump = await startSshd(t, { extraConfig: ['LogLevel DEBUG1'] });
    const h = home(t, [block('hop', jump, [`IdentityFile ${jump.clientKey}`]), block('inner', sshd, [`IdentityFile ${sshd.clientKey}`, 'ProxyJump hop'])].join('\n'), knownLine(sshd) + knownLine(jump));
    const { r, dst } = await push(t, { HOME: h }, 'inner');
    t.equal(r.code, 0, describe(r));
    arrived(t, dst);
    t.match(jump.log(), new RegExp(`target 127\\.0\\.0\\.1 port ${sshd.port}`), 'the jump host opened the forwarded channel to the target');
  });
});
