// A hostile sender's names against the real client pulling:
// unsorted-manifest (siblings out of the order the sender promises),
// casefold-alias-write and nfc-nfd-alias (names that are one file on a
// destination that folds case or Unicode spellings: `a/`, then `A -> the
// sentinel`, then `a/x` would write through the link there).
//
// These machines cannot mount a folding file system (no ext4 casefold, no
// vfat: ../shared/TESTING.md), so the folding cases run with
// TSYNC_TEST_FOLD=case|unicode, which makes the receiver take its
// destination as folding instead of probing it; the probe itself is tested
// against the real file system in test/fs/names.test.ts.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import type { Entry } from '../../lib/wire/schema.js';
import { dir, file, link, sendManifest, serveRequests, type WirePeer } from '../helpers/hostile.js';
import { remoteStandIn, runSenderCase, type SenderCase } from '../helpers/hostile-case.js';

const ROOT = dir('.');
const PWNED = Buffer.from('pwned\n');
const PROTO = 12;
const PARTIAL = 23;

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
    name: 'casefold-alias-write: a/, then A -> sentinel, then a/x, on a case-insensitive destination',
    env: { TSYNC_TEST_FOLD: 'case' },
    play: (p, key, s) => lie([[ROOT, link('A', s.sentinel), dir('a'), file('a/x', PWNED.length)]])(p, key),
    expect: { code: PARTIAL, stderr: /a: not written: on this case-insensitive destination it is the same file as "A"/, oneLine: false },
    check: (t, s) => {
      t.ok(fs.lstatSync(path.join(s.dst, 'A')).isSymbolicLink(), 'the first of the two is written');
      t.notOk(fs.existsSync(path.join(s.dst, 'a')), 'the alias is not');
    },
  },
  {
    name: 'casefold-alias-write: README then readme, files',
    env: { TSYNC_TEST_FOLD: 'case' },
    play: lie([[ROOT, file('README', PWNED.length), file('readme', PWNED.length)]]),
    expect: { code: PARTIAL, stderr: /readme: not written: .*same file as "README"/, oneLine: false },
  },
  {
    name: 'casefold-alias-write: the same names on a case-sensitive destination are two files',
    play: lie([[ROOT, file('README', PWNED.length), file('readme', PWNED.length)]]),
    expect: { code: 0, stderr: /^$/ },
    check: (t, s) => t.same(fs.readdirSync(s.dst).sort(), ['README', 'old.txt', 'readme'], 'both written'),
  },
  {
    name: 'nfc-nfd-alias: a directory in NFC, a link in NFD to the sentinel, a file under the NFC name',
    env: { TSYNC_TEST_FOLD: 'unicode' },
    play: (p, key, s) => lie([[ROOT, link('caf\u0065\u0301', s.sentinel), dir('caf\u00e9'), file('caf\u00e9/x', PWNED.length)]])(p, key),
    expect: { code: PARTIAL, stderr: /Unicode-normalising destination it is the same file as/, oneLine: false },
    check: (t, s) => t.notOk(fs.existsSync(path.join(s.dst, 'caf\u00e9')), 'the alias is not written'),
  },
];

t.test('names a hostile sender lists', async (t) => {
  const remote = await remoteStandIn(t);
  for (const c of CASES) await t.test(c.name, (t) => runSenderCase(t, remote, c));
});
