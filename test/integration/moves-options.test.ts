// Moves with other options (issue 17): a renamed directory without
// --delete (the old one stays: copies made here), a rename with
// --backup-dir (the old name kept there, as rsync keeps it), and an older
// peer without the moves capability (the data is sent as before).

import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import t from 'tap';
import { runTsync } from '../helpers/run.js';
import { requireOrSkip, toolAvailable } from '../helpers/sshd.js';
import { MB, oneWay, put, same, SCENARIOS, STANDIN, summary, tsync, type Mode } from '../helpers/moves.js';
import { TSYNC_BIN } from '../helpers/run.js';

t.test('one-way: moves with and without --delete, with --backup-dir', async (t) => {
  if (!requireOrSkip(t, toolAvailable('rsync'))) return;
  for (const s of SCENARIOS.slice(4)) {
    for (const mode of ['local', 'push', 'pull'] as Mode[]) await t.test(`${s.name} (${mode})`, (t) => oneWay(t, s, mode, { itemizeRealRun: true }));
  }
});

// an older peer (no 'moves' in its HELLO) still works: the data is sent as before
t.test('a peer without the moves capability: the moved file is sent, the result is the same', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 'dst');
  await put(path.join(src, 'a', 'f.bin'), 2 * MB);
  t.equal((await tsync('push', [], `${src}/`, `${dst}/`)).code, 0, 'first run');
  await fsp.rename(path.join(src, 'a'), path.join(src, 'b'));
  const r = await runTsync(['--delete', '--json', '-e', STANDIN, '--tsync-path', TSYNC_BIN, `${src}/`, `127.0.0.1:${dst}/`], { env: { TSYNC_TEST_NO_CAPS: 'moves' } });
  const sum = summary(t, r);
  t.ok(sum.bytes.literal >= 2 * MB, `sent as before (${sum.bytes.literal} literal bytes)`);
  await same(t, dst, src, 'the destination equals the source');
});
