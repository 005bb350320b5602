import t from 'tap';
import { Patcher, applyDelta } from '../../lib/delta/patch.js';
import type { DeltaOp } from '../../lib/delta/types.js';
import { throwsProto } from '../helpers/assert.js';

const GiB = 2 ** 30;

t.test('plans basis ranges and literals', async (t) => {
  const p = new Patcher({ blockSize: 10, basisSize: 95 });
  t.equal(p.blockCount, 10);
  t.same(p.plan({ op: 'copy', block: 0, count: 2 }), [{ kind: 'basis', offset: 0, length: 20 }]);
  t.same(p.plan({ op: 'literal', data: Buffer.from('ab') }), [{ kind: 'literal', data: Buffer.from('ab') }]);
  t.same(p.plan({ op: 'copy', block: 8, count: 2 }), [{ kind: 'basis', offset: 80, length: 15 }], 'short last block');
  t.same(p.plan({ op: 'literal', data: Buffer.alloc(0) }), []);
  t.equal(p.written, 37);
});

t.test('offsets past 4 GiB are exact', async (t) => {
  const p = new Patcher({ blockSize: 2 ** 20, basisSize: 10 * GiB + 7, maxRange: 2 * GiB });
  t.equal(p.blockCount, 10241);
  t.same(p.plan({ op: 'copy', block: 5000, count: 1 }), [{ kind: 'basis', offset: 5000 * 2 ** 20, length: 2 ** 20 }]);
  t.same(p.plan({ op: 'copy', block: 10240, count: 1 }), [{ kind: 'basis', offset: 10 * GiB, length: 7 }]);
  const all = p.plan({ op: 'copy', block: 0, count: 10241 });
  t.same(all.map((s) => (s.kind === 'basis' ? [s.offset / GiB, s.length / GiB] : [])), [[0, 2], [2, 2], [4, 2], [6, 2], [8, 2], [10, 7 / GiB]]);
  t.equal(p.written, 2 ** 20 + 7 + 10 * GiB + 7);
});

t.test('default maxRange bounds each read to 4 MiB', async (t) => {
  const p = new Patcher({ blockSize: 1000, basisSize: 10_000_000 });
  const steps = p.plan({ op: 'copy', block: 0, count: 10000 });
  t.equal(steps.length, 3);
  t.ok(steps.every((s) => s.kind === 'basis' && s.length <= 4 * 2 ** 20));
});

t.test('rejects ops that do not fit the basis', async (t) => {
  const p = new Patcher({ blockSize: 10, basisSize: 95 });
  const bad: unknown[] = [
    { op: 'copy', block: 10, count: 1 }, { op: 'copy', block: 9, count: 2 }, { op: 'copy', block: 0, count: 0 },
    { op: 'copy', block: -1, count: 1 }, { op: 'copy', block: 1.5, count: 1 }, { op: 'copy', block: 0, count: NaN },
    { op: 'move', block: 0, count: 1 }, { op: 'literal' },
  ];
  for (const op of bad) throwsProto(t, () => p.plan(op as DeltaOp), JSON.stringify(op));
  const empty = new Patcher({ blockSize: 10, basisSize: 0 });
  t.throws(() => empty.plan({ op: 'copy', block: 0, count: 1 }), /0 blocks/);
  t.throws(() => new Patcher({ blockSize: 0, basisSize: 1 }));
  t.throws(() => new Patcher({ blockSize: 1, basisSize: -1 }));
});

t.test('applyDelta', async (t) => {
  const basis = Buffer.from('0123456789abcdefghij');
  t.equal(applyDelta(basis, [{ op: 'copy', block: 1, count: 1 }, { op: 'literal', data: Buffer.from('--') }, { op: 'copy', block: 0, count: 1 }], 8).toString(), '89abcdef--01234567');
  t.equal(applyDelta(basis, [{ op: 'copy', block: 2, count: 1 }], 8).toString(), 'ghij');
  t.equal(applyDelta(basis, [], 8).length, 0);
});
