// `tsync --server --root DIR [--read-only]`: the server side of an SSH
// forced command. Every path a client names (in START, and its
// --backup-dir) is taken inside DIR, as rrsync does for rsync: a relative
// path is relative to DIR, an absolute path and `~` are anchored at DIR,
// any `..` component is refused, and so is a path that resolves through a
// symbolic link to somewhere outside DIR. A destination that is a link to a
// directory inside DIR is followed (as rsync follows a destination link). --read-only refuses the receiving
// role: pulls work, pushes (and so deletions) do not.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { TsyncError } from '../errors.js';
import type { Role, StartOptions } from '../wire/schema.js';

const READ_ONLY_MESSAGE = 'this server is read-only: it can be pulled from, not pushed to';

export interface Restriction {
  /** the root as given on the command line */
  given: string;
  /** its real path (no symlinks) */
  root: string;
  readOnly: boolean;
}

/** The server's own configuration: a root that is not a directory is the administrator's mistake, said as such. */
export function openRestriction(given: string, readOnly: boolean): Restriction {
  let root: string;
  try {
    root = fs.realpathSync(path.resolve(given));
  } catch (e) {
    throw new TsyncError('E_REFUSED', `the server's --root ${given} is not usable (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (!fs.statSync(root).isDirectory()) throw new TsyncError('E_REFUSED', `the server's --root ${given} is not a directory`);
  return { given, root, readOnly };
}

function inside(r: Restriction, real: string): boolean {
  return real === r.root || real.startsWith(r.root === '/' ? '/' : `${r.root}/`);
}

function refuse(requested: string, why: string): TsyncError {
  return new TsyncError('E_REFUSED', `${JSON.stringify(requested)} ${why}`);
}

/** The components of a requested path, anchored at the root: `~`, `/` and `.` mean the root itself. */
function components(requested: string): string[] {
  let p = requested;
  if (p === '~' || p.startsWith('~/')) p = p.slice(1);
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  if (parts.includes('..')) throw refuse(requested, 'is refused: this server does not allow ".." in paths (name paths from the top of its share)');
  return parts;
}

/**
 * Map a client's path into the root. Checks what exists of it on disk: the
 * deepest existing ancestor must really be inside the root, and a last
 * component that is a symlink must point inside it too (it is kept as a
 * link, so the trailing-slash rule still decides whether it is followed).
 * A trailing slash is kept.
 */
export function resolveInRoot(r: Restriction, requested: string, follow = false): string {
  if (requested.includes('\0')) throw refuse(requested, 'is refused: it contains a NUL byte');
  const parts = components(requested);
  const trailing = /\/\.?$/.test(requested) && parts.length > 0 ? '/' : '';
  // the deepest ancestor that exists, by its real path
  let depth = parts.length;
  let real = '';
  for (; depth >= 0; depth--) {
    try {
      real = fs.realpathSync(path.join(r.root, ...parts.slice(0, depth)));
      break;
    } catch {
      // not there (or not reachable): look one level up
    }
  }
  if (!inside(r, real)) throw refuse(requested, 'is refused: it leads outside the server\'s root through a symbolic link');
  if (depth < parts.length) {
    // what does not resolve must not exist at all: a dangling link there could lead anywhere
    const next = path.join(real, parts[depth]);
    if (fs.lstatSync(next, { throwIfNoEntry: false })?.isSymbolicLink()) throw refuse(requested, 'is refused: it passes through a symbolic link that leads nowhere inside the server\'s root');
    return path.join(real, ...parts.slice(depth)) + trailing;
  }
  // the root itself: always its contents (its own name is not the client's business)
  if (parts.length === 0) return r.root.endsWith('/') ? r.root : `${r.root}/`;
  // a destination that is a link to a directory inside the root: its real path, checked above, resolved once here
  if (follow && fs.statSync(real, { throwIfNoEntry: false })?.isDirectory()) return real + trailing;
  // keep a last-component symlink as a link, under its real parent
  const last = parts[parts.length - 1];
  const parent = fs.realpathSync(path.join(r.root, ...parts.slice(0, -1)));
  if (!inside(r, parent)) throw refuse(requested, 'is refused: it leads outside the server\'s root through a symbolic link');
  return path.join(parent, last) + trailing;
}

/**
 * What a restricted server does with START: refuse what it must, and map
 * every path (and --backup-dir) into the root. Returns the paths and the
 * options to run with.
 */
export function restrictStart(r: Restriction, role: Role, paths: readonly string[], options: StartOptions): { paths: string[]; options: StartOptions } {
  if (r.readOnly && writes(role)) throw new TsyncError('E_READ_ONLY', READ_ONLY_MESSAGE);
  // a destination (or replica) that is a link to a directory is followed, once, here: the receiver never re-reads the link
  const mapped = paths.map((p) => resolveInRoot(r, p, writes(role) || role === 'vault'));
  // --backup-dir is the receiving side's (a two-way replica receives too): pulling, it names a directory on the client
  if (!options.backupDir || !writes(role)) return { paths: mapped, options };
  // --backup-dir: absolute (or ~) from the root, otherwise relative to the destination, as without --root
  const b = options.backupDir;
  const anchored = b.startsWith('/') || b === '~' || b.startsWith('~/');
  const dest = (mapped[0] ?? r.root).replace(/\/+$/, '');
  const rel = anchored ? b : `${path.relative(r.root, dest) || '.'}/${b}`;
  if (!anchored) components(b);
  const backupDir = resolveInRoot(r, rel).replace(/\/+$/, '');
  return { paths: mapped, options: { ...options, backupDir } };
}

/** roles that change the server's tree: receiving, and a two-way replica */
function writes(role: Role): boolean {
  return role === 'receiver' || role === 'twoway';
}

/** How `tsync --server` was limited on its command line. */
export interface ServerLimits {
  root?: string;
  readOnly: boolean;
}

/** START as the server will act on it: unrestricted paths only get `~` expanded. */
export function limitStart(limits: ServerLimits, role: Role, paths: readonly string[], options: StartOptions, expandHome: (p: string) => string): { paths: string[]; options: StartOptions } {
  if (limits.readOnly && writes(role)) throw new TsyncError('E_READ_ONLY', READ_ONLY_MESSAGE);
  if (limits.root === undefined) return { paths: paths.map(expandHome), options };
  return restrictStart(openRestriction(limits.root, limits.readOnly), role, paths, options);
}

/** --root's real path; null when unrestricted or when it cannot be resolved (then nothing is rewritten) */
function realRoot(limits: ServerLimits): string | null {
  if (limits.root === undefined) return null;
  try {
    return fs.realpathSync(path.resolve(limits.root));
  } catch {
    return null;
  }
}

/** A restricted server's message with the root's own location taken out: clients see paths as they name them. */
export function hideRoot(limits: ServerLimits, err: TsyncError): TsyncError {
  const root = realRoot(limits);
  if (root === null) return err;
  const shown = err.message.split(`${root}/`).join('/').split(root).join('/');
  return shown === err.message ? err : new TsyncError(err.code, shown, { cause: err });
}

/** A path as a restricted server's client sees it: from the root ("/", "/sub"); unrestricted, as it is. */
export function shownInRoot(limits: ServerLimits, abs: string): string {
  const root = realRoot(limits);
  if (root === null) return abs;
  const rel = path.relative(root, abs);
  if (rel === '') return '/';
  return rel.startsWith('..') || path.isAbsolute(rel) ? '(outside the root)' : `/${rel}`;
}
