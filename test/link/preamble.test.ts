// lib/link/preamble.ts: waiting for tsync's preamble at the start of a
// stream, fed whole, one byte at a time, and after a remote shell's chatter.
import t from 'tap';
import { junkText, PreambleReader } from '../../lib/link/preamble.js';
import { MAGIC } from '../../lib/wire/schema.js';

t.test('the preamble whole, then the first frame bytes', async (t) => {
  const p = new PreambleReader();
  const rest = p.feed(Buffer.concat([MAGIC, Buffer.from([1, 2, 3])]));
  t.same(rest, Buffer.from([1, 2, 3]));
  t.equal(p.held, null, 'passed');
  t.same(p.feed(Buffer.from([4])), Buffer.from([4]), 'later chunks pass through');
});

t.test('the preamble one byte at a time', async (t) => {
  const p = new PreambleReader();
  for (let i = 0; i < MAGIC.length - 1; i++) t.equal(p.feed(MAGIC.subarray(i, i + 1)), 'wait');
  t.same(p.feed(MAGIC.subarray(MAGIC.length - 1)), Buffer.alloc(0), 'whole: nothing after it yet');
});

t.test("a remote shell's chatter before tsync: junk, kept for the report", async (t) => {
  const p = new PreambleReader();
  const motd = Buffer.from('Welcome to host\n\x1b[31mred\x1b[0m\n');
  t.equal(p.feed(motd), 'junk');
  t.equal(p.feed(MAGIC), 'junk', 'still junk: the stream did not start with the preamble');
  t.same(p.held, Buffer.concat([motd, MAGIC]));
  t.equal(junkText(p.held!), 'Welcome to host\\n\\x1b[31mred\\x1b[0m\\n', 'up to the preamble, made printable');
  t.equal(junkText(Buffer.alloc(300, 0x61)).length, 200, 'at most 200 bytes');
});
