// --pre and --post: commands run with /bin/sh -c around a sync, told about
// it through TSYNC_* environment variables. A failing pre hook stops the
// run before the peer is even started; a failing post hook is reported and
// turns a successful run's exit status into 43. Hooks never read the
// terminal: their standard input is /dev/null.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TsyncError } from '../errors.js';
import type { Entry } from '../wire/schema.js';
import type { Events } from './report.js';
import type { ErrorRecord, Stats } from './stats.js';
import { showPath } from '../text.js';

export type Mode = 'push' | 'pull' | 'local' | 'two-way';

export interface HookContext {
  sources: string[];
  dest: string;
  mode: Mode;
  dryRun: boolean;
  profile: string;
  /** with --json, a hook's standard output goes to our standard error, keeping stdout one JSON object */
  quietStdout: boolean;
}

export interface RunResult {
  exitCode: number;
  stats: Stats;
  errors: readonly ErrorRecord[];
  conflicts: number;
  bytesSent: number;
  bytesReceived: number;
  durationMs: number;
}

/** What every hook is told. */
export function hookEnv(ctx: HookContext): Record<string, string> {
  return {
    TSYNC_SOURCE: ctx.sources.join('\n'),
    TSYNC_DEST: ctx.dest,
    TSYNC_MODE: ctx.mode,
    TSYNC_DRY_RUN: ctx.dryRun ? '1' : '0',
    TSYNC_PROFILE: ctx.profile,
  };
}

/** What a post hook is told besides: the outcome. */
export function resultEnv(r: RunResult, changed: ChangeLog): Record<string, string> {
  const s = r.stats;
  return {
    TSYNC_EXIT: String(r.exitCode),
    TSYNC_CREATED: String(s.created),
    TSYNC_UPDATED: String(s.updated),
    TSYNC_META_ONLY: String(s.metaOnly),
    TSYNC_DELETED: String(s.deleted),
    TSYNC_UNCHANGED: String(s.unchanged),
    TSYNC_SKIPPED: String(s.skipped),
    TSYNC_ERRORS: String(r.errors.length),
    TSYNC_CONFLICTS: String(r.conflicts),
    TSYNC_BYTES_LITERAL: String(s.bytesLiteral),
    TSYNC_BYTES_MATCHED: String(s.bytesMatched),
    TSYNC_BYTES_SENT: String(r.bytesSent),
    TSYNC_BYTES_RECEIVED: String(r.bytesReceived),
    TSYNC_DURATION_MS: String(Math.round(r.durationMs)),
    TSYNC_CHANGED: String(changed.count),
    TSYNC_CHANGED_FILE: changed.file,
  };
}

/** Run one hook; resolves with how it ended ('' when it succeeded). */
export function runHook(cmd: string, env: Record<string, string>, quietStdout: boolean): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', cmd], { stdio: ['ignore', quietStdout ? 2 : 'inherit', 'inherit'], env: { ...process.env, ...env } });
    child.on('error', (e) => resolve(`could not be started (${e.message})`));
    child.on('close', (code, signal) => resolve(signal ? `was killed by ${signal}` : code === 0 ? '' : `exited with status ${code}`));
  });
}

export async function runPre(cmd: string, ctx: HookContext): Promise<void> {
  const how = await runHook(cmd, hookEnv(ctx), ctx.quietStdout);
  if (how) throw new TsyncError('E_PRE_HOOK', `the --pre hook ${how}, so nothing was synced: ${cmd}`);
}

/** Runs the post hook; returns a one-line complaint when it failed, '' when it did not. */
export async function runPost(cmd: string, ctx: HookContext, r: RunResult, changed: ChangeLog): Promise<string> {
  changed.close();
  try {
    const how = await runHook(cmd, { ...hookEnv(ctx), ...resultEnv(r, changed) }, ctx.quietStdout);
    return how ? `the --post hook ${how}: ${cmd}` : '';
  } finally {
    changed.remove();
  }
}

/**
 * The paths a run changed (or, in a dry run, would change), one per line as
 * -i shows them (control characters escaped), in a temporary file for the
 * post hook; removed after it ran.
 */
export class ChangeLog {
  readonly file: string;
  count = 0;
  private readonly dir: string;
  private fd: number | null;
  private buf: string[] = [];
  private size = 0;

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-changed-'));
    this.file = path.join(this.dir, 'changed');
    this.fd = fs.openSync(this.file, 'wx', 0o600);
  }

  add(p: string): void {
    const line = `${showPath(p)}\n`;
    this.buf.push(line);
    this.size += line.length;
    this.count++;
    if (this.size >= 64 << 10) this.flush();
  }

  private flush(): void {
    if (this.fd === null || this.buf.length === 0) return;
    fs.writeSync(this.fd, this.buf.join(''));
    this.buf = [];
    this.size = 0;
  }

  close(): void {
    this.flush();
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  remove(): void {
    this.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** events that also go to the log: every itemized change */
  tee(events: Events): Events {
    return {
      item: (code: string, p: string, type: Entry['type'], target: string, size: number) => {
        this.add(p);
        events.item(code, p, type, target, size);
      },
      warn: (w) => events.warn(w),
      progress: events.progress ? (s) => events.progress!(s) : undefined,
    };
  }
}
