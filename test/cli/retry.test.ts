// withRetries: only a lost link is tried again, as often as --retries says,
// after pauses that double; the count of reconnects comes back.

import t from 'tap';
import { backoffMs, withRetries } from '../../lib/cli/retry.js';
import { TsyncError } from '../../lib/errors.js';

const lost = () => new TsyncError('E_CONNECTION_LOST', 'the peer closed the connection');

t.test('a lost link is tried again until an attempt completes', async (t) => {
  const slept: number[] = [];
  const notes: string[] = [];
  let calls = 0;
  const r = await withRetries(3, async (n) => {
    t.equal(n, calls++, 'each attempt is told how many reconnects came before it');
    if (n < 2) throw lost();
    return 'done';
  }, (s) => notes.push(s), async (ms) => void slept.push(ms));
  t.same(r, { result: 'done', reconnects: 2 });
  t.same(slept, [1000, 2000], 'the pause doubles');
  t.match(notes[1], /connecting again in 2 s \(retry 2 of 3\)/);
});

t.test('retries run out: the last lost link is the error', async (t) => {
  let calls = 0;
  await t.rejects(withRetries(2, async () => {
    calls++;
    throw lost();
  }, () => {}, async () => {}), { code: 'E_CONNECTION_LOST' });
  t.equal(calls, 3, 'one attempt and two retries');
});

t.test('anything but a lost link ends the run at once', async (t) => {
  let calls = 0;
  await t.rejects(withRetries(5, async () => {
    calls++;
    throw new TsyncError('E_PROTOCOL', 'bad frame');
  }, () => {}, async () => {}), { code: 'E_PROTOCOL' });
  t.equal(calls, 1);
  await t.rejects(withRetries(0, async () => {
    throw lost();
  }, () => {}, async () => {}), { code: 'E_CONNECTION_LOST' }, '--retries 0: today\'s behaviour');
});

t.test('the pause is capped at 30 s', async (t) => {
  t.same([1, 2, 3, 5, 6, 20].map(backoffMs), [1000, 2000, 4000, 16000, 30000, 30000]);
});
