import t from 'tap';
import { randomBytes } from 'node:crypto';
import { WEAK_TABLE, weakSum, RollingSum, strongSum, outTable } from '../../lib/delta/rolling.js';

t.test('the table is fixed (part of signature format version 1)', async (t) => {
  t.equal(WEAK_TABLE.length, 256);
  t.ok(WEAK_TABLE.every((v) => v >= 0 && v <= 0xffff));
  t.equal(new Set(WEAK_TABLE).size, 256, 'no two bytes map to the same value');
  // pinned values: changing the table silently would break old peers
  t.same([WEAK_TABLE[0], WEAK_TABLE[1], WEAK_TABLE[255]], [3142, 11861, 6521]);
  t.equal(weakSum(Buffer.from('tsync'), 0, 5) >>> 0, 0x7dcb83d8);
});

t.test('weakSum matches its definition', async (t) => {
  const d = randomBytes(300);
  for (const len of [0, 1, 2, 3, 4, 5, 17, 300]) {
    let a = 0;
    let b = 0;
    for (let i = 0; i < len; i++) {
      a += WEAK_TABLE[d[i]];
      b += (len - i) * WEAK_TABLE[d[i]];
    }
    t.equal(weakSum(d, 0, len), (((b % 65536) << 16) | (a % 65536)), `len ${len}`);
  }
  t.equal(weakSum(d, 10, 20), weakSum(Buffer.from(d.subarray(10, 30)), 0, 20), 'offset');
});

t.test('rolling equals recomputing at every position', async (t) => {
  const d = randomBytes(5000);
  for (const len of [1, 2, 7, 64, 700, 4096, 4999]) {
    const r = new RollingSum(len);
    r.init(d, 0);
    let bad = 0;
    for (let p = 0; p + len < d.length; p++) {
      if (r.value !== weakSum(d, p, len)) bad++;
      r.roll(d[p], d[p + len]);
    }
    t.equal(bad, 0, `window ${len}`);
  }
  t.throws(() => new RollingSum(0));
});

t.test('outTable wraps the window length mod 2^16', async (t) => {
  t.same(outTable(65536 + 5), outTable(5));
  t.equal(outTable(3)[9], (3 * WEAK_TABLE[9]) & 0xffff);
});

t.test('strongSum is truncated sha256', async (t) => {
  const d = Buffer.from('abc');
  t.equal(strongSum(d, 0, 3, 32).toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  t.equal(strongSum(d, 0, 3, 8).toString('hex'), 'ba7816bf8f01cfea');
  t.equal(strongSum(Buffer.from('xabcx'), 1, 3, 6).toString('hex'), 'ba7816bf8f01');
});

t.test('weak sums spread over the 32-bit space on text', async (t) => {
  // rsync's raw-byte sum gives few distinct values on text; the table does not
  const words = Buffer.from('alpha beta gamma delta return function const import export while\n'.repeat(2000));
  const seen = new Set<number>();
  const r = new RollingSum(64);
  r.init(words, 0);
  for (let p = 0; p + 64 < words.length; p++) { seen.add(r.value); r.roll(words[p], words[p + 64]); }
  const distinct = new Set<string>();
  for (let p = 0; p + 64 < words.length; p++) distinct.add(words.toString('latin1', p, p + 64));
  t.equal(seen.size, distinct.size, 'one weak sum per distinct window');
});
