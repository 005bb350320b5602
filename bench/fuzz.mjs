#!/usr/bin/env node
// Fuzz tsync's decoders for as long as you like: the engine of
// test/wire/fuzz.test.ts (test/helpers/fuzz-core.mjs) on the compiled code
// in dist/ (run `npm run build` first).
//
//   node bench/fuzz.mjs --seconds 60            # run for a minute (default 10 s)
//   node bench/fuzz.mjs --iterations 1000000    # or a number of cases
//   node bench/fuzz.mjs --seed 42 --seconds 600 # another sequence of cases
//   node bench/fuzz.mjs --case 3735928559       # replay one reported case
//
// Reports the cases run, how many decoded whole or were refused, and every
// crash (anything thrown that is not DecodeError or TsyncError E_PROTOCOL)
// with the seed that replays it. Exits 1 when something crashed.

import { makeFuzzer } from '../test/helpers/fuzz-core.mjs';
import { mulberry32 } from '../test/helpers/prng.mjs';
import * as schema from '../dist/wire/schema.js';
import * as frames from '../dist/wire/frames.js';
import { DecodeError } from '../dist/wire/codec.js';
import { TsyncError } from '../dist/errors.js';
import { checkRelPath } from '../dist/tree/paths.js';
import * as delta from '../dist/delta/index.js';
import { parseStats } from '../dist/cli/stats.js';
import { MacChain } from '../dist/tree/manifest.js';
import { CAPS } from '../dist/link/handshake.js';

const args = process.argv.slice(2);
const opt = {};
for (let i = 0; i < args.length; i += 2) {
  const name = args[i].replace(/^--/, '');
  const value = Number(args[i + 1]);
  if (!['seconds', 'iterations', 'seed', 'case'].includes(name) || !Number.isFinite(value) || value < 0) {
    process.stderr.write(`usage: node bench/fuzz.mjs [--seconds N | --iterations N] [--seed S] [--case SEED]\n`);
    process.exit(2);
  }
  opt[name] = value;
}

const fuzz = makeFuzzer({ ...schema, ...frames, DecodeError, TsyncError, checkRelPath, ...delta, parseStats, MacChain, CAPS });

if (opt.case !== undefined) {
  const r = fuzz.one(opt.case >>> 0, mulberry32);
  console.log(r.crash ? `case ${opt.case}: CRASH ${r.crash}` : `case ${opt.case}: ${r.refused ? 'refused cleanly' : 'decoded whole'}`);
  process.exit(r.crash ? 1 : 0);
}

const seed = (opt.seed ?? Date.now()) >>> 0;
const iterations = opt.iterations ?? Infinity;
const seconds = opt.iterations !== undefined && opt.seconds === undefined ? Infinity : (opt.seconds ?? 10);
const started = Date.now();
const deadline = started + seconds * 1000;
const total = { cases: 0, decodedWhole: 0, refused: 0, crashes: [] };
// in slices, so a long run reports as it goes
for (let slice = 0; total.cases < iterations && Date.now() < deadline; slice++) {
  const n = Math.min(20_000, iterations - total.cases);
  const r = fuzz.run({ seed: (seed + total.cases * 0x61c88647) >>> 0, iterations: n, deadline, mulberry32, maxCrashes: 20 });
  total.cases += r.cases;
  total.decodedWhole += r.decodedWhole;
  total.refused += r.refused;
  total.crashes.push(...r.crashes);
  if (slice % 10 === 9) process.stderr.write(`... ${total.cases} cases, ${total.crashes.length} crashes\n`);
}
const secs = (Date.now() - started) / 1000;
console.log(`seed ${seed}: ${total.cases} cases in ${secs.toFixed(1)} s (${Math.round(total.cases / secs)}/s); ${total.decodedWhole} decoded whole, ${total.refused} refused cleanly, ${total.crashes.length} crashed`);
for (const c of total.crashes.slice(0, 20)) console.log(`  crash: --case ${c.seed}: ${c.error}`);
process.exit(total.crashes.length ? 1 : 0);
