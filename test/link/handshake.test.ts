// The handshake (lib/link/handshake.ts, design.md §5), client and server run
// in this process over two crossed PassThrough streams: both sides settle on
// one protocol version (the lower of the two maxima) and one session key
// (HKDF of both nonces, or from the pre-shared key after the proofs); a
// feature is used only when both HELLOs offer it; another key fails both
// sides with E_AUTH; ranges that do not overlap fail both with E_VERSION,
// naming both ranges; a first message other than HELLO is E_PROTOCOL.
//
// TSYNC_TEST_PROTOCOL and TSYNC_TEST_NO_CAPS are read from process.env,
// which both sides share here. handshake() reads them before its first
// await, so each side is started with the variables set and they are
// restored right after that call returns its promise. That is what lets
// one process play two peers of different versions; a separate process is
// not needed for anything tested here.
import t from 'tap';
import { PassThrough } from 'node:stream';
import { hkdfSync } from 'node:crypto';
import { Connection } from '../../lib/link/connection.js';
import { handshake, CAPS, type Negotiated } from '../../lib/link/handshake.js';
import { TsyncError } from '../../lib/errors.js';
import { PROTOCOL_MIN, PROTOCOL_VERSION } from '../../lib/wire/schema.js';
import { DIFF_CAP, KEY_CAP, KX_CAP, PROGRESS_CAP, ROUNDS_CAP } from '../../lib/wire/caps.js';
import { VERSION } from '../../lib/version.js';

type Env = Partial<Record<'TSYNC_TEST_PROTOCOL' | 'TSYNC_TEST_NO_CAPS', string>>;
interface Side {
  key?: Buffer | null;
  env?: Env;
  extraCaps?: string[];
}

const OPTS = { timeout: 0, expectJunk: false };

function pair() {
  const c2s = new PassThrough();
  const s2c = new PassThrough();
  return { client: new Connection(s2c, c2s, OPTS), server: new Connection(c2s, s2c, OPTS) };
}

/** fn() with env set, then process.env as it was */
function withEnv<T>(env: Env, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** Both handshakes; each side's result is its Negotiated or the error it failed with. */
async function shake(c: Side = {}, s: Side = {}): Promise<[Negotiated | TsyncError, Negotiated | TsyncError]> {
  const { client, server } = pair();
  const run = (conn: Connection, side: 'client' | 'server', o: Side) => {
    const p = withEnv(o.env ?? {}, () => handshake(conn, side, o.key ?? null, o.extraCaps ?? []));
    return within(Promise.race([p, conn.failed()]).then((n) => n, (e: unknown) => e as TsyncError), 3000, `${side} handshake`);
  };
  const out = await Promise.all([run(client, 'client', c), run(server, 'server', s)]);
  client.close();
  server.close();
  return out;
}

async function agreed(c: Side = {}, s: Side = {}): Promise<[Negotiated, Negotiated]> {
  const [cn, sn] = await shake(c, s);
  if (cn instanceof Error) throw cn;
  if (sn instanceof Error) throw sn;
  return [cn, sn];
}

const unkeyed = (clientNonce: Buffer, serverNonce: Buffer) =>
  Buffer.from(hkdfSync('sha256', 'tsync-unkeyed', Buffer.concat([clientNonce, serverNonce]), 'tsync manifest v1', 32));

t.test('both sides agree on the protocol version and on one session key from both nonces', async (t) => {
  const [c, s] = await agreed();
  t.equal(c.version, PROTOCOL_VERSION);
  t.equal(s.version, PROTOCOL_VERSION);
  t.match(c.peer, { t: 'hello', version: PROTOCOL_VERSION, minVersion: PROTOCOL_MIN, software: VERSION });
  t.match(s.peer, { t: 'hello', version: PROTOCOL_VERSION, minVersion: PROTOCOL_MIN, software: VERSION });
  t.equal(c.key.length, 32);
  t.same(c.key, s.key, 'one key on both sides');
  // s.peer.nonce is the client's nonce, c.peer.nonce the server's
  t.same(c.key, unkeyed(s.peer.nonce, c.peer.nonce), 'HKDF(ikm "tsync-unkeyed", salt client nonce ‖ server nonce)');
  t.notSame(c.key, unkeyed(c.peer.nonce, s.peer.nonce), 'the client nonce comes first in the salt');
  t.ok(c.receivedAt >= c.sentAt && s.receivedAt >= s.sentAt);
  const [c2] = await agreed();
  t.notSame(c2.key, c.key, 'another session, fresh nonces, another key');
});

t.test('capabilities: each side offers CAPS, and a feature is used only when both offer it', async (t) => {
  const [c, s] = await agreed({ extraCaps: [PROGRESS_CAP] });
  t.same(s.peer.caps, [...CAPS, PROGRESS_CAP], "the client's HELLO: CAPS and its request of this run");
  t.same(c.peer.caps, CAPS);
  t.same([c.rounds, c.diff, c.codec], [true, true, 'brotli']);
  t.same([s.rounds, s.diff, s.codec], [true, true, 'brotli']);

  for (const [cEnv, sEnv] of [[ROUNDS_CAP, DIFF_CAP], [`${ROUNDS_CAP},${DIFF_CAP}`, '']]) {
    const [c2, s2] = await agreed({ env: { TSYNC_TEST_NO_CAPS: cEnv } }, { env: { TSYNC_TEST_NO_CAPS: sEnv } });
    t.same([c2.rounds, c2.diff, s2.rounds, s2.diff], [false, false, false, false], `client without ${cEnv}, server without ${sEnv || 'nothing'}`);
    t.notOk(s2.peer.caps.includes(ROUNDS_CAP), "what the client left out is not in its HELLO");
  }
  t.equal(process.env.TSYNC_TEST_NO_CAPS, undefined, 'the environment is restored');

  // a peer without brotli: deflate, the codec every peer has
  const [c3, s3] = await agreed({}, { env: { TSYNC_TEST_NO_CAPS: 'z:brotli' } });
  t.equal(c3.codec, 'deflate', 'the side that sees no brotli in the peer HELLO picks deflate');
  t.equal(s3.codec, c3.codec, 'both sides pick the same codec (each from what it offered, not from all it knows)');
});

t.test('the same pre-shared key: both sides succeed with the same key, derived from the secret', async (t) => {
  const ck = Buffer.alloc(32, 7);
  const sk = Buffer.alloc(32, 7);
  const [c, s] = await agreed({ key: ck }, { key: sk });
  t.same(c.key, s.key, 'one manifest key');
  t.equal(c.key.length, 32);
  t.notSame(c.key, unkeyed(s.peer.nonce, c.peer.nonce), 'not the unkeyed derivation');
  t.ok(c.peer.caps.includes(KEY_CAP) && s.peer.caps.includes(KEY_CAP), 'both HELLOs say they hold a key');
  t.ok(c.peer.caps.some((x) => x.startsWith(KX_CAP)), 'and carry an ephemeral key');
  t.same([ck, sk], [Buffer.alloc(32), Buffer.alloc(32)], 'the pre-shared keys are wiped');
});

t.test('different pre-shared keys: both sides fail with E_AUTH', async (t) => {
  const [c, s] = await shake({ key: Buffer.alloc(32, 1) }, { key: Buffer.alloc(32, 2) });
  t.ok(c instanceof TsyncError && s instanceof TsyncError);
  t.match(c, { code: 'E_AUTH', message: /^key mismatch: the server does not hold the same key/ });
  t.match(s, { code: 'E_AUTH', message: /^key mismatch: the client does not hold the same key/ });
  // a key on one side only is refused too, never an unauthenticated session
  const [c2, s2] = await shake({ key: Buffer.alloc(32, 1) }, {});
  t.match([c2, s2], [{ code: 'E_AUTH' }, { code: 'E_AUTH' }]);
});

t.test('ranges that do not overlap: E_VERSION on both sides, naming both ranges', async (t) => {
  const ours = `${PROTOCOL_MIN}-${PROTOCOL_VERSION}`;
  const [c, s] = await shake({ env: { TSYNC_TEST_PROTOCOL: '5-7' } }, {});
  t.match(c, { code: 'E_VERSION', message: `tsync ${VERSION} (protocol 5-7) and the remote tsync ${VERSION} (protocol ${ours}) share no protocol version` });
  t.match(s, { code: 'E_VERSION', message: `the client's tsync ${VERSION} (protocol 5-7) and this tsync ${VERSION} (protocol ${ours}) share no protocol version` });
  t.equal(process.env.TSYNC_TEST_PROTOCOL, undefined, 'the environment is restored');

  // the other way round, and with keys: the version is settled before any proof
  const [c2, s2] = await shake({ key: Buffer.alloc(32, 1) }, { key: Buffer.alloc(32, 2), env: { TSYNC_TEST_PROTOCOL: '5-7' } });
  t.match(c2, { code: 'E_VERSION', message: `tsync ${VERSION} (protocol ${ours}) and the remote tsync ${VERSION} (protocol 5-7) share no protocol version` });
  t.match(s2, { code: 'E_VERSION', message: `the client's tsync ${VERSION} (protocol ${ours}) and this tsync ${VERSION} (protocol 5-7) share no protocol version` });
});

t.test('ranges that overlap: both sides settle on the lower of the two maxima', async (t) => {
  for (const [cr, sr, want] of [['2-4', '1-3', 3], ['3-9', '1-3', 3], ['1-1', '1-9', 1], ['4-6', '2-5', 5]] as const) {
    const [c, s] = await agreed({ env: { TSYNC_TEST_PROTOCOL: cr } }, { env: { TSYNC_TEST_PROTOCOL: sr } });
    t.same([c.version, s.version], [want, want], `client ${cr}, server ${sr}`);
    t.same([s.peer.minVersion, s.peer.version], cr.split('-').map(Number), "the client's HELLO carries its range");
  }
  // a malformed override is ignored: the real range
  const [c] = await agreed({ env: { TSYNC_TEST_PROTOCOL: '2' } }, {});
  t.equal(c.version, PROTOCOL_VERSION);
});

t.test('a first message other than HELLO: E_PROTOCOL', async (t) => {
  const { client, server } = pair();
  const serving = within(handshake(server, 'server').then(() => null, (e: unknown) => e), 3000, 'server handshake');
  // (a keepalive would not do: the connection swallows those)
  client.send({ t: 'data', data: Buffer.from('x') });
  t.match(await serving, { code: 'E_PROTOCOL', message: 'expected HELLO from the peer, got data' });
  client.close();
  server.close();
});
