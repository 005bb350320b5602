// A hostile sender against the real receiver's move path (capability
// 'moves'): the receiver asks a file's hash when it holds a file of that
// size, and makes the file from a local copy only when that copy's own
// content has the hash. Never from anything outside the destination (a
// link out is not a candidate), never from a copy whose content differs,
// and a lie about the exchange itself is a one-line protocol error.

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { FileStatus, ReqFlag, type Entry, type Message } from '../../lib/wire/schema.js';
import { dir, file, sendFile, sendManifest, serveRequests, sha256, type WirePeer } from '../helpers/hostile.js';
import { remoteStandIn, runSenderCase, type Sandbox, type SenderCase } from '../helpers/hostile-case.js';

type Req = Extract<Message, { t: 'req' }>;

const PROTO = 12;
const SIZE = 4096;
/** what the sender lists as got.bin */
const CONTENT = randomBytes(SIZE);
/** outside the destination, reached from it only through links */
const SECRET = randomBytes(SIZE);
/** inside the destination: the same size, another content */
const DECOY = randomBytes(SIZE);
const LIST: Entry[] = [dir('.'), file('got.bin', SIZE, 1_700_000_000_000_000)];

/** the secret beside the sentinel, links to it from the destination, and a same-size decoy in it */
async function setup(s: Sandbox): Promise<void> {
  await fsp.writeFile(path.join(s.sentinel, 'big-secret.bin'), SECRET);
  await fsp.symlink(path.join(s.sentinel, 'big-secret.bin'), path.join(s.dst, 'peek.bin'));
  await fsp.symlink(s.sentinel, path.join(s.dst, 'peek-dir'));
  await fsp.writeFile(path.join(s.dst, 'decoy.bin'), DECOY);
}

/** the manifest, then each request to `answer` first (true: handled); the requests seen are kept in `seen` */
function session(answer: (p: WirePeer, r: Req, nth: number) => boolean, seen: Req[] = []) {
  return async (p: WirePeer, key: Buffer) => {
    sendManifest(p, key, [LIST]);
    seen.push(...(await serveRequests(p, new Map([[1, CONTENT]]), (r, n) => answer(p, r, n))));
  };
}

const hashed = (p: WirePeer, index: number, hash: Buffer) => p.send({ t: 'file_end', index, status: FileStatus.Hashed, hash, message: '' });

const outsideSeen: Req[] = [];
const insideSeen: Req[] = [];
const decoySeen: Req[] = [];

const CASES: SenderCase[] = [
  {
    name: "the sender names the hash of a file outside the destination (reachable through links there): it is not used, the data is asked for",
    setup,
    play: session((p, r) => {
      if (r.flags & ReqFlag.Hash) {
        hashed(p, r.index, sha256(SECRET));
        return true;
      }
      return false;
    }, outsideSeen),
    expect: { code: 0, stderr: /^$/ },
    check: (t, s) => {
      t.same(outsideSeen.map((r) => r.flags), [ReqFlag.Hash, 0], 'asked for the hash (a same-size file is there), then for the data');
      t.ok(fs.readFileSync(path.join(s.dst, 'got.bin')).equals(CONTENT), 'got.bin has the data that was sent');
      t.ok(fs.readFileSync(path.join(s.dst, 'decoy.bin')).equals(DECOY), 'the decoy is untouched');
    },
  },
  {
    name: 'a same-size file whose content does not match is not used',
    setup,
    play: session((p, r) => {
      if (r.flags & ReqFlag.Hash) {
        hashed(p, r.index, sha256(CONTENT));
        return true;
      }
      return false;
    }, decoySeen),
    expect: { code: 0, stderr: /^$/ },
    check: (t, s) => {
      t.same(decoySeen.map((r) => r.flags), [ReqFlag.Hash, 0], 'asked for the hash, then (the decoy does not match) for the data');
      t.ok(fs.readFileSync(path.join(s.dst, 'got.bin')).equals(CONTENT), 'got.bin has the listed content, not the decoy\'s');
    },
  },
  {
    name: 'a file here with the content: made from it, nothing sent',
    setup: async (s) => {
      await setup(s);
      await fsp.writeFile(path.join(s.dst, 'copy.bin'), CONTENT);
    },
    play: session((p, r) => {
      if (r.flags & ReqFlag.Hash) {
        hashed(p, r.index, sha256(CONTENT));
        return true;
      }
      return false;
    }, insideSeen),
    expect: { code: 0, stderr: /^$/ },
    check: (t, s) => {
      t.same(insideSeen.map((r) => r.flags), [ReqFlag.Hash], 'only the hash was asked for');
      t.ok(fs.readFileSync(path.join(s.dst, 'got.bin')).equals(CONTENT), 'got.bin has the content');
      t.ok(fs.readFileSync(path.join(s.dst, 'copy.bin')).equals(CONTENT), 'the copy it was made from is still there (no --delete)');
      t.not(fs.statSync(path.join(s.dst, 'got.bin')).ino, fs.statSync(path.join(s.dst, 'copy.bin')).ino, 'a file of its own, not a second name of the copy');
    },
  },
  {
    name: 'a hash answer to a request that did not ask for one',
    play: session((p, r) => {
      hashed(p, r.index, sha256(CONTENT));
      return true;
    }),
    expect: { code: PROTO, stderr: /a hash for file 1 where none was asked for/ },
  },
  {
    name: 'a hash of 16 bytes',
    setup,
    play: session((p, r) => {
      hashed(p, r.index, Buffer.alloc(16));
      return true;
    }),
    expect: { code: PROTO, stderr: /a hash for file 1 where none was asked for/ },
  },
  {
    name: 'file data for a file of which only the hash was asked for',
    setup,
    play: session((p, r) => {
      sendFile(p, r.index, CONTENT);
      return true;
    }),
    expect: { code: PROTO, stderr: /data for file 1, of which only the hash was asked for/ },
  },
];

t.test("a hostile sender against the receiver's move path", async (t) => {
  const remote = await remoteStandIn(t);
  for (const c of CASES) await t.test(c.name, (t) => runSenderCase(t, remote, c));
});
