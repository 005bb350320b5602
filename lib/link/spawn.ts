// Spawning the peer: the rsh command for a remote endpoint, or our own
// binary for a local one. The only module that starts processes.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable, Writable } from 'node:stream';
import { TsyncError } from '../errors.js';
import { rshTarget, type Endpoint } from './endpoint.js';
import { printable } from '../text.js';
import { spawnBuiltin } from './ssh-builtin.js';
import { withBootstrap } from './bootstrap.js';
import { PeerStderr } from './peer-stderr.js';

export interface Peer {
  input: Readable; // what the peer writes
  output: Writable; // what we write to the peer
  /** what the peer (or ssh) wrote on stderr that has not been shown yet */
  takeStderr(): string;
  /** show stderr live from now on */
  passStderr(): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): void;
  describe: string;
  /** why the link could not be opened (the built-in client knows better than an exit code) */
  failure?(): TsyncError | null;
}

/** Split a command line the way a POSIX shell would for simple quoting. */
export function splitCommand(cmd: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let q: '"' | "'" | null = null;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i];
    if (q) {
      if (c === q) q = null;
      else if (c === '\\' && q === '"' && i + 1 < cmd.length && '"\\$`'.includes(cmd[i + 1])) cur += cmd[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      q = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < cmd.length) {
      cur += cmd[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (q) throw new TsyncError('E_USAGE', `unbalanced quote in command "${cmd}"`);
  if (inWord) out.push(cur);
  return out;
}

/** bin/tsync of this checkout (computed when needed: a single-file build may run from memory) */
/**
 * Our own entry, to start a local peer: the single-file build when that is
 * what runs (`node dist/tsync.mjs ...`: it is all of tsync, and a path
 * relative to it would point outside the tree), else bin/tsync.
 */
const self = (): string => (import.meta.url.endsWith('/tsync.mjs') ? fileURLToPath(import.meta.url) : fileURLToPath(new URL('../../bin/tsync', import.meta.url)));

/** Is `name` an executable on the PATH? */
export function onPath(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return true;
    } catch {
      // keep looking
    }
  }
  return false;
}

/** `-e builtin`, or plain ssh asked for (the default) and no ssh binary on the PATH: the built-in SSH client. */
export function usesBuiltin(rsh: string): boolean {
  const cmd = rsh.trim();
  return cmd === 'builtin' || ((cmd === '' || cmd === 'ssh') && !onPath('ssh'));
}

function isSsh(argv0: string): boolean {
  return /(^|\/)ssh$/.test(argv0);
}

/** The command run on the remote side: PROG --server, or (no --tsync-path) `sh` fed the boot script. */
export function remoteCommand(tsyncPath: string): string[] {
  return tsyncPath ? [...splitCommand(tsyncPath), '--server'] : ['sh'];
}

/** The command that reaches a remote host: -e, else $TSYNC_RSH, else ssh (for a sync run and for doctor alike). */
export function rshCommand(given: string | undefined): string {
  return given ?? process.env.TSYNC_RSH ?? 'ssh';
}

export function remoteArgv(ep: Endpoint & { kind: 'remote' }, rsh: string, tsyncPath: string, interactive: boolean): string[] {
  const argv = splitCommand(rsh || 'ssh');
  if (argv.length === 0) throw new TsyncError('E_USAGE', 'empty --rsh command');
  if (isSsh(argv[0])) {
    if (!interactive) argv.push('-o', 'BatchMode=yes');
    if (ep.port) argv.push('-p', String(ep.port));
  } else if (ep.port) {
    throw new TsyncError('E_USAGE', `a port (${ep.port}) was given but --rsh "${rsh}" is not ssh`);
  }
  argv.push(rshTarget(ep), ...remoteCommand(tsyncPath));
  return argv;
}

/**
 * Start the peer for a remote endpoint. With --tsync-path, that command;
 * without, `sh` and the boot script: an installed tsync, else the build this
 * client sends to the remote's node (lib/link/bootstrap.ts).
 */
export function spawnRemote(ep: Endpoint & { kind: 'remote' }, rsh: string, tsyncPath: string): Peer {
  const start = (prog: string): Peer => {
    if (usesBuiltin(rsh)) return spawnBuiltin({ host: ep.host, user: ep.user, port: ep.port }, prog ? `${prog} --server` : 'sh');
    const argv = remoteArgv(ep, rsh, prog, Boolean(process.stdin.isTTY));
    return wrap(spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] }), argv.join(' '));
  };
  return tsyncPath ? start(tsyncPath) : withBootstrap(start(''), ep.host, () => start('tsync'));
}

/** A local peer: our own binary in server mode, so both sides get a core. env: added to ours. */
export function spawnLocal(env: Record<string, string> = {}): Peer {
  return wrap(spawn(process.execPath, [self(), '--server'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } }), 'local tsync --server');
}

function wrap(child: ChildProcess, describe: string): Peer {
  const stderr = new PeerStderr();
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => stderr.say(s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      stderr.add(`${err.code === 'ENOENT' ? `command not found: ${describe.split(' ')[0]}` : err.message}\n`);
      resolve({ code: 127, signal: null });
    });
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  child.stdin!.on('error', () => {}); // reported through the connection
  return {
    input: child.stdout!,
    output: child.stdin!,
    takeStderr: () => stderr.take(),
    passStderr: () => stderr.pass(),
    exited,
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
    describe,
  };
}

/** Turn a peer that died before the handshake finished into the error the user should see. */
export async function explainEarlyExit(peer: Peer, ep: Endpoint, tsyncPath: string, fallback: TsyncError): Promise<TsyncError> {
  // a protocol error means the peer did greet as tsync: it started, and said something invalid
  const failed = peer.failure?.();
  if (failed) return failed;
  if (fallback.code === 'E_REMOTE_JUNK' || fallback.code === 'E_VERSION' || fallback.code === 'E_TIMEOUT' || fallback.code === 'E_AUTH' || fallback.code === 'E_PROTOCOL' || fallback.remote) return fallback;
  const timeout = new Promise<null>((r) => setTimeout(() => r(null), 2000).unref());
  const exit = await Promise.race([peer.exited, timeout]);
  if (!exit) return fallback;
  const said = printable(peer.takeStderr().trim().split('\n').slice(-3).join('; '));
  const tail = said ? `: ${said}` : '';
  const where = ep.kind === 'remote' ? ep.host : 'local peer';
  if (exit.code === 127 || /command not found|No such file or directory|not found/i.test(said)) {
    if (said.startsWith('command not found: ')) return new TsyncError('E_CONNECT', `cannot run the remote shell${tail}`);
    return new TsyncError('E_REMOTE_START', `tsync not found on ${where} (tried "${tsyncPath || 'tsync'}"); install it there or use --tsync-path${tail}`);
  }
  if (exit.code === 255) return new TsyncError('E_CONNECT', `could not connect to ${where}${tail}`);
  return new TsyncError('E_REMOTE_START', `the peer on ${where} exited with code ${exit.code ?? exit.signal} before the session started${tail}`);
}
