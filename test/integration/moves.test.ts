// Moves and renames cost nothing on the wire (issue 17), one-way: a
// renamed 25 MB directory, a file moved between directories, a file
// renamed and edited (a delta against the old name) and two swapped files,
// local and through a stdio stand-in (pushed and pulled). Wire bytes are
// the --json counters; results are compared with rsync's on a copy, and
// -n -i (and -i of a real run) with rsync -n -i. Shared code:
// test/helpers/moves.ts.

import t from 'tap';
import { requireOrSkip, toolAvailable } from '../helpers/sshd.js';
import { oneWay, SCENARIOS, type Mode } from '../helpers/moves.js';

t.test('one-way: moves cost nothing on the wire and end as rsync ends', async (t) => {
  if (!requireOrSkip(t, toolAvailable('rsync'))) return;
  for (const s of SCENARIOS.slice(0, 4)) {
    const big = s.name.startsWith('a 25 MB');
    const modes: Mode[] = big ? ['local', 'push'] : ['local', 'push', 'pull'];
    for (const mode of modes) await t.test(`${s.name} (${mode})`, (t) => oneWay(t, s, mode, { itemizeRealRun: !big }));
  }
});
