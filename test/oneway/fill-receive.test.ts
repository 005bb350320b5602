// The receiver's side of multi-round deltas on real files: FillFile signs
// its basis round by round, writes ops at their offsets in a temporary, and
// refuses op streams that do not fit the holes or the virtual basis. The
// sender's side is played in memory with the same engine pieces (sendRound
// in lib/oneway/fill-send.ts does this over a connection).
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FillFile } from '../../lib/oneway/fill-receive.js';
import { openTemp } from '../../lib/fs/apply.js';
import { ChunkedHash, decodeSignature, DeltaGenerator, encodeOps, HoleFilter, type RoundOp } from '../../lib/delta/index.js';
import { emptyStats } from '../../lib/cli/stats.js';
import { mulberry32 } from '../helpers/prng.mjs';
import { throwsProto } from '../helpers/assert.js';

const KiB = 1024;

/** what sendRound computes for one round: the ops for the holes (null: the whole file), and the holes it leaves */
function senderRound(neu: Buffer, sigBuf: Buffer, holeMin: number, holes: number[] | null): { ops: RoundOp[]; holes: number[] } {
  const sig = decodeSignature(sigBuf, { maxBlocks: 1 << 20 });
  const gen = new DeltaGenerator(sig);
  const f = new HoleFilter(holeMin, sig.blockSize, sig.fileSize);
  const pieces = holes ?? [0, neu.length];
  const ops: RoundOp[] = [];
  for (let i = 0; i < pieces.length; i += 2) {
    gen.reset();
    f.startAt(pieces[i]);
    const piece = neu.subarray(pieces[i], pieces[i] + pieces[i + 1]);
    for (let o = 0; o < piece.length; o += 100_000) ops.push(...f.push(gen.push(piece.subarray(o, o + 100_000))));
    ops.push(...f.push(gen.finish()), ...f.finish());
  }
  return { ops, holes: f.holes };
}

function setup(t: Test, old: Buffer, newSize: number): FillFile {
  const dir = t.testdir();
  const basis = path.join(dir, 'basis');
  fs.writeFileSync(basis, old);
  const fill = FillFile.open(basis, newSize);
  const { fd, path: tmp } = openTemp(dir, 'new', 0o600, fs.constants.O_RDWR);
  fill.fd = fd;
  fill.tmp = tmp;
  t.teardown(() => fill.discard());
  return fill;
}

/** all rounds; the number of rounds */
async function rebuild(t: Test, fill: FillFile, neu: Buffer, r: () => number): Promise<number> {
  let holes: number[] | null = null;
  const stats = emptyStats();
  for (let round = 1; ; round++) {
    const { sig, holeMin } = await fill.sign();
    const sent = senderRound(neu, sig, holeMin, holes);
    fill.begin();
    const enc = encodeOps(sent.ops);
    for (let o = 0; o < enc.length; ) {
      const n = 1 + Math.floor(r() * 70_000);
      fill.data(enc.subarray(o, o + n), stats);
      o += n;
    }
    if (!fill.end(sent.holes.length > 0)) {
      t.equal(stats.bytesLiteral + stats.bytesMatched, neu.length, 'literal + matched = the new size');
      return round;
    }
    t.ok(round < 3, 'at most three rounds');
    holes = sent.holes;
  }
}

/** what the sender puts in FILE_END for a multi-round delta */
function rootOf(data: Buffer): string {
  const h = new ChunkedHash(data.length);
  h.update(0, data);
  return h.root().toString('hex');
}

function randomBytesSeeded(r: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let i = 0;
  for (; i + 4 <= n; i += 4) b.writeUInt32LE(Math.floor(r() * 2 ** 32), i);
  for (; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

t.test('seeded random round trips through the temporary: edits, inserts, deletes, truncation', async (t) => {
  for (let seed = 1; seed <= 12; seed++) {
    const r = mulberry32(seed * 31337);
    const old = randomBytesSeeded(r, 2 * 1024 * KiB + Math.floor(r() * 1024 * KiB));
    const parts: Buffer[] = [];
    let o = 0;
    while (o < old.length) {
      const n = Math.floor(r() * 200 * KiB);
      const x = r();
      if (x < 0.15) parts.push(randomBytesSeeded(r, 1 + Math.floor(r() * 2000))); // insert
      else if (x < 0.25) o += Math.floor(r() * 3000); // delete
      else if (x < 0.5) {
        const piece = Buffer.from(old.subarray(o, o + n));
        for (let k = 0; k < 3 && piece.length > 0; k++) piece[Math.floor(r() * piece.length)] ^= 0x5a; // edits
        parts.push(piece);
        o += n;
      } else parts.push(old.subarray(o, o + n)), (o += n);
    }
    let neu = Buffer.concat(parts);
    if (seed % 5 === 0) neu = neu.subarray(0, Math.floor(neu.length * r())); // truncated
    if (seed === 6) neu = Buffer.alloc(0);
    const fill = setup(t, old, neu.length);
    const rounds = await rebuild(t, fill, neu, r);
    const digest = await fill.digest();
    t.equal(digest.toString('hex'), rootOf(neu), `seed ${seed}: identical after ${rounds} round(s) (${neu.length} bytes)`);
    t.equal(fs.fstatSync(fill.fd).size, neu.length, `seed ${seed}: nothing written past the end`);
  }
});

t.test('a temporary that differs (a lying copy) fails the hash', async (t) => {
  const r = mulberry32(5);
  const old = randomBytesSeeded(r, 512 * KiB);
  const fill = setup(t, old, 1000);
  await fill.sign();
  fill.begin();
  fill.data(encodeOps([{ op: 'literal', data: Buffer.alloc(1000, 7) }]), emptyStats());
  t.equal(fill.end(false), false);
  t.not((await fill.digest()).toString('hex'), rootOf(old.subarray(0, 1000)));
});

t.test('lying op streams get E_PROTOCOL, never a write outside the holes', async (t) => {
  const r = mulberry32(9);
  const old = randomBytesSeeded(r, 512 * KiB); // round 1: 64 KiB blocks (8), holes of >= 2 KiB
  const cases: Array<[string, number, (f: FillFile) => void]> = [
    ['a copy longer than the file', 1000, (f) => f.data(encodeOps([{ op: 'copy', block: 0, count: 1 }]), emptyStats())],
    ['a literal longer than the file', 100, (f) => f.data(encodeOps([{ op: 'literal', data: Buffer.alloc(101) }]), emptyStats())],
    ['a copy past the basis', 10 * 65536, (f) => f.data(encodeOps([{ op: 'copy', block: 7, count: 2 }]), emptyStats())],
    ['a hole shorter than asked for', 65536, (f) => f.data(encodeOps([{ op: 'hole', length: 100 }]), emptyStats())],
    ['a hole longer than the file', 65536, (f) => f.data(encodeOps([{ op: 'hole', length: 65537 }]), emptyStats())],
    ['data after the file is complete', 65536, (f) => f.data(encodeOps([{ op: 'copy', block: 0, count: 1 }, { op: 'literal', data: Buffer.alloc(1) }]), emptyStats())],
    ['an end with bytes unfilled', 65537, (f) => (f.data(encodeOps([{ op: 'copy', block: 0, count: 1 }]), emptyStats()), f.end(false))],
    ['holes announced, none sent', 65536, (f) => (f.data(encodeOps([{ op: 'copy', block: 0, count: 1 }]), emptyStats()), f.end(true))],
    ['holes sent, the file declared complete', 65536, (f) => (f.data(encodeOps([{ op: 'hole', length: 65536 }]), emptyStats()), f.end(false))],
    ['an unknown op', 100, (f) => f.data(Buffer.from([0x07]), emptyStats())],
  ];
  for (const [what, size, act] of cases) {
    const fill = setup(t, old, size);
    await fill.sign();
    fill.begin();
    throwsProto(t, () => act(fill), what);
    t.ok(fs.fstatSync(fill.fd).size <= size, `${what}: nothing written past ${size}`);
  }
  const fill = setup(t, old, 100);
  throwsProto(t, () => fill.data(Buffer.from([0x02, 0x01, 0x00]), emptyStats()), 'data before a round began');
  throwsProto(t, () => fill.end(false), 'an end before a round began');
  throwsProto(t, () => fill.begin(), 'a round begun before it was asked for');
  await fill.sign();
  fill.begin();
  fill.data(encodeOps([{ op: 'literal', data: Buffer.alloc(100) }]), emptyStats());
  fill.end(false);
  throwsProto(t, () => fill.begin(), 'another round after the file was complete');
});

t.test('the last round allows no holes; a later round copies only from the unreferenced basis', async (t) => {
  const r = mulberry32(11);
  const old = randomBytesSeeded(r, 512 * KiB);
  // the new file: block 0 of the old one, then 64 KiB of block 3 with one byte changed
  const b3 = Buffer.from(old.subarray(3 * 65536, 4 * 65536));
  b3[100] ^= 1;
  const neu = Buffer.concat([old.subarray(0, 65536), b3]);
  const fill = setup(t, old, neu.length);
  const s1 = await fill.sign();
  t.equal(s1.holeMin, 2048, 'round 1 allows holes of >= 2 blocks of round 2');
  fill.begin();
  fill.data(encodeOps([{ op: 'copy', block: 0, count: 1 }, { op: 'hole', length: 65536 }]), emptyStats());
  t.equal(fill.end(true), true, 'another round follows');
  const s2 = await fill.sign();
  const sig2 = decodeSignature(s2.sig, { maxBlocks: 1 << 20 });
  t.equal(sig2.fileSize, 7 * 65536, 'round 2 signs the 7 blocks no copy used');
  t.equal(sig2.blockSize, 1024);
  t.equal(s2.holeMin, 256);
  // block 2 of the virtual basis (64 KiB blocks 1..7) starts at basis block 3
  fill.begin();
  const k = (2 * 65536) / 1024;
  fill.data(encodeOps([{ op: 'literal', data: b3.subarray(0, 1024) }, { op: 'copy', block: k + 1, count: 63 }]), emptyStats());
  t.equal(fill.end(false), false);
  t.equal((await fill.digest()).toString('hex'), rootOf(neu), 'copies landed at their final offsets');
  // a copy beyond the virtual basis is refused
  const f2 = setup(t, old, neu.length);
  await f2.sign();
  f2.begin();
  f2.data(encodeOps([{ op: 'copy', block: 0, count: 1 }, { op: 'hole', length: 65536 }]), emptyStats());
  f2.end(true);
  await f2.sign();
  f2.begin();
  throwsProto(t, () => f2.data(encodeOps([{ op: 'copy', block: 7 * 64, count: 1 }]), emptyStats()), 'a copy past the virtual basis');
});
