import t from 'tap';
import { randomBytes } from 'node:crypto';
import {
  chooseBlockSize, chooseStrongLen, SignatureBuilder, signatureOf, encodeSignature, decodeSignature,
  SIGNATURE_HEADER_LEN, TARGET_MAX_BLOCKS, MAX_BLOCK_SIZE,
} from '../../lib/delta/signature.js';
import { mulberry32 } from '../helpers/prng.mjs';
import { isProto, throwsProto } from '../helpers/assert.js';


const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

t.test('chooseBlockSize', async (t) => {
  const table: Array<[number, number]> = [
    [0, 700], [1, 700], [700 * 700, 700], [700 * 700 + 1, 696], [MiB, 1024], [100 * MiB, 10240],
    [GiB, 32 * KiB], [10 * GiB, 103616], [16 * GiB, 128 * KiB], [128 * GiB, 128 * KiB],
    [128 * GiB + 1, 128 * KiB + 8], [TARGET_MAX_BLOCKS * 200 * KiB, 200 * KiB], [2 ** 53 - 1, MAX_BLOCK_SIZE],
  ];
  for (const [size, bs] of table) t.equal(chooseBlockSize(size), bs, `size ${size}`);
  for (const size of [0, 12345, GiB, 10 * GiB, 100 * GiB, 1000 * GiB, 16 * 1024 * GiB]) {
    const bs = chooseBlockSize(size);
    t.ok((bs === 700 || bs % 8 === 0) && Math.ceil(size / bs) <= TARGET_MAX_BLOCKS, `size ${size}: ${Math.ceil(size / bs)} blocks of ${bs}`);
  }
  t.throws(() => chooseBlockSize(-1));
  t.throws(() => chooseBlockSize(1.5));
  t.throws(() => chooseBlockSize(2 ** 53));
});

t.test('chooseStrongLen', async (t) => {
  t.equal(chooseStrongLen(0, 700), 6);
  t.equal(chooseStrongLen(GiB, 32 * KiB), 6);
  t.equal(chooseStrongLen(16 * 1024 * GiB, 16 * MiB), 7);
  t.equal(chooseStrongLen(2 ** 53 - 1, MAX_BLOCK_SIZE), 9);
});

t.test('builder: any chunking gives the same signature', async (t) => {
  const r = mulberry32(1);
  for (let c = 0; c < 200; c++) {
    const bs = 1 + Math.floor(r() * 40);
    const data = randomBytes(Math.floor(r() * 400));
    const ref = signatureOf(data, bs, 8);
    const b = new SignatureBuilder({ blockSize: bs, strongLen: 8 });
    for (let o = 0; o < data.length;) {
      const n = 1 + Math.floor(r() * (r() < 0.5 ? 3 : 100));
      b.update(data.subarray(o, o + n));
      o += n;
    }
    b.update(Buffer.alloc(0));
    const sig = b.finish();
    if (!encodeSignature(sig).equals(encodeSignature(ref))) t.fail(`case ${c}`);
    t.equal(sig.blockCount, Math.ceil(data.length / bs));
    t.equal(sig.fileSize, data.length);
  }
  t.throws(() => new SignatureBuilder({ blockSize: 0 }));
  t.throws(() => new SignatureBuilder({ blockSize: 8, strongLen: 3 }));
  t.throws(() => new SignatureBuilder({ blockSize: 8, strongLen: 33 }));
  const b = new SignatureBuilder({ blockSize: 4, maxBlocks: 2 });
  b.update(Buffer.alloc(9));
  t.throws(() => b.finish(), /exceed 2 blocks/);
  const b2 = new SignatureBuilder({ blockSize: 4, maxBlocks: 2 });
  t.throws(() => b2.update(Buffer.alloc(12)), /exceed 2 blocks/);
  const done = new SignatureBuilder({ blockSize: 4 });
  done.finish();
  t.throws(() => done.update(Buffer.alloc(1)));
  t.throws(() => done.finish());
});

t.test('encode/decode round trip', async (t) => {
  for (const [len, bs, sl] of [[0, 700, 6], [1, 700, 4], [1000, 16, 16], [4096, 64, 32]] as const) {
    const sig = signatureOf(randomBytes(len), bs, sl);
    const enc = encodeSignature(sig);
    t.equal(enc.length, SIGNATURE_HEADER_LEN + sig.blockCount * (4 + sl));
    const dec = decodeSignature(enc, { maxBlocks: 1000 });
    t.same({ ...dec, weak: [...dec.weak], strong: [...dec.strong] }, { ...sig, weak: [...sig.weak], strong: [...sig.strong] });
  }
  // a file size past 4 GiB survives the 64-bit field
  const fake = { blockSize: 16 * MiB, strongLen: 4, fileSize: 5 * GiB + 3, blockCount: 321, weak: new Int32Array(321), strong: new Uint8Array(321 * 4) };
  const dec = decodeSignature(encodeSignature(fake), { maxBlocks: 1000 });
  t.equal(dec.fileSize, 5 * GiB + 3);
  t.equal(dec.blockCount, 321);
});


t.test('decoder rejects truncated, corrupted and oversized input', async (t) => {
  const sig = signatureOf(randomBytes(1000), 100, 8);
  const enc = encodeSignature(sig);
  for (let n = 0; n < enc.length; n++) {
    throwsProto(t, () => decodeSignature(enc.subarray(0, n), { maxBlocks: 100 }), `prefix ${n}`);
  }
  t.throws(() => decodeSignature(Buffer.concat([enc, Buffer.from([0])]), { maxBlocks: 100 }), /trailing/);
  t.throws(() => decodeSignature(enc, { maxBlocks: 9 }), /exceeds the limit/);
  const patch = (f: (b: Buffer) => void) => { const b = Buffer.from(enc); f(b); return b; };
  t.throws(() => decodeSignature(patch((b) => { b[0] = 0x58; }), { maxBlocks: 100 }), /magic/);
  t.throws(() => decodeSignature(patch((b) => { b[3] = 2; }), { maxBlocks: 100 }), /version 2/);
  t.throws(() => decodeSignature(patch((b) => { b[4] = 3; }), { maxBlocks: 100 }), /strongLen/);
  t.throws(() => decodeSignature(patch((b) => { b[4] = 200; }), { maxBlocks: 100 }), /strongLen/);
  t.throws(() => decodeSignature(patch((b) => b.writeUInt32BE(0, 5)), { maxBlocks: 100 }), /blockSize 0/);
  t.throws(() => decodeSignature(patch((b) => b.writeUInt32BE(2 ** 32 - 1, 5)), { maxBlocks: 100 }), /blockSize/);
  t.throws(() => decodeSignature(patch((b) => b.writeUInt32BE(0xffffffff, 9)), { maxBlocks: 100 }), /2\^53/);
  t.throws(() => decodeSignature(patch((b) => b.writeUInt32BE(11, 17)), { maxBlocks: 100 }), /does not match/);
  // a header promising 2^32-1 blocks of a huge file: refused before any allocation
  const huge = Buffer.from(enc.subarray(0, SIGNATURE_HEADER_LEN));
  huge.writeUInt32BE(1, 5);
  huge.writeUInt32BE(0, 9);
  huge.writeUInt32BE(0xffffffff, 13);
  huge.writeUInt32BE(0xffffffff, 17);
  t.throws(() => decodeSignature(huge, { maxBlocks: 2 ** 32 }), /truncated/);
  t.throws(() => decodeSignature(huge, { maxBlocks: 2 ** 20 }), /exceeds the limit/);
  t.throws(() => decodeSignature(enc, { maxBlocks: 100, maxBlockSize: 99 }), /blockSize 100/);
  // random corruption: throws E_PROTOCOL or yields a consistent signature
  const r = mulberry32(7);
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.from(enc);
    for (let k = 0, n = 1 + Math.floor(r() * 3); k < n; k++) b[Math.floor(r() * (r() < 0.7 ? SIGNATURE_HEADER_LEN : b.length))] = Math.floor(r() * 256);
    try {
      const s = decodeSignature(b, { maxBlocks: 100 });
      if (s.blockCount !== Math.ceil(s.fileSize / s.blockSize) || s.weak.length !== s.blockCount) t.fail('inconsistent');
    } catch (e) {
      if (!isProto(e)) t.fail(`unexpected ${String(e)}`);
    }
  }
});
