import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { signatureOf, chooseBlockSize, chooseStrongLen } from '../../lib/delta/signature.js';
import { DeltaGenerator, computeDelta } from '../../lib/delta/match.js';
import { applyDelta } from '../../lib/delta/patch.js';
import { encodeOps, decodeOps } from '../../lib/delta/wire.js';
import { weakSum } from '../../lib/delta/rolling.js';
import { MAX_LITERAL, type DeltaOp, type Signature } from '../../lib/delta/types.js';
import { mulberry32 } from '../helpers/prng.mjs';

type Rng = () => number;
const int = (r: Rng, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)];
function bytes(r: Rng, n: number, alphabet = 256): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = int(r, alphabet);
  return b;
}

function show(ops: readonly DeltaOp[]): string {
  return ops.map((o) => (o.op === 'copy' ? `C${o.block}x${o.count}` : `L${o.data.length}`)).join(' ');
}

/** Push `data` in chunks whose sizes come from `sizes`; returns all ops. */
function deltaChunked(sig: Signature, data: Buffer, sizes: () => number): { ops: DeltaOp[]; gen: DeltaGenerator } {
  const gen = new DeltaGenerator(sig);
  const ops: DeltaOp[] = [];
  for (let o = 0; o < data.length;) {
    const n = Math.max(1, Math.min(data.length - o, sizes()));
    ops.push(...gen.push(data.subarray(o, o + n)));
    o += n;
  }
  ops.push(...gen.finish());
  return { ops, gen };
}

/** Structural invariants every op list must satisfy. */
function checkOps(t: Test, ops: readonly DeltaOp[], sig: Signature, newLen: number, label: string): void {
  let total = 0;
  let prev: DeltaOp | undefined;
  for (const op of ops) {
    if (op.op === 'copy') {
      if (!(op.count >= 1 && op.block >= 0 && op.block + op.count <= sig.blockCount)) t.fail(`${label}: bad copy ${show([op])}`);
      if (prev?.op === 'copy' && prev.block + prev.count === op.block) t.fail(`${label}: uncoalesced copies`);
      total += Math.min(sig.fileSize, (op.block + op.count) * sig.blockSize) - op.block * sig.blockSize;
    } else {
      if (op.data.length < 1 || op.data.length > MAX_LITERAL) t.fail(`${label}: literal of ${op.data.length} bytes`);
      total += op.data.length;
    }
    prev = op;
  }
  if (total !== newLen) t.fail(`${label}: ops cover ${total} bytes, new file has ${newLen}`);
}

// ---- the cases of the brief, by name -------------------------------------

t.test('empty basis, empty new file', async (t) => {
  const sig = signatureOf(Buffer.alloc(0), 16);
  t.same(computeDelta(sig, Buffer.alloc(0)), []);
  const ops = computeDelta(sig, Buffer.from('hello'));
  t.equal(show(ops), 'L5');
  t.same(computeDelta(signatureOf(Buffer.from('hello'), 16), Buffer.alloc(0)), []);
});

t.test('identical files are one copy', async (t) => {
  for (const len of [1, 15, 16, 17, 160, 1000]) {
    const old = randomBytes(len);
    const sig = signatureOf(old, 16);
    t.equal(show(computeDelta(sig, old)), `C0x${sig.blockCount}`, `len ${len}`);
  }
});

t.test('file shorter than one block', async (t) => {
  const old = Buffer.from('short');
  const sig = signatureOf(old, 16);
  t.equal(show(computeDelta(sig, old)), 'C0x1');
  t.equal(show(computeDelta(sig, Buffer.from('xshort'))), 'L1 C0x1', 'short block matched at the end');
  // better than rsync: the short basis block matches before appended data
  t.equal(show(computeDelta(sig, Buffer.from('short and more'))), 'C0x1 L9');
  t.equal(show(computeDelta(sig, Buffer.from('shor'))), 'L4');
});

t.test('final short block', async (t) => {
  const old = randomBytes(100); // 6 blocks of 16, last one 4 bytes
  const sig = signatureOf(old, 16);
  t.equal(sig.blockCount, 7);
  const app = Buffer.concat([old, Buffer.from('appended log line\n')]);
  t.equal(show(computeDelta(sig, app)), 'C0x7 L18', 'appended file keeps its old tail');
  const pre = Buffer.concat([Buffer.from('ab'), old]);
  t.equal(show(computeDelta(sig, pre)), 'L2 C0x7');
  const tailOnly = Buffer.concat([randomBytes(40), old.subarray(96)]);
  t.equal(show(computeDelta(sig, tailOnly)), 'L40 C6x1');
  t.equal(show(computeDelta(sig, old.subarray(96))), 'C6x1', 'the short block alone');
  t.equal(show(computeDelta(sig, Buffer.concat([old.subarray(32, 48), old.subarray(96)]))), 'C2x1 C6x1', 'right after a match of another block');
  t.equal(show(computeDelta(sig, Buffer.concat([old.subarray(96), old.subarray(96)]))), 'L4 C6x1', 'rsync rule: mid-file only after its predecessor');
});

t.test('completely different file', async (t) => {
  const old = randomBytes(5000);
  const nw = randomBytes(5000);
  const ops = computeDelta(signatureOf(old, 64), nw);
  t.equal(show(ops), 'L5000');
  const big = randomBytes(200_000);
  const ops2 = computeDelta(signatureOf(old, 64), big);
  t.same(ops2.map((o) => (o.op === 'literal' ? o.data.length : -1)), [65536, 65536, 65536, 3392], 'literals flushed at 64 KiB');
  t.ok(Buffer.concat(ops2.map((o) => (o as { data: Buffer }).data)).equals(big));
});

t.test('one-byte insert at the start', async (t) => {
  const old = randomBytes(4096);
  const nw = Buffer.concat([Buffer.from([7]), old]);
  t.equal(show(computeDelta(signatureOf(old, 64), nw)), 'L1 C0x64');
});

t.test('edits on block boundaries', async (t) => {
  const old = randomBytes(64 * 10);
  const sig = signatureOf(old, 64);
  const ins = Buffer.concat([old.subarray(0, 128), Buffer.from('XYZ'), old.subarray(128)]);
  t.equal(show(computeDelta(sig, ins)), 'C0x2 L3 C2x8');
  const del = Buffer.concat([old.subarray(0, 128), old.subarray(192)]);
  t.equal(show(computeDelta(sig, del)), 'C0x2 C3x7');
  const rep = Buffer.from(old);
  rep[192] ^= 1;
  t.equal(show(computeDelta(sig, rep)), 'C0x3 L64 C4x6');
  const rep2 = Buffer.from(old);
  rep2[191] ^= 1;
  t.equal(show(computeDelta(sig, rep2)), 'C0x2 L64 C3x7');
});

t.test('repeated blocks', async (t) => {
  const blk = randomBytes(32);
  const old = Buffer.concat(Array(50).fill(blk));
  const sig = signatureOf(old, 32);
  t.equal(show(computeDelta(sig, old)), 'C0x50', 'runs follow the basis order');
  const nw = Buffer.concat(Array(80).fill(blk));
  const ops = computeDelta(sig, nw);
  t.ok(applyDelta(old, ops, 32).equals(nw));
  t.equal(ops.filter((o) => o.op === 'literal').length, 0);
  t.equal(show(computeDelta(signatureOf(Buffer.alloc(1000), 100), Buffer.alloc(3000))), 'C0x10 C0x10 C0x10');
});

t.test('reordered blocks', async (t) => {
  const old = randomBytes(64 * 8);
  const sig = signatureOf(old, 64);
  const b = (i: number) => old.subarray(i * 64, i * 64 + 64);
  const nw = Buffer.concat([b(5), b(6), b(0), b(1), b(2), b(7), b(3)]);
  t.equal(show(computeDelta(sig, nw)), 'C5x2 C0x3 C7x1 C3x1');
});

// Adler-style sums are blind to a "pqqp" -> "qppq" swap: same multiset (a),
// and the position weights cancel (b). Eight such sites in a 32-byte block
// give 256 blocks with one weak sum and 256 different strong hashes.
function collidingBlock(variant: number, p: number, q: number): Buffer {
  const out = Buffer.alloc(32);
  for (let site = 0; site < 8; site++) {
    const pat = variant & (1 << site) ? [q, p, p, q] : [p, q, q, p];
    out.set(pat, site * 4);
  }
  return out;
}

t.test('crafted weak-checksum collisions', async (t) => {
  const blocks = Array.from({ length: 256 }, (_, v) => collidingBlock(v, 0x41, 0x7a));
  const w0 = weakSum(blocks[0], 0, 32);
  t.ok(blocks.every((b) => weakSum(b, 0, 32) === w0), 'all 256 blocks share one weak sum');
  t.equal(new Set(blocks.map((b) => b.toString('hex'))).size, 256, 'and all differ');

  // a block that collides with the basis but is not in it is never copied
  const old = Buffer.concat(blocks.slice(0, 4));
  const sig = signatureOf(old, 32);
  const impostor = blocks[200];
  const nw = Buffer.concat([impostor, blocks[2], impostor]);
  const gen = new DeltaGenerator(sig);
  const ops = [...gen.push(nw), ...gen.finish()];
  t.equal(show(ops), 'L32 C2x1 L32');
  t.ok(gen.stats.falseWeakHits >= 2, 'the strong hash rejected the impostors');
  t.ok(applyDelta(old, ops, 32).equals(nw));

  // a basis made only of colliding blocks: the chain cap bounds the work;
  // the output stays correct whatever is matched
  const all = Buffer.concat(blocks);
  const sigAll = signatureOf(all, 32);
  const r = mulberry32(5);
  const shuffled = Buffer.concat(blocks.map((b) => [r(), b] as const).sort((x, y) => x[0] - y[0]).map((x) => x[1]));
  const capped = new DeltaGenerator(sigAll);
  const ops1 = [...capped.push(shuffled), ...capped.finish()];
  t.ok(applyDelta(all, ops1, 32).equals(shuffled), 'capped chains: correct');
  const uncapped = new DeltaGenerator(sigAll, { maxChain: 1000 });
  const ops2 = [...uncapped.push(shuffled), ...uncapped.finish()];
  t.ok(applyDelta(all, ops2, 32).equals(shuffled), 'uncapped: correct');
  t.equal(uncapped.stats.literalBytes, 0, 'uncapped chains find every block');
  t.ok(capped.stats.matchedBytes >= 16 * 32, 'capped chains still find the first 16');
});

t.test('streaming beyond the internal buffer: compaction and 64 KiB literal flushes', async (t) => {
  const r = mulberry32(99);
  const old = bytes(r, 3 << 20);
  const nw = Buffer.concat([old.subarray(0, 1 << 20), bytes(r, 200_000), old.subarray((1 << 20) + 5000, 2 << 20), bytes(r, 70_000), old.subarray(2 << 20)]);
  const sig = signatureOf(old, 1024);
  const whole = computeDelta(sig, nw);
  const { ops, gen } = deltaChunked(sig, nw, () => 1 + int(r, 100_000));
  t.equal(encodeOps(ops).toString('hex'), encodeOps(whole).toString('hex'), 'chunking does not change the ops');
  checkOps(t, ops, sig, nw.length, 'big');
  t.ok(applyDelta(old, ops, 1024).equals(nw));
  t.ok(gen.stats.literalBytes < 200_000 + 70_000 + 2 * 1024, `literal ${gen.stats.literalBytes}`);
  // empty basis, big file, odd chunks
  const e = deltaChunked(signatureOf(Buffer.alloc(0), 700), nw.subarray(0, 300_001), () => 1 + int(r, 70_000));
  t.same(e.ops.map((o) => (o.op === 'literal' ? o.data.length : -1)), [65536, 65536, 65536, 65536, 37857]);
});

t.test('a few small edits give a small delta', async (t) => {
  const r = mulberry32(2024);
  const old = bytes(r, 1 << 20);
  const nw = Buffer.from(old);
  for (let i = 0; i < 10; i++) nw.set(bytes(r, 10), int(r, nw.length - 10));
  const bs = chooseBlockSize(old.length);
  const sig = signatureOf(old, bs, chooseStrongLen(old.length, bs));
  const gen = new DeltaGenerator(sig);
  const ops = [...gen.push(nw), ...gen.finish()];
  t.ok(applyDelta(old, ops, bs).equals(nw));
  t.ok(gen.stats.literalBytes < 10 * bs * 2, `literal bytes ${gen.stats.literalBytes} < ${10 * bs * 2} (block ${bs})`);
  t.ok(encodeOps(ops).length < 10 * bs * 2 + 200);
});

// ---- seeded random round-trips -------------------------------------------

type Mutation = (r: Rng, old: Buffer, bs: number) => Buffer;
const mutations: Record<string, Mutation> = {
  identical: (_r, old) => Buffer.from(old),
  different: (r, old) => bytes(r, int(r, old.length + 40)),
  empty: () => Buffer.alloc(0),
  insertByteAtStart: (r, old) => Buffer.concat([bytes(r, 1), old]),
  deleteByteAtStart: (_r, old) => old.subarray(1),
  append: (r, old) => Buffer.concat([old, bytes(r, 1 + int(r, 50))]),
  truncate: (r, old) => old.subarray(0, int(r, old.length + 1)),
  boundaryEdit: (r, old, bs) => {
    const at = Math.min(old.length, int(r, Math.floor(old.length / bs) + 1) * bs);
    const k = int(r, 3);
    const del = k === 1 ? 0 : 1 + int(r, bs * 2);
    const ins = k === 0 ? Buffer.alloc(0) : bytes(r, 1 + int(r, bs));
    return Buffer.concat([old.subarray(0, at), ins, old.subarray(at + del)]);
  },
  randomEdits: (r, old) => {
    let cur = Buffer.from(old);
    const n = 1 + int(r, 6);
    for (let i = 0; i < n; i++) {
      const at = int(r, cur.length + 1);
      const del = int(r, 12);
      cur = Buffer.concat([cur.subarray(0, at), bytes(r, int(r, 12)), cur.subarray(at + del)]);
    }
    return cur;
  },
  byteFlips: (r, old) => {
    const cur = Buffer.from(old);
    for (let i = 0; i < 3 && cur.length; i++) cur[int(r, cur.length)] ^= 1 + int(r, 255);
    return cur;
  },
  shuffleBlocks: (r, old, bs) => {
    const parts: Buffer[] = [];
    for (let o = 0; o < old.length; o += bs) parts.push(old.subarray(o, o + bs));
    return Buffer.concat(parts.map((p) => [r(), p] as const).sort((x, y) => x[0] - y[0]).map((x) => x[1]));
  },
  duplicateRegions: (r, old) => {
    const parts: Buffer[] = [];
    for (let i = 0, n = 1 + int(r, 5); i < n; i++) {
      const s = int(r, old.length + 1);
      parts.push(old.subarray(s, s + int(r, old.length + 1)));
      if (r() < 0.5) parts.push(bytes(r, int(r, 5)));
    }
    return Buffer.concat(parts);
  },
};

t.test('seeded random round-trips', async (t) => {
  const CASES = 2400;
  const names = Object.keys(mutations);
  const seen: Record<string, number> = {};
  let failures = 0;
  for (let seed = 1; seed <= CASES; seed++) {
    const r = mulberry32(seed);
    const bs = pick(r, [1, 2, 3, 4, 5, 7, 8, 16, 31, 64, 100]);
    const strongLen = pick(r, [4, 6, 8, 16]);
    const lenKind = int(r, 4);
    const oldLen = lenKind === 0 ? int(r, bs + 1) : lenKind === 1 ? bs * int(r, 12) : int(r, bs * 24 + 1);
    const contentKind = int(r, 3);
    let old: Buffer;
    if (contentKind === 0) old = bytes(r, oldLen);
    else if (contentKind === 1) old = bytes(r, oldLen, 2); // low entropy: repeats and weak collisions
    else {
      const unit = bytes(r, 1 + int(r, bs * 2));
      old = Buffer.alloc(oldLen);
      for (let i = 0; i < oldLen; i++) old[i] = unit[i % unit.length];
    }
    const name = names[seed % names.length];
    seen[name] = (seen[name] ?? 0) + 1;
    const nw = mutations[name](r, old, bs);
    const sig = signatureOf(old, bs, strongLen);
    const chunkKind = int(r, 4);
    const sizes = chunkKind === 0 ? () => 1 : chunkKind === 1 ? () => 1 + int(r, 7) : chunkKind === 2 ? () => 1 + int(r, nw.length + 1) : () => nw.length;
    const label = `seed ${seed} ${name} bs ${bs} old ${old.length} new ${nw.length} chunks ${chunkKind}`;
    const { ops, gen } = deltaChunked(sig, nw, sizes);
    checkOps(t, ops, sig, nw.length, label);
    const wire = encodeOps(ops);
    const back = decodeOps(wire, { blockCount: sig.blockCount });
    const out = applyDelta(old, back, bs);
    if (!out.equals(nw)) { failures++; t.fail(`${label}: round trip differs`); }
    if (gen.stats.literalBytes + gen.stats.matchedBytes !== nw.length) t.fail(`${label}: stats do not add up`);
    if (!wire.equals(encodeOps(computeDelta(sig, nw)))) t.fail(`${label}: chunking changed the ops`);
    if (name === 'identical' && old.length > 0 && show(ops) !== `C0x${sig.blockCount}`) t.fail(`${label}: identical file not one copy: ${show(ops)}`);
    if (name === 'insertByteAtStart' && contentKind === 0 && old.length >= bs && bs >= 16 && gen.stats.literalBytes !== 1) t.fail(`${label}: ${show(ops)}`);
    if (failures > 5) break;
  }
  t.equal(failures, 0, `${CASES} cases`);
  t.ok(names.every((n) => seen[n] > 100), `every mutation ran: ${JSON.stringify(seen)}`);
});
