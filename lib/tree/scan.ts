// Walking the sender's tree into manifest entries, streamed in batches,
// depth-first with sorted names so every directory precedes its contents;
// several sources merged into one tree as rsync merges them.
// Symlinks are never followed. Names that are not valid UTF-8 are skipped
// with a warning (they would not survive the UTF-8 manifest).

import { mtimeUs } from '../time.js';
import * as fs from 'node:fs';
import type { Entry } from '../wire/schema.js';
import { Filter, IGNORE_FILE } from './filter.js';
import { STATE_DIR } from './reserved.js';
import { describeFsError } from '../errors.js';

export interface Source {
  /** the path as given, trailing slash stripped */
  abs: string;
  /** rsync's trailing slash: send the contents, not the directory itself */
  contents: boolean;
}

export interface ScanWarning {
  path: string;
  message: string;
  code: string;
}

export interface ScannedFile {
  entry: Entry;
  abs: string;
  /** the inode the scan saw (files and links; a vault push's files cache keys on it) */
  ino?: number;
}

/** The filter for a directory whose names are known: its .tsyncignore (if any and if honoured) applied. */
export function dirFilter(parent: Filter, dirAbs: string, dirRel: string, names: readonly string[], onError: (e: unknown) => void): Filter {
  if (!parent.usesIgnoreFiles || !names.includes(IGNORE_FILE)) return parent;
  try {
    return parent.withIgnoreFile(dirRel, fs.readFileSync(`${dirAbs}/${IGNORE_FILE}`, 'utf8'));
  } catch (e) {
    onError(e);
    return parent;
  }
}

export function statToEntry(path: string, st: fs.Stats, target?: string): Entry | null {
  const mtime = mtimeUs(st);
  if (st.isFile()) return { path, type: 'f', mode: st.mode & 0o7777, size: st.size, mtime };
  if (st.isDirectory()) return { path, type: 'd', mode: st.mode & 0o7777, size: 0, mtime };
  if (st.isSymbolicLink()) return { path, type: 'l', mode: 0o777, size: 0, mtime, target: target ?? '' };
  return null;
}

/** a batch is cut at this many entries or (roughly) bytes, well under the frame limit */
const BATCH = 1000;
const BATCH_BYTES = 256 << 10;

/** Cuts a stream of entries into manifest batches that each fit in one frame. */
export class Batcher<T extends { entry: Entry } = ScannedFile> {
  private batch: T[] = [];
  private bytes = 0;

  /** a full batch when this entry completed one */
  push(f: T): T[] | null {
    this.batch.push(f);
    // worst case per entry: the whole path, the link target, and fixed fields
    this.bytes += 3 * (f.entry.path.length + (f.entry.target?.length ?? 0)) + 40;
    return this.batch.length < BATCH && this.bytes < BATCH_BYTES ? null : this.rest();
  }

  /** whatever is pending (possibly nothing) */
  rest(): T[] {
    const out = this.batch;
    this.batch = [];
    this.bytes = 0;
    return out;
  }

  static all<T extends { entry: Entry }>(files: Iterable<T>): T[][] {
    const b = new Batcher<T>();
    const out: T[][] = [];
    for (const f of files) {
      const full = b.push(f);
      if (full) out.push(full);
    }
    const last = b.rest();
    if (last.length) out.push(last);
    return out;
  }
}

/**
 * One source's directory that feeds a directory of the transfer. Several
 * sources can feed the same one (`tsync a/ b/ dest/`): their names are
 * merged, each read with its own source's filters.
 */
interface Branch {
  abs: string;
  filter: Filter;
  /** this is a source's own top directory (where a two-way replica keeps its state) */
  sourceRoot: boolean;
}

/** One occurrence of a name in a directory of the transfer: from a branch, or a source named on its own. */
interface Candidate {
  abs: string;
  /** the filter that decides this occurrence (its branch's, with that directory's ignore file) */
  filter: Filter;
  /** a source named on its own (lstat'ed already), not a branch's child */
  st?: fs.Stats;
  sourceRoot: boolean;
}

export class Scanner {
  warnings = 0;
  constructor(
    private readonly filter: Filter,
    private readonly warn: (w: ScanWarning) => void,
  ) {}

  /**
   * Yields batches of [entry, absolute path] in manifest order: rsync's
   * order, so that lines come out as rsync prints them (names compare as
   * JavaScript strings, by UTF-16 unit, where rsync compares UTF-8 bytes:
   * the two differ only between characters above U+FFFF and those from
   * U+E000 to U+FFFF, docs/design.md §6). The root entry
   * first (when a source names contents), then each directory's
   * non-directories by name, then each subdirectory followed by everything
   * below it. Several sources are merged as rsync merges them: in argument
   * order, the first occurrence of a path wins, except that a directory
   * wins over a non-directory (its contents may follow); directories of the
   * same path are merged. Nothing is listed twice.
   */
  *scan(sources: readonly Source[]): Generator<ScannedFile[]> {
    const batcher = new Batcher();
    const push = (f: ScannedFile) => batcher.push(f);
    // the top of the transfer: every source's contents or its own name, in argument order
    const top = new Map<string, Candidate[]>();
    let root: ScannedFile | null = null;
    for (const src of sources) {
      let st: fs.Stats;
      try {
        // rsync's rule: a trailing slash follows a symlink to the directory it names; a source named without one is itself
        st = src.contents ? fs.statSync(src.abs) : fs.lstatSync(src.abs);
      } catch (e) {
        this.problem(src.abs, e);
        continue;
      }
      if (!src.contents) {
        add(top, baseName(src.abs), { abs: src.abs, filter: this.filter, st, sourceRoot: true });
        continue;
      }
      const entry = statToEntry('.', st);
      // the sender refuses it before listing anything (a usage error)
      if (!entry || entry.type !== 'd') continue;
      root ??= { entry, abs: src.abs };
      this.branchNames(top, { abs: src.abs, filter: this.filter, sourceRoot: true }, '');
    }
    if (root) {
      const out = push(root);
      if (out) yield out;
    }
    yield* this.level(top, '', push);
    const last = batcher.rest();
    if (last.length) yield last;
  }

  private *walk(dirRel: string, branches: readonly Branch[], push: (f: ScannedFile) => ScannedFile[] | null): Generator<ScannedFile[]> {
    if (branches.length === 1) {
      yield* this.walkOne(dirRel, branches[0], push);
      return;
    }
    const names = new Map<string, Candidate[]>();
    for (const b of branches) this.branchNames(names, b, dirRel);
    yield* this.level(names, dirRel, push);
  }

  /** The common case, one source below this directory: what level() does, without the merging. */
  private *walkOne(dirRel: string, b: Branch, push: (f: ScannedFile) => ScannedFile[] | null): Generator<ScannedFile[]> {
    const names = this.readNames(b, dirRel);
    if (!names) return;
    const filter = dirFilter(b.filter, b.abs, dirRel, names, (e) => this.problem(`${b.abs}/${IGNORE_FILE}`, e));
    names.sort();
    const subdirs: Array<[string, Branch & { entry: Entry }]> = [];
    for (const name of names) {
      // a two-way replica's state stays with it, whatever the transfer root
      if (name === STATE_DIR && b.sourceRoot) continue;
      const rel = dirRel ? `${dirRel}/${name}` : name;
      const abs = `${b.abs}/${name}`;
      const st = this.lstat(rel, abs);
      if (!st) continue;
      const isDir = st.isDirectory();
      if (filter.excluded(rel, isDir)) continue;
      const entry = this.entryAt(rel, abs, st);
      if (!entry) continue;
      if (isDir) {
        subdirs.push([rel, { abs, filter, sourceRoot: false, entry }]);
        continue;
      }
      const out = push({ entry, abs, ino: st.ino });
      if (out) yield out;
    }
    for (const [rel, sub] of subdirs) {
      const out = push({ entry: sub.entry, abs: sub.abs });
      if (out) yield out;
      yield* this.walkOne(rel, sub, push);
    }
  }

  /** A directory's names (valid UTF-8 only), or null when it cannot be read. */
  private readNames(b: Branch, dirRel: string): string[] | null {
    let valid: string[];
    try {
      valid = fs.readdirSync(b.abs);
    } catch (e) {
      this.problem(b.abs, e, dirRel || '.');
      return null;
    }
    // Node decodes names as UTF-8, replacing invalid bytes with U+FFFD; only
    // then look at the raw bytes to tell a real U+FFFD from a broken name.
    if (valid.some((n) => n.includes('\uFFFD'))) valid = this.validNames(b.abs, dirRel);
    return valid;
  }

  /** A branch's names in dirRel, added as candidates (with the branch's filter for that directory). */
  private branchNames(into: Map<string, Candidate[]>, b: Branch, dirRel: string): void {
    const valid = this.readNames(b, dirRel);
    if (!valid) return;
    const filter = dirFilter(b.filter, b.abs, dirRel, valid, (e) => this.problem(`${b.abs}/${IGNORE_FILE}`, e));
    for (const name of valid) {
      // a two-way replica's state stays with it, whatever the transfer root
      if (name === STATE_DIR && b.sourceRoot) continue;
      add(into, name, { abs: `${b.abs}/${name}`, filter, sourceRoot: false });
    }
  }

  /** One directory of the transfer: its non-directories by name, then each subdirectory and what is below it. */
  private *level(names: Map<string, Candidate[]>, dirRel: string, push: (f: ScannedFile) => ScannedFile[] | null): Generator<ScannedFile[]> {
    const subdirs: Array<[string, Branch[]]> = [];
    for (const name of [...names.keys()].sort()) {
      const rel = dirRel ? `${dirRel}/${name}` : name;
      const chosen = this.choose(rel, names.get(name)!);
      if (!chosen) continue;
      if (chosen.entry.type === 'd') {
        subdirs.push([rel, chosen.dirs]);
        continue;
      }
      const out = push({ entry: chosen.entry, abs: chosen.abs, ino: chosen.ino });
      if (out) yield out;
    }
    names.clear();
    for (const [rel, branches] of subdirs) {
      const first = branches[0] as Branch & { entry: Entry };
      const out = push({ entry: first.entry, abs: first.abs });
      if (out) yield out;
      yield* this.walk(rel, branches, push);
    }
  }

  /**
   * The occurrence of a path that is listed: the first directory, else the
   * first of anything; excluded and unreadable ones never count. With the
   * directories to merge below it (the chosen one first).
   */
  private choose(rel: string, candidates: readonly Candidate[]): { entry: Entry; abs: string; ino?: number; dirs: Array<Branch & { entry: Entry }> } | null {
    let first: { entry: Entry; abs: string; ino: number } | null = null;
    const dirs: Array<Branch & { entry: Entry }> = [];
    for (const c of candidates) {
      const st = c.st ?? this.lstat(rel, c.abs);
      if (!st) continue;
      const isDir = st.isDirectory();
      if (c.filter.excluded(rel, isDir)) continue;
      if (isDir) {
        dirs.push({ abs: c.abs, filter: c.filter, sourceRoot: c.sourceRoot, entry: statToEntry(rel, st)! });
        continue;
      }
      if (first || dirs.length) continue;
      const entry = this.entryAt(rel, c.abs, st);
      if (entry) first = { entry, abs: c.abs, ino: st.ino };
    }
    if (dirs.length) return { entry: dirs[0].entry, abs: dirs[0].abs, dirs };
    return first && { ...first, dirs };
  }

  /** What stands at abs, never followed; null after saying why it cannot be read. */
  private lstat(rel: string, abs: string): fs.Stats | null {
    try {
      return fs.lstatSync(abs);
    } catch (e) {
      this.problem(abs, e, rel);
      return null;
    }
  }

  /** The entry for what stands at abs (a link's target read, never followed); null after saying why it is not listed. */
  private entryAt(rel: string, abs: string, st: fs.Stats): Entry | null {
    let entry: Entry | null;
    try {
      entry = statToEntry(rel, st, st.isSymbolicLink() ? fs.readlinkSync(abs, 'utf8') : undefined);
    } catch (e) {
      this.problem(abs, e, rel);
      return null;
    }
    if (!entry) this.warn({ path: rel, code: 'SKIP_SPECIAL', message: 'skipping non-regular file' });
    return entry;
  }

  private validNames(dirAbs: string, dirRel: string): string[] {
    const out: string[] = [];
    for (const b of fs.readdirSync(dirAbs, { encoding: 'buffer' })) {
      const s = b.toString('utf8');
      if (Buffer.from(s, 'utf8').equals(b)) out.push(s);
      else {
        this.warnings++;
        this.warn({ path: `${dirRel ? `${dirRel}/` : ''}${b.toString('latin1')}`, code: 'E_PARTIAL', message: 'name is not valid UTF-8, skipped' });
      }
    }
    return out;
  }

  private problem(abs: string, e: unknown, rel?: string): void {
    this.warnings++;
    this.warn({ path: rel ?? abs, code: 'E_PARTIAL', message: describeFsError(e) });
  }
}

function add(into: Map<string, Candidate[]>, name: string, c: Candidate): void {
  const list = into.get(name);
  if (list) list.push(c);
  else into.set(name, [c]);
}

function baseName(p: string): string {
  const s = p.replace(/\/+$/, '');
  const i = s.lastIndexOf('/');
  return i < 0 ? s : s.slice(i + 1);
}

/**
 * The order Scanner.scan lists entries in: in each directory, by name, its
 * files and links first, then each subdirectory followed by its contents
 * (a vault two-way run merges left-out entries into a listing by it).
 */
export function scanOrder(x: Pick<Entry, 'path' | 'type'>, y: Pick<Entry, 'path' | 'type'>): number {
  if (x.path === y.path) return 0;
  if (x.path === '.') return -1;
  if (y.path === '.') return 1;
  const a = x.path.split('/');
  const b = y.path.split('/');
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  // one holds the other
  if (i === a.length) return -1;
  if (i === b.length) return 1;
  const leafA = i === a.length - 1 && x.type !== 'd';
  const leafB = i === b.length - 1 && y.type !== 'd';
  if (leafA !== leafB) return leafA ? -1 : 1;
  return a[i] < b[i] ? -1 : 1;
}
