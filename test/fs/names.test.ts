// lib/fs/names.ts: the manifest's order and folded-name collisions, as
// tables; and the probe that decides whether a destination folds, run
// against the real file system of this machine (which folds nothing).
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { foldKey, NameGuard, NO_FOLDING } from '../../lib/fs/names.js';
import { destinationFolding } from '../../lib/fs/probe.js';
import { lookNames, probeNames } from '../../lib/fs/probe.js';

t.test('order: siblings of one kind increase, in every honest order; repeats and inversions are fatal', async (t) => {
  // a path ending in '/' is a directory
  const run = (paths: string[], topFree = false) => {
    const g = new NameGuard(NO_FOLDING, topFree);
    for (const p of paths) {
      const v = g.order(p.replace(/\/$/, '') || '.', p.endsWith('/'));
      if (!v.ok) return v.why;
    }
    return 'ok';
  };
  t.equal(run(['./', 'b.txt', 'a/', 'a/x', 'a/y']), 'ok', "rsync's order: files, then each directory and what is below it");
  t.equal(run(['./', 'a/', 'b.txt', 'a/x', 'a/y']), 'ok', "an earlier sender's: a directory's names sorted together, then its subdirectories");
  t.equal(run(['./', 'a/', 'a/x', 'a/y', 'b.txt']), 'ok', 'a plain sort');
  t.match(run(['./', 'b', 'a']), /not in sorted order: "a" came after "b"/);
  t.match(run(['./', 'b/', 'a/']), /not in sorted order: "a" came after "b"/, 'directories too');
  t.match(run(['./', 'd/', 'd/z', 'd/m']), /"d\/m" came after "d\/z"/);
  t.match(run(['./', 'a', 'a']), /duplicate path/);
  t.match(run(['./', 'a/', 'a/']), /duplicate path/);
  t.equal(run(['b/', 'b/x', 'a'], true), 'ok', 'several sources: top-level names in command-line order');
  t.match(run(['b/', 'b/y', 'b/x'], true), /not in sorted order/, 'but below them, sorted');
});

t.test('collide: names one file on a folding destination', async (t) => {
  const fold = (f: { caseInsensitive: boolean; unicode: boolean }, paths: string[]) => {
    const g = new NameGuard(f, false);
    return paths.map((p) => (g.collide(p).ok ? 'ok' : 'refused'));
  };
  const ci = { caseInsensitive: true, unicode: false };
  const nu = { caseInsensitive: false, unicode: true };
  t.same(fold(ci, ['A', 'a', 'a/x']), ['ok', 'refused', 'ok']);
  t.same(fold(ci, ['README', 'Readme', 'readme.txt']), ['ok', 'refused', 'ok']);
  t.same(fold(NO_FOLDING, ['A', 'a']), ['ok', 'ok'], 'a case-sensitive destination: two files');
  t.same(fold(nu, ['cafe\u0301', 'caf\u00e9']), ['ok', 'refused']);
  t.same(fold(nu, ['A', 'a']), ['ok', 'ok'], 'normalising only: case still counts');
  t.same(fold(ci, ['CAF\u00c9', 'cafe\u0301']), ['ok', 'refused'], 'case-insensitive folds both');
  t.equal(foldKey('X/Y', ci), 'x/y');
});

t.test('the probe against this machine\'s real file system', async (t) => {
  const dir = t.testdir({ 'Name.txt': 'x', 'caf\u00e9': 'y' });
  const p = probeNames(dir);
  t.equal(p.caseInsensitive, false, 'ext4 (or tmpfs) here: case-sensitive');
  t.equal(p.unicode, 'keeps', 'and names kept as written');
  t.same(fs.readdirSync(dir).sort(), ['Name.txt', 'caf\u00e9'], 'the probe left nothing behind');
  const l = lookNames(dir);
  t.equal(l.caseInsensitive, false, 'looking only: NAME.TXT is not Name.txt');
  t.equal(l.unicode, 'keeps');
  t.same(destinationFolding(dir, { dryRun: false }), NO_FOLDING, 'the receiver\'s probe: no folding');
  t.same(destinationFolding(path.join(dir, 'missing'), { dryRun: true }), NO_FOLDING, 'a destination not there yet (a dry run): none assumed');
});
