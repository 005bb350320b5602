import t from 'tap';
import { encodeOps, decodeOps, OpsDecoder, OP_COPY, OP_LITERAL } from '../../lib/delta/wire.js';
import { MAX_LITERAL, type DeltaOp } from '../../lib/delta/types.js';
import { mulberry32 } from '../helpers/prng.mjs';
import { isProto, throwsProto } from '../helpers/assert.js';

const lit = (s: string): DeltaOp => ({ op: 'literal', data: Buffer.from(s) });

const sample: DeltaOp[] = [
  { op: 'copy', block: 0, count: 1 }, lit('hello'), { op: 'copy', block: 127, count: 128 },
  { op: 'copy', block: 300000, count: 700000 }, lit('x'.repeat(200)), { op: 'copy', block: 999999, count: 1 },
];

t.test('known bytes', async (t) => {
  t.equal(encodeOps([{ op: 'copy', block: 0, count: 1 }]).toString('hex'), '010001');
  t.equal(encodeOps([{ op: 'copy', block: 128, count: 300 }]).toString('hex'), '018001ac02');
  t.equal(encodeOps([lit('hi')]).toString('hex'), '02026869');
  t.equal(encodeOps([lit('')]).length, 0, 'empty literals are dropped');
  t.equal(encodeOps([]).length, 0);
  t.throws(() => encodeOps([{ op: 'copy', block: 1, count: 0 }]));
  t.throws(() => encodeOps([{ op: 'copy', block: -1, count: 1 }]));
});

t.test('round trip, whole and one byte at a time', async (t) => {
  const enc = encodeOps(sample);
  t.same(decodeOps(enc, { blockCount: 1_000_000 }), sample);
  const d = new OpsDecoder({ blockCount: 1_000_000 });
  const ops: DeltaOp[] = [];
  for (const byte of enc) ops.push(...d.push(Buffer.from([byte])));
  d.end();
  t.same(ops, sample);
});

t.test('long literals are split at MAX_LITERAL', async (t) => {
  const big = Buffer.alloc(MAX_LITERAL * 2 + 5, 7);
  const ops = decodeOps(encodeOps([{ op: 'literal', data: big }]), { blockCount: 0 });
  t.same(ops.map((o) => (o as { data: Buffer }).data.length), [MAX_LITERAL, MAX_LITERAL, 5]);
});

t.test('block numbers past 2^32 encode exactly', async (t) => {
  const ops: DeltaOp[] = [{ op: 'copy', block: 2 ** 40 + 3, count: 2 ** 33 }];
  t.same(decodeOps(encodeOps(ops), { blockCount: 2 ** 41 }), ops);
});

t.test('truncated streams throw, or decode a prefix at an op boundary', async (t) => {
  const enc = encodeOps(sample);
  const boundaries = new Set<number>([0]);
  for (let i = 1; i <= sample.length; i++) boundaries.add(encodeOps(sample.slice(0, i)).length);
  for (let n = 0; n <= enc.length; n++) {
    if (boundaries.has(n)) {
      const ops = decodeOps(enc.subarray(0, n), { blockCount: 1_000_000 });
      t.same(ops, sample.slice(0, ops.length), `cut at ${n}`);
    } else {
      t.throws(() => decodeOps(enc.subarray(0, n), { blockCount: 1_000_000 }), /truncated/, `cut at ${n}`);
    }
  }
});

t.test('corrupt streams throw E_PROTOCOL', async (t) => {
  const bad = (hex: string, re: RegExp, blockCount = 10) => t.throws(() => decodeOps(Buffer.from(hex, 'hex'), { blockCount }), re, hex);
  bad('03', /unknown op tag 0x03/);
  bad('00', /unknown op tag 0x00/);
  bad('010a01', /block 10, but the basis has 10 blocks/);
  bad('010900', /copy of 0 blocks/);
  bad('010902', /blocks 9\.\.10/);
  bad('010000', /copy of 0 blocks/);
  bad('0100', /truncated op/);
  bad('0200', /literal length 0/);
  bad('02818004', /literal length 65537 not in 1\.\.65536/);
  bad('01ffffffffffffffff01', /longer than 8 bytes/);
  bad('018000', /non-canonical/);
  bad('01ffffffffffffff7f01', /2\^53/);
  // a literal that claims 2^40 bytes is refused before allocating
  bad('0280808080808040', /literal length/);
  throwsProto(t, () => decodeOps(Buffer.from('020568', 'hex'), { blockCount: 1 }), 'short literal');
  t.throws(() => decodeOps(Buffer.from('02026869', 'hex'), { blockCount: 1, maxLiteral: 1 }), /not in 1\.\.1/);
  t.equal(OP_COPY, 1);
  t.equal(OP_LITERAL, 2);
});

t.test('random garbage never hangs or escapes the error type', async (t) => {
  const r = mulberry32(3);
  let decoded = 0;
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.alloc(1 + Math.floor(r() * 40));
    for (let k = 0; k < b.length; k++) b[k] = r() < 0.3 ? Math.floor(r() * 3) : Math.floor(r() * 256);
    try {
      const ops = decodeOps(b, { blockCount: 50 });
      decoded++;
      if (!encodeOps(ops).equals(b)) t.fail('decoded garbage does not re-encode to itself');
    } catch (e) {
      if (!isProto(e)) t.fail(`unexpected ${String(e)}`);
    }
  }
  t.ok(decoded > 0, `${decoded} random buffers were valid streams`);
  // flipping bytes of a valid stream
  const enc = encodeOps(sample);
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.from(enc);
    b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
    try { decodeOps(b, { blockCount: 1_000_000 }); } catch (e) { if (!isProto(e)) t.fail(`unexpected ${String(e)}`); }
  }
});
