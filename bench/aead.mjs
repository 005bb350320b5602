#!/usr/bin/env node
// Which AEAD should the keyed channel use? Seals and opens records of the
// sizes the connection writes (4 KiB, 64 KiB, 1 MiB) with node:crypto's
// chacha20-poly1305 and aes-256-gcm, one cipher object per record as the
// channel does (a fresh nonce each time), and prints CPU-time MB/s.
// usage: node bench/aead.mjs [MIB=256]
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const mib = Number(process.argv[2] ?? 256);
const key = randomBytes(32);
const TAG = 16;

function nonce(seq) {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(Math.floor(seq / 2 ** 32), 4);
  n.writeUInt32BE(seq >>> 0, 8);
  return n;
}

function seal(alg, seq, plain) {
  const c = createCipheriv(alg, key, nonce(seq), { authTagLength: TAG });
  const out = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  return out;
}

function open(alg, seq, sealed) {
  const d = createDecipheriv(alg, key, nonce(seq), { authTagLength: TAG });
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG)), d.final()]);
}

function cpu(fn) {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

// Each case: seal n records (a ring of 64 is kept to open again, so memory
// stays flat), then open them; three alternating rounds, the median kept.
const RING = 64;
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];
for (const size of [4 << 10, 64 << 10, 1 << 20]) {
  const plain = randomBytes(size);
  const n = Math.max(RING, Math.floor((mib << 20) / size));
  const mb = (n * size) / 1e6;
  const runs = { 'chacha20-poly1305': { seal: [], open: [] }, 'aes-256-gcm': { seal: [], open: [] } };
  for (let round = 0; round < 3; round++) {
    for (const alg of Object.keys(runs)) {
      const ring = [];
      runs[alg].seal.push(mb / cpu(() => {
        for (let i = 0; i < n; i++) ring[i % RING] = seal(alg, i % RING, plain);
      }));
      runs[alg].open.push(mb / cpu(() => {
        for (let i = 0; i < n; i++) open(alg, i % RING, ring[i % RING]);
      }));
    }
  }
  for (const [alg, r] of Object.entries(runs)) rows.push({ alg, record: `${size >> 10} KiB`, seal: Math.round(median(r.seal)), open: Math.round(median(r.open)) });
}
console.log(`node ${process.version}, ${mib} MiB per case, CPU-time MB/s (median of 3)`);
console.table(rows);
