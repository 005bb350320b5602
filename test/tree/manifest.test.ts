import t from 'tap';
import { createHmac, hkdfSync } from 'node:crypto';
import { deriveKey, MAC_LEN, MacChain, macEqual } from '../../lib/tree/manifest.js';

const KEY = Buffer.alloc(32, 0x42);
const B1 = Buffer.from('batch one');
const B2 = Buffer.from('batch two');
const B3 = Buffer.from('batch three');

const chain = (key: Buffer, batches: Buffer[]) => {
  const c = new MacChain(key);
  const macs = batches.map((b) => Buffer.from(c.next(b)));
  return { macs, final: c.final(batches.length, 0, false), c };
};

t.test('deriveKey: HKDF-SHA256, deterministic, 32 bytes', async (t) => {
  const secret = Buffer.from('pre-shared secret');
  const salt = Buffer.from('salt');
  const k = deriveKey(secret, salt, 'tsync manifest');
  t.equal(k.length, 32);
  t.ok(Buffer.isBuffer(k));
  t.same(deriveKey(secret, salt, 'tsync manifest'), k, 'same inputs, same key');
  t.same(k, Buffer.from(hkdfSync('sha256', secret, salt, Buffer.from('tsync manifest'), 32)), 'is HKDF-SHA256');
  t.notSame(deriveKey(secret, salt, 'tsync manifest2'), k, 'info matters');
  t.notSame(deriveKey(secret, Buffer.from('salt2'), 'tsync manifest'), k, 'salt matters');
  t.notSame(deriveKey(Buffer.from('other secret'), salt, 'tsync manifest'), k, 'secret matters');
  // RFC 5869 A.3 (empty salt and info; the other vectors have non-UTF-8 info, which deriveKey's string cannot carry)
  t.equal(
    deriveKey(Buffer.alloc(22, 0x0b), Buffer.alloc(0), '').toString('hex'),
    '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d',
    'RFC 5869 A.3 (first 32 bytes of OKM)',
  );
});

t.test('MacChain: known construction', async (t) => {
  t.equal(MAC_LEN, 32);
  const { macs, final } = chain(KEY, [B1, B2]);
  const m1 = createHmac('sha256', KEY).update(Buffer.alloc(32)).update(B1).digest();
  const m2 = createHmac('sha256', KEY).update(m1).update(B2).digest();
  // final: HMAC(state || 'end' || u64 BE entries || u64 BE ioErrors || u8 singleFile)
  const n = Buffer.alloc(17);
  n.writeBigUInt64BE(2n, 0);
  const f = createHmac('sha256', KEY).update(m2).update('end').update(n).digest();
  const n2 = Buffer.alloc(17);
  n2.writeBigUInt64BE(7n, 0);
  n2.writeBigUInt64BE(3n, 8);
  n2[16] = 1;
  const c = new MacChain(KEY);
  c.next(B1);
  c.next(B2);
  t.same(c.final(7, 3, true), createHmac('sha256', KEY).update(m2).update('end').update(n2).digest(), 'all three facts, in order');
  t.same(macs, [m1, m2]);
  t.same(final, f);
  t.ok(macs.every((m) => m.length === MAC_LEN));
});

t.test('MacChain: deterministic, counts batches', async (t) => {
  const a = chain(KEY, [B1, B2, B3]);
  const b = chain(KEY, [B1, B2, B3]);
  t.same(a.macs, b.macs);
  t.same(a.final, b.final);
  t.equal(a.c.count, 3);
  t.equal(new MacChain(KEY).count, 0);
  // a returned MAC is not changed by later batches
  const c = new MacChain(KEY);
  const first = c.next(B1);
  const copy = Buffer.from(first);
  c.next(B2);
  c.final(2, 0, false);
  t.same(first, copy);
});

t.test('MacChain: order matters', async (t) => {
  const ab = chain(KEY, [B1, B2]);
  const ba = chain(KEY, [B2, B1]);
  t.notSame(ab.macs[1], ba.macs[1], 'swapping two batches changes the chain');
  t.notSame(ab.final, ba.final, 'and the final MAC');
  // the same batch at a different position has a different MAC
  const x = chain(KEY, [B1, B1]);
  t.notSame(x.macs[0], x.macs[1]);
  // a batch's MAC depends on everything before it
  t.notSame(chain(KEY, [B1, B3]).macs[1], chain(KEY, [B2, B3]).macs[1]);
});

t.test('MacChain: batch boundaries matter', async (t) => {
  const joined = chain(KEY, [Buffer.concat([B1, B2])]);
  const split = chain(KEY, [B1, B2]);
  t.notSame(joined.macs[0], split.macs[1]);
  const n = Buffer.alloc(0);
  t.notSame(chain(KEY, [B1, n]).macs[1], chain(KEY, [B1]).macs[0], 'an empty batch still moves the chain');
});

t.test('MacChain: final binds the count, the I/O error count and single-file', async (t) => {
  const c = new MacChain(KEY);
  c.next(B1);
  c.next(B2);
  const f2 = c.final(2, 0, false);
  t.notSame(c.final(3, 0, false), f2, 'entry count');
  t.notSame(c.final(0, 0, false), f2, 'entry count 0');
  t.notSame(c.final(2, 1, false), f2, 'a sender I/O error count');
  t.notSame(c.final(2, 0, true), f2, 'single-file');
  t.notSame(c.final(0, 2, false), f2, 'the count fields are not interchangeable');
  t.same(c.final(2, 0, false), f2, 'final does not move the chain');
  t.equal(c.count, 2, 'final is not a batch');
  // dropping the last batch: the final differs even with the count adjusted
  t.notSame(chain(KEY, [B1]).final, f2);
  // the final is not a batch MAC
  t.notSame(f2, chain(KEY, [B1, B2]).macs[1]);
  // empty manifest
  const empty = new MacChain(KEY).final(0, 0, false);
  t.equal(empty.length, 32);
  t.notSame(empty, new MacChain(KEY).final(1, 0, false));
  t.same(empty, new MacChain(KEY).final(0, 0, false));
  t.doesNotThrow(() => new MacChain(KEY).final(2 ** 53 - 1, 2 ** 53 - 1, true));
});

t.test('MacChain: different keys differ', async (t) => {
  const other = Buffer.alloc(32, 0x43);
  const a = chain(KEY, [B1, B2]);
  const b = chain(other, [B1, B2]);
  t.notSame(a.macs[0], b.macs[0]);
  t.notSame(a.macs[1], b.macs[1]);
  t.notSame(a.final, b.final);
  t.notSame(new MacChain(KEY).final(0, 0, false), new MacChain(other).final(0, 0, false));
  const k1 = deriveKey(Buffer.from('s'), Buffer.from('1'), 'i');
  const k2 = deriveKey(Buffer.from('s'), Buffer.from('2'), 'i');
  t.notSame(chain(k1, [B1]).final, chain(k2, [B1]).final);
});

t.test('macEqual', async (t) => {
  const { final } = chain(KEY, [B1]);
  t.equal(macEqual(final, Buffer.from(final)), true);
  const flipped = Buffer.from(final);
  flipped[31] ^= 1;
  t.equal(macEqual(final, flipped), false, 'one bit differs');
  const first = Buffer.from(final);
  first[0] ^= 0x80;
  t.equal(macEqual(final, first), false, 'first byte differs');
  t.equal(macEqual(final, final.subarray(0, 31)), false, 'shorter: false, not a throw');
  t.equal(macEqual(final, Buffer.concat([final, Buffer.alloc(1)])), false, 'longer');
  t.equal(macEqual(Buffer.alloc(0), Buffer.alloc(0)), true, 'two empty buffers');
  t.equal(macEqual(Buffer.alloc(0), final), false);
});
