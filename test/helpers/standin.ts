// Stand-ins for ssh (scripts used as `-e`), and small trees, for the
// integration tests of everyday features (progress, locks, hooks, profiles,
// doctor, exit codes).

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Test } from 'tap';
import { TSYNC_BIN, runTsync, type RunResult } from './run.js';

/** A directory of executable scripts, removed when the test ends. */
export function toolbox(t: Test): (name: string, body: string) => string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-tools-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return (name, body) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return p;
  };
}

/** perl copying stdin to stdout at about 3 MB/s */
export const THROTTLE = `perl -e '$|=1; while (sysread(STDIN, $b, 32768)) { syswrite(STDOUT, $b); select(undef, undef, undef, 0.01) }'`;

/** The usual stand-ins: drop the host and run the remote command; the same, slowed down one way. */
export function standins(t: Test): { standin: string; slowIn: string; slowOut: string } {
  const tool = toolbox(t);
  return {
    standin: tool('standin-rsh', 'shift\nexec sh -c "$*"'),
    /** what we send to the peer goes at ~3 MB/s (a slow push) */
    slowIn: tool('slow-in-rsh', `shift\n${THROTTLE} | sh -c "$*"`),
    /** what the peer sends us comes at ~3 MB/s (a slow pull) */
    slowOut: tool('slow-out-rsh', `shift\nsh -c "$*" | ${THROTTLE}`),
  };
}

export const remote = (p: string): string => `localhost:${p}`;
export const via = (rsh: string): string[] => ['-e', rsh, '--tsync-path', TSYNC_BIN];

/** the three ways a one-way run goes: both ends here, a push through the stand-in, a pull through it */
export const MODES = ['local', 'push', 'pull'] as const;
export type Mode = (typeof MODES)[number];

/** tsync FLAGS SRCS DEST as `mode` runs it: the remote side (DEST for a push, the sources for a pull) through rsh */
export function runMode(mode: Mode, rsh: string, flags: string[], srcs: string[], dest: string): Promise<RunResult> {
  if (mode === 'local') return runTsync([...flags, ...srcs, dest]);
  if (mode === 'push') return runTsync([...flags, ...via(rsh), ...srcs, remote(dest)]);
  return runTsync([...flags, ...via(rsh), ...srcs.map(remote), dest]);
}

export function describe(r: RunResult): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? ' TIMED OUT' : ''}; stdout ${JSON.stringify(r.stdout.slice(0, 800))}; stderr ${JSON.stringify(r.stderr.slice(0, 1500))}`;
}

/** Write a small tree: path -> content, or null for a directory; fixed old mtimes. */
export async function writeTree(root: string, spec: Record<string, string | Buffer | null>, mtime = 1_600_000_000): Promise<void> {
  await fsp.mkdir(root, { recursive: true });
  for (const [rel, content] of Object.entries(spec)) {
    const abs = path.join(root, rel);
    await fsp.mkdir(content === null ? abs : path.dirname(abs), { recursive: true });
    if (content !== null) await fsp.writeFile(abs, content);
  }
  const all = Object.keys(spec).sort((a, b) => b.split('/').length - a.split('/').length);
  for (const rel of all) await fsp.utimes(path.join(root, rel), mtime, mtime);
  await fsp.utimes(root, mtime, mtime);
}

/** A fatal error as users see it: the exit code, one `tsync:` line on stderr, no stack trace. */
export function fatal(t: Test, r: RunResult, code: number, pattern?: RegExp): void {
  t.equal(r.code, code, `exit ${code} (${describe(r)})`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  t.equal(lines.length, 1, `stderr is exactly one line: ${JSON.stringify(r.stderr)}`);
  t.match(lines[0] ?? '', /^tsync:/, 'the line starts with "tsync:"');
  t.notMatch(r.stderr, /^\s+at /m, 'no stack trace');
  t.notMatch(r.stderr, /internal error/i, 'not an internal error');
  if (pattern) t.match(r.stderr, pattern, `stderr matches ${pattern}`);
}

/** Poll until cond() or the deadline; true if cond() held. */
export async function until(cond: () => boolean, ms = 20_000, step = 20): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, step));
  }
  return cond();
}
