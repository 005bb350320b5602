#!/usr/bin/env node
// The floor under any no-change run: one walk of a tree (readdir, then
// lstat of every entry, nothing else), each in a fresh Node process, as a
// tsync side does it once per run. Prints the median and every sample.
//
// usage: node bench/walk.mjs DIR [--runs N]
import { spawnSync } from 'node:child_process';
import { median, RUNS } from './common.mjs';

const dir = process.argv[2];
if (!dir || dir.startsWith('--')) throw new Error('usage: node bench/walk.mjs DIR [--runs N]');
const walk = `
const fs = require('node:fs');
const t0 = performance.now();
let n = 0;
(function walk(d) {
  for (const name of fs.readdirSync(d)) {
    const st = fs.lstatSync(d + '/' + name);
    n++;
    if (st.isDirectory()) walk(d + '/' + name);
  }
})(process.argv[1]);
console.log(n, performance.now() - t0);`;
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const samples = [];
let entries = 0;
for (let i = 0; i < RUNS; i++) {
  const r = spawnSync(process.execPath, ['-e', walk, dir], { encoding: 'utf8', env });
  const [n, ms] = r.stdout.trim().split(' ').map(Number);
  entries = n;
  samples.push(ms);
}
console.log(`${entries} entries: median ${median(samples).toFixed(1)} ms (${samples.map((s) => s.toFixed(0)).join(', ')})`);
