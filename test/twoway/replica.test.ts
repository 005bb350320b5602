// The server's side of a two-way run (lib/twoway/replica.ts) in process,
// against a WirePeer that plays the client: hello and clock pings, the
// replica's manifest and a pulled file, the ops the client decided
// (carried out, or refused with a warning when what is there changed), the
// new baseline stored, and the refusals of a client that claims the
// replica's own id or sends a message out of turn.

import { PassThrough } from 'node:stream';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { Connection } from '../../lib/link/connection.js';
import { serveReplica } from '../../lib/twoway/replica.js';
import { encodeBaseline, loadBaseline, replicaId } from '../../lib/twoway/baseline.js';
import { TwOp, encodeEntries, type Message } from '../../lib/wire/schema.js';
import { TsyncError } from '../../lib/errors.js';
import type { ErrorRecord } from '../../lib/cli/stats.js';
import { OPTIONS, readManifest, WirePeer } from '../helpers/hostile.js';
import { writeTree } from '../helpers/standin.js';

const CLIENT = 'c'.repeat(32);

function replica(root: string) {
  const toReplica = new PassThrough();
  const fromReplica = new PassThrough();
  const key = randomBytes(32);
  const conn = new Connection(toReplica, fromReplica, { timeout: 0, expectJunk: false });
  const warnings: ErrorRecord[] = [];
  const serving = Promise.race([serveReplica(conn, root, OPTIONS, { key, rounds: false, diff: false, moves: false }, { item: () => {}, warn: (w) => void warnings.push(w) }), conn.failed()]).then(
    () => null,
    (e: unknown) => e,
  );
  return { peer: new WirePeer(fromReplica, toReplica), key, serving, warnings };
}

async function until<T extends Message['t']>(peer: WirePeer, t: T): Promise<Extract<Message, { t: T }>> {
  for (;;) {
    const m = await peer.next();
    if (m.t === t) return m as Extract<Message, { t: T }>;
  }
}

t.test('a whole session: hello, manifest, a pull, ops, the new baseline', async (t) => {
  const root = t.testdir();
  await writeTree(root, { 'a.txt': 'alpha\n', 'gone.txt': 'bye\n', sub: null, 'sub/b.txt': 'beta\n' });
  const { peer, key, serving, warnings } = replica(root);
  peer.send({ t: 'ping', seq: 1, clock: Date.now() });
  const pong = await until(peer, 'pong');
  t.equal(pong.seq, 1, 'a ping is answered with its own sequence number');
  t.ok(Math.abs(pong.clock - Date.now()) < 60_000, 'and the replica\'s clock');
  peer.send({ t: 'tw_hello', replica: CLIENT, host: 'client', digest: Buffer.alloc(0), baseCount: 0 });
  const hello = await until(peer, 'tw_hello');
  t.match(hello.replica, /^[0-9a-f]{32}$/, 'it names itself by its id');
  t.equal(hello.baseCount, 0, 'no baseline with this client yet');
  peer.send({ t: 'tw_go', wantBase: false });

  // its manifest, MAC-checked as the client checks it
  const { entries } = await readManifest(peer, key);
  t.same(entries.map((e) => e.path), ['.', 'a.txt', 'gone.txt', 'sub', 'sub/b.txt'], 'its tree, .tsync left out');
  peer.send({ t: 'req', index: entries.findIndex((e) => e.path === 'a.txt'), flags: 0, check: Buffer.alloc(0), sig: Buffer.alloc(0) });
  const data = await until(peer, 'data');
  t.equal(data.data.toString(), 'alpha\n', 'a pulled file');
  await until(peer, 'file_end');
  peer.send({ t: 'done', stats: '{}' });

  // the ops: one that matches what is there, one whose file changed since the scan
  const gone = entries.find((e) => e.path === 'gone.txt')!;
  const b = entries.find((e) => e.path === 'sub/b.txt')!;
  fs.writeFileSync(path.join(root, 'sub/b.txt'), 'changed meanwhile, longer\n');
  peer.send({ t: 'tw_op', op: TwOp.Delete, path: 'gone.txt', to: '', expect: encodeEntries([gone]) });
  peer.send({ t: 'tw_op', op: TwOp.Delete, path: 'sub/b.txt', to: '', expect: encodeEntries([b]) });
  peer.send({ t: 'tw_ops_end' });
  const done = await until(peer, 'tw_ops_done');
  t.equal(done.failed, 1, 'one op refused');
  t.notOk(fs.existsSync(path.join(root, 'gone.txt')), 'the matching file deleted');
  t.equal(fs.readFileSync(path.join(root, 'sub/b.txt'), 'utf8'), 'changed meanwhile, longer\n', 'the changed one kept');
  t.match(warnings.map((w) => `${w.path}: ${w.message}`).join('\n'), /sub\/b\.txt: .*changed/, 'and said why');

  // the new baseline
  // the root is no entry of a baseline (the replica refuses one that names it)
  const next = encodeBaseline(entries.filter((e) => e.path !== 'gone.txt' && e.path !== '.'));
  for (const d of next.batches) peer.send({ t: 'tw_save', data: d });
  peer.send({ t: 'tw_save_end', count: next.count, digest: next.digest });
  const ended = await Promise.race([until(peer, 'tw_saved'), serving]);
  t.equal((ended as Message | null)?.t, 'tw_saved', 'the replica confirms it');
  const saved = loadBaseline(root, CLIENT);
  t.equal(saved?.count, 3, 'stored under .tsync for this client');
  t.same(saved?.digest, next.digest);
  t.equal(fs.readFileSync(path.join(root, '.tsync', 'id'), 'utf8').trim(), hello.replica, 'with the id it gave');
  peer.send({ t: 'done', stats: '{}' });
  t.equal(await serving, null, 'the session ends cleanly');
});

t.test('refusals: a client with the replica\'s own id (a copied .tsync), a message out of turn', async (t) => {
  const cases: Array<[string, (root: string, peer: WirePeer) => Promise<void> | void, string, RegExp]> = [
    [
      'its own id',
      (root, peer) => {
        t.equal(replicaId(root), CLIENT, 'the replica reads its id from .tsync/id');
        peer.send({ t: 'tw_hello', replica: CLIENT, host: 'x', digest: Buffer.alloc(0), baseCount: 0 });
      },
      'E_USAGE',
      /same id/,
    ],
    ['go before hello', (_root, peer) => peer.send({ t: 'tw_go', wantBase: false }), 'E_PROTOCOL', /unexpected tw_go/],
    ['an op before the manifest was served', (_root, peer) => peer.send({ t: 'tw_ops_end' }), 'E_PROTOCOL', /unexpected tw_ops_end/],
  ];
  for (const [name, play, code, message] of cases) {
    const root = t.testdir();
    fs.writeFileSync(path.join(root, 'f.txt'), 'x');
    if (name === 'its own id') {
      // an id the replica already keeps: a .tsync copied from the other side holds the client's
      fs.mkdirSync(path.join(root, '.tsync'), { mode: 0o700 });
      fs.writeFileSync(path.join(root, '.tsync', 'id'), `${CLIENT}\n`, { mode: 0o600 });
    }
    const { peer, serving } = replica(root);
    await play(root, peer);
    const e = await serving;
    t.ok(e instanceof TsyncError, `${name}: refused`);
    t.equal((e as TsyncError).code, code, `${name}: ${code}`);
    t.match((e as TsyncError).message, message);
    peer.destroy();
  }
});
