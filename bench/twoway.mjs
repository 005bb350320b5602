#!/usr/bin/env node
// Two-way benchmark: tsync --two-way against Unison on the 20,000-file tree
// of bench/data.mjs, both over the same stdio pipe
// (bench/count-rsh.mjs, which also counts the bytes), or with --ssh over
// real ssh to an sshd started for the run. Runs
// alternate between the tools; medians are reported as tsync / Unison.
//
// usage: node bench/twoway.mjs [--runs N] [--only NAME,...] [--data DIR] [--json FILE] [--ssh]
// workloads: merge (first run, one side empty), noop (re-run, nothing
// changed; target 0.5), changed (re-run after one side became small-v2)

import fs from 'node:fs';
import path from 'node:path';
import { COUNT, DATA, JSON_OUT, ONLY, RUNS, SSH, TSYNC, ensureData, median, rm, sh, startSshd } from './common.mjs';

const WORK = path.join(DATA, 'work-twoway');
// Unison runs its ssh command as `CMD HOST -e none unison -server ...`: drop the -e none
const UNISON_RSH = path.join(WORK, 'unison-rsh');
// Over ssh the Unison server gets sshd's environment, not ours: this sets its
// archive directory to the client's, as the pipe does by inheritance, so that
// fresh() clears both sides' archives
const UNISON_SERVER = path.join(WORK, 'unison-server');
const UNISON_HOME = path.join(WORK, 'unison-home');
const ssh = SSH ? await startSshd() : null;

/** one timed run; returns { ms, bytes } */
function runTool(tool, a, b) {
  const countFile = path.join(WORK, 'count');
  rm(countFile);
  ssh?.reset();
  const env = { COUNT_FILE: countFile, UNISON: UNISON_HOME };
  const how =
    tool === 'unison'
      ? ssh
        ? [`ssh://${ssh.host}/${b}`, '-sshcmd', 'ssh', '-sshargs', ssh.sshArgs, '-servercmd', UNISON_SERVER]
        : [`ssh://bench/${b}`, '-sshcmd', UNISON_RSH, '-servercmd', 'unison']
      : ssh
        ? ['-e', ssh.rsh, '--tsync-path', TSYNC, a, `${ssh.host}:${b}`]
        : ['-e', COUNT, '--tsync-path', TSYNC, a, `bench:${b}`];
  const ms =
    tool === 'unison'
      ? sh('unison', [a, ...how, '-batch', '-silent', '-times', '-confirmbigdel=false', '-ignorearchives=false'], env, [0, 1])
      : sh(process.execPath, [TSYNC, '--two-way', ...how], env);
  if (ssh) return { ms, bytes: ssh.bytes() };
  const bytes = fs
    .readFileSync(countFile, 'utf8')
    .trim()
    .split('\n')
    .reduce((sum, line) => sum + line.split(/\s+/).map(Number).reduce((x, y) => x + y, 0), 0);
  return { ms, bytes };
}

// a pair synced over one transport is not re-used over the other: Unison's
// archives are named from both roots, and the remote root is named
// differently (ssh://bench/... or ssh://127.0.0.1/...)
function pairFor(tool, name) {
  const t = ssh ? '-ssh' : '';
  return { a: path.join(WORK, `${name}-${tool}${t}-a`), b: path.join(WORK, `${name}-${tool}${t}-b`) };
}

function fresh(tool, name) {
  const p = pairFor(tool, name);
  rm(p.a);
  rm(p.b);
  if (tool === 'unison') rm(UNISON_HOME);
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
fs.writeFileSync(UNISON_SERVER, `#!/bin/sh\nUNISON=${UNISON_HOME} exec unison "$@"\n`, { mode: 0o755 });
if (ssh) console.log(`transport: ssh to ${ssh.host}:${ssh.port}; wire bytes are ssh's own client-side count (encrypted, key exchange included)`);
else console.log('transport: stdio pipe (bench/count-rsh.mjs); wire bytes as counted on the pipe');
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
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), runs: RUNS, transport: ssh ? 'ssh' : 'pipe', results }, null, 2) + '\n');
