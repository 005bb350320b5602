// InOrder: lines said out of manifest order come out in it.

import t from 'tap';
import { InOrder } from '../../lib/oneway/item-order.js';

t.test('lines behind an open file wait for it; the file\'s own line goes at once', async (t) => {
  const out: string[] = [];
  const o = new InOrder();
  const say = (i: number, s = `${i}`) => o.say(i, () => out.push(s));
  say(0);
  o.begin(1);
  say(2);
  o.begin(3);
  say(4);
  t.same(out, ['0'], 'only what precedes the first open file');
  say(3);
  o.end(3);
  t.same(out, ['0'], 'a later file that settles first still waits');
  say(1);
  t.same(out, ['0', '1'], 'the oldest open file speaks at once');
  o.end(1);
  t.same(out, ['0', '1', '2', '3', '4'], 'then everything behind it, in order');
  say(5);
  t.same(out, ['0', '1', '2', '3', '4', '5'], 'nothing open: at once');
});

t.test('a file that settles with no line releases what waits behind it', async (t) => {
  const out: number[] = [];
  const o = new InOrder();
  o.begin(0);
  o.say(1, () => out.push(1));
  o.say(1, () => out.push(11));
  o.end(0);
  t.same(out, [1, 11]);
});

t.test('a random interleaving always comes out sorted', async (t) => {
  for (let seed = 1; seed <= 50; seed++) {
    let x = seed;
    const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
    const o = new InOrder();
    const out: number[] = [];
    const open: number[] = [];
    for (let i = 0; i < 200; i++) {
      if (rnd() < 0.3) {
        o.begin(i);
        open.push(i);
      } else o.say(i, () => out.push(i));
      while (open.length && rnd() < 0.3) {
        const k = open.splice(Math.floor(rnd() * open.length), 1)[0];
        o.say(k, () => out.push(k));
        o.end(k);
      }
    }
    for (const k of open) {
      o.say(k, () => out.push(k));
      o.end(k);
    }
    t.same(out, [...Array(200).keys()], `seed ${seed}`);
  }
});
