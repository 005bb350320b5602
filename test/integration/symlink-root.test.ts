// Regression: `tsync link/ dst/` where link is a symlink to a directory.
// The sender listed the transfer root as that symlink, and the receiver
// replaced the (new, empty) destination with the link; a hostile sender
// could then write through it (test/hostile/manifest.test.ts). rsync's rule
// is that a trailing slash follows the link: the directory's contents are
// copied. Without the slash the link itself is copied, as before.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { TSYNC_BIN, runTsync } from '../helpers/run.js';
import { describe, outcome } from '../helpers/hostile-case.js';

const sb = t.testdir({ real: { 'a.txt': 'a\n', sub: { 'b.txt': 'b\n' } }, 'file.txt': 'f\n' });
fs.symlinkSync('real', path.join(sb, 'link'));
fs.symlinkSync('file.txt', path.join(sb, 'flink'));
const standin = path.join(sb, 'standin');
fs.writeFileSync(standin, '#!/bin/sh\nshift\nexec sh -c "$*"\n', { mode: 0o755 });
const via = ['-e', standin, '--tsync-path', TSYNC_BIN];

t.test('SRC/ naming a symlink to a directory copies the directory, locally, pushing and pulling', async (t) => {
  for (const [what, args] of [
    ['local', [`${sb}/link/`, `${sb}/local/`]],
    ['push', [...via, `${sb}/link/`, `host:${sb}/push/`]],
    ['pull', [...via, `host:${sb}/link/`, `${sb}/pull/`]],
  ] as const) {
    const r = await runTsync([...args]);
    t.equal(r.code, 0, `${what}: ${describe(r)}`);
    const dst = path.join(sb, what);
    t.ok(fs.lstatSync(dst).isDirectory(), `${what}: the destination is a real directory`);
    t.same(fs.readdirSync(dst).sort(), ['a.txt', 'sub'], `${what}: holding the directory's contents`);
    t.equal(fs.readFileSync(path.join(dst, 'sub/b.txt'), 'utf8'), 'b\n');
  }
});

t.test('SRC without the slash copies the link itself', async (t) => {
  const r = await runTsync([`${sb}/link`, `${sb}/as-link/`]);
  t.equal(r.code, 0, describe(r));
  t.equal(fs.readlinkSync(path.join(sb, 'as-link/link')), 'real');
});

t.test('SRC/ naming a symlink to a file is a usage error', async (t) => {
  const r = await runTsync([`${sb}/flink/`, `${sb}/nope/`]);
  outcome(t, r, { code: 1, stderr: /has a trailing slash but is not a directory/ });
  t.notOk(fs.existsSync(path.join(sb, 'nope')), 'nothing made');
});
