// Run the real tsync binary (bin/tsync of this checkout) as a child process.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Absolute path of this checkout's bin/tsync (for --tsync-path on the remote side, too). */
export const TSYNC_BIN: string = fileURLToPath(new URL('../../bin/tsync', import.meta.url));

export interface RunOptions {
  /** working directory; default process.cwd() */
  cwd?: string;
  /** merged over process.env; a value of undefined removes that variable */
  env?: Record<string, string | undefined>;
  /** written to stdin, then stdin is closed; without it stdin is closed at once */
  input?: string | Buffer;
  /** SIGKILL the process after this long; default 120000 */
  timeoutMs?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** true when the process was killed because timeoutMs passed */
  timedOut: boolean;
}

/** Spawn `node bin/tsync ...args` (the same node that runs the tests); for tests that need the child itself (its pid). */
export function spawnTsync(args: string[], opts: RunOptions = {}): ChildProcessWithoutNullStreams {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return spawn(process.execPath, [TSYNC_BIN, ...args], { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Feed a spawned tsync its input and collect its output until it exits (SIGKILL after timeoutMs). */
export function collect(child: ChildProcessWithoutNullStreams, opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // the child may exit without reading its input
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), timedOut });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** Spawn `node bin/tsync ...args` and collect its output. */
export function runTsync(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return collect(spawnTsync(args, opts), opts);
}
