// Moves in two-way runs (issue 17): a rename on either side is a rename
// on the other, in both argument orders, locally and through a stdio
// stand-in, and a rename against an edit of the old name keeps the edit;
// and over a real sshd, one-way and two-way. Shared code:
// test/helpers/moves.ts.

import t from 'tap';
import { TSYNC_BIN } from '../helpers/run.js';
import { requireOrSkip, sshdAvailable, startSshd, toolAvailable } from '../helpers/sshd.js';
import { oneWay, SCENARIOS, STANDIN, twoWay } from '../helpers/moves.js';

t.test('two-way: a rename on either side is a rename on the other, in both argument orders', async (t) => {
  for (const order of ['A B', 'B A'] as const) {
    await t.test(`local pair, ${order}`, (t) => twoWay(t, order));
    await t.test(`through a stdio stand-in, ${order}`, (t) => twoWay(t, order, ['-e', STANDIN, '--tsync-path', TSYNC_BIN]));
  }
});

t.test('over a real sshd: one-way and two-way moves', async (t) => {
  if (!requireOrSkip(t, sshdAvailable()) || !requireOrSkip(t, toolAvailable('rsync'))) return;
  const sshd = await startSshd(t);
  const rsh = ['-e', sshd.rsh, '--tsync-path', TSYNC_BIN];
  await t.test('a renamed directory, pushed', (t) => oneWay(t, SCENARIOS[4], 'push', { rsh }));
  await t.test('two files swapped, pulled', (t) => oneWay(t, SCENARIOS[3], 'pull', { rsh }));
  await t.test('two-way, A B', (t) => twoWay(t, 'A B', rsh));
});
