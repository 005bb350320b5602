// The receiver (lib/oneway/receiver.ts and its layers, receive-*.ts) in
// process: a real Sender or a WirePeer playing one on the other end of two
// in-memory streams (test/helpers/in-process.ts). A first copy, a re-run
// that changes nothing, --delete with --backup-dir, a single file under
// another name, and data that fails verification (retried whole once, then
// a per-file error with nothing under the final name).

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { realFs } from '../../lib/fs/seam.js';
import { receiveFrom, receiveFromPeer } from '../helpers/in-process.js';
import { dir, file, sendFile, sendManifest, sha256 } from '../helpers/hostile.js';
import { diffSnapshots, snapshot } from '../helpers/tree.js';
import { writeTree } from '../helpers/standin.js';

const OLD = 1_500_000_000;

t.test('a first copy, then a re-run that changes nothing', async (t) => {
  const sb = t.testdir();
  await writeTree(path.join(sb, 'src'), { 'a.txt': 'a\n', 'big.bin': 'b'.repeat(100_000), sub: null, 'sub/c.txt': 'c\n' }, OLD);
  const first = await receiveFrom(`${sb}/src/`, `${sb}/dst/`, realFs);
  t.equal(first.error, null);
  t.same(first.items, ['cd+++++++++ .', '>f+++++++++ a.txt', '>f+++++++++ big.bin', 'cd+++++++++ sub', '>f+++++++++ sub/c.txt'], 'every entry itemized, in manifest order');
  t.same(diffSnapshots(await snapshot(path.join(sb, 'src')), await snapshot(path.join(sb, 'dst'))), [], 'the copy equals the source');
  const again = await receiveFrom(`${sb}/src/`, `${sb}/dst/`, realFs);
  t.equal(again.error, null);
  t.same(again.items, [], 'a re-run itemizes nothing');
  t.same(again.warnings, []);
});

t.test('--delete with --backup-dir: replaced and deleted files are kept in the backup directory', async (t) => {
  const sb = t.testdir();
  await writeTree(path.join(sb, 'src'), { 'keep.txt': 'new\n' }, OLD + 100);
  await writeTree(path.join(sb, 'dst'), { 'keep.txt': 'old\n', 'gone.txt': 'gone\n' }, OLD);
  const r = await receiveFrom(`${sb}/src/`, `${sb}/dst/`, realFs, { delete: true, backupDir: 'bk' });
  t.equal(r.error, null);
  t.same(r.warnings, []);
  t.equal(fs.readFileSync(path.join(sb, 'dst', 'keep.txt'), 'utf8'), 'new\n', 'replaced');
  t.notOk(fs.existsSync(path.join(sb, 'dst', 'gone.txt')), 'deleted');
  t.equal(fs.readFileSync(path.join(sb, 'dst', 'bk', 'keep.txt'), 'utf8'), 'old\n', 'the replaced version kept');
  t.equal(fs.readFileSync(path.join(sb, 'dst', 'bk', 'gone.txt'), 'utf8'), 'gone\n', 'the deleted one kept');
  t.equal(r.items[r.items.length - 1], '*deleting gone.txt', 'deletions come last');
});

t.test('one file to a name that is not a directory: written under that name, itemized under its own', async (t) => {
  const sb = t.testdir();
  await writeTree(sb, { 'one.txt': 'one\n' }, OLD);
  const r = await receiveFrom(`${sb}/one.txt`, `${sb}/two.txt`, realFs);
  t.equal(r.error, null);
  t.equal(fs.readFileSync(path.join(sb, 'two.txt'), 'utf8'), 'one\n');
  t.same(r.items, ['>f+++++++++ one.txt']);
});

t.test('data that fails verification: asked for whole once more, then a per-file error, never a wrong file', async (t) => {
  const sb = t.testdir({ dst: {} });
  const dst = path.join(sb, 'dst');
  const good = Buffer.from('the real content\n');
  for (const lies of [1, 2]) {
    const { peer, key, done } = receiveFromPeer(`${dst}/`, realFs);
    sendManifest(peer, key, [[dir('.'), file(`f${lies}`, good.length)]]);
    let asked = 0;
    for (;;) {
      const m = await peer.next();
      if (m.t === 'done') break;
      if (m.t !== 'req') continue;
      asked++;
      // the first `lies` answers carry the wrong hash
      if (asked <= lies) sendFile(peer, m.index, good, { hash: sha256(Buffer.from('something else')) });
      else sendFile(peer, m.index, good);
    }
    peer.end();
    const r = await done;
    t.equal(r.error, null, `${lies} bad answer(s): the run goes on`);
    if (lies === 1) {
      t.equal(asked, 2, 'one bad answer: asked again');
      t.equal(fs.readFileSync(path.join(dst, 'f1'), 'utf8'), good.toString(), 'and installed from the good one');
      t.same(r.warnings, []);
    } else {
      t.equal(asked, 2, 'two bad answers: asked twice only');
      t.notOk(fs.existsSync(path.join(dst, 'f2')), 'nothing under the final name');
      t.match(r.warnings.map((w) => w.message).join('\n'), /failed verification twice/);
    }
  }
  t.same(fs.readdirSync(dst).filter((n) => n.startsWith('.tsync')), [], 'no temporary left');
});
