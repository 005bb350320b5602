#!/usr/bin/env node
// Where a process's CPU time went: the V8 CPU profiles in a directory
// (node --cpu-prof, as bench/cpu.sh writes them), self time per function
// summed over all of them and divided by their number, the biggest first.
//
// usage: node bench/cpu-top.mjs DIR [N]

import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
const top = Number(process.argv[3] ?? 25);
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`);
const self = new Map();
let total = 0;
for (const f of files) {
  const prof = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  prof.samples.forEach((id, i) => {
    const us = prof.timeDeltas[i] ?? 0;
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const where = url ? `${path.basename(url)}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  });
}
const ms = (us) => (us / 1000 / files.length).toFixed(1).padStart(8);
console.log(`${files.length} profiles, ${ms(total).trim()} ms sampled per process`);
for (const [key, us] of [...self].sort((x, y) => y[1] - x[1]).slice(0, top)) {
  console.log(`${ms(us)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}`);
}
