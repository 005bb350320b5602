// Output for the user: itemized lines, -v names, warnings, --stats, --json.
// The receiver produces events; on the client they land here, from a server
// they travel as ITEM/WARN messages and land here on the other side.

import type { Entry } from '../wire/schema.js';
import type { ErrorRecord, Stats } from './stats.js';
import { showPath } from '../text.js';
import type { ConflictRecord } from '../twoway/describe.js';
import type { ProgressSnapshot } from './progress.js';

export interface Events {
  /** a change made (or, in a dry run, that would be made) */
  item(code: string, path: string, type: Entry['type'], target: string, size: number): void;
  /** a file-level problem; the run goes on and ends with the partial-transfer code */
  warn(w: ErrorRecord): void;
  /** how far the run is (the receiving server's PROGRESS messages, when asked for) */
  progress?(s: ProgressSnapshot): void;
}

export interface OutputOptions {
  itemize: boolean;
  verbose: number;
  quiet: boolean;
  json: boolean;
  stats: boolean;
  dryRun: boolean;
}

export interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

export const DELETE_CODE = '*deleting';

export class Reporter implements Events {
  readonly warnings: ErrorRecord[] = [];
  /** filled by two-way runs; reported by --json */
  readonly conflicts: ConflictRecord[] = [];
  constructor(
    private readonly o: OutputOptions,
    private readonly out: Out,
  ) {}

  item(code: string, path: string, type: Entry['type'], target: string): void {
    if (this.o.json || this.o.quiet) return;
    const shown = `${showPath(path === '.' ? './' : path)}${type === 'd' && path !== '.' ? '/' : ''}`;
    const link = type === 'l' && target && code !== DELETE_CODE ? ` -> ${showPath(target)}` : '';
    if (this.o.itemize) {
      this.out.stdout(`${code.padEnd(11)} ${shown}${link}\n`);
    } else if (this.o.verbose > 0) {
      if (code === DELETE_CODE) this.out.stdout(`deleting ${shown}\n`);
      else if (this.o.verbose > 1 || namedByVerbose(code, type)) this.out.stdout(`${shown}${link}\n`);
    }
  }

  /**
   * A two-way decision: listed with -i, -v or -n; a conflict is always
   * told (on stderr when decisions are not listed) and goes in --json.
   */
  decision(line: string, conflict?: ConflictRecord): void {
    if (conflict) this.conflicts.push(conflict);
    if (this.o.json) return;
    if ((this.o.itemize || this.o.verbose > 0 || this.o.dryRun) && !this.o.quiet) this.out.stdout(`${line}\n`);
    else if (conflict) this.out.stderr(`tsync: conflict: ${showPath(conflict.path)}: the ${conflict.kept} replica's newer version kept, the other saved as ${showPath(conflict.copy)}\n`);
  }

  /** a remark that is neither a change nor a problem (a stale lock taken over) */
  note(s: string): void {
    this.out.stderr(`tsync: note: ${s}\n`);
  }

  warn(w: ErrorRecord): void {
    this.warnings.push(w);
    const where = w.path ? `${showPath(w.path)}: ` : '';
    this.out.stderr(`tsync: ${w.code === 'SKIP_SPECIAL' ? 'skipping' : 'warning'}: ${where}${showPath(w.message)}\n`);
  }

  /** file-level problems seen (warnings that are not mere skips) */
  get errors(): ErrorRecord[] {
    return this.warnings.filter((w) => w.code !== 'SKIP_SPECIAL');
  }

  summary(stats: Stats, wire: { sent: number; received: number }, ms: number, exitCode: number, failure?: ErrorRecord, reconnects = 0): void {
    if (this.o.json) {
      const errors = failure ? [...this.errors, failure] : this.errors;
      this.out.stdout(`${JSON.stringify(jsonSummary(stats, wire, ms, exitCode, this.o.dryRun, errors, this.conflicts, reconnects))}\n`);
      return;
    }
    if (this.o.stats) this.out.stdout(statsText(stats, wire, ms, this.o.dryRun, reconnects));
  }
}

/**
 * Whether -v (without -i) names a change, as rsync -v does: anything sent,
 * created or replaced; a directory with any change; a file whose mtime
 * changed (rsync re-sends it, tsync fixes only the time when the content is
 * equal, but either way the user sees the name). A file or link whose only
 * change is its permissions, or a link's time, is not named.
 */
export function namedByVerbose(code: string, type: Entry['type']): boolean {
  return code[0] !== '.' || type === 'd' || (type === 'f' && code[4] === 't');
}

export const JSON_SCHEMA_VERSION = 1;

export function jsonSummary(s: Stats, wire: { sent: number; received: number }, ms: number, exitCode: number, dryRun: boolean, errors: ErrorRecord[], conflicts: ConflictRecord[] = [], reconnects = 0) {
  return {
    schema: JSON_SCHEMA_VERSION,
    ok: exitCode === 0,
    exitCode,
    dryRun,
    counts: { entries: s.entries, files: s.files, created: s.created, updated: s.updated, metaOnly: s.metaOnly, deleted: s.deleted, unchanged: s.unchanged, skipped: s.skipped },
    bytes: { total: s.totalSize, literal: s.bytesLiteral, matched: s.bytesMatched, sent: wire.sent, received: wire.received },
    conflicts,
    errors,
    reconnects,
    durationMs: Math.round(ms),
  };
}

function n(x: number): string {
  return x.toLocaleString('en-US');
}

function statsText(s: Stats, wire: { sent: number; received: number }, ms: number, dryRun: boolean, reconnects: number): string {
  const lines = [
    '',
    `Number of entries: ${n(s.entries)} (reg: ${n(s.files)})`,
    `Number of created files: ${n(s.created)}`,
    `Number of updated files: ${n(s.updated)}`,
    `Number of files with only metadata fixed: ${n(s.metaOnly)}`,
    `Number of deleted files: ${n(s.deleted)}`,
    `Number of unchanged files: ${n(s.unchanged)}`,
    `Total file size: ${n(s.totalSize)} bytes`,
    `Literal data: ${n(s.bytesLiteral)} bytes`,
    `Matched data: ${n(s.bytesMatched)} bytes`,
    `Total bytes sent: ${n(wire.sent)}`,
    `Total bytes received: ${n(wire.received)}`,
    ...(reconnects ? [`Reconnects: ${n(reconnects)}`] : []),
    `Elapsed: ${(ms / 1000).toFixed(3)} s${dryRun ? ' (DRY RUN)' : ''}`,
    '',
  ];
  return lines.join('\n');
}
