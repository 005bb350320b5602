#!/usr/bin/env node
// Two-way through a vault (`tsync --vault KEY --two-way DIR host:VAULT`) with
// several clients, on the 20,000-file tree of bench/data.mjs. Two parts:
//
// rounds: three clients A, B, C (each its own XDG_STATE_HOME and
//   XDG_CACHE_HOME, as separate machines) keep one folder in step through a
//   vault on the far side of a real sshd on loopback (bench/common.mjs
//   startSshd; tsync over -e/--tsync-path as in bench/vault.mjs), against
//   Unison in the same star: a hub directory on the far side of the same
//   sshd, each client with its own archive directory ($UNISON) syncing with
//   it (ssh://127.0.0.1//path/hub, the options of bench/twoway.mjs), the
//   hub's archives in a directory of its own. One series per tool and run,
//   in a fresh directory; runs alternate which tool goes first and the
//   median of each is reported, with the ratio tsync / Unison.
//     setup     (untimed) A, B, C each a `cp -a` of small/, then A, B, C
//               each sync once, so all three are in step
//     noop      one round: A, B, C each sync once, in that order, nothing
//               changed
//     v2        `rsync -a --delete small-v2/ A/` (untimed; A's .tsync/
//               state kept), then one round: A, B, C each sync once
//   A round's time is the sum of the three clients' wall times. After the
//   setup and each round every client (and Unison's hub) is compared with
//   what it should hold, small/ or small-v2/ (`diff -r`, then
//   `rsync -n -a -i` for file metadata): a fast wrong answer is no result.
//   For tsync the snapshots each round recorded are counted (`vault log`):
//   none expected for noop, one (A's) for v2.
//
// forget: one client pushes N snapshots (default 20) of a work dir into a
//   local vault (plain push). Before snapshot k the work dir becomes small/
//   (k odd) or small-v2/ (k even) by `rsync -a --delete`, and then
//   bench/data.mjs mutate() with seed 1000+k changes it (every mtime
//   touched, 2% of the files edited, 1% deleted, 1% added, each set
//   different), so every snapshot differs and holds data no other one has.
//   Reported: `du -sb` of the vault after the N pushes, after
//   `vault forget --keep-last K` (marks), and after a second forget with the
//   clock 25 h ahead (libfaketime on the tsync process: it deletes the
//   marked packs); the snapshot count from `vault log` at each step; that
//   `vault check --read-data` passes; and that the latest snapshot restores
//   equal to the work dir.
//
// usage: node bench/vault-twoway.mjs [--runs N] [--only rounds,forget]
//          [--snapshots N] [--keep-last K] [--tsync BIN] [--data DIR] [--json FILE]

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DATA, JSON_OUT, ONLY, RUNS, TSYNC as BUILT, ensureData, median, opt, rm, sh, startSshd } from './common.mjs';
import { mutate } from './data.mjs';

const WORK = path.join(DATA, 'vault-twoway');
// --tsync BIN: measure that tsync (e.g. a copy of bin/ and dist/tsync.mjs
// taken before the runs) instead of this worktree's bin/tsync, which a
// concurrent `npm run build` could replace halfway through the runs
const TSYNC = path.resolve(opt('tsync', BUILT));
const tsyncRoot = path.resolve(path.dirname(TSYNC), '..');
const SNAPSHOTS = Number(opt('snapshots', '20'));
const KEEP = Number(opt('keep-last', '5'));
const PARTS = ONLY?.length ? ONLY : ['rounds', 'forget'];
const CLIENTS = ['A', 'B', 'C'];
const SMALL = path.join(DATA, 'small');
const SMALL_V2 = path.join(DATA, 'small-v2');
// bench/twoway.mjs's Unison options
const UNISON_OPTS = ['-batch', '-silent', '-times', '-confirmbigdel=false', '-ignorearchives=false'];
const FAKETIME = { FAKETIME: '+25h', LD_PRELOAD: '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };

const git = (...a) => { try { return execFileSync('git', ['-C', tsyncRoot, ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return null; } };
const commit = git('rev-parse', '--short', 'HEAD') ?? `not a git checkout (${tsyncRoot})`;
const dirty = git('status', '--porcelain', '--', 'lib') ? true : false;
const distSha = () => execFileSync('sha256sum', [path.join(tsyncRoot, 'dist/tsync.mjs')], { encoding: 'utf8' }).slice(0, 16);
const shaAtStart = distSha();
const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
const du = (p) => Number(execFileSync('du', ['-sb', p], { encoding: 'utf8' }).split('\t')[0]);

/** an untimed tsync command whose output is wanted: { status, out } (stdout and stderr) */
function tsyncOut(argv, env) {
  const e = { ...process.env, ...env };
  delete e.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(process.execPath, [TSYNC, ...argv], { encoding: 'utf8', env: e, maxBuffer: 1 << 26 });
  return { status: r.status, out: (r.stdout + r.stderr).trim() };
}

/** the snapshots `vault log` lists (a state and cache of its own, so no client's is touched) */
function snapshots(key, vault, s) {
  const r = tsyncOut(['vault', 'log', '--json', '--vault', key, vault], { XDG_STATE_HOME: path.join(s, 'log-state'), XDG_CACHE_HOME: path.join(s, 'log-cache') });
  if (r.status !== 0) throw new Error(`vault log exited ${r.status}: ${r.out}`);
  return JSON.parse(r.out.slice(r.out.indexOf('{'), r.out.lastIndexOf('}') + 1)).snapshots;
}

/**
 * DIR against REF (tsync's .tsync/ left out): content by `diff -r -q`,
 * then file metadata (mtime, mode, size) by `rsync -n -a -i`; directories'
 * mtimes are counted apart (neither tool is asked to keep them equal).
 * Returns { content: [lines], meta: [lines], dirs: N }.
 */
function compare(ref, dir) {
  const d = spawnSync('diff', ['-r', '-q', '--exclude=.tsync', ref, dir], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const content = d.status === 0 ? [] : (d.stdout + d.stderr).trim().split('\n');
  const r = spawnSync('rsync', ['-n', '-a', '-i', '--delete', '--exclude', '/.tsync/', `${ref}/`, `${dir}/`], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`rsync -n ${ref}/ ${dir}/ exited ${r.status}: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter(Boolean);
  return { content, meta: lines.filter((l) => !l.endsWith('/')), dirs: lines.filter((l) => l.endsWith('/')).length };
}

// ---------------------------------------------------------------- rounds

const ssh = PARTS.includes('rounds') ? await startSshd() : null;
const HOST = ssh?.host;

// Each tool: init(s) makes the shared end (vault or hub), sync(s, c, ok) runs client c once and returns its wall time in ms.
const tools = {
  tsync: {
    env: (s, c) => ({ XDG_STATE_HOME: path.join(s, `${c}.state`), XDG_CACHE_HOME: path.join(s, `${c}.cache`) }),
    init: (s) => sh(process.execPath, [TSYNC, 'keygen', '--vault', path.join(s, 'key')], tools.tsync.env(s, 'keygen')),
    sync: (s, c, ok) =>
      sh(process.execPath, [TSYNC, '--vault', path.join(s, 'key'), '-e', ssh.rsh, '--tsync-path', TSYNC, '--two-way', path.join(s, c), `${HOST}:${path.join(s, 'vault')}`], tools.tsync.env(s, c), ok),
  },
  unison: {
    // the hub's Unison gets sshd's environment: this gives it an archive directory of its own
    init: (s) => {
      fs.mkdirSync(path.join(s, 'hub'));
      fs.writeFileSync(path.join(s, 'hub-server'), `#!/bin/sh\nUNISON=${path.join(s, 'hub.unison')} exec unison "$@"\n`, { mode: 0o755 });
    },
    sync: (s, c, ok) =>
      sh('unison', [path.join(s, c), `ssh://${HOST}/${path.join(s, 'hub')}`, '-sshcmd', 'ssh', '-sshargs', ssh.sshArgs, '-servercmd', path.join(s, 'hub-server'), ...UNISON_OPTS], { UNISON: path.join(s, `${c}.unison`) }, ok),
  },
};

/** A, B, C each sync once, in that order: { ms (sum), perClient: [ms], bytes (ssh's count, all three) } */
function round(tool, s, ok = [0]) {
  const perClient = [];
  let bytes = 0;
  for (const c of CLIENTS) {
    ssh.reset();
    perClient.push(tools[tool].sync(s, c, ok));
    bytes += ssh.bytes() ?? NaN;
  }
  return { ms: perClient.reduce((x, y) => x + y, 0), perClient: perClient.map(Math.round), bytes };
}

/** every client (and Unison's hub) against REF: a list of problems, empty when all are right */
function check(tool, s, ref) {
  const problems = [];
  let dirs = 0;
  for (const c of [...CLIENTS, ...(tool === 'unison' ? ['hub'] : [])]) {
    const r = compare(ref, path.join(s, c));
    dirs += r.dirs;
    if (r.content.length) problems.push(`${c}: ${r.content.length} content differences from ${path.basename(ref)} (${r.content.slice(0, 3).join('; ')})`);
    if (r.meta.length) problems.push(`${c}: ${r.meta.length} file metadata differences from ${path.basename(ref)} (${r.meta.slice(0, 3).join('; ')})`);
  }
  return { ok: problems.length === 0, problems, dirMtimes: dirs };
}

function series(tool, i) {
  const s = path.join(WORK, `${tool}-${i}`);
  rm(s);
  fs.mkdirSync(s, { recursive: true });
  const t = tools[tool];
  t.init(s);
  for (const c of CLIENTS) sh('cp', ['-a', SMALL, path.join(s, c)]);
  const count = () => (tool === 'tsync' ? snapshots(path.join(s, 'key'), path.join(s, 'vault'), s).length : null);
  const out = {};
  try {
    sh('sync', []);
    // Unison's first sync of B and C (files on both sides, no archive yet) may skip and exit 1: the check below says
    out.setup = round(tool, s, [0, 1]);
    out.setupCheck = check(tool, s, SMALL);
    out.setupSnapshots = count();
    sh('sync', []);
    out.noop = round(tool, s);
    out.noopCheck = check(tool, s, SMALL);
    out.noopSnapshots = tool === 'tsync' ? count() - out.setupSnapshots : null;
    sh('rsync', ['-a', '--delete', '--exclude', '/.tsync/', `${SMALL_V2}/`, `${path.join(s, 'A')}/`]);
    sh('sync', []);
    out.v2 = round(tool, s);
    out.v2Check = check(tool, s, SMALL_V2);
    out.v2Snapshots = tool === 'tsync' ? count() - out.setupSnapshots - out.noopSnapshots : null;
  } catch (e) {
    // a failed step is reported as such, and the series ends there
    out.error = String(e.message).split('\n').slice(0, 4).join(' / ');
  }
  rm(s);
  return out;
}

function rounds() {
  const samples = { tsync: [], unison: [] };
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 ? ['tsync', 'unison'] : ['unison', 'tsync'];
    for (const tool of order) {
      const r = series(tool, i);
      samples[tool].push(r);
      const part = (w) => (r[w] ? `${w} ${Math.round(r[w].ms)} ms (${r[w].perClient.join(' + ')}) ${r[w].bytes} B${r[`${w}Check`]?.ok ? '' : ' WRONG'}` : null);
      const snaps = tool === 'tsync' ? `; snapshots: ${r.setupSnapshots} after setup, +${r.noopSnapshots} noop, +${r.v2Snapshots} v2` : '';
      console.error(`run ${i + 1} ${tool}: ${['setup', 'noop', 'v2'].map(part).filter(Boolean).join(', ')}${snaps}${r.error ? `; FAILED: ${r.error}` : ''}`);
      for (const w of ['setup', 'noop', 'v2']) {
        const c = r[`${w}Check`];
        if (c && !c.ok) console.error(`  ${w}: ${c.problems.join(' | ')}`);
      }
    }
  }
  const rows = [];
  for (const w of ['noop', 'v2']) {
    const row = { workload: w, runs: RUNS };
    for (const t of ['tsync', 'unison']) {
      const done = samples[t].filter((r) => r[w]);
      row[t] = {
        ms: done.length ? Math.round(median(done.map((r) => r[w].ms))) : null,
        bytes: done.length ? median(done.map((r) => r[w].bytes)) : null,
        allMs: done.map((r) => Math.round(r[w].ms)),
        perClientMs: done.map((r) => r[w].perClient),
        failed: samples[t].length - done.length,
        wrong: done.filter((r) => !r[`${w}Check`].ok).length,
        ...(t === 'tsync' ? { newSnapshots: done.map((r) => r[`${w}Snapshots`]) } : {}),
      };
    }
    if (row.tsync.ms && row.unison.ms) row.ratio = +(row.tsync.ms / row.unison.ms).toFixed(3);
    rows.push(row);
    const fmt = (t) => `${t} ${row[t].ms ?? '-'} ms [${row[t].allMs.join(', ')}] ${row[t].bytes ?? '-'} B${row[t].failed ? ` ${row[t].failed} FAILED` : ''}${row[t].wrong ? ` ${row[t].wrong} WRONG` : ''}`;
    console.log(`${w.padEnd(5)} round (A, B, C once each): ${fmt('tsync')} | ${fmt('unison')} | tsync/unison time x${row.ratio ?? '-'}`);
  }
  const setup = Object.fromEntries(['tsync', 'unison'].map((t) => [t, samples[t].map((r) => (r.setup ? Math.round(r.setup.ms) : null))]));
  const dirMtimes = Object.fromEntries(['tsync', 'unison'].map((t) => [t, samples[t].map((r) => r.v2Check?.dirMtimes ?? null)]));
  console.log(`setup (untimed in the results; first sync of A, B, C) ms: ${JSON.stringify(setup)}; directory mtimes differing from small-v2 after v2 (all clients): ${JSON.stringify(dirMtimes)}`);
  rows.push({ setupMs: setup, dirMtimesAfterV2: dirMtimes, errors: Object.fromEntries(['tsync', 'unison'].map((t) => [t, samples[t].map((r) => r.error ?? null)])) });
  return rows;
}

// ---------------------------------------------------------------- forget

function forget() {
  const s = path.join(WORK, 'forget');
  rm(s);
  fs.mkdirSync(s, { recursive: true });
  const env = { XDG_STATE_HOME: path.join(s, 'state'), XDG_CACHE_HOME: path.join(s, 'cache') };
  const key = path.join(s, 'key');
  const vault = path.join(s, 'vault');
  const work = path.join(s, 'work');
  sh(process.execPath, [TSYNC, 'keygen', '--vault', key], env);
  sh('cp', ['-a', SMALL, work]);
  const pushes = [];
  for (let k = 1; k <= SNAPSHOTS; k++) {
    sh('rsync', ['-a', '--delete', `${k % 2 ? SMALL : SMALL_V2}/`, `${work}/`]);
    const changed = mutate(work, 1000 + k);
    sh('sync', []);
    const ms = sh(process.execPath, [TSYNC, '--vault', key, `${work}/`, vault], env);
    pushes.push(Math.round(ms));
    console.error(`push ${k} (${k % 2 ? 'small' : 'small-v2'} + ${JSON.stringify(changed)}): ${Math.round(ms)} ms, vault ${du(vault)} B`);
  }
  const steps = [];
  const step = (what, extra = {}) => {
    const row = { what, vaultBytes: du(vault), snapshots: snapshots(key, vault, s).length, ...extra };
    steps.push(row);
    console.log(`${what.padEnd(44)} vault ${String(row.vaultBytes).padStart(11)} B  ${row.snapshots} snapshots${row.output ? `\n    ${row.output.split('\n').join('\n    ')}` : ''}`);
  };
  step(`after ${SNAPSHOTS} pushes`);
  const forgetRun = (more) => {
    const t0 = Date.now();
    const r = tsyncOut(['vault', 'forget', '--vault', key, vault, '--keep-last', String(KEEP)], { ...env, ...more });
    if (r.status !== 0) throw new Error(`vault forget exited ${r.status}: ${r.out}`);
    return { ms: Date.now() - t0, output: r.out };
  };
  step(`after forget --keep-last ${KEEP} (marks)`, forgetRun({}));
  step(`after a second forget, clock +25 h (sweeps)`, forgetRun(FAKETIME));
  const checkRun = tsyncOut(['vault', 'check', '--read-data', '--vault', key, vault], env);
  console.log(`vault check --read-data: exit ${checkRun.status}: ${checkRun.out}`);
  const dest = path.join(s, 'restore');
  fs.mkdirSync(dest);
  const restore = tsyncOut(['--vault', key, vault, `${dest}/`], env);
  const cmp = restore.status === 0 ? compare(work, dest) : null;
  const restoreOk = restore.status === 0 && cmp.content.length === 0 && cmp.meta.length === 0;
  console.log(`restore of the latest snapshot: exit ${restore.status}; ${restoreOk ? 'equal to the work dir' : `DIFFERS: ${restore.out} ${cmp ? [...cmp.content, ...cmp.meta].slice(0, 5).join('; ') : ''}`}${cmp?.dirs ? ` (${cmp.dirs} directory mtimes differ)` : ''}`);
  console.log(`push times ms: ${pushes.join(', ')}`);
  rm(s);
  return { snapshots: SNAPSHOTS, keepLast: KEEP, pushMs: pushes, steps, check: { status: checkRun.status, output: checkRun.out }, restoreOk };
}

// ---------------------------------------------------------------- main

ensureData('small');
if (!fs.existsSync(SMALL_V2)) throw new Error(`${SMALL_V2} missing: run node bench/data.mjs tree ${DATA}`);
fs.mkdirSync(WORK, { recursive: true });
console.log(`tsync ${TSYNC}, commit ${commit}${dirty ? ' (lib/ has uncommitted changes)' : ''}, dist/tsync.mjs sha256 ${shaAtStart}${ssh ? `; transport: ssh to ${HOST}:${ssh.port}; wire bytes are ssh's client-side count, both directions` : ''}`);
const load = { start: uptime() };
console.log(`load at start: ${load.start}`);
const results = {};
if (PARTS.includes('rounds')) {
  results.rounds = rounds();
  load.afterRounds = uptime();
  console.log(`load after rounds: ${load.afterRounds}`);
}
if (PARTS.includes('forget')) results.forget = forget();
load.end = uptime();
console.log(`load at end: ${load.end}`);
if (distSha() !== shaAtStart) console.log(`dist/tsync.mjs CHANGED during the runs (now ${distSha()}): the tsync figures mix two builds`);
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), tsync: TSYNC, commit, dirty, distSha: shaAtStart, runs: RUNS, load, results }, null, 2) + '\n');
