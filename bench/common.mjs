// What the benchmarks share: paths, options, timing a command, the data
// generator, medians.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..');
export const TSYNC = path.join(root, 'bin/tsync');
export const COUNT = path.join(here, 'count-rsh.mjs');

const args = process.argv.slice(2);
export const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
export const RUNS = Number(opt('runs', '3'));
export const ONLY = opt('only', '')?.split(',').filter(Boolean);
export const DATA = path.resolve(opt('data', process.env.TSYNC_BENCH_DIR || '/tmp/tsync-bench'));
export const JSON_OUT = opt('json', '');
// --ssh: every tool reaches the "remote" side through a real sshd on loopback
// (startSshd below) instead of the counting pipe
export const SSH = args.includes('--ssh');

// Every Node process started with NODE_EXTRA_CA_CERTS set reads and parses
// that certificate file at start-up: about 90 ms on this project's machines,
// where the sandbox sets it for npm. Nothing measured here uses TLS, and a
// user's machine does not usually set it, so no benchmarked command gets it
// (tsync, and count-rsh.mjs, the Node stand-in for ssh that rsync and Unison
// runs use too). --keep-ca-env keeps it, to see the difference.
const KEEP_CA_ENV = process.argv.includes('--keep-ca-env');
const baseEnv = { ...process.env };
if (!KEEP_CA_ENV) delete baseEnv.NODE_EXTRA_CA_CERTS;

/** run a command to completion; returns its wall time in ms (exit statuses in `ok` are success) */
export function sh(cmd, argv, env = {}, ok = [0]) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...baseEnv, ...env }, maxBuffer: 1 << 26 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!ok.includes(r.status)) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

/** bench/data.mjs WHICH DATA (tree or big), once */
export function ensureData(which) {
  const marker = path.join(DATA, `.ready-${which}`);
  if (fs.existsSync(marker)) return;
  console.error(`generating ${which} workload in ${DATA} (once)...`);
  fs.mkdirSync(DATA, { recursive: true });
  sh(process.execPath, [path.join(here, 'data.mjs'), which === 'small' ? 'tree' : which, DATA]);
  fs.writeFileSync(marker, '');
}

export const rm = (p) => fs.rmSync(p, { recursive: true, force: true });

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const SSHD = '/usr/sbin/sshd';

/** a port the kernel has just given out as free (an ephemeral one: high) */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * --ssh: start an OpenSSH sshd on 127.0.0.1 on a free high port, with host
 * and client keys made here in a temporary directory (the recipe of
 * TESTING.md), and stop it when this process exits, also on an error or a
 * signal. Returns how each tool reaches it:
 *   host      what goes before ':' (rsync, tsync) or after ssh:// (Unison)
 *   rsh       the command line for rsync's and tsync's -e
 *   sshArgs   the same options for Unison's -sshargs (its -sshcmd is ssh)
 *   reset()   before a run; bytes() after it: the bytes ssh's client counted
 *             on the wire (encrypted, key exchange included), both directions
 */
export async function startSshd() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-bench-ssh-'));
  const key = path.join(dir, 'client_key');
  const log = path.join(dir, 'ssh.log');
  for (const k of ['host_key', 'client_key']) sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, k)]);
  fs.copyFileSync(`${key}.pub`, path.join(dir, 'authorized_keys'));
  // sshd refuses to start without its privilege-separation directory
  fs.mkdirSync('/run/sshd', { recursive: true });
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(dir, 'host_key')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'StrictModes no',
      'UsePAM no',
      // Debian's bash sources ~/.bashrc for a command sshd runs, unless it is
      // a nested shell. This machine's root .bashrc runs `pyenv init` (about
      // 0.4 s), which no tool should pay on every connection: SHLVL=1 makes
      // the remote shell a nested one.
      'SetEnv SHLVL=1',
      '',
    ].join('\n'),
  );
  // -D: sshd stays our child, so we hold its pid and nothing else's
  const sshd = spawn(SSHD, ['-D', '-f', path.join(dir, 'sshd_config'), '-E', path.join(dir, 'sshd.log')], { stdio: 'ignore' });
  sshd.unref();
  const stop = () => {
    try { sshd.kill('SIGTERM'); } catch {}
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);
  // a signal's default action skips 'exit' handlers: exit through them
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(128 + os.constants.signals[sig]));

  const opts = ['-p', String(port), '-i', key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
    // LogLevel VERBOSE has ssh log "Transferred: sent N, received M bytes" at the end
    '-o', 'LogLevel=VERBOSE', '-E', log];
  const host = '127.0.0.1';
  // wait until it accepts a login (it listens only after reading its keys)
  for (let i = 0; ; i++) {
    const r = spawnSync('ssh', [...opts, host, 'true'], { stdio: 'ignore', env: baseEnv });
    if (r.status === 0) break;
    if (sshd.exitCode !== null || i >= 50) {
      const why = fs.existsSync(path.join(dir, 'sshd.log')) ? fs.readFileSync(path.join(dir, 'sshd.log'), 'utf8') : '';
      throw new Error(`sshd on 127.0.0.1:${port} did not accept a login: ${why}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const reset = () => rm(log);
  const bytes = () => {
    if (!fs.existsSync(log)) return null;
    let sum = 0;
    for (const m of fs.readFileSync(log, 'utf8').matchAll(/Transferred: sent (\d+), received (\d+) bytes/g)) sum += Number(m[1]) + Number(m[2]);
    return sum;
  };
  return { port, host, rsh: ['ssh', ...opts].join(' '), sshArgs: opts.join(' '), reset, bytes };
}
