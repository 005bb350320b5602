// A real OpenSSH sshd on 127.0.0.1 for integration tests, in a fresh temp
// dir of the test's own: generated ed25519 host
// and client keys, StrictModes no, UsePAM no, PidFile and AuthorizedKeysFile
// in the temp dir, a free high port.
//
// How it runs: `sshd -D -e -f CONFIG` (no daemonising, log to stderr) as the
// child of a tiny /bin/sh watchdog whose stdin is a pipe from this process.
// stop() closes that pipe and the watchdog kills sshd; if the test process
// dies in any way (failed test, tap timeout, SIGKILL) the pipe closes too, so
// sshd never outlives its test. sshd's log is kept (sshd.log()) for failures.
//
// The session's PATH: sshd without PAM gives sessions its compiled-in PATH
// (root: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, others:
// /usr/local/bin:/usr/bin:/bin:/usr/games), not the test's PATH, so `node`
// from nvm or a tarball would not be found and bin/tsync's
// `#!/usr/bin/env node` would fail. The config therefore sets
// `SetEnv PATH=<dir of process.execPath>:<the default above>`: the remote side
// always runs the same node as the tests. (The user's shell rc files may
// still prepend to it; they run after SetEnv.)
//
// Root: sshd must start as root to switch users, but as root it also needs
// its privilege-separation directory (/run/sshd on Debian), which lives on a
// tmpfs and vanishes at reboot; startSshd() creates it (mode 0755) when it is
// missing and we are root. .ci/run creates it as well. Logging in as root is
// allowed by `PermitRootLogin prohibit-password` (keys only). As a non-root
// user sshd also works, but can only log that same user in.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** The slice of a tap Test that startSshd needs (any tap Test fits). */
export interface TeardownHost {
  teardown(fn: () => unknown): void;
}

/** The slice of a tap Test that requireOrSkip needs (any tap Test fits). */
export interface SkipHost {
  fail(message: string): unknown;
  plan(n: number, comment?: string): unknown;
}

export interface SshResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Sshd {
  /** always 127.0.0.1 */
  host: '127.0.0.1';
  port: number;
  /** the login user (the user running the tests) */
  user: string;
  /** the temp dir holding keys, config, pid file, authorized_keys */
  dir: string;
  /** private key path of the client */
  clientKey: string;
  /** authorized_keys path */
  authorizedKeys: string;
  /** an rsh/-e command line: 'ssh -i KEY -p PORT -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR' (paths single-quoted only if they need it) */
  rsh: string;
  /** the same command as an argv array: ['ssh', '-i', KEY, ...] */
  sshArgs: string[];
  /** run `ssh ... 127.0.0.1 COMMAND` (stdin /dev/null unless input is given) */
  exec(command: string, opts?: { input?: string | Buffer; timeoutMs?: number }): Promise<SshResult>;
  /** sshd's own log so far (stderr of `sshd -e`) */
  log(): string;
  /** put command="CMD" (plus any extra options, e.g. 'restrict') before the key; null removes it. Takes effect on the next connection. */
  setForcedCommand(cmd: string | null, extraOptions?: string[]): Promise<void>;
  /** kill sshd and remove the temp dir; idempotent */
  stop(): Promise<void>;
}

export interface StartSshdOptions {
  /** give up starting after this long; default 20000 */
  startTimeoutMs?: number;
  /** extra sshd_config lines */
  extraConfig?: string[];
}

const SSHD_CANDIDATES = ['/usr/sbin/sshd', '/usr/local/sbin/sshd', '/sbin/sshd', '/usr/bin/sshd'];
const PRIVSEP_DIR = '/run/sshd';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Absolute path of an executable found in PATH (or among `extra`), or null. */
export function findExecutable(name: string, extra: string[] = []): string | null {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const candidates = [...extra, ...dirs.map((d) => path.join(d, name))];
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      if (fs.statSync(c).isFile()) return c;
    } catch {
      // keep looking
    }
  }
  return null;
}

/** null when `name` is on PATH, else a reason naming the Debian package that provides it. */
export function toolAvailable(name: string, debianPackage: string = name): string | null {
  return findExecutable(name) ? null : `${name} not installed (apt-get install ${debianPackage})`;
}

function sshdPath(): string | null {
  return findExecutable('sshd', SSHD_CANDIDATES);
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** null when a test sshd can be started here, else why not. */
export function sshdAvailable(): string | null {
  if (process.platform === 'win32') return 'sshd tests need a POSIX system';
  if (!sshdPath()) return 'sshd not installed (apt-get install openssh-server)';
  if (!findExecutable('ssh')) return 'ssh client not installed (apt-get install openssh-client)';
  if (!findExecutable('ssh-keygen')) return 'ssh-keygen not installed (apt-get install openssh-client)';
  if (process.platform === 'linux' && !fs.existsSync(PRIVSEP_DIR) && !isRoot()) {
    return `sshd privilege separation dir ${PRIVSEP_DIR} missing (as root: mkdir -p ${PRIVSEP_DIR})`;
  }
  return null;
}

/**
 * Go on when `reason` is null (returns true). Otherwise print a loud line to
 * stderr and skip the test (returns false; the caller returns at once), or,
 * when process.env.CI === 'true', fail the test instead: CI must never skip.
 * Call it before the test's first assertion (skipping is `t.plan(0, why)`).
 *
 *   if (!requireOrSkip(t, sshdAvailable())) return;
 */
export function requireOrSkip(t: SkipHost, reason: string | null): boolean {
  if (reason === null) return true;
  if (process.env.CI === 'true') {
    process.stderr.write(`\n*** FAILING (CI=true, nothing may be skipped): ${reason} ***\n\n`);
    t.fail(`required in CI but unavailable: ${reason}`);
    return false;
  }
  process.stderr.write(`\n*** SKIPPING: ${reason} ***\n\n`);
  t.plan(0, `*** SKIPPING: ${reason} ***`);
  return false;
}

function shQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A port that was free a moment ago (bind 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function run(cmd: string, args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<SshResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {});
      child.stdin!.end(opts.input);
    }
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The value of p, or `fallback` after ms; the timer never outlives the race. */
async function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<F>((r) => {
    timer = setTimeout(() => r(fallback), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

// Temp dirs of sshds not yet stopped, removed if the process exits without stop().
const liveDirs = new Set<string>();
let exitHookInstalled = false;
function trackDir(dir: string): void {
  liveDirs.add(dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const d of liveDirs) {
      try {
        fs.rmSync(d, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  });
}

// The watchdog: sshd in the background; a reader of our stdin pipe kills it at EOF.
const WATCHDOG = [
  'exec 3<&0',
  '"$0" -D -e -f "$1" </dev/null &',
  'pid=$!',
  '( read -r _ <&3; kill "$pid" 2>/dev/null ) &',
  'exec 3<&-',
  'wait "$pid"',
].join('\n');

function sshdConfig(dir: string, port: number, extra: string[]): string {
  const nodeDir = path.dirname(process.execPath);
  const pathDirs = [nodeDir, ...DEFAULT_PATH.split(':')].filter((d, i, all) => all.indexOf(d) === i);
  const q = (s: string) => `"${s}"`;
  return [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${q(path.join(dir, 'host_key'))}`,
    `PidFile ${q(path.join(dir, 'sshd.pid'))}`,
    `AuthorizedKeysFile ${q(path.join(dir, 'authorized_keys'))}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'StrictModes no',
    'UsePAM no',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    'UseDNS no',
    'MaxStartups 100:30:200',
    'MaxSessions 100',
    'Subsystem sftp internal-sftp',
    `SetEnv ${q(`PATH=${pathDirs.join(':')}`)}`,
    ...extra,
    '',
  ].join('\n');
}

/**
 * Start a private sshd on 127.0.0.1 and wait until `ssh ... true` succeeds.
 * With `t`, stop() is registered as its teardown (runs even when the test
 * fails). Throws (with sshd's log) when sshd cannot be started; call
 * requireOrSkip(t, sshdAvailable()) first to skip where sshd is missing.
 */
export async function startSshd(t?: TeardownHost, opts: StartSshdOptions = {}): Promise<Sshd> {
  const reason = sshdAvailable();
  if (reason) throw new Error(`cannot start sshd: ${reason}`);
  const sshd = sshdPath()!;
  if (process.platform === 'linux' && !fs.existsSync(PRIVSEP_DIR) && isRoot()) {
    fs.mkdirSync(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
  }
  const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'tsync-sshd-'));
  trackDir(dir);

  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let logText = '';
  let stopping: Promise<void> | null = null;

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        c.stdin?.end(); // the watchdog kills sshd at EOF
        const done = await within(exited.then(() => true), 5000, false);
        if (!done) {
          try {
            const pid = Number(fs.readFileSync(path.join(dir, 'sshd.pid'), 'utf8').trim());
            if (pid > 0) process.kill(pid, 'SIGKILL');
          } catch {
            // no pid file or already gone
          }
          c.kill('SIGKILL');
          await within(exited, 2000, undefined);
        }
      }
      await fsp.rm(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
    })();
    return stopping;
  };
  t?.teardown(stop);

  try {
    const clientKey = path.join(dir, 'client_key');
    const authorizedKeys = path.join(dir, 'authorized_keys');
    for (const key of ['host_key', 'client_key']) {
      const r = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `tsync-test-${key}`, '-f', path.join(dir, key)]);
      if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
    }
    const pubKey = (await fsp.readFile(`${clientKey}.pub`, 'utf8')).trim();
    await fsp.writeFile(authorizedKeys, `${pubKey}\n`, { mode: 0o600 });

    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const configPath = path.join(dir, 'sshd_config');
      await fsp.writeFile(configPath, sshdConfig(dir, port, opts.extraConfig ?? []));
      logText = '';
      const c = spawn('/bin/sh', ['-c', WATCHDOG, sshd, configPath], { stdio: ['pipe', 'ignore', 'pipe'] });
      child = c;
      exited = new Promise<void>((resolve) => c.on('exit', () => resolve()));
      c.stdin!.on('error', () => {});
      const listening = new Promise<boolean>((resolve) => {
        c.stderr!.on('data', (b: Buffer) => {
          logText += b.toString('utf8');
          if (logText.length > 256 * 1024) logText = logText.slice(-128 * 1024);
          if (/Server listening on /.test(logText)) resolve(true);
        });
        c.on('exit', () => resolve(false));
        c.on('error', () => resolve(false));
      });
      const ok = await within(listening, Math.max(0, deadline - Date.now()), false);
      if (ok) break;
      const bindRace = /Address already in use|Cannot bind any address/.test(logText);
      await stopChild(c, exited);
      if (bindRace && attempt < 4 && Date.now() < deadline) continue;
      throw new Error(`sshd did not start (port ${port}):\n${logText}`);
    }
    // Don't let a forgotten sshd keep the test process alive; the watchdog still ends it.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();

    const sshArgs = [
      'ssh',
      '-i',
      clientKey,
      '-p',
      String(port),
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
    ];
    const exec = (command: string, o: { input?: string | Buffer; timeoutMs?: number } = {}) =>
      run(sshArgs[0], [...sshArgs.slice(1), '127.0.0.1', command], o);

    let last: SshResult | null = null;
    for (;;) {
      last = await exec('true', { timeoutMs: 10_000 });
      if (last.code === 0) break;
      if (Date.now() > deadline) {
        throw new Error(`sshd on port ${port} is up but \`ssh ... true\` keeps failing (exit ${last.code}):\n${last.stderr}\n--- sshd log ---\n${logText}`);
      }
      await sleep(100);
    }

    const setForcedCommand = async (cmd: string | null, extraOptions: string[] = []): Promise<void> => {
      if (cmd !== null && /[\r\n]/.test(cmd)) throw new Error('setForcedCommand: the command must be one line');
      const options = [...(cmd === null ? [] : [`command="${cmd.replace(/"/g, '\\"')}"`]), ...extraOptions];
      const line = options.length > 0 ? `${options.join(',')} ${pubKey}\n` : `${pubKey}\n`;
      const tmp = `${authorizedKeys}.tmp`;
      await fsp.writeFile(tmp, line, { mode: 0o600 });
      await fsp.rename(tmp, authorizedKeys); // sshd reads it whole per connection
    };

    return {
      host: '127.0.0.1',
      port,
      user: os.userInfo().username,
      dir,
      clientKey,
      authorizedKeys,
      rsh: sshArgs.map(shQuote).join(' '),
      sshArgs,
      exec,
      log: () => logText,
      setForcedCommand,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function stopChild(c: ChildProcess, exited: Promise<void>): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) {
    c.stdin?.end();
    return;
  }
  c.stdin?.end();
  await within(exited, 3000, undefined);
  if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
