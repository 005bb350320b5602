// Fault runs for the real binary: a seeded old tree (what the destination
// holds) and new tree (the source), the relay of test/helpers/relay.mjs as
// -e, and the invariants every faulty run must keep:
//
//   1. it ends (within the test's time limit, --timeout for a stall);
//   2. its exit code is documented (never 70), stderr lines all "tsync:",
//      no stack trace;
//   3. every destination path is the old or the new version of itself (by
//      type and content), so nothing half-written sits under a final name
//      and no temporary survives under a name that could be synced;
//   4. exit 0 only with the destination equal to the source;
//   5. no temporary file at all once the server has exited (unless the
//      client was SIGKILLed while receiving: then only reserved names), and
//      nothing done to the destination after the session failed;
//   6. a clean re-run converges: exit 0, destination equal to the source,
//      no temporary left.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { TSYNC_BIN, runTsync, type RunResult } from './run.js';
import { diffSnapshots, makeRandomTree, mutateTree, snapshot, type Entry } from './tree.js';
import { describe, tempsUnder } from './hostile-case.js';

export const RELAY = fileURLToPath(new URL('./relay.mjs', import.meta.url));

export type Direction = 'pull' | 'push';

export interface World {
  dir: string;
  /** the destination's starting state, copied afresh for every run */
  old: string;
  /** the source */
  src: string;
  OLD: Map<string, Entry>;
  NEW: Map<string, Entry>;
  /** drops the host argument and runs the rest: ssh's stand-in */
  standin: string;
}

export async function makeWorld(dir: string, seed: number): Promise<World> {
  const old = path.join(dir, 'old');
  const src = path.join(dir, 'src');
  await makeRandomTree(old, seed, { files: 30, dirs: 6, bigFiles: 2, bigMaxBytes: 400 * 1024, symlinks: 4, emptyDirs: 1, oddNames: false });
  fs.cpSync(old, src, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  await mutateTree(src, seed + 1, { ops: 14 });
  // one big file edited in the middle, so a delta travels too
  const big = [...(await snapshot(src)).entries()].find(([, e]) => e.type === 'file' && e.size > 100 * 1024);
  if (big) {
    const p = path.join(src, big[0]);
    const fd = fs.openSync(p, 'r+');
    fs.writeSync(fd, Buffer.from('an edit in the middle of a big file'), 0, undefined, Math.floor(big[1].size / 2));
    fs.closeSync(fd);
    fs.utimesSync(p, 1_650_000_000, 1_650_000_000);
  }
  const standin = path.join(dir, 'standin');
  fs.writeFileSync(standin, '#!/bin/sh\nshift\nexec sh -c "$*"\n', { mode: 0o755 });
  return { dir, old, src, OLD: await snapshot(old), NEW: await snapshot(src), standin };
}

/** a fresh copy of the old state to run into */
export function freshDest(w: World, name: string): string {
  const dst = path.join(w.dir, name);
  fs.rmSync(dst, { recursive: true, force: true });
  fs.cpSync(w.old, dst, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  return dst;
}

let logs = 0;

/**
 * The -e command: the relay with these options in front of the stand-in,
 * and the relay's log, which appears when the server has exited.
 */
export function relayed(w: World, relayOpts: string[]): { rsh: string; log: string } {
  const log = path.join(w.dir, `relay-${++logs}.log`);
  return { rsh: ['env', '-u', 'NODE_OPTIONS', process.execPath, RELAY, '--log', log, ...relayOpts, w.standin].join(' '), log };
}

/** Wait (up to ms) for the relay's log: the server behind it has exited, whatever it was doing is done. */
export async function serverGone(log: string, ms = 15_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!fs.existsSync(log) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return fs.existsSync(log);
}

export function run(w: World, dir: Direction, dst: string, rsh: string, extra: string[] = []): Promise<RunResult> {
  const ends = dir === 'pull' ? [`localhost:${w.src}/`, `${dst}/`] : [`${w.src}/`, `localhost:${dst}/`];
  return runTsync(['--delete', '-e', rsh, '--tsync-path', TSYNC_BIN, ...extra, ...ends], { timeoutMs: 45_000 });
}

export interface RelayLog {
  up: number;
  down: number;
  /** where the first frames end, as stream offsets */
  upframes: number[];
  downframes: number[];
  /** frame payload bytes each way, and where the first frames end counted in them */
  payload: { up: number; down: number; upframes: number[]; downframes: number[] };
}

/** The relay's --log. */
export function readLog(file: string): RelayLog {
  const text = fs.readFileSync(file, 'utf8');
  const line = (k: string) => new RegExp(`^${k} (.*)$`, 'm').exec(text)?.[1] ?? '';
  const list = (k: string) => line(k).split(',').filter(Boolean).map(Number);
  const [up, down] = /^up (\d+) down (\d+)$/m.exec(text)?.slice(1).map(Number) ?? [NaN, NaN];
  const [pUp, pDown] = /^payload up (\d+) down (\d+)$/m.exec(text)?.slice(1).map(Number) ?? [NaN, NaN];
  return { up, down, upframes: list('upframes'), downframes: list('downframes'), payload: { up: pUp, down: pDown, upframes: list('uppayloadframes'), downframes: list('downpayloadframes') } };
}

const sameVersion = (a: Entry | undefined, b: Entry): boolean =>
  a !== undefined && a.type === b.type && (a.type !== 'file' || a.sha256 === b.sha256) && (a.type !== 'symlink' || a.target === b.target);

const reserved = (rel: string) => /(^|\/)\.tsync-(tmp|partial)-[^/]*$/.test(rel);

/** what a faulty run may end with: a cut in the greeting looks like a peer that never started (5) */
export const DOCUMENTED = [0, 2, 3, 5, 10, 12, 20, 23, 30];

/** Invariants 1-5 for one faulty run through the relay (log: its --log, written when the server is gone). */
export async function checkRun(t: Test, w: World, dst: string, r: RunResult, log: string, o: { tempsAllowed?: boolean; codes?: number[] } = {}): Promise<void> {
  t.notOk(r.timedOut, `it ended by itself (${describe(r)})`);
  t.ok(await serverGone(log), 'the server exited too');
  if (r.signal !== 'SIGKILL') {
    t.ok((o.codes ?? DOCUMENTED).includes(r.code ?? -1), `exit ${r.code} is one of ${(o.codes ?? DOCUMENTED).join(', ')} (${describe(r)})`);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    t.same(lines.filter((l) => !l.startsWith('tsync:')), [], 'every stderr line starts with "tsync:"');
    t.notMatch(r.stderr, /^\s+at |internal error/m, 'no stack trace, no internal error');
  }
  const now = await snapshot(dst);
  const bad: string[] = [];
  for (const [rel, e] of now) {
    // tsync's own state at the root: a receiving client killed outright leaves its lock there (the next run takes it over as stale)
    if (rel === '.tsync' || rel.startsWith('.tsync/')) {
      if (r.signal !== 'SIGKILL') bad.push(`${rel}: state left behind by a run that ended by itself`);
      continue;
    }
    if (reserved(rel)) {
      if (!o.tempsAllowed) bad.push(`${rel}: a temporary left behind`);
      continue;
    }
    if (!sameVersion(w.OLD.get(rel), e) && !sameVersion(w.NEW.get(rel), e)) bad.push(`${rel}: neither the old nor the new version (${e.type}${e.sha256 ? ` ${e.sha256.slice(0, 12)}` : ''})`);
  }
  t.same(bad.slice(0, 20), [], 'every destination path is its old or its new version');
  if (r.code === 0) t.same(diffSnapshots(w.NEW, now, { labels: ['source', 'destination'] }).slice(0, 20), [], 'exit 0: the destination equals the source');
}

/** Invariant 6: a clean re-run converges. */
export async function checkRerun(t: Test, w: World, dir: Direction, dst: string): Promise<void> {
  const r = await run(w, dir, dst, w.standin);
  t.equal(r.code, 0, `a clean re-run succeeds (${describe(r)})`);
  t.same(tempsUnder(dst), [], 'no temporary left after the re-run');
  t.same(diffSnapshots(w.NEW, await snapshot(dst), { labels: ['source', 'destination'] }).slice(0, 20), [], 'converged: the destination equals the source');
}
