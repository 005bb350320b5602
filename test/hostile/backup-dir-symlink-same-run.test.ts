// backup-dir-symlink-same-run: --backup-dir checked only at START, then a
// symlink made at the backup directory's path by the same run, and the next
// overwritten or deleted file moved or hard-linked through it to outside the
// destination. Reproduced with the unmodified client against `tsync --server
// --root SHARE` run as a forced command (push, push --delete, two-way), and
// the other way round with a lying server and the real client pulling.
// Each case: nothing outside the destination (or share) changes, the entry
// at the backup directory is refused with a per-file warning (exit 23), and
// the old versions are kept in the real backup directory.

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { TSYNC_BIN, runTsync } from '../helpers/run.js';
import { diffSnapshots, snapshot } from '../helpers/tree.js';
import { describe } from '../helpers/hostile-case.js';
import { dir, file, link, sendManifest, serveRequests, type WirePeer } from '../helpers/hostile.js';
import { remoteStandIn, runSenderCase } from '../helpers/hostile-case.js';

const PARTIAL = 23;

interface Share {
  sb: string;
  share: string;
  outside: string;
  src: string;
  rsh: string;
}

/** share/{a.txt, z.txt} (old), outside/ (must never change), src/{bk -> outside, a.txt, z.txt} (new) */
async function makeShare(t: Test): Promise<Share> {
  const sb = t.testdir();
  const share = path.join(sb, 'share');
  const outside = path.join(sb, 'outside');
  const src = path.join(sb, 'src');
  await fsp.mkdir(share);
  await fsp.mkdir(outside);
  await fsp.mkdir(src);
  await fsp.writeFile(path.join(outside, 'keep.txt'), 'outside: must never change\n');
  for (const n of ['a.txt', 'z.txt']) {
    await fsp.writeFile(path.join(share, n), `old ${n}\n`);
    await fsp.utimes(path.join(share, n), 1_500_000_000, 1_500_000_000);
    await fsp.writeFile(path.join(src, n), `new ${n}, longer\n`);
  }
  // sorts before a.txt and z.txt: made first, then used as the backup directory
  await fsp.symlink(outside, path.join(src, 'bk'));
  const rsh = path.join(sb, 'forced');
  fs.writeFileSync(rsh, `#!/bin/sh\nexec '${TSYNC_BIN}' --server --root '${share}'\n`, { mode: 0o755 });
  return { sb, share, outside, src, rsh };
}

async function noEscape(t: Test, s: Share, before: Awaited<ReturnType<typeof snapshot>>): Promise<void> {
  t.same(diffSnapshots(before, await snapshot(s.outside), { labels: ['before', 'after'] }), [], 'nothing outside the share changed');
  t.same(fs.readdirSync(s.outside), ['keep.txt'], 'no backup landed outside');
}

t.test('push: a symlink at the backup directory, then files replaced through it', async (t) => {
  const s = await makeShare(t);
  const before = await snapshot(s.outside);
  const r = await runTsync(['-e', s.rsh, '--backup-dir', 'bk', `${s.src}/`, 'host:/']);
  t.equal(r.code, PARTIAL, `the entry at the backup directory is refused, the rest goes on (${describe(r)})`);
  t.match(r.stderr, /bk: .*backup directory/, 'the warning names it');
  await noEscape(t, s, before);
  t.ok(fs.lstatSync(path.join(s.share, 'bk')).isDirectory(), 'the backup directory is a real directory');
  t.equal(fs.readFileSync(path.join(s.share, 'bk/a.txt'), 'utf8'), 'old a.txt\n', 'the old a.txt is kept in it');
  t.equal(fs.readFileSync(path.join(s.share, 'a.txt'), 'utf8'), 'new a.txt, longer\n', 'the new a.txt is in place');
});

t.test('push --delete: the move-aside path through the same link', async (t) => {
  const s = await makeShare(t);
  await fsp.rm(path.join(s.src, 'z.txt'));
  const before = await snapshot(s.outside);
  const r = await runTsync(['-e', s.rsh, '--delete', '--backup-dir', 'bk', `${s.src}/`, 'host:/']);
  t.equal(r.code, PARTIAL, describe(r));
  await noEscape(t, s, before);
  t.equal(fs.readFileSync(path.join(s.share, 'bk/z.txt'), 'utf8'), 'old z.txt\n', 'the deleted z.txt was moved into the real backup directory');
  t.notOk(fs.existsSync(path.join(s.share, 'z.txt')), 'and is gone from the share');
});

t.test('push: a link already standing at a backup directory\'s parent is never followed', async (t) => {
  const s = await makeShare(t);
  await fsp.rm(path.join(s.src, 'bk'));
  // made by an earlier run (a link is an ordinary entry), used as the parent of the backup directory now
  await fsp.symlink(s.outside, path.join(s.share, 'old'));
  const before = await snapshot(s.outside);
  const r = await runTsync(['-e', s.rsh, '--backup-dir', 'old/bk', `${s.src}/`, 'host:/']);
  t.not(r.code, 0, `refused (${describe(r)})`);
  await noEscape(t, s, before);
});

t.test('two-way: the replica keeps replaced files in a backup directory a link was put at in the same run', async (t) => {
  const s = await makeShare(t);
  const mine = path.join(s.sb, 'mine');
  await fsp.mkdir(mine);
  await fsp.writeFile(path.join(mine, 'z.txt'), 'first\n');
  await fsp.utimes(path.join(mine, 'z.txt'), 1_500_000_000, 1_500_000_000);
  let r = await runTsync(['--two-way', '-e', s.rsh, mine, 'host:/replica']);
  t.equal(r.code, 0, `first run (${describe(r)})`);
  // the client's side gains a link named like the replica's backup directory, and changes a file after it in name order
  await fsp.symlink(s.outside, path.join(mine, 'bk'));
  await fsp.writeFile(path.join(mine, 'z.txt'), 'second, longer\n');
  const before = await snapshot(s.outside);
  r = await runTsync(['--two-way', '-e', s.rsh, '--backup-dir', 'bk', mine, 'host:/replica']);
  t.equal(r.code, PARTIAL, `the link at the backup directory is refused (${describe(r)})`);
  await noEscape(t, s, before);
  t.notOk(fs.lstatSync(path.join(s.share, 'replica/bk'), { throwIfNoEntry: false })?.isSymbolicLink(), "no link stands at the replica's backup directory");
  t.equal(fs.readFileSync(path.join(s.share, 'replica/bk/z.txt'), 'utf8'), 'first\n', 'the replaced version is in the real backup directory');
  t.equal(fs.readFileSync(path.join(s.share, 'replica/z.txt'), 'utf8'), 'second, longer\n', 'the new one is in place');
});

t.test('pull: a lying server lists a link at the client\'s backup directory, then a file to replace', async (t) => {
  const remote = await remoteStandIn(t);
  const NEW = Buffer.from('new content from the server\n');
  await runSenderCase(t, remote, {
    name: 'link at the backup dir',
    args: ['--backup-dir', 'bk'],
    play: async (p: WirePeer, key: Buffer, sb) => {
      const batches = [[dir('.'), link('bk', sb.sentinel), file('old.txt', NEW.length)]];
      sendManifest(p, key, batches);
      await serveRequests(p, new Map([[2, NEW]]));
    },
    expect: { code: PARTIAL, stderr: /bk: .*backup directory/, oneLine: false },
    check: (t, sb) => {
      t.ok(fs.lstatSync(path.join(sb.dst, 'bk')).isDirectory(), 'the client\'s backup directory is a real directory');
      t.equal(fs.readFileSync(path.join(sb.dst, 'bk/old.txt'), 'utf8'), 'old\n', 'the old file is kept in it');
      t.equal(fs.readFileSync(path.join(sb.dst, 'old.txt'), 'utf8'), NEW.toString(), 'the new one is in place');
    },
  });
  await runSenderCase(t, remote, {
    name: 'a directory at the backup dir with a link inside it',
    args: ['--backup-dir', 'bk'],
    play: async (p: WirePeer, key: Buffer, sb) => {
      sendManifest(p, key, [[dir('.'), dir('bk'), link('bk/sub', sb.sentinel), file('old.txt', NEW.length)]]);
      await serveRequests(p, new Map([[3, NEW]]));
    },
    expect: { code: PARTIAL, stderr: /backup directory/, oneLine: false },
  });
});
