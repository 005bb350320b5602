// A source file that changes while it is being sent is never stored as a
// mix of old and new: the run reports it (exit 23, the receiver keeps its
// old copy) and the next run sends the new version.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { TSYNC_BIN, collect, runTsync, spawnTsync } from '../helpers/run.js';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-changing-'));
t.teardown(() => fs.rmSync(TMP, { recursive: true, force: true }));

const THROTTLE = `perl -e '$|=1; while (sysread(STDIN, $b, 32768)) { syswrite(STDOUT, $b); select(undef, undef, undef, 0.01) }'`;
/** our output to the peer at ~3 MB/s: a push of 12 MiB takes about four seconds */
const SLOW_IN = path.join(TMP, 'slow-in-rsh');
fs.writeFileSync(SLOW_IN, `#!/bin/sh\nshift\n${THROTTLE} | sh -c "$*"\n`, { mode: 0o755 });

const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

for (const kind of ['new file', 'delta against an old copy'] as const) {
  t.test(`${kind}: changed while being sent`, async (t) => {
    const dir = path.join(TMP, kind.replace(/\W+/g, '-'));
    const src = path.join(dir, 'src');
    const dst = path.join(dir, 'dst');
    fs.mkdirSync(src, { recursive: true });
    fs.mkdirSync(dst, { recursive: true });
    const big = path.join(src, 'big.bin');
    const data = randomBytes(12 << 20);
    fs.writeFileSync(big, data);
    fs.utimesSync(big, 1_700_000_000, 1_700_000_000);
    let old: string | null = null;
    if (kind === 'delta against an old copy') {
      const o = Buffer.from(data);
      o.fill(7, 1 << 20, 2 << 20);
      fs.writeFileSync(path.join(dst, 'big.bin'), o);
      fs.utimesSync(path.join(dst, 'big.bin'), 1_600_000_000, 1_600_000_000);
      old = sha(path.join(dst, 'big.bin'));
    }
    const child = spawnTsync(['-e', SLOW_IN, '--tsync-path', TSYNC_BIN, `${src}/`, `localhost:${dst}/`]);
    const done = collect(child);
    // once data is arriving (the receiver's temporary exists), rewrite a piece in the middle (same size, new mtime)
    for (let i = 0; i < 200 && !fs.readdirSync(dst).some((n) => n.startsWith('.tsync-tmp-')); i++) await new Promise((r) => setTimeout(r, 50));
    t.ok(fs.readdirSync(dst).some((n) => n.startsWith('.tsync-tmp-')), 'caught it mid-transfer');
    const fd = fs.openSync(big, 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 0xee), 0, 4096, 6 << 20);
    fs.closeSync(fd);
    const r = await done;
    t.equal(r.code, 23, `reported as a partial transfer: ${r.stderr}`);
    t.match(r.stderr, /big\.bin: .*changed while it was being read/);
    t.notMatch(r.stderr, /^\s+at /m, 'no stack trace');
    const now = fs.existsSync(path.join(dst, 'big.bin')) ? sha(path.join(dst, 'big.bin')) : null;
    t.equal(now, old, 'the receiver kept what it had: never a mix');
    t.same(
      fs.readdirSync(dst).filter((n) => n.startsWith('.tsync-tmp-')),
      [],
      'no temporary left',
    );
    const again = await runTsync([`${src}/`, `${dst}/`]);
    t.equal(again.code, 0, again.stderr);
    t.equal(sha(path.join(dst, 'big.bin')), sha(big), 'the next run sends the new version');
  });
}
