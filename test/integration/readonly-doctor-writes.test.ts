// readonly-doctor-writes: `tsync --server --root SHARE --read-only` must
// write nothing for any role. The doctor role created (and removed) probe
// files in the root, and its report named the share's real location, which
// --root otherwise hides from clients. Now a read-only server probes names
// without writing (looking up names already there under other spellings)
// and every path in the report is relative to the root.

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import t from 'tap';
import { TSYNC_BIN, runTsync } from '../helpers/run.js';
import { describe } from '../helpers/standin.js';

const OLD = 1_500_000_000;

t.test('doctor against a read-only share: nothing written, no real path shown', async (t) => {
  const sb = t.testdir();
  const share = path.join(sb, 'share');
  await fsp.mkdir(path.join(share, 'sub'), { recursive: true });
  await fsp.writeFile(path.join(share, 'sub/Readme.txt'), 'x\n');
  for (const d of [path.join(share, 'sub'), share]) await fsp.utimes(d, OLD, OLD);
  for (const [extra, label] of [[['--read-only'], 'read-only'], [[], 'writable']] as const) {
    const rsh = path.join(sb, `forced-${label}`);
    fs.writeFileSync(rsh, `#!/bin/sh\nexec '${TSYNC_BIN}' --server --root '${share}' ${extra.join(' ')}\n`, { mode: 0o755 });
    for (const where of ['/', 'sub/', 'new/']) {
      const r = await runTsync(['doctor', '--json', '-e', rsh, `host:${where}`]);
      t.ok(r.code === 0 || r.code === 44, `${label} ${where}: the doctor ran (${describe(r)})`);
      t.notOk(r.stdout.includes(share) || r.stderr.includes(share), `${label} ${where}: the share's real path is not in the report`);
      t.notOk(r.stdout.includes(sb), `${label} ${where}: nor anything above it`);
      const report = JSON.parse(r.stdout) as unknown;
      t.ok(report, 'the report is JSON');
      if (label === 'read-only') {
        t.equal(fs.statSync(share).mtimeMs, OLD * 1000, `${where}: the share's directory was not written (its mtime is as it was)`);
        t.equal(fs.statSync(path.join(share, 'sub')).mtimeMs, OLD * 1000, `${where}: nor sub/`);
        t.match(r.stdout, /read-only/, 'the report says the share is read-only');
      }
    }
  }
  t.same(fs.readdirSync(share).sort(), ['sub'], 'nothing was left in the share');
  t.notOk(fs.existsSync(path.join(share, 'new')), 'nor made for a root that does not exist');
});
