// Shared by the moves tests (issue 17): scenarios, the one-way check
// against rsync on a copy, and the two-way check. See
// test/integration/moves.test.ts, moves-options.test.ts and
// moves-twoway.test.ts.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { TSYNC_BIN, runTsync, type RunResult } from './run.js';
import { diffSnapshots, snapshot } from './tree.js';

const execFileP = promisify(execFile);
export const MB = 1_000_000;

export type Mode = 'local' | 'push' | 'pull';

export interface Summary {
  exitCode: number;
  counts: Record<string, number>;
  bytes: { total: number; literal: number; matched: number; sent: number; received: number };
}

const TOOLS = fs.mkdtempSync('/tmp/tsync-moves-tools-');
t.teardown(() => fs.rmSync(TOOLS, { recursive: true, force: true }));
export const STANDIN = path.join(TOOLS, 'standin-rsh');
fs.writeFileSync(STANDIN, '#!/bin/sh\nshift\nexec sh -c "$*"\n', { mode: 0o755 });

export function describe(r: RunResult): string {
  return `exit ${r.code}; stdout ${JSON.stringify(r.stdout.slice(0, 600))}; stderr ${JSON.stringify(r.stderr.slice(0, 1500))}`;
}

/** tsync [flags] SRC DEST in a mode (rsh: an -e command for push and pull, the stand-in unless given) */
export function tsync(mode: Mode, flags: string[], src: string, dest: string, rsh: string[] = ['-e', STANDIN, '--tsync-path', TSYNC_BIN]): Promise<RunResult> {
  if (mode === 'local') return runTsync([...flags, src, dest]);
  return runTsync(mode === 'push' ? [...flags, ...rsh, src, `127.0.0.1:${dest}`] : [...flags, ...rsh, `127.0.0.1:${src}`, dest]);
}

export function summary(t: Test, r: RunResult): Summary {
  t.equal(r.code, 0, `exit 0${r.code === 0 ? '' : ` (${describe(r)})`}`);
  try {
    return JSON.parse(r.stdout) as Summary;
  } catch {
    t.fail(`--json printed no JSON: ${describe(r)}`);
    return { exitCode: -1, counts: {}, bytes: { total: NaN, literal: NaN, matched: NaN, sent: NaN, received: NaN } };
  }
}

export const wire = (s: Summary) => s.bytes.sent + s.bytes.received;

export async function rsync(args: string[]): Promise<string> {
  return (await execFileP('rsync', args, { maxBuffer: 16 << 20 })).stdout;
}

export async function same(t: Test, a: string, b: string, what: string, o: { ignoreDirMtime?: boolean } = {}): Promise<void> {
  const skip = (rel: string) => rel === '.tsync' || rel.startsWith('.tsync/');
  const d = diffSnapshots(await snapshot(a, { exclude: skip }), await snapshot(b, { exclude: skip }), { labels: [path.basename(a), path.basename(b)], ...o });
  t.same(d.slice(0, 20), [], `${what}${d.length > 20 ? ` (${d.length} differences)` : ''}`);
}

/** a file of random bytes with a fixed old mtime */
export async function put(p: string, size: number, mtime = 1_600_000_000): Promise<Buffer> {
  await fsp.mkdir(path.dirname(p), { recursive: true });
  const data = randomBytes(size);
  await fsp.writeFile(p, data);
  await fsp.utimes(p, mtime, mtime);
  return data;
}

export interface Scenario {
  name: string;
  build(src: string): Promise<void>;
  /** the change to SRC; returns the bytes that moved */
  change(src: string): Promise<number>;
  /** flags for the second run, both tools (default --delete) */
  flags?: string[];
}

export const SCENARIOS: Scenario[] = [
  {
    // 25 files, as many as a 100 MB one of 4 MB photos (the wire cost goes by files): 1 MB each keeps the suite quick
    name: 'a 25 MB directory renamed',
    build: async (src) => {
      for (let i = 0; i < 25; i++) await put(path.join(src, 'photos', 'y2024', `img${i}.raw`), 1 * MB);
      await put(path.join(src, 'other', 'keep.txt'), 1000);
    },
    change: async (src) => {
      await fsp.rename(path.join(src, 'photos', 'y2024'), path.join(src, 'photos', '2024'));
      return 25 * MB;
    },
  },
  {
    name: 'a file moved between directories',
    build: async (src) => {
      await put(path.join(src, 'a', 'report.pdf'), 3 * MB);
      await put(path.join(src, 'b', 'other.bin'), 2 * MB);
    },
    change: async (src) => {
      await fsp.rename(path.join(src, 'a', 'report.pdf'), path.join(src, 'b', 'report.pdf'));
      return 3 * MB;
    },
  },
  {
    name: 'a file renamed and edited goes as a delta against the old name',
    build: async (src) => {
      await put(path.join(src, 'doc', 'draft-1.db'), 8 * MB);
    },
    change: async (src) => {
      const to = path.join(src, 'doc', 'final.db');
      await fsp.rename(path.join(src, 'doc', 'draft-1.db'), to);
      const fd = await fsp.open(to, 'r+');
      await fd.write(Buffer.from('an edit in the middle'), 0, 21, 4 * MB);
      await fd.close();
      await fsp.utimes(to, 1_650_000_000, 1_650_000_000);
      return 8 * MB;
    },
  },
  {
    name: 'two files swapped',
    build: async (src) => {
      await put(path.join(src, 'left.iso'), 3 * MB);
      await put(path.join(src, 'right.iso'), 2 * MB, 1_600_000_100);
    },
    change: async (src) => {
      const tmp = path.join(src, 'swap.tmp');
      await fsp.rename(path.join(src, 'left.iso'), tmp);
      await fsp.rename(path.join(src, 'right.iso'), path.join(src, 'left.iso'));
      await fsp.rename(tmp, path.join(src, 'right.iso'));
      return 5 * MB;
    },
  },
  {
    name: 'a directory renamed, without --delete (the old one stays: copies, made here)',
    flags: [],
    build: async (src) => {
      for (let i = 0; i < 4; i++) await put(path.join(src, 'd1', `f${i}`), 2 * MB);
    },
    change: async (src) => {
      await fsp.rename(path.join(src, 'd1'), path.join(src, 'd2'));
      return 8 * MB;
    },
  },
  {
    name: 'a file renamed, with --backup-dir (the old name is kept there)',
    flags: ['--delete', '--backup-dir', '../bak'],
    build: async (src) => {
      await put(path.join(src, 'x', 'old-name.bin'), 3 * MB);
    },
    change: async (src) => {
      await fsp.rename(path.join(src, 'x', 'old-name.bin'), path.join(src, 'x', 'new-name.bin'));
      return 3 * MB;
    },
  },
];

/** rsync's flags for the same run: --backup-dir implies --backup in tsync */
export const rsyncFlags = (flags: string[]) => ['-a', ...(flags.includes('--backup-dir') ? ['--backup'] : []), ...flags];
/** itemized lines, the root's own line aside (rsync leaves it out when only the root's time would change) */
export const lines = (out: string) => out.split('\n').filter((l) => l !== '' && !l.endsWith(' ./')).sort();

/**
 * One scenario in one mode: tsync (in sb/t) and rsync (the oracle, in
 * sb/r) from the same state, then the same change. The run is measured
 * (--json); -n -i before it must say what rsync -n -i says.
 */
export async function oneWay(t: Test, s: Scenario, mode: Mode, o: { rsh?: string[]; itemizeRealRun?: boolean } = {}): Promise<void> {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 't', 'dst');
  const ref = path.join(sb, 'r', 'dst');
  for (const d of ['t', 'r', 'twin']) await fsp.mkdir(path.join(sb, d));
  await s.build(src);
  t.equal((await tsync(mode, [], `${src}/`, `${dst}/`, o.rsh)).code, 0, 'first run');
  await rsync(['-a', `${src}/`, `${ref}/`]);
  const moved = await s.change(src);
  const flags = s.flags ?? ['--delete'];
  const dry = await tsync(mode, [...flags, '-n', '-i'], `${src}/`, `${dst}/`, o.rsh);
  t.equal(dry.code, 0, `-n -i: exit 0${dry.code === 0 ? '' : ` (${describe(dry)})`}`);
  t.same(lines(dry.stdout), lines(await rsync([...rsyncFlags(flags), '-n', '-i', `${src}/`, `${ref}/`])), '-n -i: the lines rsync -n -i prints');
  if (o.itemizeRealRun) {
    // a twin of the destination, for the real run's -i (--json prints no lines)
    const twin = path.join(sb, 'twin', 'dst');
    await rsync(['-a', `${dst}/`, `${twin}/`]);
    const r = await tsync(mode, [...flags, '-i'], `${src}/`, `${twin}/`, o.rsh);
    t.equal(r.code, 0, `-i: exit 0${r.code === 0 ? '' : ` (${describe(r)})`}`);
    t.same(lines(r.stdout), lines(dry.stdout), '-i of the real run: the lines -n -i printed');
  }
  const sum = summary(t, await tsync(mode, [...flags, '--json'], `${src}/`, `${dst}/`, o.rsh));
  t.ok(wire(sum) <= moved / 100, `${wire(sum)} bytes crossed the wire for ${moved} bytes moved (at most 1%)`);
  t.ok(sum.bytes.matched >= moved * 0.99, `bytes.matched ${sum.bytes.matched}: made from what the receiver had`);
  await rsync([...rsyncFlags(flags), `${src}/`, `${ref}/`]);
  await same(t, dst, ref, 'the destination is what rsync makes of it');
  if (o.itemizeRealRun) await same(t, path.join(sb, 'twin', 'dst'), ref, 'the -i run\'s destination too');
  // directories made in the backup directory get the time they were made, by either tool
  if (flags.includes('--backup-dir')) await same(t, path.join(sb, 't', 'bak'), path.join(sb, 'r', 'bak'), 'the backup directory is what rsync keeps', { ignoreDirMtime: true });
  t.same(fs.readdirSync(dst, { recursive: true }).filter((n) => String(n).includes('.tsync-')), [], 'no temporary left');
}


/**
 * Two-way: A and B in sync, then a directory renamed on one side, then on
 * the other, then a file renamed on one side while the other edits it.
 * order: which replica the command names first (the client); rsh: B is
 * reached through it (else both are local paths).
 */
export async function twoWay(t: Test, order: 'A B' | 'B A', rsh?: string[]): Promise<void> {
  const sb = t.testdir();
  const A = path.join(sb, 'A');
  const B = path.join(sb, 'B');
  const run = (flags: string[]) => {
    const b = rsh ? `127.0.0.1:${B}` : B;
    return runTsync(['--two-way', ...flags, ...(rsh ?? []), ...(order === 'A B' ? [A, b] : [b, A])]);
  };
  const moved = 30 * MB;
  for (let i = 0; i < 10; i++) await put(path.join(A, 'd1', `f${i}.bin`), 3 * MB);
  await put(path.join(A, 'notes.txt'), 500);
  t.equal((await run([])).code, 0, 'first run: B gets everything');
  await same(t, A, B, 'A and B equal after the first run');

  await fsp.rename(path.join(A, 'd1'), path.join(A, 'd2'));
  let sum = summary(t, await run(['--json']));
  t.ok(wire(sum) <= moved / 100, `renamed on A: ${wire(sum)} bytes crossed the wire for ${moved} moved (at most 1%)`);
  await same(t, A, B, 'renamed on A: B has the new name');
  t.notOk(fs.existsSync(path.join(B, 'd1')), 'the old name is gone on B');

  await fsp.rename(path.join(B, 'd2'), path.join(B, 'd3'));
  await fsp.rename(path.join(B, 'notes.txt'), path.join(B, 'd3', 'notes.txt'));
  sum = summary(t, await run(['--json']));
  t.ok(wire(sum) <= moved / 100, `renamed on B: ${wire(sum)} bytes crossed the wire for ${moved} moved (at most 1%)`);
  await same(t, A, B, 'renamed on B: A has the new name');
  t.notOk(fs.existsSync(path.join(A, 'd2')), 'the old name is gone on A');

  // the conflict rules hold: a rename on A, an edit of the old name on B: the edit is not lost
  const before = await fsp.readFile(path.join(A, 'd3', 'f0.bin'));
  await fsp.rename(path.join(A, 'd3', 'f0.bin'), path.join(A, 'd3', 'g0.bin'));
  await fsp.appendFile(path.join(B, 'd3', 'f0.bin'), 'edited on B');
  const edited = await fsp.readFile(path.join(B, 'd3', 'f0.bin'));
  t.equal((await run([])).code, 0, 'rename on A, edit on B: exit 0');
  // both sides changed d3: its own mtime ends as each side left it, with or without moves (TSYNC_TEST_NO_CAPS=moves shows the same)
  await same(t, A, B, 'A and B equal', { ignoreDirMtime: true });
  for (const side of [A, B]) {
    t.ok((await fsp.readFile(path.join(side, 'd3', 'g0.bin'))).equals(before), `${path.basename(side)}: the renamed file has its content`);
    t.ok((await fsp.readFile(path.join(side, 'd3', 'f0.bin'))).equals(edited), `${path.basename(side)}: B's edit of the old name survives`);
    t.same(fs.readdirSync(path.join(side, '.tsync')).filter((n) => n.startsWith('moves-')), [], `${path.basename(side)}: nothing left set aside`);
  }
}



