// A hostile two-way client against a real `tsync --server` replica: a valid
// session (hello, clock, manifest, pull phase) with one thing wrong in what
// it then asks the replica to change. Each case: the replica stops with a
// protocol error or refuses the one op, and nothing outside its root (a
// sentinel directory beside it) nor its own state is touched.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { spawnTsync } from '../helpers/run.js';
import { diffSnapshots, snapshot } from '../helpers/tree.js';
import { clientHandshake, file, MTIME, OPTIONS, WirePeer } from '../helpers/hostile.js';
import { encodeEntries, TwOp, type Entry, type Message } from '../../lib/wire/schema.js';

const PEER_ID = '0123456789abcdef0123456789abcdef';

interface Box {
  root: string;
  sentinel: string;
}

/** root/{a.txt, sub/b.txt, out -> ../sentinel}, sentinel/secret.txt; every file's mtime is MTIME */
function box(t: Test): Box {
  const sb = t.testdir();
  const root = path.join(sb, 'replica');
  const sentinel = path.join(sb, 'sentinel');
  fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
  fs.mkdirSync(sentinel);
  for (const f of [path.join(root, 'a.txt'), path.join(root, 'sub/b.txt'), path.join(sentinel, 'secret.txt')]) {
    fs.writeFileSync(f, 'twelve bytes');
    fs.utimesSync(f, MTIME / 1e6, MTIME / 1e6);
  }
  fs.symlinkSync('../sentinel', path.join(root, 'out'));
  return { root, sentinel };
}

/** Up to the point where the replica takes ops: its manifest read, the pull phase ended. */
async function session(root: string): Promise<{ p: WirePeer; exited: Promise<{ code: number | null; stderr: string }> }> {
  const child = spawnTsync(['--server']);
  const p = new WirePeer(child.stdout, child.stdin);
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.on('close', (code) => resolve({ code, stderr }));
  });
  await clientHandshake(p, { role: 'twoway', paths: [root], options: OPTIONS });
  p.send({ t: 'tw_hello', replica: PEER_ID, host: 'hostile', digest: Buffer.alloc(0), baseCount: 0 });
  await p.expect('tw_hello');
  p.send({ t: 'tw_go', wantBase: false });
  for (let m = await p.next(); m.t !== 'flist_end'; m = await p.next());
  p.send({ t: 'done', stats: '{}' });
  return { p, exited };
}

const op = (kind: number, p: string, expect: Entry, to = ''): Message => ({ t: 'tw_op', op: kind as 0 | 1, path: p, to, expect: encodeEntries([expect]) });

async function fatalCase(t: Test, what: string, send: (p: WirePeer) => void, error: RegExp): Promise<void> {
  await t.test(what, async (t) => {
    const b = box(t);
    const before = [await snapshot(b.root), await snapshot(b.sentinel)];
    const { p, exited } = await session(b.root);
    send(p);
    const said = (await p.drain(10_000)).filter((m) => m.t === 'error').map((m) => (m.t === 'error' ? m.message : ''));
    p.destroy();
    const r = await exited;
    t.equal(r.code, 12, `the replica stops with a protocol error (${r.stderr})`);
    t.match(said.join(' | '), error, 'and says why');
    t.same(diffSnapshots(before[0], await snapshot(b.root)), [], 'its root is untouched');
    t.same(diffSnapshots(before[1], await snapshot(b.sentinel)), [], 'the sentinel beside it is untouched');
  });
}

t.test('a hostile two-way client', async (t) => {
  await fatalCase(t, 'delete ../sentinel/secret.txt', (p) => p.send(op(TwOp.Delete, '../sentinel/secret.txt', file('../sentinel/secret.txt', 12))), /unsafe path/);
  await fatalCase(t, 'delete an absolute path', (p) => p.send(op(TwOp.Delete, '/etc/passwd', file('/etc/passwd', 12))), /unsafe path/);
  await fatalCase(t, 'delete the replica\'s own state', (p) => p.send(op(TwOp.Delete, '.tsync/secret', file('.tsync/secret', 32))), /unsafe path/);
  await fatalCase(t, 'a conflict copy outside the directory of its original', (p) => p.send(op(TwOp.Rename, 'a.txt', file('a.txt', 12), '../sentinel/a.txt')), /unsafe path|beside its original/);
  await fatalCase(t, 'a conflict copy in another directory', (p) => p.send(op(TwOp.Rename, 'a.txt', file('a.txt', 12), 'sub/a.txt')), /beside its original/);
  await fatalCase(t, 'an op expecting two entries', (p) => p.send({ t: 'tw_op', op: TwOp.Delete, path: 'a.txt', to: '', expect: encodeEntries([file('a.txt', 12), file('b', 1)]) }), /exactly one expected entry/);
  await fatalCase(
    t,
    'a baseline with ../ in it',
    (p) => {
      p.send({ t: 'tw_save', data: encodeEntries([file('../escape', 1)]) });
      p.send({ t: 'tw_save_end', count: 1, digest: Buffer.alloc(32) });
    },
    /unsafe path/,
  );
  await fatalCase(
    t,
    'a baseline whose digest does not match',
    (p) => {
      p.send({ t: 'tw_save', data: encodeEntries([file('a.txt', 12)]) });
      p.send({ t: 'tw_save_end', count: 1, digest: Buffer.alloc(32) });
    },
    /does not match its count or digest/,
  );

  await t.test('a delete through a symlink to outside, and one of a file that changed: refused, nothing lost', async (t) => {
    const b = box(t);
    const before = await snapshot(b.sentinel);
    const { p, exited } = await session(b.root);
    p.send(op(TwOp.Delete, 'out/secret.txt', file('out/secret.txt', 12)));
    p.send(op(TwOp.Delete, 'a.txt', file('a.txt', 12, MTIME - 1_000_000)));
    p.send(op(TwOp.Delete, 'sub/b.txt', file('sub/b.txt', 12)));
    p.send({ t: 'tw_ops_end' });
    const warns: string[] = [];
    for (let m = await p.next(); m.t !== 'tw_ops_done'; m = await p.next()) if (m.t === 'warn') warns.push(`${m.path}: ${m.message}`);
    p.send({ t: 'done', stats: '{}' });
    p.destroy();
    t.equal((await exited).code, 0, 'the session ends normally');
    t.match(warns.join('\n'), /out\/secret\.txt: a directory above it is missing or is not a directory/);
    t.match(warns.join('\n'), /a\.txt: changed since it was scanned/);
    t.same(diffSnapshots(before, await snapshot(b.sentinel)), [], 'the file beyond the link is still there');
    t.ok(fs.existsSync(path.join(b.root, 'a.txt')), 'the file that did not match the expected state stays');
    t.notOk(fs.existsSync(path.join(b.root, 'sub/b.txt')), 'the honest delete was done');
  });

  await t.test('a malformed replica id', async (t) => {
    const b = box(t);
    const child = spawnTsync(['--server']);
    const p = new WirePeer(child.stdout, child.stdin);
    const code = new Promise<number | null>((resolve) => child.on('close', resolve));
    await clientHandshake(p, { role: 'twoway', paths: [b.root], options: OPTIONS });
    p.send({ t: 'tw_hello', replica: '../../x', host: 'h', digest: Buffer.alloc(0), baseCount: 0 });
    const said = (await p.drain(10_000)).filter((m) => m.t === 'error').map((m) => (m.t === 'error' ? m.message : '')).join(' ');
    p.destroy();
    t.equal(await code, 12);
    t.match(said, /malformed replica id/);
  });
});
