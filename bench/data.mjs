#!/usr/bin/env node
// The benchmark and test workloads, made from a seed so every run of every
// tool sees the same bytes (PRODUCT.md section 7):
//   node bench/data.mjs tree DIR          small/ (20,000 files, about 150 MB of text
//                                         and binary) and small-v2/ (every mtime
//                                         touched, 2% edited, 1% deleted, 1% added)
//   node bench/data.mjs big DIR           big.bin (1 GiB) and big-v2.bin (100 scattered edits)
//   node bench/data.mjs pair OLD NEW MIB EDITS SEED   any size, any number of edits
// Also imported: editedPair() by test/integration/delta.test.ts.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../test/helpers/prng.mjs';

const WORDS = ('export const return function import await async if else for while new class type ' +
  'interface the of and to in is that with on as by be are from at or not').split(' ');
const MiB = 1 << 20;

/** a generator of text and noise, all drawn from one seeded stream */
export function source(seed) {
  const rnd = mulberry32(seed);
  const text = (n) => {
    const out = Buffer.alloc(n);
    let at = 0;
    while (at < n) {
      at += out.write(WORDS[(rnd() * WORDS.length) | 0], at, 'latin1');
      if (at < n) out[at++] = rnd() < 0.12 ? 0x0a : 0x20;
    }
    return out;
  };
  const noise = (n) => {
    const out = Buffer.alloc(n);
    for (let i = 0; i + 4 <= n; i += 4) out.writeUInt32LE((rnd() * 4294967296) >>> 0, i);
    for (let i = n & ~3; i < n; i++) out[i] = (rnd() * 256) | 0;
    return out;
  };
  // a log-normal size: most files small, a few up to 2 MB
  const size = () => {
    const u = rnd() || 1e-9, v = rnd();
    const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    return Math.min(2_000_000, Math.floor(Math.exp(7 + 1.6 * normal)));
  };
  return { rnd, text, noise, size };
}

/** `bytes` with `edits` scattered edits: an insertion, a deletion or a replacement of 200 bytes each */
function edit(src, bytes, edits) {
  const at = Array.from({ length: edits }, () => Math.floor(src.rnd() * bytes.length)).sort((a, b) => a - b);
  const parts = [];
  let from = 0;
  for (const cut of at) {
    if (cut < from) continue;
    parts.push(bytes.subarray(from, cut));
    const kind = src.rnd();
    if (kind < 1 / 3) { parts.push(src.text(200)); from = cut; }
    else if (kind < 2 / 3) from = Math.min(bytes.length, cut + 200);
    else { parts.push(src.text(200)); from = Math.min(bytes.length, cut + 200); }
  }
  parts.push(bytes.subarray(from));
  return parts;
}

/** OLD: `mib` MiB, each MiB text or noise; NEW: OLD with `edits` scattered edits */
export function editedPair(oldPath, newPath, mib, edits, seed) {
  const src = source(seed);
  const parts = [];
  for (let i = 0; i < mib; i++) parts.push(src.rnd() < 0.5 ? src.text(MiB) : src.noise(MiB));
  const old = Buffer.concat(parts);
  fs.writeFileSync(oldPath, old);
  writeParts(newPath, edit(src, old, edits));
}

function writeParts(file, parts) {
  const fd = fs.openSync(file, 'w');
  try { for (const p of parts) fs.writeSync(fd, p); } finally { fs.closeSync(fd); }
}

/** 20,000 files in 37 x 23 x 5 directories; returns the bytes written */
export function tree(dir, files = 20_000, seed = 20_000) {
  const src = source(seed);
  fs.rmSync(dir, { recursive: true, force: true });
  let total = 0;
  for (let i = 0; i < files; i++) {
    const d = path.join(dir, `d${i % 37}`, `e${(i * 7) % 23}`, `f${i % 5}`);
    fs.mkdirSync(d, { recursive: true });
    const n = src.size();
    const binary = src.rnd() >= 0.8;
    fs.writeFileSync(path.join(d, `file${i}.${binary ? 'bin' : 'txt'}`), binary ? src.noise(n) : src.text(n));
    total += n;
  }
  return total;
}

/** touch every mtime, edit 2% of the files, delete 1%, add 1% */
export function mutate(dir, seed = 2) {
  const src = source(seed);
  const files = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p); else files.push(p);
    }
  };
  walk(dir);
  files.sort();
  const now = Date.now() / 1000;
  const counts = { edited: 0, deleted: 0, added: 0, touched: 0 };
  for (const f of files) {
    const r = src.rnd();
    if (r < 0.02) {
      const b = fs.readFileSync(f);
      const at = Math.floor(src.rnd() * b.length);
      fs.writeFileSync(f, Buffer.concat([b.subarray(0, at), src.text(100), b.subarray(at)]));
      counts.edited++;
    } else if (r < 0.03) { fs.rmSync(f); counts.deleted++; continue; }
    else if (r < 0.04) { fs.writeFileSync(`${f}.new`, src.text(5000)); counts.added++; }
    fs.utimesSync(f, now, now);
    counts.touched++;
  }
  return counts;
}

/** a 1 GiB file written a MiB at a time, and a copy with 100 edits */
export function big(dir, seed = 1024) {
  const src = source(seed);
  const file = path.join(dir, 'big.bin');
  const fd = fs.openSync(file, 'w');
  for (let i = 0; i < 1024; i++) fs.writeSync(fd, src.rnd() < 0.5 ? src.text(MiB) : src.noise(MiB));
  fs.closeSync(fd);
  writeParts(path.join(dir, 'big-v2.bin'), edit(src, fs.readFileSync(file), 100));
}

/**
 * renamed/: 100 MiB in 25 files of 4 MiB under photos/y2024/, and
 * renamed-v2/: the same files (hard links: same content and mtime) with
 * that directory renamed to photos/2024/ (the moves workload, issue 17).
 */
export function renamed(dir, seed = 2024) {
  const src = source(seed);
  const from = path.join(dir, 'renamed', 'photos', 'y2024');
  const to = path.join(dir, 'renamed-v2', 'photos', '2024');
  fs.mkdirSync(from, { recursive: true });
  fs.mkdirSync(to, { recursive: true });
  for (let i = 0; i < 25; i++) {
    const f = path.join(from, `img${String(i).padStart(2, '0')}.raw`);
    fs.writeFileSync(f, src.noise(4 * MiB));
    fs.utimesSync(f, 1.6e9 + i, 1.6e9 + i);
    fs.linkSync(f, path.join(to, path.basename(f)));
  }
  for (const d of [from, to, path.dirname(from), path.dirname(to)]) fs.utimesSync(d, 1.6e9, 1.6e9);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [what, ...args] = process.argv.slice(2);
  if (what === 'tree' && args.length === 1) {
    const dir = args[0];
    fs.mkdirSync(dir, { recursive: true });
    const bytes = tree(path.join(dir, 'small'));
    console.log(`small: 20000 files, ${(bytes / 1e6).toFixed(0)} MB`);
    fs.cpSync(path.join(dir, 'small'), path.join(dir, 'small-v2'), { recursive: true, preserveTimestamps: true });
    console.log('small-v2:', mutate(path.join(dir, 'small-v2')));
  } else if (what === 'big' && args.length === 1) {
    fs.mkdirSync(args[0], { recursive: true });
    big(args[0]);
    console.log('big.bin: 1 GiB, big-v2.bin: 100 edits');
  } else if (what === 'renamed' && args.length === 1) {
    renamed(args[0]);
    console.log('renamed: 100 MiB in 25 files; renamed-v2: the same with their directory renamed');
  } else if (what === 'pair' && args.length === 5) {
    editedPair(args[0], args[1], Number(args[2]), Number(args[3]), Number(args[4]));
  } else {
    console.error('usage: data.mjs tree DIR | big DIR | renamed DIR | pair OLD NEW MIB EDITS SEED');
    process.exit(2);
  }
}
