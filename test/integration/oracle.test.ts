// rsync as the oracle: for many seeded random trees, `tsync` must leave the
// destination exactly as `rsync -a` leaves it (names, types, modes, sizes,
// content, mtimes of files, directories and symlinks, link targets, and the
// destination root's own mode and mtime, which rsync copies from "SRC/").
//
// Modes cycle per seed: local (spawned `tsync --server`), push through a
// stdio stand-in rsh (`-e STANDIN host:out/`), pull through the stand-in
// (`-e STANDIN host:src/ out/`).

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { TSYNC_BIN, runTsync, type RunResult } from '../helpers/run.js';
import { requireOrSkip, toolAvailable } from '../helpers/sshd.js';
import { diffSnapshots, makeRandomTree, mutateTree, snapshot, type Entry } from '../helpers/tree.js';

const execFileP = promisify(execFile);

const SEEDS = Array.from({ length: 20 }, (_, i) => 101 + i);
const NO_SLASH_SEEDS = [901, 902, 903];
// smaller than the helper's defaults so 20+ seeds fit in the time budget; still big enough for deltas
const TREE = { files: 45, dirs: 10, bigFiles: 1, bigMaxBytes: 300 * 1024 } as const;
// The source root gets a fixed, old mtime (and a new one after each mutation).
// Reason: rsync 3.5 does not copy the mtime of the root of a transfer when
// that mtime is within about a second of "now" (a fresh `mkdir`; try
// `mkdir s; touch s/a; rsync -a s/ r/; stat -c %y s r`), so a just-made tree
// makes the oracle itself unreliable for '.'. With an old mtime rsync copies it,
// and so must tsync: the root is compared like every other directory.
const ROOT_MTIME_1 = 1_500_000_000.25;
const ROOT_MTIME_2 = 1_650_000_000.5;

type Mode = 'local' | 'push' | 'pull';
const modeOf = (i: number): Mode => (['local', 'push', 'pull'] as const)[i % 3];

/** The stand-in rsh: drop the host, run the rest through sh -c. */
function writeStandin(dir: string): string {
  const p = path.join(dir, 'standin-rsh');
  fs.writeFileSync(p, '#!/bin/sh\nshift\nexec sh -c "$*"\n', { mode: 0o755 });
  return p;
}

async function rsync(args: string[]): Promise<void> {
  await execFileP('rsync', args, { maxBuffer: 16 * 1024 * 1024 });
}

/** tsync SRC DEST in the given mode; SRC and DEST are local paths (trailing slashes kept). */
function tsync(mode: Mode, standin: string, flags: string[], src: string, dest: string): Promise<RunResult> {
  switch (mode) {
    case 'local':
      return runTsync([...flags, src, dest]);
    case 'push':
      return runTsync([...flags, '-e', standin, '--tsync-path', TSYNC_BIN, src, `localhost:${dest}`]);
    case 'pull':
      return runTsync([...flags, '-e', standin, '--tsync-path', TSYNC_BIN, `localhost:${src}`, dest]);
  }
}

function describe(r: RunResult): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? ' TIMED OUT' : ''}\n--- stderr ---\n${r.stderr.slice(0, 2000)}`;
}

/** seconds as a double, exact for sub-second parts that are multiples of 1/512 s (Number(ns) / 1e9 is not) */
const nsToSeconds = (ns: bigint): number => Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;

const snap = (dir: string): Promise<Map<string, Entry>> => snapshot(dir, { includeRoot: true });

/** Compare, reporting at most a screenful of differences. */
function same(t: Test, ref: Map<string, Entry>, out: Map<string, Entry>, what: string): void {
  const d = diffSnapshots(ref, out, { labels: ['rsync', 'tsync'] });
  t.same(d.slice(0, 40), [], `${what}: tsync's tree equals rsync's${d.length > 40 ? ` (${d.length} differences, first 40 shown)` : ''}`);
}

function leftovers(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.tsync-tmp')) found.push(path.join(d, e.name));
      if (e.isDirectory()) walk(path.join(d, e.name));
    }
  };
  walk(dir);
  return found;
}

t.test('rsync is available as the oracle', async (t) => {
  if (!requireOrSkip(t, toolAvailable('rsync'))) return;
  t.pass('rsync found');
});

const haveRsync = toolAvailable('rsync') === null;

for (const [i, seed] of SEEDS.entries()) {
  const mode = modeOf(i);
  t.test(`seed ${seed} (${mode}): initial copy, then mutate + --delete`, { skip: haveRsync ? false : 'rsync missing' }, async (t) => {
    const dir = t.testdir();
    const standin = writeStandin(dir);
    const src = path.join(dir, 'src');
    const ref = path.join(dir, 'ref');
    const out = path.join(dir, 'out');
    await makeRandomTree(src, seed, TREE);
    await fsp.utimes(src, ROOT_MTIME_1, ROOT_MTIME_1);

    await rsync(['-a', `${src}/`, `${ref}/`]);
    const r1 = await tsync(mode, standin, [], `${src}/`, `${out}/`);
    t.equal(r1.code, 0, `first run exits 0: ${describe(r1)}`);
    same(t, await snap(ref), await snap(out), 'initial copy');

    if (i % 4 === 0) {
      // nothing changed: a re-run changes nothing and itemizes nothing
      const before = await snap(out);
      const r2 = await tsync(mode, standin, ['-i'], `${src}/`, `${out}/`);
      t.equal(r2.code, 0, `no-op re-run exits 0: ${describe(r2)}`);
      t.equal(r2.stdout, '', 'no-op re-run itemizes nothing');
      t.same(diffSnapshots(before, await snap(out), { mtimePrecision: 'ns' }), [], 'no-op re-run leaves the tree untouched');
    }

    const log = await mutateTree(src, seed + 1000);
    await fsp.utimes(src, ROOT_MTIME_2, ROOT_MTIME_2);
    t.comment(`mutations: ${log.join('; ')}`);
    await rsync(['-a', '--delete', `${src}/`, `${ref}/`]);
    const r3 = await tsync(mode, standin, ['--delete'], `${src}/`, `${out}/`);
    t.equal(r3.code, 0, `--delete run exits 0: ${describe(r3)}`);
    same(t, await snap(ref), await snap(out), 'after mutateTree + --delete');
    t.same(leftovers(out), [], 'no temporary files left');
  });
}

for (const seed of NO_SLASH_SEEDS) {
  const mode = modeOf(seed);
  t.test(`seed ${seed} (${mode}): SRC without trailing slash lands in DEST/src`, { skip: haveRsync ? false : 'rsync missing' }, async (t) => {
    const dir = t.testdir();
    const standin = writeStandin(dir);
    const src = path.join(dir, 'src');
    const ref = path.join(dir, 'ref');
    const out = path.join(dir, 'out');
    await makeRandomTree(src, seed, { ...TREE, files: 40, bigFiles: 0 });
    // give the source root a distinctive mode and mtime: without the slash they belong to DEST/src
    await fsp.chmod(src, 0o750);
    await fsp.utimes(src, ROOT_MTIME_1, ROOT_MTIME_1);

    await rsync(['-a', src, `${ref}/`]);
    const r = await tsync(mode, standin, [], src, `${out}/`);
    t.equal(r.code, 0, `exit 0: ${describe(r)}`);
    t.same(fs.readdirSync(out), ['src'], 'DEST holds exactly the source directory');
    same(t, await snap(path.join(ref, 'src')), await snap(path.join(out, 'src')), 'no-slash copy');

    await mutateTree(src, seed + 1000);
    await fsp.utimes(src, ROOT_MTIME_2, ROOT_MTIME_2);
    await rsync(['-a', '--delete', src, `${ref}/`]);
    const r2 = await tsync(mode, standin, ['--delete'], src, `${out}/`);
    t.equal(r2.code, 0, `--delete exit 0: ${describe(r2)}`);
    t.same(fs.readdirSync(out), ['src'], 'still exactly the source directory');
    same(t, await snap(path.join(ref, 'src')), await snap(path.join(out, 'src')), 'no-slash after mutate + --delete');
  });
}

for (const mode of ['local', 'push', 'pull'] as const) {
  t.test(`-c (${mode}): same size, same mtime, different content`, { skip: haveRsync ? false : 'rsync missing' }, async (t) => {
    const dir = t.testdir();
    const standin = writeStandin(dir);
    const src = path.join(dir, 'src');
    const ref = path.join(dir, 'ref');
    const out = path.join(dir, 'out');
    await makeRandomTree(src, 4242, { ...TREE, files: 20, bigFiles: 1, oddNames: false });
    await fsp.utimes(src, ROOT_MTIME_1, ROOT_MTIME_1);
    await rsync(['-a', `${src}/`, `${ref}/`]);
    const r0 = await tsync(mode, standin, [], `${src}/`, `${out}/`);
    t.equal(r0.code, 0, `initial copy: ${describe(r0)}`);

    // sneaky edits: flip bytes in place, keep size, restore atime and mtime exactly
    const victims: string[] = [];
    for (const [rel, e] of await snapshot(src)) {
      if (e.type !== 'file' || e.size < 2) continue;
      if (victims.length >= 3 && e.size < 100 * 1024) continue;
      const abs = path.join(src, rel);
      const st = await fsp.stat(abs, { bigint: true });
      await fsp.chmod(abs, 0o644);
      const fh = await fsp.open(abs, 'r+');
      const b = Buffer.alloc(1);
      for (const pos of [0, Math.floor(e.size / 2), e.size - 1]) {
        await fh.read(b, 0, 1, pos);
        b[0] ^= 0x5a;
        await fh.write(b, 0, 1, pos);
      }
      await fh.close();
      await fsp.chmod(abs, Number(st.mode & 0o7777n));
      // utimes with exact seconds + ns: makeRandomTree's sub-second parts are k/512 s, exact as doubles
      await fsp.utimes(abs, nsToSeconds(st.atimeNs), nsToSeconds(st.mtimeNs));
      const after = await fsp.stat(abs, { bigint: true });
      t.equal(after.mtimeNs, st.mtimeNs, `${rel}: mtime restored exactly`);
      victims.push(rel);
      if (victims.length >= 4) break;
    }
    t.ok(victims.length >= 3, `edited ${victims.length} files behind the quick check's back`);

    // without -c: both tools trust size+mtime and leave the old content
    await rsync(['-a', `${src}/`, `${ref}/`]);
    const r1 = await tsync(mode, standin, [], `${src}/`, `${out}/`);
    t.equal(r1.code, 0, `quick-check run: ${describe(r1)}`);
    const refQuick = await snap(ref);
    same(t, refQuick, await snap(out), 'without -c (both keep the stale content)');
    const stale = diffSnapshots(await snap(src), refQuick);
    t.equal(stale.length, victims.length, 'rsync itself skipped exactly the edited files (sanity check of the setup)');

    // with -c: both notice and transfer
    await rsync(['-a', '-c', `${src}/`, `${ref}/`]);
    const r2 = await tsync(mode, standin, ['-c', '-i'], `${src}/`, `${out}/`);
    t.equal(r2.code, 0, `-c run: ${describe(r2)}`);
    same(t, await snap(ref), await snap(out), 'with -c');
    t.same(diffSnapshots(await snap(src), await snap(out)), [], 'with -c the destination equals the source');
    for (const v of victims) t.match(r2.stdout, v, `-i lists ${v}`);
  });
}
