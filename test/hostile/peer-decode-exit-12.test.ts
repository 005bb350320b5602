// peer-decode-exit-12: malformed data from the peer, in every two-way path
// that decodes it (the client reading the replica's manifest, gone list and
// baseline; the replica reading the client's ops and new baseline), is a
// protocol error, exit 12 with one clear line, never exit 70 "internal
// error". Each batch is MAC-chained correctly where a MAC is checked, so
// only the decoding can catch it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { deriveKey, MacChain } from '../../lib/tree/manifest.js';
import { loadBaseline, replicaId, type Baseline } from '../../lib/twoway/baseline.js';
import { encodeEntries, TwOp } from '../../lib/wire/schema.js';
import { runTsync, spawnTsync, TSYNC_BIN, type RunResult } from '../helpers/run.js';
import { outcome, remoteStandIn } from '../helpers/hostile-case.js';
import { clientHandshake, file, OPTIONS, serverHandshake, WirePeer } from '../helpers/hostile.js';
import { writeTree } from '../helpers/standin.js';

/** bytes that are no list of entries: a count of one, then a path longer than any */
const GARBAGE = Buffer.from([0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x61]);

async function synced(t: Test): Promise<{ a: string; b: string; base: Baseline }> {
  const sb = t.testdir();
  const a = path.join(sb, 'A');
  const b = path.join(sb, 'B');
  await writeTree(a, { 'x.txt': 'x\n', 'd/y.txt': 'y\n' });
  fs.mkdirSync(b);
  const first = await runTsync(['--two-way', '--tsync-path', TSYNC_BIN, a, b]);
  t.equal(first.code, 0, `the honest first run: ${first.stderr}`);
  return { a, b, base: loadBaseline(b, replicaId(a))! };
}

/** The real client against a hostile replica: `lie` after the client's TW_HELLO. */
async function againstClient(t: Test, lie: (p: WirePeer, key: Buffer, s: { b: string; base: Baseline }) => Promise<void>): Promise<RunResult> {
  const s = await synced(t);
  const remote = await remoteStandIn(t);
  const run = runTsync(['--two-way', '-e', remote.rsh, '--tsync-path', 'tsync', s.a, 'localhost:B'], { timeoutMs: 60_000 });
  const p = await remote.accept();
  const played = (async () => {
    const { key } = await serverHandshake(p);
    await p.expect('tw_hello');
    await lie(p, key, s);
  })().catch((e: unknown) => e);
  const r = await run;
  await Promise.race([played, new Promise((res) => setTimeout(res, 3000))]);
  p.destroy();
  return r;
}

async function pongUntil(p: WirePeer, t: 'tw_diff' | 'tw_go'): Promise<void> {
  for (let m = await p.next(); m.t !== t; m = await p.next()) {
    if (m.t === 'ping') p.send({ t: 'pong', seq: m.seq, clock: Date.now() });
  }
}

t.test('the client: a manifest batch that does not decode (its MAC is right)', async (t) => {
  const r = await againstClient(t, async (p, key, s) => {
    p.send({ t: 'tw_hello', replica: replicaId(s.b), host: 'liar', digest: Buffer.alloc(0), baseCount: 0 });
    await pongUntil(p, 'tw_go');
    const mac = new MacChain(key);
    p.send({ t: 'flist_head', singleFile: false });
    p.send({ t: 'flist', data: GARBAGE, mac: mac.next(GARBAGE) });
  });
  outcome(t, r, { code: 12, stderr: /exceeds limit/ });
});

t.test('the client: a gone list that does not decode (its MAC is right)', async (t) => {
  const r = await againstClient(t, async (p, key, s) => {
    p.send({ t: 'tw_hello', replica: replicaId(s.b), host: 'liar', digest: s.base.digest, baseCount: s.base.batches.length });
    await pongUntil(p, 'tw_diff');
    // the gone list's own MAC chain (lib/twoway/diff.ts), right over the garbage
    const mac = new MacChain(deriveKey(key, Buffer.alloc(0), 'tsync two-way gone list'));
    p.send({ t: 'tw_gone', data: GARBAGE, mac: mac.next(GARBAGE) });
  });
  outcome(t, r, { code: 12, stderr: /exceeds limit/ });
});

t.test("the client: the replica's baseline that does not decode", async (t) => {
  const r = await againstClient(t, async (p, _key, s) => {
    // a digest the client's baseline does not match, so it asks for ours
    p.send({ t: 'tw_hello', replica: replicaId(s.b), host: 'liar', digest: Buffer.alloc(32, 7), baseCount: 1 });
    await pongUntil(p, 'tw_go');
    p.send({ t: 'tw_base', data: GARBAGE });
  });
  outcome(t, r, { code: 12, stderr: /exceeds limit/ });
});

/** A hostile client against a real `tsync --server` replica, up to its manifest's end. */
async function againstReplica(t: Test, lie: (p: WirePeer) => void): Promise<{ r: RunResult; said: string }> {
  const s = await synced(t);
  const child = spawnTsync(['--server']);
  const p = new WirePeer(child.stdout, child.stdin);
  const exited = new Promise<RunResult>((resolve) => {
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.on('close', (code, signal) => resolve({ code, signal, stdout: '', stderr, timedOut: false }));
  });
  await clientHandshake(p, { role: 'twoway', paths: [s.b], options: OPTIONS });
  p.send({ t: 'tw_hello', replica: replicaId(s.a), host: 'liar', digest: Buffer.alloc(0), baseCount: 0 });
  await p.expect('tw_hello');
  p.send({ t: 'tw_go', wantBase: false });
  for (let m = await p.next(); m.t !== 'flist_end'; m = await p.next());
  // nothing to pull: the replica's sending part ends
  p.send({ t: 'done', stats: '{}' });
  lie(p);
  const said = (await p.drain(10_000)).map((m) => (m.t === 'error' ? `${m.code}: ${m.message}` : m.t)).join(' | ');
  p.destroy();
  return { r: await exited, said };
}

for (const [what, lie] of [
  ['an op whose expected entry does not decode', (p: WirePeer) => p.send({ t: 'tw_op', op: TwOp.Delete, path: 'x.txt', to: '', expect: GARBAGE })],
  ['a new baseline that does not decode', (p: WirePeer) => {
    p.send({ t: 'tw_save', data: GARBAGE });
    p.send({ t: 'tw_save_end', count: 1, digest: Buffer.alloc(32) });
  }],
  ['an op whose expected entry is well formed: the control', (p: WirePeer) => p.send({ t: 'tw_op', op: TwOp.Delete, path: 'nope.txt', to: '', expect: encodeEntries([file('nope.txt', 1)]) })],
] as const) {
  t.test(`the replica: ${what}`, async (t) => {
    const { r, said } = await againstReplica(t, lie);
    if (what.includes('control')) {
      t.notMatch(said, /E_INTERNAL|E_PROTOCOL/, `no error: ${said}`);
      return;
    }
    t.match(said, /^E_PROTOCOL: /m, `the replica answers with a protocol error: ${said}`);
    t.notMatch(said, /E_INTERNAL/);
    t.equal(r.code, 12, `and exits 12 (${r.stderr})`);
  });
}
