// A hostile two-way replica lies in the changes it sends against the
// baseline both sides hold (capability twoway:diff). The real client has
// synced with the real replica once; the hostile stand-in then plays that
// replica (its id, its baseline's digest) and lies in its gone list. Each
// case must end with a clear one-line protocol error (exit 12) and leave
// the client's replica exactly as it was.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import type { Connection } from '../../lib/link/connection.js';
import { loadBaseline, replicaId, type Baseline } from '../../lib/twoway/baseline.js';
import { sendGone } from '../../lib/twoway/diff.js';
import { encodeEntries, type Entry } from '../../lib/wire/schema.js';
import { runTsync, TSYNC_BIN } from '../helpers/run.js';
import { outcome, remoteStandIn } from '../helpers/hostile-case.js';
import { dir, file, sendManifest, serverHandshake, type WirePeer } from '../helpers/hostile.js';
import { diffSnapshots, makeRandomTree, snapshot } from '../helpers/tree.js';

interface Case {
  name: string;
  /** after TW_DIFF: the lie */
  play(p: WirePeer, key: Buffer, base: Baseline): void;
  stderr: RegExp;
}

/** sendGone speaks to a Connection; the stand-in's peer takes the same messages */
const asConn = (p: WirePeer) => ({ send: (m: Parameters<WirePeer['send']>[0]) => p.send(m) }) as unknown as Connection;
const aFile = (base: Baseline): Entry => [...base.tree.entries()].find((e) => e.type === 'f')!;

const CASES: Case[] = [
  {
    name: 'gone: a path the baseline does not hold',
    play: (p, key) => sendGone(asConn(p), key, [file('never-synced.txt', 3)]),
    stderr: /listed "never-synced\.txt" as gone, which is not a baseline entry/,
  },
  {
    name: 'gone: a baseline path, but not as the baseline has it',
    play: (p, key, base) => sendGone(asConn(p), key, [{ ...aFile(base), size: aFile(base).size + 1 }]),
    stderr: /as gone, which is not a baseline entry/,
  },
  {
    name: 'gone: the same path twice',
    play: (p, key, base) => sendGone(asConn(p), key, [aFile(base), aFile(base)]),
    stderr: /as gone, which is not a baseline entry/,
  },
  {
    name: 'gone: a batch whose MAC does not verify',
    play: (p, _key, base) => {
      p.send({ t: 'tw_gone', data: encodeEntries([aFile(base)]), mac: Buffer.alloc(32) });
      p.send({ t: 'tw_gone_end', count: 1, mac: Buffer.alloc(32) });
    },
    stderr: /gone list failed verification \(MAC mismatch\)/,
  },
  {
    name: 'gone: an end that counts more than was listed',
    play: (p, key, base) => {
      const honest: Array<{ t: string }> = [];
      sendGone({ send: (m: { t: string }) => honest.push(m) } as unknown as Connection, key, [aFile(base)]);
      p.send(honest[0] as Parameters<WirePeer['send']>[0]);
      p.send({ ...(honest[1] as { t: 'tw_gone_end'; count: number; mac: Buffer }), count: 2 });
    },
    stderr: /gone list failed verification at its end/,
  },
  {
    // before the fix the client planned from it and pulled (the order was not checked on a two-way run)
    name: 'manifest: siblings out of order (new files listed b before a)',
    play: (p, key) => {
      sendGone(asConn(p), key, []);
      sendManifest(p, key, [[dir('.'), file('zz-new-b.txt', 3), file('zz-new-a.txt', 3)]]);
    },
    stderr: /the manifest is not in sorted order: "zz-new-a\.txt" came after "zz-new-b\.txt"/,
  },
  {
    name: 'manifest: names out of order inside a directory',
    play: (p, key, base) => {
      const d = [...base.tree.entries()].find((e) => e.type === 'd' && e.path !== '.')!;
      sendGone(asConn(p), key, []);
      sendManifest(p, key, [[dir('.'), d, file(`${d.path}/zz-2.txt`, 3), file(`${d.path}/zz-1.txt`, 3)]]);
    },
    stderr: /the manifest is not in sorted order/,
  },
  {
    name: 'the manifest instead of the gone list',
    play: (p) => p.send({ t: 'flist_head', singleFile: false }),
    stderr: /expected the replica's gone list, got flist_head/,
  },
];

async function runCase(t: Test, c: Case): Promise<void> {
  await t.test(c.name, async (t) => {
    const sb = t.testdir();
    const a = path.join(sb, 'A');
    const b = path.join(sb, 'B');
    await makeRandomTree(a, 77, { files: 20, dirs: 4, bigFiles: 0, oddNames: false });
    fs.mkdirSync(b);
    const first = await runTsync(['--two-way', '--tsync-path', TSYNC_BIN, a, b]);
    t.equal(first.code, 0, `the honest first run: ${first.stderr}`);
    const base = loadBaseline(b, replicaId(a))!;
    t.ok(base && base.count > 20, 'the replica holds a baseline for the client');
    // .tsync changes only by the run's lock coming and going; the baseline in it must not
    const userTree = { exclude: (rel: string) => rel === '.tsync' };
    const state = () => fs.readdirSync(path.join(a, '.tsync')).sort().map((f) => [f, fs.readFileSync(path.join(a, '.tsync', f)).toString('base64')]);
    const before = [await snapshot(a, userTree), state()] as const;
    const remote = await remoteStandIn(t);
    const run = runTsync(['--two-way', '-e', remote.rsh, '--tsync-path', 'tsync', a, 'localhost:B'], { timeoutMs: 60_000 });
    const p = await remote.accept();
    const lie = (async () => {
      const { key } = await serverHandshake(p);
      await p.expect('tw_hello');
      p.send({ t: 'tw_hello', replica: replicaId(b), host: 'liar', digest: base.digest, baseCount: base.batches.length });
      for (let m = await p.next(); m.t !== 'tw_diff'; m = await p.next()) {
        if (m.t !== 'ping') throw new Error(`the client sent ${m.t} before TW_DIFF`);
        p.send({ t: 'pong', seq: m.seq, clock: Date.now() });
      }
      c.play(p, key, base);
    })().catch((e: unknown) => e);
    const r = await run;
    const stopped = await Promise.race([lie, new Promise((res) => setTimeout(res, 3000, 'still talking'))]);
    p.destroy();
    t.equal(stopped, undefined, 'the client got as far as asking for the diff');
    outcome(t, r, { code: 12, stderr: c.stderr });
    t.same(diffSnapshots(before[0], await snapshot(a, userTree)), [], "the client's replica is untouched");
    t.same(state(), before[1], 'its id, secret and baseline too');
  });
}

t.test('a hostile two-way replica lying in its diff', async (t) => {
  for (const c of CASES) await runCase(t, c);
});
