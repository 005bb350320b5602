// The changes a two-way run makes to a replica outside of file transfers:
// deletions, and moving a losing version aside as its conflict copy. The
// same code runs on the client for its own tree and on the server for the
// ops the client sends. Each op names the state it expects; if the path
// changed since it was scanned, the op is refused (the next run decides
// again) rather than losing that change. Paths are resolved component by
// component without following a symlink.

import * as fs from 'node:fs';
import { backupPath } from '../fs/root.js';
import { TwOp, type Entry, type TwOpKind } from '../wire/schema.js';
import { checkRelPath, parentOf, under } from '../tree/paths.js';
import { isReserved } from '../tree/reserved.js';
import { readLocal, moveAside } from '../fs/apply.js';
import { describeFsError, TsyncError } from '../errors.js';

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
  /** --backup-dir, resolved: deleted files go there instead of away */
  backupAbs: string | null;
  /** mode for directories made under the backup directory */
  dirMode: number;
}

/** Validate a path the peer named; throws a protocol error for a path no honest peer sends. */
function checked(p: string): string {
  const bad = checkRelPath(p);
  if (bad || p === '.' || isReserved(p)) throw new TsyncError('E_PROTOCOL', `the peer named an unsafe path (${bad ?? 'reserved'}): ${JSON.stringify(p)}`);
  return p;
}

/** Every directory above rel must be a real directory: never act through a symlink. */
function parentsAreDirs(root: string, rel: string): boolean {
  let dir = parentOf(rel);
  const dirs: string[] = [];
  for (; dir !== '.'; dir = parentOf(dir)) dirs.push(dir);
  return dirs.every((d) => fs.lstatSync(under(root, d), { throwIfNoEntry: false })?.isDirectory() === true);
}

function matches(abs: string, e: Entry): boolean {
  const now = readLocal(abs);
  if (!now || now.type !== e.type) return false;
  if (e.type === 'f') return now.size === e.size && now.mtime === e.mtime;
  if (e.type === 'l') return now.target === e.target;
  return true;
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
  if (ctx.backupAbs) moveAside(abs, backupPath(ctx.backupAbs, rel), ctx.dirMode);
  else fs.unlinkSync(abs);
  return null;
}

/** Deletions deepest first, so a directory is emptied before it is removed. */
export function opOrder(a: TwoWayOp, b: TwoWayOp): number {
  return a.path < b.path ? 1 : a.path > b.path ? -1 : 0;
}
