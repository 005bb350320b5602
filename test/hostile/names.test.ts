// A hostile sender's names against the real client pulling:
// unsorted-manifest (siblings out of the order the sender promises), and
// names that differ only in case, which are two files on a destination
// that does not fold.
//
// These machines cannot mount a folding file system (no ext4 casefold, no
// vfat: ../shared/TESTING.md), so the folding cases (casefold-alias-write,
// nfc-nfd-alias) run the receiver in process over a file system that
// really folds, in test/fs/seam.test.ts; the probe is tested against the
// real file system in test/fs/names.test.ts. What stays here runs the real
// client against a lying sender.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import type { Entry } from '../../lib/wire/schema.js';
import { dir, file, sendManifest, serveRequests, type WirePeer } from '../helpers/hostile.js';
import { remoteStandIn, runSenderCase, type SenderCase } from '../helpers/hostile-case.js';

const ROOT = dir('.');
const PWNED = Buffer.from('pwned\n');
const PROTO = 12;

function lie(batches: Entry[][]) {
  return async (p: WirePeer, key: Buffer) => {
    sendManifest(p, key, batches);
    const files = new Map<number, Buffer>();
    batches.flat().forEach((e, i) => e.type === 'f' && files.set(i, PWNED));
    await serveRequests(p, files);
  };
}

const CASES: SenderCase[] = [
  {
    name: 'unsorted-manifest: siblings out of order',
    play: lie([[ROOT, file('b.txt', PWNED.length), file('a.txt', PWNED.length)]]),
    expect: { code: PROTO, stderr: /not in sorted order: "a\.txt" came after "b\.txt"/ },
    check: (t, s) => t.notOk(fs.existsSync(path.join(s.dst, 'b.txt')), 'nothing of it was written'),
  },
  {
    name: 'unsorted-manifest: out of order across batches, deeper down',
    play: lie([[ROOT, dir('d'), dir('d/sub'), file('d/z', PWNED.length)], [file('d/sub/x', PWNED.length), file('d/m', PWNED.length)]]),
    expect: { code: PROTO, stderr: /not in sorted order: "m" came after|not in sorted order: "d\/m" came after "d\/z"/ },
  },
  {
    name: 'unsorted-manifest: the honest order of the scan (a directory\'s names, then its subdirectories) is accepted',
    play: lie([[ROOT, dir('a'), file('b.txt', PWNED.length), file('a/x', PWNED.length)]]),
    expect: { code: 0, stderr: /^$/ },
  },
  {
    name: 'unsorted-manifest: the order of a plain sort (a two-way push) is accepted',
    play: lie([[ROOT, dir('a'), file('a/x', PWNED.length), file('b.txt', PWNED.length)]]),
    expect: { code: 0, stderr: /^$/ },
  },
  {
    name: 'casefold-alias-write: the same names on a case-sensitive destination are two files',
    play: lie([[ROOT, file('README', PWNED.length), file('readme', PWNED.length)]]),
    expect: { code: 0, stderr: /^$/ },
    check: (t, s) => t.same(fs.readdirSync(s.dst).sort(), ['README', 'old.txt', 'readme'], 'both written'),
  },
];

t.test('names a hostile sender lists', async (t) => {
  const remote = await remoteStandIn(t);
  for (const c of CASES) await t.test(c.name, (t) => runSenderCase(t, remote, c));
});
