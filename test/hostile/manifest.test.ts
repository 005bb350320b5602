// A hostile sender lies in its manifest; the real client, pulling, is the
// receiver under attack. Each case is a valid session except for the one
// thing named, and each must end with a clear one-line error, a non-zero
// exit, nothing written outside the destination and no temporary left.
// rsync's testsuite names the same idea malicious-sender-*.

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import t from 'tap';
import { Writer } from '../../lib/wire/codec.js';
import type { Entry } from '../../lib/wire/schema.js';
import { dir, file, link, sendManifest, serveRequests, type WirePeer } from '../helpers/hostile.js';
import { remoteStandIn, runSenderCase, type SenderCase } from '../helpers/hostile-case.js';

const ROOT = dir('.');
const PWNED = Buffer.from('pwned\n');

/** The manifest, then honest answers (PWNED) to whatever is asked. */
function lie(batches: Entry[][], o: Parameters<typeof sendManifest>[3] = {}) {
  return async (p: WirePeer, key: Buffer) => {
    sendManifest(p, key, batches, o);
    const files = new Map<number, Buffer>();
    batches.flat().forEach((e, i) => e.type === 'f' && files.set(i, PWNED));
    await serveRequests(p, files);
  };
}

const PROTO = 12;

const CASES: SenderCase[] = [
  {
    name: 'path traversal: ../escape.txt',
    play: lie([[ROOT, file('../escape.txt', PWNED.length)]]),
    expect: { code: PROTO, stderr: /unsafe path \("\.\." component\)/ },
  },
  {
    name: 'absolute path naming the sentinel',
    play: (p, key, s) => lie([[ROOT, file(`${s.sentinel}/pwned.txt`, PWNED.length)]])(p, key),
    expect: { code: PROTO, stderr: /unsafe path \(absolute path\)/ },
  },
  {
    name: '.. in the middle: sub/../../escape.txt',
    play: lie([[ROOT, dir('sub'), file('sub/../../escape.txt', PWNED.length)]]),
    expect: { code: PROTO, stderr: /unsafe path/ },
  },
  {
    name: 'NUL inside a path',
    play: lie([[ROOT, file('a\0b', PWNED.length)]]),
    expect: { code: PROTO, stderr: /unsafe path \(path contains NUL\)/ },
  },
  {
    name: 'empty path component: a//b',
    play: lie([[ROOT, dir('a'), file('a//b', PWNED.length)]]),
    expect: { code: PROTO, stderr: /unsafe path \(empty path component\)/ },
  },
  {
    name: 'duplicate entry across two batches',
    play: lie([[ROOT, file('a.txt', PWNED.length)], [file('a.txt', PWNED.length)]]),
    expect: { code: PROTO, stderr: /duplicate path in manifest: "a\.txt"/ },
  },
  {
    name: 'entry under a symlink entry: link/x where link -> sentinel',
    play: (p, key, s) => lie([[ROOT, link('link', s.sentinel), file('link/pwned.txt', PWNED.length)]])(p, key),
    expect: { code: PROTO, stderr: /"link\/pwned\.txt" arrived before its directory/ },
  },
  {
    name: 'symlink, then a file of the same name to write through it',
    play: (p, key, s) => lie([[ROOT, link('x', `${s.sentinel}/secret.txt`)], [file('x', PWNED.length)]])(p, key),
    expect: { code: PROTO, stderr: /duplicate path in manifest: "x"/ },
  },
  {
    // regression: the receiver replaced an empty destination with this link and wrote pwned.txt through it
    name: 'the transfer root listed as a symlink to the sentinel',
    setup: (s) => fsp.rm(path.join(s.dst, 'old.txt')),
    play: (p, key, s) => lie([[link('.', s.sentinel), file('pwned.txt', PWNED.length)]])(p, key),
    expect: { code: PROTO, stderr: /transfer root as something other than a directory/ },
    check: (t, s) => {
      t.ok(fs.lstatSync(s.dst).isDirectory(), 'the destination is still a real directory');
    },
  },
  {
    name: 'the root entry after another entry',
    play: lie([[file('a.txt', PWNED.length), ROOT]]),
    expect: { code: PROTO, stderr: /root entry must come first/ },
  },
  {
    name: 'a file under a file: f/child',
    play: lie([[ROOT, file('f', 1), file('f/child', PWNED.length)]]),
    expect: { code: PROTO, stderr: /"f\/child" arrived before its directory \(or under a non-directory\)/ },
  },
  {
    name: 'reserved name: a .tsync-tmp- temporary',
    play: lie([[ROOT, file('.tsync-tmp-old.txt-abcdef', PWNED.length)]]),
    expect: { code: PROTO, stderr: /reserved path/ },
  },
  {
    name: 'reserved name: tsync state under .tsync/',
    play: lie([[ROOT, dir('.tsync'), file('.tsync/baseline', PWNED.length)]]),
    expect: { code: PROTO, stderr: /reserved path: "\.tsync"/ },
  },
  {
    name: 'a batch announcing more entries than a batch may hold',
    play: (p, key) => {
      sendManifest(p, key, [[]], { rawBatches: [new Writer().uint(1_000_000).finish()] });
      return p.drain();
    },
    expect: { code: PROTO, stderr: /bad manifest batch: value 1000000 exceeds limit 4096/ },
  },
  {
    name: 'a file size that does not fit a varint (9 bytes)',
    play: (p, key) => {
      // count 1; shared 0; path "a"; type f; mode 0644; mtime +1; then a size of nine 0xff-ish bytes
      const w = new Writer().uint(1).uint(0).str('a').u8(0).uint(0o644).int(1).raw(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
      sendManifest(p, key, [[]], { rawBatches: [w.finish()] });
      return p.drain();
    },
    expect: { code: PROTO, stderr: /bad manifest batch: varint too long/ },
  },
  {
    name: 'a batch whose MAC is wrong',
    play: lie([[ROOT, file('a.txt', PWNED.length)]], { badMac: 0 }),
    expect: { code: PROTO, stderr: /manifest batch failed verification \(MAC mismatch\)/ },
  },
  {
    name: 'the end of the manifest announcing the wrong count',
    play: lie([[ROOT, file('a.txt', PWNED.length)]], { count: 7 }),
    expect: { code: PROTO, stderr: /manifest failed verification at its end/ },
  },
  {
    name: 'a manifest MACed with another session\'s key',
    play: (p, key) => lie([[ROOT, file('a.txt', PWNED.length)]])(p, Buffer.from(key).reverse()),
    expect: { code: PROTO, stderr: /MAC mismatch/ },
  },
  {
    name: 'a symlink in the destination where a file is sent: replaced, never written through',
    setup: (s) => fsp.symlink(path.join(s.sentinel, 'secret.txt'), path.join(s.dst, 'f.txt')),
    play: lie([[ROOT, file('f.txt', PWNED.length)]]),
    expect: { code: 0, stderr: /^$/ },
    check: (t, s) => {
      t.ok(fs.lstatSync(path.join(s.dst, 'f.txt')).isFile(), 'f.txt is now a regular file');
      t.equal(fs.readFileSync(path.join(s.dst, 'f.txt'), 'utf8'), PWNED.toString(), 'with the sent content');
    },
  },
  {
    name: 'a symlink in the destination where a directory is listed: replaced, never entered',
    setup: (s) => fsp.symlink(s.sentinel, path.join(s.dst, 'sub')),
    play: lie([[ROOT, dir('sub'), file('sub/pwned.txt', PWNED.length)]]),
    expect: { code: 0, stderr: /^$/ },
    check: (t, s) => {
      t.ok(fs.lstatSync(path.join(s.dst, 'sub')).isDirectory(), 'sub is now a real directory');
      t.ok(fs.existsSync(path.join(s.dst, 'sub/pwned.txt')), 'holding the sent file');
    },
  },
  {
    name: 'a symlink pointing outside is copied as a link, never followed',
    play: (p, key, s) => lie([[ROOT, link('out', `${s.sentinel}/secret.txt`)]])(p, key),
    expect: { code: 0, stderr: /^$/ },
    check: (t, s) => {
      t.equal(fs.readlinkSync(path.join(s.dst, 'out')), `${s.sentinel}/secret.txt`, 'the link is there, as sent');
    },
  },
];

t.test('a hostile sender against the real receiver', async (t) => {
  const remote = await remoteStandIn(t);
  for (const c of CASES) await t.test(c.name, (t) => runSenderCase(t, remote, c));
});

// The destination named through a symlink to it is resolved once, at the
// start: the same lies must fail the same way, nothing outside may change
// (the link included: it still points at dst), and no path below the
// destination becomes a link that is followed.
t.test('a hostile sender against the real receiver, the destination named through a symlink', async (t) => {
  const remote = await remoteStandIn(t);
  for (const c of CASES) await t.test(c.name, (t) => runSenderCase(t, remote, c, { throughLink: true }));
  await t.test('a link listed where the destination link points, then written through: refused, the link stays', (t) =>
    runSenderCase(
      t,
      remote,
      {
        name: 'dst-link listed inside the destination',
        play: (p, key, s) => lie([[ROOT, link('dst-link', s.sentinel), file('dst-link/pwned.txt', PWNED.length)]])(p, key),
        expect: { code: PROTO, stderr: /"dst-link\/pwned\.txt" arrived before its directory/ },
        check: (t, s) => {
          t.equal(fs.readlinkSync(path.join(s.sb, 'dst-link')), 'dst', 'the destination link still points at dst');
          t.ok(fs.lstatSync(s.dst).isDirectory(), 'dst is still a real directory');
        },
      },
      { throughLink: true },
    ),
  );
});
