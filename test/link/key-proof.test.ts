// The keyed handshake over two real Connections (lib/link/key-proof.ts through
// link/handshake.ts handshake()): the same key on both sides gives a working,
// sealed channel (with -z too); another key, or a key on one side only,
// fails on both sides with E_AUTH and says which; a changed byte on the
// wire after the proofs fails with E_PROTOCOL; AUTH and sealed frames
// that arrive in one read are still told apart.

import t from 'tap';
import { PassThrough, Transform } from 'node:stream';
import { Connection } from '../../lib/link/connection.js';
import { TsyncError } from '../../lib/errors.js';
import { handshake, type Negotiated } from '../../lib/link/handshake.js';
import { MAGIC, type Message } from '../../lib/wire/schema.js';

const KEY = Buffer.alloc(32, 1);
const OTHER = Buffer.alloc(32, 2);
const MARKER = Buffer.from('a very recognisable plaintext marker');

/** a stream that passes bytes on, lets a test look at them, and can change them */
function tap(change: (chunk: Buffer) => Buffer = (c) => c) {
  const seen: Buffer[] = [];
  const stream = new Transform({
    transform(chunk: Buffer, _e, done) {
      seen.push(chunk);
      done(null, change(chunk));
    },
  });
  return { stream, seen: () => Buffer.concat(seen) };
}

/** client and server Connections, client-to-server bytes through an optional tap */
function pair(c2s = tap()) {
  const s2c = new PassThrough();
  const client = new Connection(s2c, c2s.stream, { timeout: 0, expectJunk: true });
  const server = new Connection(c2s.stream, s2c, { timeout: 0, expectJunk: false });
  return { client, server, c2s };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** both handshakes, each raced against its connection's failure */
function shake(client: Connection, server: Connection, ck: Buffer | null, sk: Buffer | null) {
  const settle = (p: Promise<Negotiated>) => within(p.then((n) => n, (e: unknown) => e), 3000, 'handshake');
  return Promise.all([
    settle(Promise.race([handshake(client, 'client', ck), client.failed()])),
    settle(Promise.race([handshake(server, 'server', sk), server.failed()])),
  ]);
}

const data = (d: Buffer): Message => ({ t: 'data', data: d });

t.test('the same key: a working channel, nothing readable on the wire, a secret manifest key', async (t) => {
  const { client, server, c2s } = pair();
  const psk = Buffer.from(KEY);
  const [c, s] = await shake(client, server, psk, Buffer.from(KEY));
  if (c instanceof Error || s instanceof Error) throw c instanceof Error ? c : s;
  const cn = c as Negotiated;
  const sn = s as Negotiated;
  t.same(cn.key, sn.key, 'both sides derive one manifest key');
  t.same(psk, Buffer.alloc(32), 'the pre-shared key is wiped after the handshake');

  client.send(data(MARKER));
  t.same(await within(server.next(), 1000, 'data'), data(MARKER));
  server.send({ t: 'item', path: 'x', code: '>f+++++++++', type: 'f', size: 1, target: '' });
  t.match(await within(client.next(), 1000, 'item'), { t: 'item', path: 'x' });
  t.equal(c2s.seen().indexOf(MARKER), -1, 'the marker never crossed the wire in the clear');

  // a second session with the same key has other session keys
  const again = pair();
  const [c2] = await shake(again.client, again.server, Buffer.from(KEY), Buffer.from(KEY));
  t.not((c2 as Negotiated).key.toString('hex'), cn.key.toString('hex'), 'fresh nonces, fresh keys');
});

t.test('compression on top: compressed first, sealed after', async (t) => {
  const { client, server, c2s } = pair();
  const [c] = await shake(client, server, Buffer.from(KEY), Buffer.from(KEY));
  const codec = (c as Negotiated).codec;
  const before = c2s.seen().length;
  client.startCompress(codec, 6);
  server.startInflate(codec);
  const text = Buffer.from('compressible '.repeat(20000));
  client.send(data(text.subarray(0, 200 << 10)));
  t.same(await within(server.next(), 2000, 'data'), data(text.subarray(0, 200 << 10)));
  const wire = c2s.seen().length - before;
  t.ok(wire < 20_000, `200 KiB of text took ${wire} bytes: compression happened before sealing`);
});

t.test('another key: E_AUTH "key mismatch" on both sides', async (t) => {
  const { client, server } = pair();
  const [c, s] = await shake(client, server, Buffer.from(KEY), Buffer.from(OTHER));
  t.match(c, { code: 'E_AUTH', message: /^key mismatch: the server does not hold the same key/ });
  t.match(s, { code: 'E_AUTH', message: /^key mismatch: the client does not hold the same key/ });
});

t.test('a key on one side only: E_AUTH on both sides, naming the side without one', async (t) => {
  {
    const { client, server } = pair();
    const [c, s] = await shake(client, server, Buffer.from(KEY), null);
    // a side may hear of it first from the other's ERROR; either way it is E_AUTH, and says so
    t.match(c, { code: 'E_AUTH', message: /the server has no key but this client has one|the client requires a key and this server has none/ });
    t.match(s, { code: 'E_AUTH', message: /the client requires a key and this server has none|the server has no key but this client has one/ });
  }
  {
    const { client, server } = pair();
    const [c, s] = await shake(client, server, null, Buffer.from(KEY));
    t.match(s, { code: 'E_AUTH', message: /the client has no key but this server has one|the server requires a key and this client has none/ });
    t.match(c, { code: 'E_AUTH', message: /the server requires a key and this client has none|the client has no key but this server has one/ });
  }
});

t.test('AUTH and sealed frames in one read are still told apart', async (t) => {
  // the server gets the client's preamble and HELLO at once; what follows (AUTH, then sealed frames) is held
  const c2sOut = new PassThrough();
  const c2sIn = new PassThrough();
  let head = Buffer.alloc(0);
  let held: Buffer[] | null = null;
  c2sOut.on('data', (b: Buffer) => {
    if (held) return void held.push(b);
    head = Buffer.concat([head, b]);
    if (head.length < MAGIC.length + 4) return;
    const end = MAGIC.length + 4 + head.readUInt32BE(MAGIC.length);
    if (head.length < end) return;
    c2sIn.write(head.subarray(0, end));
    held = [head.subarray(end)];
  });
  const s2c = new PassThrough();
  const client = new Connection(s2c, c2sOut, { timeout: 0, expectJunk: true });
  const server = new Connection(c2sIn, s2c, { timeout: 0, expectJunk: false });
  const serverShake = within(handshake(server, 'server', Buffer.from(KEY)), 3000, 'server handshake');
  await within(handshake(client, 'client', Buffer.from(KEY)), 3000, 'client handshake');
  client.send(data(MARKER));
  client.flush();
  await new Promise((r) => setTimeout(r, 50));
  const glued = Buffer.concat(held ?? []);
  t.ok(glued.length > 4 + 33 + 4 + MARKER.length, `AUTH and a sealed frame are held together (${glued.length} bytes)`);
  c2sIn.write(glued);
  await serverShake;
  t.same(await within(server.next(), 1000, 'data'), data(MARKER));
  t.equal(server.error, null);
});

t.test('a changed byte after the proofs: E_PROTOCOL, naming the sealed frame', async (t) => {
  let armed = false;
  const c2s = tap((chunk) => {
    if (!armed) return chunk;
    armed = false;
    const bad = Buffer.from(chunk);
    bad[bad.length - 1] ^= 1;
    return bad;
  });
  const { client, server } = pair(c2s);
  const [c, s] = await shake(client, server, Buffer.from(KEY), Buffer.from(KEY));
  t.notOk(c instanceof Error || s instanceof Error, 'handshake done');
  client.send(data(Buffer.from('fine')));
  t.same(await within(server.next(), 1000, 'first'), data(Buffer.from('fine')));
  armed = true;
  client.send(data(Buffer.from('tampered')));
  const err = await within(server.failed().catch((e: unknown) => e), 1000, 'failure');
  t.ok(err instanceof TsyncError);
  t.match(err, { code: 'E_PROTOCOL', message: /^sealed frame 1 failed authentication: it was altered, dropped, replayed or reordered on the way$/ });
});
