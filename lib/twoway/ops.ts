// The changes a two-way run makes to a replica outside of file transfers:
// deletions, and moving a losing version aside as its conflict copy. The
// same code runs on the client for its own tree and on the server for the
// ops the client sends. Each op names the state it expects; if the path
// changed since it was scanned, the op is refused (the next run decides
// again) rather than losing that change. Paths are resolved component by
// component without following a symlink.

import * as fs from 'node:fs';
import { TwOp, type Entry, type TwOpKind } from '../wire/schema.js';
import { checkRelPath, parentOf, under } from '../tree/paths.js';
import { isReserved } from '../tree/reserved.js';
import { readLocal, moveAside, setPathMeta } from '../fs/apply.js';
import { backupTarget, parentsAreDirs, type BackupPlace } from '../fs/nofollow.js';
import { describeFsError, TsyncError } from '../errors.js';
import type { Events } from '../cli/report.js';
import type { Decision, TwoWayInput } from '../plan/twoway.js';
import type { SetAside } from './set-aside.js';

export interface TwoWayOp {
  op: TwOpKind;
  path: string;
  /** the conflict copy's name (rename only) */
  to: string;
  /** what must be there now for the op to go ahead */
  expect: Entry;
}

export interface OpContext {
  root: string;
  dryRun: boolean;
  /** --backup-dir, resolved: deleted files go there instead of away, reached without following a link */
  backup: BackupPlace | null;
  /** mode for directories made under the backup directory */
  dirMode: number;
  /** deleted files wait here until the transfers are over (moves); none in a dry run or with --backup-dir */
  setAside: SetAside | null;
}

/** Validate a path the peer named; throws a protocol error for a path no honest peer sends. */
function checked(p: string): string {
  const bad = checkRelPath(p);
  if (bad || p === '.' || isReserved(p)) throw new TsyncError('E_PROTOCOL', `the peer named an unsafe path (${bad ?? 'reserved'}): ${JSON.stringify(p)}`);
  return p;
}

function matches(abs: string, e: Entry): boolean {
  const now = readLocal(abs);
  if (!now || now.type !== e.type) return false;
  // a change of permissions since the scan is a change too (the planner counts it as one): it is not lost to a delete
  if (e.type === 'f') return now.size === e.size && now.mtime === e.mtime && now.mode === e.mode;
  if (e.type === 'l') return now.target === e.target;
  return now.mode === e.mode;
}

/** Carry out one op; returns why it was not done, or null. */
export function applyOp(ctx: OpContext, op: TwoWayOp): string | null {
  const rel = checked(op.path);
  if (op.op === TwOp.Rename && (checked(op.to) === rel || parentOf(op.to) !== parentOf(rel))) throw new TsyncError('E_PROTOCOL', `a conflict copy must sit beside its original: ${JSON.stringify(op.to)}`);
  try {
    if (!parentsAreDirs(ctx.root, rel)) return 'a directory above it is missing or is not a directory: left alone';
    const abs = under(ctx.root, rel);
    if (!matches(abs, op.expect)) return 'changed since it was scanned: left alone, the next run decides again';
    if (ctx.dryRun) return null;
    if (op.op === TwOp.Delete) return remove(ctx, rel, abs, op.expect);
    const to = under(ctx.root, op.to);
    if (fs.lstatSync(to, { throwIfNoEntry: false })) return `its conflict copy's name ${op.to} is taken: left alone`;
    // link then unlink: never replaces whatever might appear under the new name
    fs.linkSync(abs, to);
    fs.unlinkSync(abs);
    return null;
  } catch (err) {
    if (err instanceof TsyncError) throw err;
    return describeFsError(err);
  }
}

function remove(ctx: OpContext, rel: string, abs: string, e: Entry): string | null {
  if (e.type === 'd') {
    try {
      fs.rmdirSync(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY') return 'not empty (something new is inside): kept';
      throw err;
    }
    return null;
  }
  if (ctx.backup) moveAside(abs, backupTarget(ctx.backup, rel, ctx.dirMode));
  else if (!ctx.setAside?.take(rel, abs)) fs.unlinkSync(abs);
  return null;
}

/** Deletions deepest first, so a directory is emptied before it is removed. */
export function opOrder(a: TwoWayOp, b: TwoWayOp): number {
  return a.path < b.path ? 1 : a.path > b.path ? -1 : 0;
}

/** Merged files (one side's content, the other's mode): ours get the merged mode, never through a link. */
export function mergeModes(root: string, decisions: readonly Decision[], input: Omit<TwoWayInput, 'sameContent'>, failed: ReadonlySet<string>, events: Events): void {
  for (const d of decisions) {
    if (d.do !== 'copy' || d.mode === undefined || failed.has(d.path)) continue;
    const e = input[d.from].get(d.path)!;
    try {
      if (!parentsAreDirs(root, d.path)) throw new Error('a directory above it is missing or is not a directory');
      setPathMeta(under(root, d.path), { ...e, mode: d.mode }, true, false);
    } catch (err) {
      events.warn({ path: d.path, code: 'E_PARTIAL', message: `its merged mode could not be set: ${err instanceof Error && !(err as NodeJS.ErrnoException).code ? err.message : describeFsError(err)}` });
    }
  }
}
