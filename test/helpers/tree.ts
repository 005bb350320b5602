// Seeded random directory trees, seeded mutations, and a snapshot comparator
// that agrees with `rsync -a`. Pure node:fs, no git, no shelling out.
//
// Time precision: snapshot() records every mtime in nanoseconds (`mtimeNs`,
// a bigint from lstat with { bigint: true }) and, for convenience, in whole
// milliseconds (`mtimeMs`, truncated). diffSnapshots() compares at
// millisecond precision by default (`mtimePrecision: 'ms'`): rsync -a on
// Linux keeps nanoseconds when both sides support it, so 'ns' also works
// against rsync, but a tool that goes through a JS number (utimes with a
// double) may lose the last nanosecond digits. makeRandomTree() only uses
// sub-second parts that are multiples of 1/512 s, which are exact both as a
// double and in nanoseconds, so any tool that keeps milliseconds keeps them.
//
// Names never start with ".tsync" (that prefix is tsync's own: state dir,
// .tsyncignore files), so a random tree never changes tsync's behaviour.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

// ---------------------------------------------------------------- PRNG

import { mulberry32 } from './prng.mjs';
export { mulberry32 };

/** A seeded random source with the helpers the tree code needs. */
export class Rng {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }
  /** float in [0, 1) */
  float(): number {
    return this.#next();
  }
  /** integer in [lo, hi] (inclusive) */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.#next() * (hi - lo + 1));
  }
  bool(p = 0.5): boolean {
    return this.#next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: empty list');
    return items[Math.floor(this.#next() * items.length)];
  }
  bytes(n: number): Buffer {
    const buf = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) buf.writeUInt32LE((this.#next() * 4294967296) >>> 0, i);
    for (; i < n; i++) buf[i] = (this.#next() * 256) >>> 0;
    return buf;
  }
}

// ---------------------------------------------------------------- content

const WORDS = (
  'the quick brown fox jumps over lazy dog sync tree file delta rolling checksum ' +
  'manifest peer clock skew conflict baseline receiver sender generator block ' +
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor'
).split(' ');

function textContent(rng: Rng, size: number): Buffer {
  const parts: string[] = [];
  let len = 0;
  while (len < size) {
    const words: string[] = [];
    const n = rng.int(3, 14);
    for (let i = 0; i < n; i++) words.push(rng.pick(WORDS));
    const line = words.join(' ') + '\n';
    parts.push(line);
    len += line.length;
  }
  return Buffer.from(parts.join('').slice(0, size), 'ascii');
}

/** Binary that is random but partly repetitive, so deltas have something to match. */
function binaryContent(rng: Rng, size: number): Buffer {
  if (size < 4096 || rng.bool(0.5)) return rng.bytes(size);
  const block = rng.bytes(rng.int(512, 4096));
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const chunk = rng.bool(0.6) ? block : rng.bytes(rng.int(256, 8192));
    off += chunk.copy(out, off, 0, Math.min(chunk.length, size - off));
  }
  return out;
}

function fileContent(rng: Rng, size: number): Buffer {
  return rng.bool(0.5) ? textContent(rng, size) : binaryContent(rng, size);
}

// ---------------------------------------------------------------- times and modes

/** Upper bound of makeRandomTree's mtimes (2020-09-13); mutations are newer by default. */
export const TREE_MTIME_MAX = 1_600_000_000;
/** Default "now" (seconds) of mutateTree: 2023-11-14. */
export const MUTATE_NOW = 1_700_000_000;

/** An mtime in seconds: whole, or with an exact k/512 sub-second part. */
function randomMtime(rng: Rng, lo: number, hi: number): number {
  const sec = rng.int(lo, hi);
  return rng.bool(0.5) ? sec : sec + rng.int(1, 511) / 512;
}

function treeMtime(rng: Rng): number {
  const r = rng.float();
  if (r < 0.01) return 0; // the epoch itself: a sentinel value naive code mishandles
  if (r < 0.2) return randomMtime(rng, 1, 500_000_000); // decades ago (1970-1985)
  return randomMtime(rng, 1_000_000_000, TREE_MTIME_MAX);
}

const FILE_MODES = [0o644, 0o644, 0o644, 0o644, 0o600, 0o755, 0o444] as const;
const DIR_MODES = [0o755, 0o755, 0o755, 0o700] as const;

// ---------------------------------------------------------------- names

/**
 * Odd but valid UTF-8 names. 'caf\u00e9' (NFC) and 'cafe\u0301' (NFD) are
 * two different files and are always placed in the same directory, as are
 * 'Case.txt' and 'case.txt'.
 */
export const ODD_FILE_NAMES: readonly string[] = [
  'with space.txt',
  ' leading space',
  'trailing space ',
  '-leading-dash',
  '--rf',
  'new\nline',
  'tab\there',
  'carriage\rreturn',
  '\u00fcn\u00efc\u00f6d\u00e9-\u65e5\u672c\u8a9e-\u{1f600}.txt',
  '..foo',
  '.hidden',
  'colon:name',
  'back\\slash',
  'glob*?[x]{a,b}',
  `quote's "double"`,
  '#hash',
  '%41percent',
  '~tilde',
  '$HOME',
  'semi;colon&amp|pipe',
  'L'.repeat(196) + '.txt', // 200 bytes
  '\u00e9'.repeat(100), // 200 bytes of 2-byte characters
];
export const NFC_NAME = 'caf\u00e9';
export const NFD_NAME = 'cafe\u0301';
export const ODD_DIR_NAMES: readonly string[] = ['dir with space', '-dash-dir', '\u30c7\u30a3\u30ec\u30af\u30c8\u30ea', '.hidden-dir', '..dots'];

// ---------------------------------------------------------------- makeRandomTree

export interface RandomTreeOptions {
  /** ordinary files (besides odd names and big files); default 120 */
  files?: number;
  /** directories (besides odd names and empty ones); default 20 */
  dirs?: number;
  /** maximum directory depth below root; default 4 */
  maxDepth?: number;
  /** files of 100 KB - bigMaxBytes; default 2 */
  bigFiles?: number;
  /** default 2 MiB */
  bigMaxBytes?: number;
  /** symlinks; default 12 */
  symlinks?: number;
  /** empty directories; default 3 */
  emptyDirs?: number;
  /** include ODD_FILE_NAMES, ODD_DIR_NAMES, NFC/NFD and case pairs; default true */
  oddNames?: boolean;
}

export interface RandomTreeSummary {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** every created path, relative, '/'-separated, in creation order */
  paths: string[];
}

interface PendingTimes {
  abs: string;
  mtime: number;
  depth: number;
}

/**
 * Fill `root` (created if missing; should be empty) with a random tree that
 * is a pure function of `seed` and `opts`: names, contents, modes, symlink
 * targets and mtimes (of files, symlinks and directories) are all the same
 * for the same seed. The mode and mtime of `root` itself are left alone.
 */
export async function makeRandomTree(root: string, seed: number, opts: RandomTreeOptions = {}): Promise<RandomTreeSummary> {
  const rng = new Rng(seed);
  const o = {
    files: opts.files ?? 120,
    dirs: opts.dirs ?? 20,
    maxDepth: opts.maxDepth ?? 4,
    bigFiles: opts.bigFiles ?? 2,
    bigMaxBytes: opts.bigMaxBytes ?? 2 * 1024 * 1024,
    symlinks: opts.symlinks ?? 12,
    emptyDirs: opts.emptyDirs ?? 3,
    oddNames: opts.oddNames ?? true,
  };
  await fsp.mkdir(root, { recursive: true });

  const summary: RandomTreeSummary = { files: 0, dirs: 0, symlinks: 0, bytes: 0, paths: [] };
  const taken = new Map<string, Set<string>>([['', new Set()]]); // dir rel -> names
  const dirs: string[] = ['']; // rel paths of directories ('' is root)
  const fileRels: string[] = [];
  const times: PendingTimes[] = [];
  const modes: { abs: string; mode: number }[] = [];
  const depthOf = (rel: string) => (rel === '' ? 0 : rel.split('/').length);
  const join = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);
  let counter = 0;

  const freshName = (dir: string, base: string): string => {
    const names = taken.get(dir)!;
    let name = base;
    while (names.has(name) || name.startsWith('.tsync')) name = `${base}-${++counter}`;
    names.add(name);
    return name;
  };
  const dirWithRoom = (): string => {
    const ok = dirs.filter((d) => depthOf(d) < o.maxDepth);
    return rng.pick(ok);
  };

  const addDir = async (parent: string, base: string): Promise<string> => {
    const rel = join(parent, freshName(parent, base));
    const abs = path.join(root, rel);
    await fsp.mkdir(abs);
    taken.set(rel, new Set());
    dirs.push(rel);
    summary.dirs++;
    summary.paths.push(rel);
    times.push({ abs, mtime: treeMtime(rng), depth: depthOf(rel) });
    modes.push({ abs, mode: rng.pick(DIR_MODES) });
    return rel;
  };

  const addFile = async (dir: string, base: string, size: number): Promise<string> => {
    const rel = join(dir, freshName(dir, base));
    const abs = path.join(root, rel);
    await fsp.writeFile(abs, fileContent(rng, size));
    fileRels.push(rel);
    summary.files++;
    summary.bytes += size;
    summary.paths.push(rel);
    times.push({ abs, mtime: treeMtime(rng), depth: depthOf(rel) });
    modes.push({ abs, mode: rng.pick(FILE_MODES) });
    return rel;
  };

  const smallSize = (): number => {
    const r = rng.float();
    if (r < 0.1) return 0;
    if (r < 0.2) return 1;
    if (r < 0.75) return rng.int(2, 8192);
    return rng.int(8193, 65536);
  };

  // directories
  for (let i = 0; i < o.dirs; i++) await addDir(dirWithRoom(), `d${i}`);
  if (o.oddNames) for (const name of ODD_DIR_NAMES) await addDir(dirWithRoom(), name);

  // files
  for (let i = 0; i < o.files; i++) {
    const ext = rng.pick(['.txt', '.bin', '', '.dat', '.md']);
    await addFile(rng.pick(dirs), `f${i}${ext}`, smallSize());
  }
  for (let i = 0; i < o.bigFiles; i++) {
    await addFile(rng.pick(dirs), `big${i}.bin`, rng.int(100 * 1024, Math.max(100 * 1024, o.bigMaxBytes)));
  }
  if (o.oddNames) {
    for (const name of ODD_FILE_NAMES) await addFile(rng.pick(dirs), name, smallSize());
    const pairDir = rng.pick(dirs);
    await addFile(pairDir, NFC_NAME, rng.int(1, 64));
    await addFile(pairDir, NFD_NAME, rng.int(1, 64));
    const caseDir = rng.pick(dirs);
    await addFile(caseDir, 'Case.txt', rng.int(1, 64));
    await addFile(caseDir, 'case.txt', rng.int(1, 64));
  }

  // symlinks: created after files and dirs so that most have real targets
  const nonRootDirs = dirs.filter((d) => d !== '');
  for (let i = 0; i < o.symlinks; i++) {
    const dir = rng.pick(dirs);
    const r = rng.float();
    let target: string;
    let base = `link${i}`;
    if (r < 0.35 && fileRels.length > 0) {
      target = path.posix.relative(dir, rng.pick(fileRels)) || '.';
      base += '-file';
    } else if (r < 0.55 && nonRootDirs.length > 0) {
      target = path.posix.relative(dir, rng.pick(nonRootDirs)) || '.';
      base += '-dir';
    } else if (r < 0.7) {
      target = `does-not-exist/${rng.int(0, 1e6)}`;
      base += '-dangling';
    } else if (r < 0.8) {
      target = rng.pick(['/nonexistent/tsync-test/abs-target', '/tmp', '/etc/hostname']);
      base += '-abs';
    } else if (r < 0.9) {
      target = '../'.repeat(depthOf(dir) + 1) + 'outside-the-root';
      base += '-escapes';
    } else {
      target = 'target with space and \u00e9';
      base += '-odd';
    }
    const rel = join(dir, freshName(dir, base));
    const abs = path.join(root, rel);
    await fsp.symlink(target, abs);
    summary.symlinks++;
    summary.paths.push(rel);
    times.push({ abs, mtime: treeMtime(rng), depth: depthOf(rel) });
  }
  if (o.symlinks > 0) {
    // a link to itself (a loop) is always there when symlinks are asked for
    const dir = rng.pick(dirs);
    const name = freshName(dir, 'self-loop');
    const rel = join(dir, name);
    await fsp.symlink(name, path.join(root, rel));
    summary.symlinks++;
    summary.paths.push(rel);
    times.push({ abs: path.join(root, rel), mtime: treeMtime(rng), depth: depthOf(rel) });
  }

  // empty directories, last, so nothing lands in them
  for (let i = 0; i < o.emptyDirs; i++) await addDir(dirWithRoom(), `empty${i}`);

  // modes, then times: files and links first, then directories deepest first
  for (const m of modes) await fsp.chmod(m.abs, m.mode);
  for (const t of times) {
    if (fs.lstatSync(t.abs).isDirectory()) continue;
    await fsp.lutimes(t.abs, t.mtime, t.mtime);
  }
  const dirTimes = times.filter((t) => fs.lstatSync(t.abs).isDirectory()).sort((a, b) => b.depth - a.depth);
  for (const t of dirTimes) await fsp.utimes(t.abs, t.mtime, t.mtime);
  return summary;
}

// ---------------------------------------------------------------- walking

interface Listed {
  rel: string;
  abs: string;
  type: EntryType;
  st: fs.Stats;
}

/** Every entry under root (not root itself), depth-first, names sorted by code unit. */
async function walk(root: string): Promise<Listed[]> {
  const out: Listed[] = [];
  const visit = async (relDir: string): Promise<void> => {
    const absDir = relDir === '' ? root : path.join(root, relDir);
    const names = (await fsp.readdir(absDir)).sort();
    for (const name of names) {
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      const abs = path.join(root, rel);
      const st = await fsp.lstat(abs);
      const type = typeOf(st);
      out.push({ rel, abs, type, st });
      if (type === 'dir') await visit(rel);
    }
  };
  await visit('');
  return out;
}

function typeOf(st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): EntryType {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  return 'other';
}

// ---------------------------------------------------------------- mutateTree

export interface MutateOptions {
  /** number of edits; default 12 */
  ops?: number;
  /** "now" in epoch seconds: new and edited things get mtimes in the 30 days before it; default MUTATE_NOW */
  now?: number;
}

type OpKind =
  | 'edit-same-size'
  | 'edit-resize'
  | 'touch'
  | 'delete-file'
  | 'delete-dir'
  | 'add-file'
  | 'add-dir'
  | 'file-to-dir'
  | 'dir-to-file'
  | 'file-to-symlink'
  | 'symlink-to-file'
  | 'retarget-symlink'
  | 'chmod';

const OP_KINDS: readonly OpKind[] = [
  'edit-same-size',
  'edit-same-size',
  'edit-resize',
  'edit-resize',
  'touch',
  'touch',
  'delete-file',
  'delete-dir',
  'add-file',
  'add-file',
  'add-dir',
  'file-to-dir',
  'dir-to-file',
  'file-to-symlink',
  'symlink-to-file',
  'retarget-symlink',
  'chmod',
];

/**
 * Apply `opts.ops` seeded random edits to the tree at `root` and return one
 * line per edit ("edit-resize a/b.txt 10 -> 4000"). Deterministic: the same
 * tree and seed give the same result, including the mtimes of the
 * directories whose entries changed. Every edit is visible to snapshot():
 * content edits always get a new mtime (at least a second away from the old
 * one), so rsync's quick check sees them too.
 */
export async function mutateTree(root: string, seed: number, opts: MutateOptions = {}): Promise<string[]> {
  const rng = new Rng(seed ^ 0x5eed_f00d);
  const ops = opts.ops ?? 12;
  const now = opts.now ?? MUTATE_NOW;
  const log: string[] = [];
  const touchedDirs = new Set<string>(); // rel dirs whose entries changed ('' = root)
  const newMtime = (old?: number): number => {
    let m = randomMtime(rng, now - 30 * 86400, now);
    if (old !== undefined && Math.abs(m - old) < 1) m = old + 2;
    return m;
  };
  const parentOf = (rel: string) => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
  const abs = (rel: string) => path.join(root, rel);
  let counter = 0;
  const freshRel = async (dir: string, base: string): Promise<string> => {
    for (;;) {
      const name = `${base}-${seed >>> 0}-${++counter}`;
      const rel = dir === '' ? name : `${dir}/${name}`;
      try {
        await fsp.lstat(abs(rel));
      } catch {
        return rel;
      }
    }
  };
  const writeNewFile = async (rel: string): Promise<number> => {
    const size = rng.pick([0, 1, rng.int(2, 4096), rng.int(4097, 70000)]);
    await fsp.writeFile(abs(rel), fileContent(rng, size));
    await fsp.chmod(abs(rel), rng.pick(FILE_MODES));
    const m = newMtime();
    await fsp.utimes(abs(rel), m, m);
    touchedDirs.add(parentOf(rel));
    return size;
  };
  /** Run fn with the file writable by its owner, then put its mode back. */
  const asWritable = async (rel: string, mode: number, fn: () => Promise<void>): Promise<void> => {
    if ((mode & 0o200) === 0) await fsp.chmod(abs(rel), mode | 0o200);
    try {
      await fn();
    } finally {
      if ((mode & 0o200) === 0) await fsp.chmod(abs(rel), mode);
    }
  };

  for (let i = 0; i < ops; i++) {
    const all = await walk(root);
    const files = all.filter((e) => e.type === 'file');
    const nonEmpty = files.filter((e) => e.st.size > 0);
    const dirs = all.filter((e) => e.type === 'dir');
    const links = all.filter((e) => e.type === 'symlink');
    const dirRels = ['', ...dirs.map((d) => d.rel)];
    let kind = rng.pick(OP_KINDS);
    const need: Partial<Record<OpKind, unknown[]>> = {
      'edit-same-size': nonEmpty,
      'edit-resize': files,
      'delete-file': files,
      'file-to-dir': files,
      'file-to-symlink': files,
      'delete-dir': dirs,
      'dir-to-file': dirs,
      'symlink-to-file': links,
      'retarget-symlink': links,
      touch: all,
      chmod: all.filter((e) => e.type !== 'symlink'),
    };
    if ((need[kind]?.length ?? 1) === 0) kind = 'add-file';

    switch (kind) {
      case 'edit-same-size': {
        const e = rng.pick(nonEmpty);
        await asWritable(e.rel, e.st.mode & 0o7777, async () => {
          const fh = await fsp.open(e.abs, 'r+');
          try {
            const n = Math.min(e.st.size, rng.int(1, 16));
            for (let k = 0; k < n; k++) {
              const pos = rng.int(0, e.st.size - 1);
              const b = Buffer.alloc(1);
              await fh.read(b, 0, 1, pos);
              b[0] ^= rng.int(1, 255);
              await fh.write(b, 0, 1, pos);
            }
          } finally {
            await fh.close();
          }
        });
        const m = newMtime(e.st.mtimeMs / 1000);
        await fsp.utimes(e.abs, m, m);
        log.push(`${kind} ${e.rel}`);
        break;
      }
      case 'edit-resize': {
        const e = rng.pick(files);
        let size = rng.pick([0, 1, rng.int(2, 8192), e.st.size + rng.int(1, 5000), Math.floor(e.st.size / 2)]);
        if (size === e.st.size) size++;
        await asWritable(e.rel, e.st.mode & 0o7777, async () => {
          if (rng.bool(0.5) && size > e.st.size) {
            await fsp.appendFile(e.abs, fileContent(rng, size - e.st.size));
          } else {
            await fsp.writeFile(e.abs, fileContent(rng, size));
          }
        });
        const m = newMtime(e.st.mtimeMs / 1000);
        await fsp.utimes(e.abs, m, m);
        log.push(`${kind} ${e.rel} ${e.st.size} -> ${size}`);
        break;
      }
      case 'touch': {
        const e = rng.pick(all);
        const m = newMtime(e.st.mtimeMs / 1000);
        await fsp.lutimes(e.abs, m, m);
        log.push(`${kind} ${e.rel}`);
        break;
      }
      case 'delete-file': {
        const e = rng.pick(files);
        await fsp.unlink(e.abs);
        touchedDirs.add(parentOf(e.rel));
        log.push(`${kind} ${e.rel}`);
        break;
      }
      case 'delete-dir': {
        const e = rng.pick(dirs);
        await fsp.rm(e.abs, { recursive: true, force: true });
        touchedDirs.add(parentOf(e.rel));
        log.push(`${kind} ${e.rel}`);
        break;
      }
      case 'add-file': {
        const rel = await freshRel(rng.pick(dirRels), 'added');
        const size = await writeNewFile(rel);
        log.push(`${kind} ${rel} (${size} bytes)`);
        break;
      }
      case 'add-dir': {
        const rel = await freshRel(rng.pick(dirRels), 'added-dir');
        await fsp.mkdir(abs(rel));
        touchedDirs.add(parentOf(rel));
        await writeNewFile(`${rel}/inside.txt`);
        await fsp.chmod(abs(rel), rng.pick(DIR_MODES));
        log.push(`${kind} ${rel}`);
        break;
      }
      case 'file-to-dir': {
        const e = rng.pick(files);
        await fsp.unlink(e.abs);
        await fsp.mkdir(e.abs);
        touchedDirs.add(parentOf(e.rel));
        await writeNewFile(`${e.rel}/was-a-file.txt`);
        log.push(`${kind} ${e.rel}`);
        break;
      }
      case 'dir-to-file': {
        const e = rng.pick(dirs);
        await fsp.rm(e.abs, { recursive: true, force: true });
        touchedDirs.add(parentOf(e.rel));
        touchedDirs.delete(e.rel);
        for (const d of [...touchedDirs]) if (d.startsWith(`${e.rel}/`)) touchedDirs.delete(d);
        await writeNewFile(e.rel);
        log.push(`${kind} ${e.rel}`);
        break;
      }
      case 'file-to-symlink': {
        const e = rng.pick(files);
        const others = files.filter((f) => f.rel !== e.rel);
        const target = others.length > 0 && rng.bool(0.7) ? path.posix.relative(parentOf(e.rel), rng.pick(others).rel) : 'dangling-after-mutation';
        await fsp.unlink(e.abs);
        await fsp.symlink(target, e.abs);
        const m = newMtime();
        await fsp.lutimes(e.abs, m, m);
        touchedDirs.add(parentOf(e.rel));
        log.push(`${kind} ${e.rel} -> ${target}`);
        break;
      }
      case 'symlink-to-file': {
        const e = rng.pick(links);
        await fsp.unlink(e.abs);
        await writeNewFile(e.rel);
        log.push(`${kind} ${e.rel}`);
        break;
      }
      case 'retarget-symlink': {
        const e = rng.pick(links);
        const old = await fsp.readlink(e.abs);
        const target = `${old}-retargeted`;
        await fsp.unlink(e.abs);
        await fsp.symlink(target, e.abs);
        const m = newMtime();
        await fsp.lutimes(e.abs, m, m);
        touchedDirs.add(parentOf(e.rel));
        log.push(`${kind} ${e.rel} -> ${target}`);
        break;
      }
      case 'chmod': {
        const e = rng.pick(need.chmod as Listed[]);
        const choices: readonly number[] = e.type === 'dir' ? DIR_MODES : FILE_MODES;
        const old = e.st.mode & 0o7777;
        let mode = rng.pick(choices);
        if (mode === old) mode = choices.find((c) => c !== old)!;
        await fsp.chmod(e.abs, mode);
        log.push(`${kind} ${e.rel} ${old.toString(8)} -> ${mode.toString(8)}`);
        break;
      }
    }
  }

  // directories whose entries changed got "now" from the kernel: make that deterministic
  const touched = [...touchedDirs].filter((d) => d !== '').sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? -1 : 1));
  for (const d of touched) {
    let st: fs.Stats;
    try {
      st = await fsp.lstat(abs(d));
    } catch {
      continue;
    }
    if (!st.isDirectory()) continue;
    const m = newMtime();
    await fsp.utimes(abs(d), m, m);
  }
  return log;
}

// ---------------------------------------------------------------- snapshot and diff

export type EntryType = 'file' | 'dir' | 'symlink' | 'other';

export interface Entry {
  type: EntryType;
  /** permission bits (mode & 0o7777); 0o777 for symlinks on Linux */
  mode: number;
  /** bytes for files, target length for symlinks, 0 for directories */
  size: number;
  /** hex sha256 of a regular file's content */
  sha256?: string;
  /** mtime in nanoseconds since the epoch, exactly as lstat reports it */
  mtimeNs: bigint;
  /** mtime in whole milliseconds (truncated from mtimeNs) */
  mtimeMs: number;
  /** symlink target, as stored (never followed) */
  target?: string;
}

export interface SnapshotOptions {
  /** also record root itself under the key '.'; default false */
  includeRoot?: boolean;
  /** leave out these relative paths (and everything below an excluded dir), e.g. p => p === '.tsync' */
  exclude?: (rel: string) => boolean;
}

async function sha256File(abs: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(abs)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function entryOf(st: fs.BigIntStats, type: EntryType): Entry {
  return {
    type,
    mode: Number(st.mode & 0o7777n),
    size: type === 'dir' ? 0 : Number(st.size),
    mtimeNs: st.mtimeNs,
    mtimeMs: Number(st.mtimeNs / 1_000_000n),
  };
}

/**
 * Record every entry under `root` (keys: relative '/'-separated paths, root
 * itself left out unless includeRoot), never following symlinks.
 */
export async function snapshot(root: string, opts: SnapshotOptions = {}): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  if (opts.includeRoot) {
    const st = await fsp.lstat(root, { bigint: true });
    out.set('.', entryOf(st, typeOf(st)));
  }
  const visit = async (relDir: string): Promise<void> => {
    const absDir = relDir === '' ? root : path.join(root, relDir);
    const names = (await fsp.readdir(absDir)).sort();
    for (const name of names) {
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      if (opts.exclude?.(rel)) continue;
      const abs = path.join(root, rel);
      const st = await fsp.lstat(abs, { bigint: true });
      const type = typeOf(st);
      const e = entryOf(st, type);
      if (type === 'file') e.sha256 = await sha256File(abs);
      if (type === 'symlink') e.target = await fsp.readlink(abs);
      out.set(rel, e);
      if (type === 'dir') await visit(rel);
    }
  };
  await visit('');
  return out;
}

export interface DiffOptions {
  /** do not compare directory mtimes; default false */
  ignoreDirMtime?: boolean;
  /** do not compare symlink mtimes; default false (rsync -a keeps them on Linux) */
  ignoreSymlinkMtime?: boolean;
  /** do not compare any mtime; default false */
  ignoreMtime?: boolean;
  /** do not compare permission bits; default false */
  ignoreMode?: boolean;
  /** precision of mtime comparison (truncating); default 'ms' */
  mtimePrecision?: 'ns' | 'us' | 'ms' | 's';
  /** leave these keys out of the comparison */
  ignore?: (rel: string) => boolean;
  /** names of the two sides in messages; default ['a', 'b'] */
  labels?: [string, string];
}

const PRECISION_NS = { ns: 1n, us: 1_000n, ms: 1_000_000n, s: 1_000_000_000n } as const;

function fmtNs(ns: bigint): string {
  const neg = ns < 0n;
  const abs = neg ? -ns : ns;
  const sec = abs / 1_000_000_000n;
  const frac = (abs % 1_000_000_000n).toString().padStart(9, '0');
  const iso = new Date(Number(ns / 1_000_000n)).toISOString();
  return `${neg ? '-' : ''}${sec}.${frac} (${iso})`;
}

/**
 * Human-readable differences between two snapshots, one line per difference,
 * in key order; an empty array means equal. Paths are JSON-quoted so odd
 * names (newlines, trailing spaces) stay readable.
 */
export function diffSnapshots(a: Map<string, Entry>, b: Map<string, Entry>, opts: DiffOptions = {}): string[] {
  const [la, lb] = opts.labels ?? ['a', 'b'];
  const unit = PRECISION_NS[opts.mtimePrecision ?? 'ms'];
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  const out: string[] = [];
  for (const key of keys) {
    if (opts.ignore?.(key)) continue;
    const p = JSON.stringify(key);
    const ea = a.get(key);
    const eb = b.get(key);
    if (!ea || !eb) {
      const e = (ea ?? eb)!;
      out.push(`${p}: only in ${ea ? la : lb} (${e.type})`);
      continue;
    }
    if (ea.type !== eb.type) {
      out.push(`${p}: type ${ea.type} in ${la}, ${eb.type} in ${lb}`);
      continue;
    }
    if (!opts.ignoreMode && ea.type !== 'symlink' && ea.mode !== eb.mode) {
      out.push(`${p}: mode ${ea.mode.toString(8).padStart(4, '0')} in ${la}, ${eb.mode.toString(8).padStart(4, '0')} in ${lb}`);
    }
    if (ea.type === 'file') {
      if (ea.size !== eb.size) out.push(`${p}: size ${ea.size} in ${la}, ${eb.size} in ${lb}`);
      else if (ea.sha256 !== eb.sha256) out.push(`${p}: content differs (same size ${ea.size}; sha256 ${ea.sha256?.slice(0, 12)} vs ${eb.sha256?.slice(0, 12)})`);
    }
    if (ea.type === 'symlink' && ea.target !== eb.target) {
      out.push(`${p}: symlink target ${JSON.stringify(ea.target)} in ${la}, ${JSON.stringify(eb.target)} in ${lb}`);
    }
    const skipMtime = opts.ignoreMtime || (ea.type === 'dir' && opts.ignoreDirMtime) || (ea.type === 'symlink' && opts.ignoreSymlinkMtime);
    if (!skipMtime && ea.mtimeNs / unit !== eb.mtimeNs / unit) {
      out.push(`${p}: ${ea.type} mtime ${fmtNs(ea.mtimeNs)} in ${la}, ${fmtNs(eb.mtimeNs)} in ${lb}`);
    }
  }
  return out;
}

/** tsync's temporaries (.tsync-tmp-*) anywhere below dir, relative to it */
export function tempsUnder(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.tsync-tmp')) found.push(path.relative(dir, path.join(d, e.name)));
      else if (e.isDirectory()) walk(path.join(d, e.name));
    }
  };
  walk(dir);
  return found;
}
