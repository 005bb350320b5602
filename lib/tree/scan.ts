// Walking the sender's tree into manifest entries, streamed in batches,
// depth-first with sorted names so every directory precedes its contents.
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

export class Scanner {
  warnings = 0;
  constructor(
    private readonly filter: Filter,
    private readonly warn: (w: ScanWarning) => void,
  ) {}

  /** Yields batches of [entry, absolute path] in manifest order. */
  *scan(sources: readonly Source[]): Generator<ScannedFile[]> {
    const batcher = new Batcher();
    const push = (f: ScannedFile) => batcher.push(f);
    const seen = new Set<string>();
    for (const src of sources) {
      let st: fs.Stats;
      try {
        // rsync's rule: a trailing slash follows a symlink to the directory it names
        st = src.contents ? fs.statSync(src.abs) : fs.lstatSync(src.abs);
      } catch (e) {
        this.problem(src.abs, e);
        continue;
      }
      const top = src.contents ? '.' : baseName(src.abs);
      if (top !== '.' && this.filter.excluded(top, st.isDirectory())) continue;
      if (seen.has(top)) {
        if (top !== '.') this.warn({ path: top, code: 'E_PARTIAL', message: 'duplicate source name, skipped' });
        if (top !== '.' || !st.isDirectory()) continue;
      }
      let entry: Entry | null;
      try {
        entry = statToEntry(top, st, st.isSymbolicLink() ? fs.readlinkSync(src.abs, 'utf8') : undefined);
      } catch (e) {
        this.problem(src.abs, e);
        continue;
      }
      if (!entry) {
        this.warn({ path: top, code: 'SKIP_SPECIAL', message: 'skipping non-regular file' });
        continue;
      }
      if (!seen.has(top)) {
        seen.add(top);
        const out = push({ entry, abs: src.abs });
        if (out) yield out;
      }
      if (entry.type === 'd') {
        for (const out of this.walk(src.abs, top === '.' ? '' : top, this.filter, push, top === '.' ? '' : top)) yield out;
      }
    }
    const last = batcher.rest();
    if (last.length) yield last;
  }

  private *walk(dirAbs: string, dirRel: string, parentFilter: Filter, push: (f: ScannedFile) => ScannedFile[] | null, sourceRoot: string): Generator<ScannedFile[]> {
    let valid: string[];
    try {
      valid = fs.readdirSync(dirAbs);
    } catch (e) {
      this.problem(dirAbs, e, dirRel || '.');
      return;
    }
    // Node decodes names as UTF-8, replacing invalid bytes with U+FFFD; only
    // then look at the raw bytes to tell a real U+FFFD from a broken name.
    if (valid.some((n) => n.includes('\uFFFD'))) valid = this.validNames(dirAbs, dirRel);
    valid.sort();
    const filter = dirFilter(parentFilter, dirAbs, dirRel, valid, (e) => this.problem(`${dirAbs}/${IGNORE_FILE}`, e));
    const subdirs: Array<[string, string]> = [];
    for (const name of valid) {
      const rel = dirRel ? `${dirRel}/${name}` : name;
      // a two-way replica's state stays with it, whatever the transfer root
      if (name === STATE_DIR && dirRel === sourceRoot) continue;
      const abs = `${dirAbs}/${name}`;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(abs);
      } catch (e) {
        this.problem(abs, e, rel);
        continue;
      }
      const isDir = st.isDirectory();
      if (filter.excluded(rel, isDir)) continue;
      let entry: Entry | null;
      try {
        entry = statToEntry(rel, st, st.isSymbolicLink() ? fs.readlinkSync(abs, 'utf8') : undefined);
      } catch (e) {
        this.problem(abs, e, rel);
        continue;
      }
      if (!entry) {
        this.warn({ path: rel, code: 'SKIP_SPECIAL', message: 'skipping non-regular file' });
        continue;
      }
      const out = push({ entry, abs });
      if (out) yield out;
      if (isDir) subdirs.push([abs, rel]);
    }
    // Depth-first after the directory's own entries: keeps each level's
    // names together, which the receiver's deletion pass relies on.
    for (const [abs, rel] of subdirs) yield* this.walk(abs, rel, filter, push, sourceRoot);
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

function baseName(p: string): string {
  const s = p.replace(/\/+$/, '');
  const i = s.lastIndexOf('/');
  return i < 0 ? s : s.slice(i + 1);
}
