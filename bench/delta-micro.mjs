#!/usr/bin/env node
// Micro-benchmark of the delta engine (build first: npx tsc -p tsconfig.json).
// usage: node bench/delta-micro.mjs [MIB=256] [BLOCK=auto]
// Prints MB/s for: (a) signature building, (b) the matcher over an identical
// file (all matches), (c) the matcher over a fully different file (every
// byte rolled and looked up). Data is pushed in 1 MiB chunks, as a file
// reader would.
import { randomBytes } from 'node:crypto';
import { SignatureBuilder, chooseBlockSize, chooseStrongLen } from '../dist/delta/signature.js';
import { DeltaGenerator } from '../dist/delta/match.js';

const mib = Number(process.argv[2] ?? 256);
const size = mib * 1024 * 1024;
const bs = process.argv[3] ? Number(process.argv[3]) : chooseBlockSize(size);
const sl = chooseStrongLen(size, bs);
const CHUNK = 1 << 20;

function fill(n) {
  const b = Buffer.allocUnsafe(n);
  for (let o = 0; o < n; o += 1 << 26) randomBytes(Math.min(1 << 26, n - o)).copy(b, o);
  return b;
}

// Both wall-clock and this process's CPU time: on a shared machine the CPU
// figure is the steadier one.
function time(label, fn) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const extra = fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  const cs = (c.user + c.system) / 1e6;
  const mbs = (x) => (size / 1e6 / x).toFixed(0).padStart(6);
  console.log(`${label.padEnd(30)} ${mbs(s)} MB/s wall ${mbs(cs)} MB/s cpu  (${s.toFixed(2)} s)${extra ? '  ' + extra : ''}`);
}

const old = fill(size);
console.log(`file ${mib} MiB, block ${bs}, strong ${sl} bytes, ${Math.ceil(size / bs)} blocks, node ${process.version}`);

let sig;
time('(a) signature', () => {
  const b = new SignatureBuilder({ blockSize: bs, strongLen: sl, expectedSize: size });
  for (let o = 0; o < size; o += CHUNK) b.update(old.subarray(o, o + CHUNK));
  sig = b.finish();
});

function run(data) {
  const g = new DeltaGenerator(sig);
  let ops = 0;
  for (let o = 0; o < size; o += CHUNK) ops += g.push(data.subarray(o, o + CHUNK)).length;
  ops += g.finish().length;
  const s = g.stats;
  return `ops ${ops}, literal ${s.literalBytes}, matched ${s.matchedBytes}, weak hits ${s.weakHits} (false ${s.falseWeakHits})`;
}

time('(b) matcher, identical file', () => run(old));
const other = fill(size);
time('(c) matcher, different file', () => run(other));
