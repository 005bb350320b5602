#!/usr/bin/env node
// Two-way benchmark: tsync --two-way against Unison on the 20,000-file tree
// of ../shared/bench/mkdata.mjs, both over the same stdio pipe
// (../shared/bench/count-rsh.mjs, which also counts the bytes). Runs
// alternate between the tools; medians are reported as tsync / Unison.
//
// usage: node bench/twoway.mjs [--runs N] [--only NAME,...] [--data DIR] [--json FILE]
// workloads: merge (first run, one side empty), noop (re-run, nothing
// changed; target 0.5), changed (re-run after one side became small-v2)

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const shared = path.resolve(root, '../shared/bench');
const TSYNC = path.join(root, 'bin/tsync');
const COUNT = path.join(shared, 'count-rsh.mjs');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt('runs', '3'));
const ONLY = opt('only', '')?.split(',').filter(Boolean);
const DATA = path.resolve(opt('data', process.env.TSYNC_BENCH_DIR || '/tmp/tsync-bench'));
const JSON_OUT = opt('json', '');
const WORK = path.join(DATA, 'work-twoway');
// Unison runs its ssh command as `CMD HOST -e none unison -server ...`: drop the -e none
const UNISON_RSH = path.join(WORK, 'unison-rsh');

function sh(cmd, argv, env = {}, ok = [0]) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!ok.includes(r.status)) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

function ensureData() {
  const marker = path.join(DATA, '.ready-small');
  if (fs.existsSync(marker)) return;
  console.error(`generating the small workload in ${DATA} (once)...`);
  fs.mkdirSync(DATA, { recursive: true });
  sh(process.execPath, [path.join(shared, 'mkdata.mjs'), DATA, 'small']);
  fs.writeFileSync(marker, '');
}

const rm = (p) => fs.rmSync(p, { recursive: true, force: true });

/** one timed run; returns { ms, bytes } */
function runTool(tool, a, b) {
  const countFile = path.join(WORK, 'count');
  rm(countFile);
  const env = { COUNT_FILE: countFile, UNISON: path.join(WORK, 'unison-home') };
  const ms =
    tool === 'unison'
      ? sh('unison', [a, `ssh://bench/${b}`, '-sshcmd', UNISON_RSH, '-servercmd', 'unison', '-batch', '-silent', '-times', '-confirmbigdel=false', '-ignorearchives=false'], env, [0, 1])
      : sh(process.execPath, [TSYNC, '--two-way', '-e', COUNT, '--tsync-path', TSYNC, a, `bench:${b}`], env);
  const bytes = fs
    .readFileSync(countFile, 'utf8')
    .trim()
    .split('\n')
    .reduce((sum, line) => sum + line.split(/\s+/).map(Number).reduce((x, y) => x + y, 0), 0);
  return { ms, bytes };
}

function pairFor(tool, name) {
  return { a: path.join(WORK, `${name}-${tool}-a`), b: path.join(WORK, `${name}-${tool}-b`) };
}

function fresh(tool, name) {
  const p = pairFor(tool, name);
  rm(p.a);
  rm(p.b);
  if (tool === 'unison') rm(path.join(WORK, 'unison-home'));
  fs.mkdirSync(p.b);
  return p;
}

/** A and B both hold the tree and have synced once (untimed) */
function synced(tool, name) {
  const p = fresh(tool, name);
  sh('cp', ['-a', path.join(DATA, 'small'), p.a]);
  runTool(tool, p.a, p.b);
  return p;
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const workloads = [
  {
    name: 'merge',
    what: 'first run: the 20,000-file tree on one side, nothing on the other',
    target: null,
    prepare: (tool) => {
      const p = fresh(tool, 'merge');
      sh('cp', ['-a', path.join(DATA, 'small'), p.a]);
      return p;
    },
  },
  {
    name: 'noop',
    what: 're-run with nothing changed',
    target: 0.5,
    prepare: (tool) => {
      const p = pairFor(tool, 'noop');
      if (!fs.existsSync(`${p.a}.ready`)) {
        synced(tool, 'noop');
        fs.writeFileSync(`${p.a}.ready`, '');
      }
      return p;
    },
  },
  {
    name: 'changed',
    what: 're-run after one side became small-v2 (mtimes touched, 2% edited, 1% deleted, 1% added)',
    target: null,
    prepare: (tool) => {
      const p = synced(tool, 'changed');
      sh('rsync', ['-a', '--delete', '--exclude', '/.tsync/', `${path.join(DATA, 'small-v2')}/`, `${p.a}/`]);
      return p;
    },
  },
];

ensureData();
if (!fs.existsSync(path.join(DATA, 'small-v2'))) throw new Error(`${DATA}/small-v2 missing: run ../shared/bench/mkdata.mjs ${DATA} small`);
fs.mkdirSync(WORK, { recursive: true });
fs.writeFileSync(UNISON_RSH, `#!/bin/sh\nhost="$1"; shift\nwhile [ "$1" = "-e" ]; do shift 2; done\nexec ${process.execPath} ${COUNT} "$host" "$@"\n`, { mode: 0o755 });
const results = [];
for (const w of workloads) {
  if (ONLY?.length && !ONLY.includes(w.name)) continue;
  const samples = { unison: [], tsync: [] };
  const bytes = { unison: 0, tsync: 0 };
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 ? ['tsync', 'unison'] : ['unison', 'tsync'];
    for (const tool of order) {
      const p = w.prepare(tool);
      sh('sync', []);
      const r = runTool(tool, p.a, p.b);
      samples[tool].push(r.ms);
      bytes[tool] = r.bytes;
    }
  }
  const un = median(samples.unison);
  const ts = median(samples.tsync);
  const row = { workload: w.name, what: w.what, runs: RUNS, unisonMs: Math.round(un), tsyncMs: Math.round(ts), ratio: +(ts / un).toFixed(3), target: w.target, met: w.target === null ? null : ts / un <= w.target, unisonBytes: bytes.unison, tsyncBytes: bytes.tsync };
  results.push(row);
  console.log(`${w.name.padEnd(8)} unison ${String(row.unisonMs).padStart(6)} ms  tsync ${String(row.tsyncMs).padStart(6)} ms  time x${row.ratio.toFixed(2)}${w.target ? ` (target <= ${w.target})${row.met ? '' : ' NOT MET'}` : ''}  wire bytes unison ${row.unisonBytes} tsync ${row.tsyncBytes}`);
}
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), runs: RUNS, results }, null, 2) + '\n');
