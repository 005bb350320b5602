// Multi-round deltas, the pure parts: the hole op on the wire, HoleFilter
// (literal runs -> holes, with their offsets), VirtualBasis (virtual offsets
// -> basis ranges) and unreferenced() (the next round's virtual basis).
import t from 'tap';
import { encodeOps, decodeOps, OpsDecoder } from '../../lib/delta/wire.js';
import { ChunkedHash, hashChunkSize, HoleFilter, VirtualBasis, unreferenced, roundBlockSizes, roundMinHole, roundStrongLen, MIN_HOLE } from '../../lib/delta/rounds.js';
import { signatureOf } from '../../lib/delta/signature.js';
import { DeltaGenerator } from '../../lib/delta/match.js';
import type { DeltaOp, RoundOp } from '../../lib/delta/types.js';
import { mulberry32 } from '../helpers/prng.mjs';
import { throwsProto } from '../helpers/assert.js';

t.test('hole op: known bytes, round trip, refused unless allowed', async (t) => {
  t.equal(encodeOps([{ op: 'hole', length: 300 }]).toString('hex'), '03ac02');
  const ops: RoundOp[] = [{ op: 'copy', block: 3, count: 2 }, { op: 'hole', length: 5000 }, { op: 'literal', data: Buffer.from('ab') }, { op: 'hole', length: 2 ** 40 }];
  const enc = encodeOps(ops);
  const d = new OpsDecoder({ blockCount: 10, minHole: 4096 });
  const got: RoundOp[] = [];
  for (const b of enc) got.push(...d.pushRound(Buffer.from([b])));
  d.end();
  t.same(got, ops, 'byte by byte');
  throwsProto(t, () => decodeOps(enc, { blockCount: 10 }), 'a hole where none is allowed');
  throwsProto(t, () => new OpsDecoder({ blockCount: 10, minHole: 8192 }).pushRound(enc), 'a hole shorter than asked for');
  throwsProto(t, () => new OpsDecoder({ blockCount: 10, minHole: 1 }).pushRound(Buffer.from('0300', 'hex')), 'a hole of 0 bytes');
  t.throws(() => encodeOps([{ op: 'hole', length: 0 }]), RangeError);
  const cut = new OpsDecoder({ blockCount: 10, minHole: 1 });
  cut.pushRound(Buffer.from('0380', 'hex'));
  throwsProto(t, () => cut.end(), 'a truncated hole');
});

t.test('round parameters', async (t) => {
  t.same(roundBlockSizes(1 << 30), [256 << 10, 4 << 10, 256], '1 GiB: 256K / 4K / 256');
  t.same(roundBlockSizes(64 << 20), [64 << 10, 1 << 10, 128], '64 MiB: 64K / 1K / 128');
  t.same(roundBlockSizes(2 ** 40), [1 << 20, 16 << 10, 1 << 10], '1 TiB: capped at 1 MiB');
  t.equal(roundMinHole([256 << 10, 4 << 10, 256], 0), 8192);
  t.equal(roundMinHole([256 << 10, 4 << 10, 256], 1), 512);
  t.equal(roundMinHole([256 << 10, 4 << 10, 256], 2), 0, 'the last round allows no holes');
  t.ok(roundMinHole([65536, 1024, 128], 1) >= MIN_HOLE);
  t.equal(roundStrongLen(25e6, 6400), 4);
  t.ok(roundStrongLen(1e12, 1e6) > 4, 'more bytes for a huge search');
});

t.test('HoleFilter: long literal runs become holes, with their offsets', async (t) => {
  const bs = 100;
  const lit = (n: number): DeltaOp => ({ op: 'literal', data: Buffer.alloc(n, 1) });
  const f = new HoleFilter(500, bs, 1050);
  const out = [...f.push([{ op: 'copy', block: 0, count: 2 }, lit(300), lit(300), { op: 'copy', block: 10, count: 1 }, lit(499)]), ...f.push([{ op: 'copy', block: 2, count: 1 }, lit(200)]), ...f.finish()];
  t.same(out.map((o) => (o.op === 'literal' ? `L${o.data.length}` : o.op === 'hole' ? `H${o.length}` : `C${o.block}+${o.count}`)), ['C0+2', 'H600', 'C10+1', 'L499', 'C2+1', 'L200']);
  // block 10 is the basis's short last block: 50 bytes
  t.same(f.holes, [200, 600]);
  const g = new HoleFilter(500, bs, 1050);
  g.startAt(7000);
  t.same(g.push([lit(600)]), [], 'a run is held until it ends');
  t.same(g.finish(), [{ op: 'hole', length: 600 }]);
  t.same(g.holes, [7000, 600]);
  const pass = new HoleFilter(0, bs, 1000);
  t.same(pass.push([lit(10000)]).length, 1, 'minHole 0 passes literals through');
  t.same(pass.holes, []);
});

t.test('VirtualBasis: mapping and validation', async (t) => {
  const vb = new VirtualBasis([10, 5, 100, 20, 1000, 1]);
  t.equal(vb.size, 26);
  t.same(vb.map(0, 26), [{ offset: 10, length: 5 }, { offset: 100, length: 20 }, { offset: 1000, length: 1 }]);
  t.same(vb.map(3, 4), [{ offset: 13, length: 2 }, { offset: 100, length: 2 }]);
  t.same(vb.map(25, 1), [{ offset: 1000, length: 1 }]);
  t.same(vb.map(5, 20, 8), [{ offset: 100, length: 8 }, { offset: 108, length: 8 }, { offset: 116, length: 4 }]);
  t.same(vb.map(26, 0), []);
  throwsProto(t, () => vb.map(20, 7), 'past the end');
  throwsProto(t, () => vb.map(-1, 2), 'negative offset');
  throwsProto(t, () => vb.map(0.5, 2), 'fractional offset');
  t.throws(() => new VirtualBasis([10, 5, 12, 3]), RangeError, 'overlapping segments');
  t.throws(() => new VirtualBasis([10, 0]), RangeError, 'empty segment');
  t.equal(VirtualBasis.whole(0).size, 0);
});

t.test('unreferenced: what no copy used, back in basis coordinates', async (t) => {
  const vb = new VirtualBasis([0, 1000, 5000, 250]); // 1250 virtual bytes, blocks of 100: 13 blocks
  const ref = new Uint8Array(13);
  ref.fill(1, 0, 3);
  ref.fill(1, 9, 11);
  const left = unreferenced(vb, 100, ref);
  t.same([...left.ranges()], [{ offset: 300, length: 600 }, { offset: 5100, length: 150 }]);
  t.equal(left.size, 750);
  const ref2 = new Uint8Array(13);
  ref2[5] = 1;
  t.same([...unreferenced(vb, 100, ref2).ranges()], [{ offset: 0, length: 500 }, { offset: 600, length: 400 }, { offset: 5000, length: 250 }], 'the segment boundary inside a run of blocks');
  t.same([...unreferenced(vb, 100, new Uint8Array(13)).ranges()], [{ offset: 0, length: 1000 }, { offset: 5000, length: 250 }], 'nothing referenced: the same ranges');
  t.equal(unreferenced(vb, 100, new Uint8Array(13).fill(1)).size, 0, 'all referenced: nothing left');
});

t.test('seeded random: filter + virtual basis reproduce the file over two rounds (in memory)', async (t) => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = mulberry32(seed * 104729);
    const old = Buffer.alloc(20000 + Math.floor(r() * 60000));
    for (let i = 0; i < old.length; i++) old[i] = Math.floor(r() * 256);
    const parts: Buffer[] = [];
    let o = 0;
    while (o < old.length) {
      const n = Math.floor(r() * 8000);
      const x = r();
      if (x < 0.1) parts.push(Buffer.from(Array.from({ length: 1 + Math.floor(r() * 3000) }, () => Math.floor(r() * 256))));
      else if (x < 0.2) o += n; // deleted
      else parts.push(old.subarray(o, o + n)), (o += n);
    }
    const neu = Buffer.concat(parts).subarray(0, r() < 0.1 ? Math.floor(r() * 30000) : undefined);
    // round 1: big blocks, holes for runs >= 512
    const sig1 = signatureOf(old, 4096, 6);
    const f1 = new HoleFilter(512, 4096, old.length);
    const g1 = new DeltaGenerator(sig1);
    const ops1 = [...f1.push(g1.push(neu)), ...f1.push(g1.finish()), ...f1.finish()];
    const out = Buffer.alloc(neu.length);
    const ref = new Uint8Array(sig1.blockCount);
    let at = 0;
    const whole = VirtualBasis.whole(old.length);
    for (const op of ops1) {
      if (op.op === 'copy') {
        for (const rg of whole.map(op.block * 4096, Math.min(old.length, (op.block + op.count) * 4096) - op.block * 4096)) at += old.copy(out, at, rg.offset, rg.offset + rg.length);
        ref.fill(1, op.block, op.block + op.count);
      } else if (op.op === 'literal') at += op.data.copy(out, at);
      else at += op.length;
    }
    t.equal(at, neu.length, `seed ${seed}: round 1 covers the file`);
    // round 2: the unreferenced basis as one virtual basis, each hole on its own
    const vb = unreferenced(whole, 4096, ref);
    const vbytes = Buffer.concat([...vb.ranges()].map((rg) => old.subarray(rg.offset, rg.offset + rg.length)));
    const sig2 = signatureOf(vbytes, 64, 4);
    const g2 = new DeltaGenerator(sig2);
    const f2 = new HoleFilter(0, 64, vb.size);
    for (let i = 0; i < f1.holes.length; i += 2) {
      let pos = f1.holes[i];
      g2.reset();
      f2.startAt(pos);
      const hole = neu.subarray(pos, pos + f1.holes[i + 1]);
      for (const op of [...f2.push(g2.push(hole)), ...f2.push(g2.finish()), ...f2.finish()]) {
        if (op.op === 'copy') {
          for (const rg of vb.map(op.block * 64, Math.min(vb.size, (op.block + op.count) * 64) - op.block * 64)) pos += old.copy(out, pos, rg.offset, rg.offset + rg.length);
        } else if (op.op === 'literal') pos += op.data.copy(out, pos);
        else t.fail('a hole in the last round');
      }
      t.equal(pos, f1.holes[i] + f1.holes[i + 1], `seed ${seed}: hole ${i / 2} filled exactly`);
    }
    t.ok(out.equals(neu), `seed ${seed}: identical (${neu.length} bytes, ${f1.holes.length / 2} holes)`);
  }
});

t.test('ChunkedHash: the same root whatever the order of writes', async (t) => {
  const r = mulberry32(77);
  const data = Buffer.alloc(3 * 256 * 1024 + 12345);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  const inOrder = new ChunkedHash(data.length);
  for (let o = 0; o < data.length; o += 70000) inOrder.update(o, data.subarray(o, o + 70000));
  t.same(inOrder.missing(), [], 'in order: every chunk hashed on the way');
  const root = inOrder.root();
  // pieces in a shuffled order: the chunks a gap interrupted must be re-read
  const pieces: Array<[number, number]> = [];
  for (let o = 0; o < data.length; ) {
    const n = 1 + Math.floor(r() * 300000);
    pieces.push([o, Math.min(n, data.length - o)]);
    o += n;
  }
  for (let i = pieces.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [pieces[i], pieces[j]] = [pieces[j]!, pieces[i]!];
  }
  const shuffled = new ChunkedHash(data.length);
  for (const [o, n] of pieces) shuffled.update(o, data.subarray(o, o + n));
  t.throws(() => shuffled.root(), /missing/, 'no root while chunks are missing');
  const missing = shuffled.missing();
  t.ok(missing.length > 0 && missing.length < shuffled.count, `${missing.length} of ${shuffled.count} chunks to re-read`);
  const { createHash } = await import('node:crypto');
  for (const i of missing) shuffled.set(i, createHash('sha256').update(data.subarray(i * shuffled.chunk, i * shuffled.chunk + shuffled.chunkLen(i))).digest());
  t.same(shuffled.root(), root, 'same root');
  const changed = Buffer.from(data);
  changed[300000] ^= 1;
  const other = new ChunkedHash(changed.length);
  other.update(0, changed);
  t.notSame(other.root(), root, 'one bit changes the root');
  const shorter = new ChunkedHash(data.length - 1);
  shorter.update(0, data.subarray(0, data.length - 1));
  t.notSame(shorter.root(), root, 'the size is part of it');
  t.throws(() => shorter.update(data.length - 1, Buffer.alloc(1)), RangeError, 'no write past the end');
  t.equal(new ChunkedHash(0).root().length, 32, 'an empty file has a root');
  t.equal(hashChunkSize(1 << 30), 256 * 1024);
  t.ok(2 ** 44 / hashChunkSize(2 ** 44) <= 65536, 'at most 65,536 chunks');
});
