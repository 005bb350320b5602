#!/usr/bin/env node
// Experiment for the multi-round delta design (not the protocol: a simulation
// with the single-round engine). Build first: npx tsc -p tsconfig.json.
//
// usage: node bench/delta-rounds.mjs OLD NEW [SCHEMES]
//   SCHEMES: comma-separated block-size lists, e.g. 65536/2048/128,8192
//   (make them with: node bench/data.mjs pair OLD NEW 64 100 42)
//
// Counts the bytes each scheme would put on the wire:
//   sig      signatures, receiver -> sender (encodeSignature)
//   ops      the op streams, sender -> receiver (encodeOps); in a round that is
//            not the last, each unmatched region costs a 4-byte "hole" marker
//            instead of its literal bytes
//   literal  the bytes still sent as literals after the last round
//   +zlib    the final op stream with literals deflated, each literal primed
//            with the 32 KiB of new-file data before it (the receiver has
//            it: it has just written it)
//
// Round k (k >= 2) signs only the basis bytes no copy op has referenced so
// far (the receiver knows them from the ops it received), at a finer block
// size, and matches only the regions of the new file that are still
// unmatched.
import fs from 'node:fs';
import zlib from 'node:zlib';
import { signatureOf, encodeSignature, chooseStrongLen, chooseBlockSize } from '../dist/delta/signature.js';
import { DeltaGenerator } from '../dist/delta/match.js';
import { encodeOps } from '../dist/delta/wire.js';

const [oldPath, newPath, schemesArg] = process.argv.slice(2);
const OLD = fs.readFileSync(oldPath);
const NEW = fs.readFileSync(newPath);

/**
 * One round. basisSegs: [offset, length] ranges of OLD forming the virtual
 * basis; regions: [offset, length] ranges of NEW to match.
 * Returns the bytes and what is left unmatched.
 */
function round(basisSegs, regions, bs, last) {
  const V = Buffer.concat(basisSegs.map(([o, l]) => OLD.subarray(o, o + l)));
  const sl = Math.max(4, chooseStrongLen(V.length, bs) - (basisSegs.length > 1 ? 2 : 0));
  const sig = signatureOf(V, bs, sl);
  const sigBytes = encodeSignature(sig).length;
  // virtual offset -> OLD offset
  const starts = [];
  let acc = 0;
  for (const [o, l] of basisSegs) { starts.push([acc, o, l]); acc += l; }
  const referenced = new Uint8Array(sig.blockCount);
  let opBytes = 0;
  let zBytes = 0;
  let literal = 0;
  const left = [];
  for (const [ro, rl] of regions) {
    const g = new DeltaGenerator(sig);
    const ops = [...g.push(NEW.subarray(ro, ro + rl)), ...g.finish()];
    let p = ro;
    const kept = [];
    for (const op of ops) {
      if (op.op === 'copy') {
        for (let k = op.block; k < op.block + op.count; k++) referenced[k] = 1;
        p += Math.min(V.length, (op.block + op.count) * bs) - op.block * bs;
        kept.push(op);
      } else {
        const prev = left[left.length - 1];
        if (prev && prev[0] + prev[1] === p) prev[1] += op.data.length;
        else left.push([p, op.data.length]);
        literal += op.data.length;
        if (last) {
          kept.push(op);
          const dict = NEW.subarray(Math.max(0, p - 32768), p);
          zBytes += zlib.deflateRawSync(op.data, { level: 9, dictionary: dict.length ? dict : undefined }).length + 4;
        }
        p += op.data.length;
      }
    }
    opBytes += encodeOps(kept).length;
    if (!last) opBytes += 4 * ops.filter((o) => o.op === 'literal').length;
    else zBytes += encodeOps(kept.filter((o) => o.op === 'copy')).length;
  }
  // the basis left unreferenced, back in OLD coordinates
  const unref = [];
  for (let k = 0; k < sig.blockCount; k++) {
    if (referenced[k]) continue;
    let v = k * bs;
    let vEnd = Math.min(V.length, v + bs);
    for (const [vs, o, l] of starts) {
      if (vEnd <= vs || v >= vs + l) continue;
      const a = Math.max(v, vs), b = Math.min(vEnd, vs + l);
      const prev = unref[unref.length - 1];
      const oa = o + (a - vs);
      if (prev && prev[0] + prev[1] === oa) prev[1] += b - a;
      else unref.push([oa, b - a]);
    }
  }
  return { sigBytes, opBytes, zBytes, literal, left, unref, blocks: sig.blockCount, sl };
}

function scheme(sizes) {
  let basis = [[0, OLD.length]];
  let regions = [[0, NEW.length]];
  let total = 0;
  const parts = [];
  let final;
  for (let i = 0; i < sizes.length; i++) {
    const last = i === sizes.length - 1;
    const r = round(basis, regions, sizes[i], last);
    parts.push(`r${i + 1} B=${sizes[i]} sig ${r.sigBytes} (${r.blocks} blk x ${4 + r.sl}) ops ${r.opBytes}`);
    total += r.sigBytes + r.opBytes;
    basis = r.unref;
    regions = r.left;
    final = r;
    if (regions.length === 0) break;
  }
  const zTotal = total - final.opBytes + final.zBytes;
  console.log(`${sizes.join('/').padEnd(18)} total ${String(total).padStart(8)}  literal ${String(final.literal).padStart(8)}  with zlib ${String(zTotal).padStart(8)}   ${parts.join(' | ')}`);
}

console.log(`old ${OLD.length} new ${NEW.length}; chooseBlockSize(old) = ${chooseBlockSize(OLD.length)}`);
if (schemesArg) {
  for (const s of schemesArg.split(',')) scheme(s.split('/').map(Number));
  process.exit(0);
}
for (const s of [[700], [2048], [8192], [32768], [65536]]) scheme(s);
for (const s of [[65536, 2048], [65536, 1024], [65536, 512], [32768, 1024], [32768, 512], [16384, 512], [65536, 2048, 128], [65536, 4096, 256], [65536, 1024, 64], [32768, 1024, 64], [131072, 4096, 256, 32]]) scheme(s);
