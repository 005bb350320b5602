#!/usr/bin/env node
// Two-way benchmark: tsync --two-way against Unison on the 20,000-file tree
// of bench/data.mjs, both over the same stdio pipe
// (bench/count-rsh.mjs, which also counts the bytes). Runs
// alternate between the tools; medians are reported as tsync / Unison.
//
// usage: node bench/twoway.mjs [--runs N] [--only NAME,...] [--data DIR] [--json FILE]
// workloads: merge (first run, one side empty), noop (re-run, nothing
// changed; target 0.5), changed (re-run after one side became small-v2)

import fs from 'node:fs';
import path from 'node:path';
import { COUNT, DATA, JSON_OUT, ONLY, RUNS, TSYNC, ensureData, median, rm, sh } from './common.mjs';

const WORK = path.join(DATA, 'work-twoway');
// Unison runs its ssh command as `CMD HOST -e none unison -server ...`: drop the -e none
const UNISON_RSH = path.join(WORK, 'unison-rsh');

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

ensureData('small');
if (!fs.existsSync(path.join(DATA, 'small-v2'))) throw new Error(`${DATA}/small-v2 missing: run node bench/data.mjs tree ${DATA}`);
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
