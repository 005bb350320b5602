// The sender (lib/oneway/sender.ts) in process, against a WirePeer that
// plays the receiver: the manifest it lists (checked by the receiver's own
// intake, MAC chain included, in the order a receiver requires), a whole
// file on request with its SHA-256, a same-size check answered without
// data, several sources merged with the first occurrence winning, and a
// missing source refused before anything is sent.

import { PassThrough } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { Connection } from '../../lib/link/connection.js';
import { Sender, toSources } from '../../lib/oneway/sender.js';
import { FileStatus, ReqFlag, type Message } from '../../lib/wire/schema.js';
import { TsyncError } from '../../lib/errors.js';
import { OPTIONS, readManifest, WirePeer } from '../helpers/hostile.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest();

/** a Sender on one end, a WirePeer on the other; the manifest read and checked */
async function session(sources: string[]) {
  const toSender = new PassThrough();
  const fromSender = new PassThrough();
  const key = randomBytes(32);
  const conn = new Connection(toSender, fromSender, { timeout: 0, expectJunk: false });
  const sender = new Sender({ sources: toSources(sources), options: OPTIONS }, { item: () => {}, warn: () => {} });
  const running = Promise.race([sender.run(conn, key), conn.failed()]);
  running.catch(() => {});
  const peer = new WirePeer(fromSender, toSender);
  return { peer, key, running, conn };
}

async function fileReply(peer: WirePeer): Promise<{ begin?: Message; data: Buffer; end: Extract<Message, { t: 'file_end' }> }> {
  const chunks: Buffer[] = [];
  let begin: Message | undefined;
  for (;;) {
    const m = await peer.next();
    if (m.t === 'file_begin') begin = m;
    else if (m.t === 'data') chunks.push(m.data);
    else if (m.t === 'file_end') return { begin, data: Buffer.concat(chunks), end: m };
  }
}

t.test('the manifest, a whole file, a check without data', async (t) => {
  const sb = t.testdir({ src: { 'b.txt': 'bee\n', 'a.bin': 'x'.repeat(70_000), sub: { 'c.txt': 'sea\n' } } });
  fs.symlinkSync('b.txt', path.join(sb, 'src', 'link'));
  const { peer, key, running } = await session([`${sb}/src/`]);
  const { entries, single } = await readManifest(peer, key);
  t.notOk(single, 'a directory is not a single file');
  t.same(
    entries.map((e) => `${e.type} ${e.path}`),
    ['d .', 'f a.bin', 'f b.txt', 'l link', 'd sub', 'f sub/c.txt'],
    'the root, then each directory\'s non-directories, then its directories (checked by the receiver\'s intake on the way)',
  );
  t.equal(entries.find((e) => e.path === 'link')!.target, 'b.txt', 'a link carries its target');
  const a = entries.findIndex((e) => e.path === 'a.bin');
  peer.send({ t: 'req', index: a, flags: 0, check: Buffer.alloc(0), sig: Buffer.alloc(0) });
  const whole = await fileReply(peer);
  t.equal(whole.data.toString(), 'x'.repeat(70_000), 'the whole file');
  t.equal(whole.end.status, FileStatus.Sent);
  t.same(whole.end.hash, sha('x'.repeat(70_000)), 'with its SHA-256');
  const b = entries.findIndex((e) => e.path === 'b.txt');
  peer.send({ t: 'req', index: b, flags: ReqFlag.Dry, check: sha('bee\n'), sig: Buffer.alloc(0) });
  const same = await fileReply(peer);
  t.equal(same.end.status, FileStatus.Same, 'the receiver\'s hash matches: same, no data');
  t.equal(same.data.length, 0);
  peer.send({ t: 'req', index: b, flags: ReqFlag.Dry, check: sha('other\n'), sig: Buffer.alloc(0) });
  t.equal((await fileReply(peer)).end.status, FileStatus.Differs, 'another hash: differs (a dry run asks no data)');
  peer.send({ t: 'done', stats: JSON.stringify({ files: 3 }) });
  const stats = await running;
  t.equal((stats as { files: number }).files, 3, 'the run ends with the receiver\'s stats');
});

t.test('several sources merge: the first occurrence of a path wins, each keeps its trailing-slash meaning', async (t) => {
  const sb = t.testdir({ a: { one: 'from a\n', only: 'a\n' }, b: { one: 'from b\n', two: 'b\n' }, lone: 'file\n' });
  const { peer, key } = await session([`${sb}/a/`, `${sb}/b/`, `${sb}/lone`]);
  const { entries } = await readManifest(peer, key);
  t.same(entries.map((e) => e.path), ['.', 'lone', 'one', 'only', 'two'], 'one list, each path once');
  const one = entries.findIndex((e) => e.path === 'one');
  peer.send({ t: 'req', index: one, flags: 0, check: Buffer.alloc(0), sig: Buffer.alloc(0) });
  t.equal((await fileReply(peer)).data.toString(), 'from a\n', 'the first source\'s "one"');
  peer.send({ t: 'done', stats: '{}' });
});

t.test('a missing source: refused before anything is listed', async (t) => {
  const sb = t.testdir({});
  const { running } = await session([`${sb}/nothing/`]);
  const e = await running.then(
    () => null,
    (err: unknown) => err,
  );
  t.ok(e instanceof TsyncError, 'a TsyncError');
  t.equal((e as TsyncError).code, 'E_SOURCE_MISSING');
  t.match((e as TsyncError).message, /nothing does not exist/);
});
