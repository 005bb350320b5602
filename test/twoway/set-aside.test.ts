// SetAside: a two-way run's deleted files wait under .tsync/moves-* until
// the transfers end; clear() removes them, sweep() removes what a killed
// run left.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { SetAside } from '../../lib/twoway/set-aside.js';

t.test('take, clear, sweep', async (t) => {
  const root = t.testdir({ a: { 'f.bin': 'content' }, 'g.bin': 'other' });
  const s = new SetAside(root);
  t.ok(s.take('a/f.bin', path.join(root, 'a/f.bin')), 'taken');
  t.notOk(fs.existsSync(path.join(root, 'a/f.bin')), 'gone from its place');
  t.equal(s.files.length, 1, 'listed');
  t.equal(fs.readFileSync(s.files[0].abs, 'utf8'), 'content', 'kept, with its content');
  t.ok(s.files[0].abs.startsWith(path.join(root, '.tsync', 'moves-')), 'under .tsync/moves-*');
  t.notOk(s.take('missing', path.join(root, 'missing')), 'a file that is not there: false (the caller unlinks)');
  s.clear();
  t.same(fs.readdirSync(path.join(root, '.tsync')), [], 'cleared');

  const killed = new SetAside(root);
  killed.take('g.bin', path.join(root, 'g.bin'));
  // a run killed here leaves it; the next one sweeps it
  SetAside.sweep(root);
  t.same(fs.readdirSync(path.join(root, '.tsync')), [], 'swept');
});
