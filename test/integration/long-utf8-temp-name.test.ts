// long-utf8-temp-name: temporary names were cut by UTF-16 units (100 of
// them), so a name of about 80 CJK characters (3 bytes each) made a
// temporary name over NAME_MAX (255 bytes): ENAMETOOLONG, and the file
// could never be received. Names are now cut by UTF-8 bytes without
// splitting a character. Checked with names at the limit: 85 CJK
// characters (255 bytes), 63 four-byte emoji and 3 ASCII bytes (255), and
// a name whose cut would fall inside an emoji.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { TSYNC_BIN, runTsync } from '../helpers/run.js';
import { tempName, partialName } from '../../lib/fs/apply.js';
import { TMP_PREFIX, PARTIAL_PREFIX } from '../../lib/tree/reserved.js';
import { diffSnapshots, snapshot } from '../helpers/tree.js';
import { toolbox } from '../helpers/standin.js';

const NAMES = {
  cjk: '漢'.repeat(85),
  emoji: '😀'.repeat(63) + 'abc',
  // 99 ASCII bytes then emoji: a cut by UTF-16 units lands between the two halves of one
  split: 'a'.repeat(99) + '😀'.repeat(39),
  mixed: 'é'.repeat(127) + 'x',
};

t.test('the names are at the limit', async (t) => {
  for (const [k, n] of Object.entries(NAMES)) t.ok(Buffer.byteLength(n) <= 255 && Buffer.byteLength(n) >= 252, `${k}: ${Buffer.byteLength(n)} bytes`);
});

t.test('temporary and partial names fit NAME_MAX and never split a character', async (t) => {
  for (const [k, n] of Object.entries(NAMES)) {
    for (const [what, made, prefix] of [['temporary', tempName(n), TMP_PREFIX], ['partial', partialName(n), PARTIAL_PREFIX]] as const) {
      t.ok(Buffer.byteLength(made) <= 255, `${k} ${what}: ${Buffer.byteLength(made)} bytes`);
      t.ok(made.startsWith(prefix), `${k} ${what}: reserved prefix`);
      t.notOk(/[\ud800-\udfff]/u.test(made.replace(/[\ud800-\udbff][\udc00-\udfff]/g, '')), `${k} ${what}: no lone surrogate`);
      t.equal(Buffer.from(made, 'utf8').toString('utf8'), made, `${k} ${what}: valid UTF-8 round trip`);
      const stem = made.slice(prefix.length).replace(/-[0-9a-f]{12}$/, '');
      t.ok(n.startsWith(stem), `${k} ${what}: a prefix of the name, whole characters`);
    }
  }
});

t.test('such files are received: a new copy, a delta update, and --partial, locally and through a pipe', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  const longDir = '字'.repeat(85);
  fs.mkdirSync(path.join(src, longDir), { recursive: true });
  for (const n of Object.values(NAMES)) fs.writeFileSync(path.join(src, n), Buffer.alloc(300_000, n.length));
  fs.writeFileSync(path.join(src, longDir, NAMES.emoji), 'inside a long directory\n');
  const standin = toolbox(t)('standin-rsh', 'shift\nexec sh -c "$*"');
  for (const [label, to, extra] of [
    ['local', path.join(sb, 'dst-local'), []],
    ['pipe', `localhost:${path.join(sb, 'dst-pipe')}`, ['-e', standin, '--tsync-path', TSYNC_BIN]],
    ['pipe --partial', `localhost:${path.join(sb, 'dst-partial')}`, ['-e', standin, '--tsync-path', TSYNC_BIN, '--partial']],
  ] as const) {
    let r = await runTsync([...extra, `${src}/`, `${to}/`]);
    t.equal(r.code, 0, `${label}: received (${r.stderr})`);
    // change every file a little: the second run sends deltas against the copies
    for (const n of Object.values(NAMES)) fs.appendFileSync(path.join(src, n), 'more\n');
    r = await runTsync([...extra, `${src}/`, `${to}/`]);
    t.equal(r.code, 0, `${label}: updated by delta (${r.stderr})`);
    const dst = to.replace(/^localhost:/, '');
    t.same(diffSnapshots(await snapshot(src), await snapshot(dst), { ignoreDirMtime: true }), [], `${label}: the copy is exact`);
  }
});
