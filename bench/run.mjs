#!/usr/bin/env node
// Side-by-side benchmark: tsync and rsync over the same stdio pipe
// (bench/count-rsh.mjs counts the bytes for both), or with --ssh over the
// same real ssh connection to an sshd started for the run, on the
// workloads of bench/data.mjs. Runs alternate between the two
// tools and the median of each is reported, as a ratio tsync / rsync.
//
// usage: node bench/run.mjs [--runs N] [--only NAME,...] [--data DIR] [--json FILE] [--ssh]
// workloads: initial, noop, touched (the 20,000-file tree), big-initial, big-edits (1 GiB),
// renamed-dir (a 100 MiB directory renamed; rsync --fuzzy measured too)

import fs from 'node:fs';
import path from 'node:path';
import { COUNT, DATA, JSON_OUT, ONLY, RUNS, SSH, TSYNC, ensureData, median, rm, sh, startSshd } from './common.mjs';

const WORK = path.join(DATA, 'work');
// over ssh the remote side is this machine too: the same absolute paths work
const ssh = SSH ? await startSshd() : null;
const HOST = ssh ? ssh.host : 'bench';
const RSH = ssh ? ssh.rsh : COUNT;

function copyTree(from, to) {
  rm(to);
  sh('cp', ['-a', from, to]);
}

/** one timed run of a tool (rsync, tsync, or rsync-fuzzy: rsync --fuzzy --delete-after, so the basis is not deleted first); returns { ms, up, down } */
function runTool(tool, flags, src, dest) {
  const countFile = path.join(WORK, 'count');
  rm(countFile);
  ssh?.reset();
  const rsync = tool.startsWith('rsync');
  const extra = tool === 'rsync-fuzzy' ? ['--fuzzy', '--delete-after'] : [];
  const argv = rsync ? ['-a', ...flags, ...extra, '-e', RSH, src, `${HOST}:${dest}`] : [TSYNC, ...flags, '-e', RSH, '--tsync-path', TSYNC, src, `${HOST}:${dest}`];
  const ms = sh(rsync ? 'rsync' : process.execPath, argv, { COUNT_FILE: countFile });
  if (ssh) return { ms, up: ssh.bytes(), down: 0 };
  const [up, down] = fs.readFileSync(countFile, 'utf8').trim().split(/\s+/).map(Number);
  return { ms, up, down };
}

// Each workload: prepare() puts the destination in its starting state (untimed),
// then the tool runs once (timed).
const workloads = [
  {
    name: 'initial',
    what: 'initial copy of the 20,000-file tree',
    data: 'small',
    target: 1.0,
    flags: [],
    src: () => path.join(DATA, 'small') + '/',
    prepare: (dest) => rm(dest),
  },
  {
    name: 'noop',
    what: 're-run with nothing changed',
    data: 'small',
    target: 1.0,
    flags: [],
    src: () => path.join(DATA, 'small') + '/',
    prepare: (dest, tool) => {
      // the first copy is made once, by the same tool, and not timed
      if (!fs.existsSync(`${dest}.ready`)) {
        rm(dest);
        runTool(tool, [], path.join(DATA, 'small') + '/', dest);
        fs.writeFileSync(`${dest}.ready`, '');
      }
    },
  },
  {
    name: 'touched',
    what: 'small-v2: every mtime touched, 2% edited, 1% deleted, 1% added (--delete)',
    data: 'small',
    target: 0.2,
    flags: ['--delete'],
    src: () => path.join(DATA, 'small-v2') + '/',
    prepare: (dest) => copyTree(path.join(DATA, 'small'), dest),
  },
  {
    name: 'big-initial',
    what: 'initial copy of a 1 GiB file',
    data: 'big',
    target: 1.0,
    flags: [],
    src: () => bigDir('big', 'big.bin'),
    prepare: (dest) => rm(dest),
  },
  {
    name: 'big-edits',
    what: '1 GiB file with 100 scattered edits against the old copy (bytes target 0.25)',
    data: 'big',
    target: 1.0,
    bytesTarget: 0.25,
    flags: [],
    src: () => bigDir('big-v2', 'big-v2.bin'),
    prepare: (dest) => {
      rm(dest);
      fs.mkdirSync(dest);
      fs.copyFileSync(path.join(DATA, 'big.bin'), path.join(dest, 'big.bin'));
      fs.utimesSync(path.join(dest, 'big.bin'), 1e9, 1e9);
    },
  },
  {
    name: 'renamed-dir',
    what: 'a 100 MiB directory (25 files) renamed, --delete; also against rsync --fuzzy',
    data: 'renamed',
    target: 1.0,
    bytesTarget: 0.01,
    flags: ['--delete'],
    tools: ['rsync', 'rsync-fuzzy', 'tsync'],
    src: () => path.join(DATA, 'renamed-v2') + '/',
    prepare: (dest) => copyTree(path.join(DATA, 'renamed'), dest),
  },
];

/** a directory holding one of the big files under the name big.bin (a hard link, made once) */
function bigDir(name, file) {
  const dir = path.join(DATA, `dir-${name}`);
  if (!fs.existsSync(path.join(dir, 'big.bin'))) {
    fs.mkdirSync(dir, { recursive: true });
    fs.linkSync(path.join(DATA, file), path.join(dir, 'big.bin'));
  }
  return dir + '/';
}

fs.mkdirSync(WORK, { recursive: true });
if (ssh) console.log(`transport: ssh to ${ssh.host}:${ssh.port}; wire bytes are ssh's own client-side count (encrypted, key exchange included)`);
else console.log('transport: stdio pipe (bench/count-rsh.mjs); wire bytes as counted on the pipe');
const results = [];
for (const w of workloads) {
  if (ONLY?.length && !ONLY.includes(w.name)) continue;
  ensureData(w.data);
  const tools = w.tools ?? ['rsync', 'tsync'];
  const samples = Object.fromEntries(tools.map((x) => [x, []]));
  const bytes = Object.fromEntries(tools.map((x) => [x, null]));
  for (let i = 0; i < RUNS; i++) {
    // alternate which tool goes first so drift in machine load hits both
    const order = i % 2 ? [...tools].reverse() : tools;
    for (const tool of order) {
      const dest = path.join(WORK, `dest-${w.name}-${tool}`);
      w.prepare(dest, tool);
      sh('sync', []);
      const r = runTool(tool, w.flags, w.src(), dest);
      samples[tool].push(r.ms);
      bytes[tool] = r.up + r.down;
    }
  }
  const rs = median(samples.rsync);
  const ts = median(samples.tsync);
  const byteRatio = bytes.tsync / bytes.rsync;
  const row = { workload: w.name, what: w.what, runs: RUNS, rsyncMs: Math.round(rs), tsyncMs: Math.round(ts), ratio: +(ts / rs).toFixed(3), target: w.target, met: ts / rs <= w.target, rsyncBytes: bytes.rsync, tsyncBytes: bytes.tsync, byteRatio: +(bytes.tsync / bytes.rsync).toPrecision(3) };
  results.push(row);
  if (w.bytesTarget) Object.assign(row, { bytesTarget: w.bytesTarget, bytesMet: byteRatio <= w.bytesTarget });
  if (samples['rsync-fuzzy']) Object.assign(row, { fuzzyMs: Math.round(median(samples['rsync-fuzzy'])), fuzzyBytes: bytes['rsync-fuzzy'] });
  console.log(`${w.name.padEnd(11)} rsync ${String(row.rsyncMs).padStart(6)} ms  tsync ${String(row.tsyncMs).padStart(6)} ms  time x${row.ratio.toFixed(2)} (target <= ${w.target})${row.met ? '' : ' NOT MET'}  wire bytes rsync ${row.rsyncBytes} tsync ${row.tsyncBytes} (x${row.byteRatio}${w.bytesTarget ? `, target <= ${w.bytesTarget}${row.bytesMet ? '' : ' NOT MET'}` : ''})`);
  if (row.fuzzyMs !== undefined) console.log(`${''.padEnd(11)} rsync --fuzzy ${row.fuzzyMs} ms, wire bytes ${row.fuzzyBytes}`);
}
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), runs: RUNS, transport: ssh ? 'ssh' : 'pipe', results }, null, 2) + '\n');
