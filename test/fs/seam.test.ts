// The receiver's file system seam (lib/fs/seam.ts): every call it makes on
// the destination goes through one interface, so a test can put a folding
// or a failing file system in front of the real one. This file checks the
// fakes are faithful (a folding one really writes through an alias), that
// the receiver's start-of-run probe sees the folding through the seam, and
// runs the receiver in this process over the fakes:
//
//   - a dry run, over the dry-run wrapper: no call that changes anything
//     reaches the file system, and its lines are the real run's;
//   - casefold-alias-write and nfc-nfd-alias against a file system that
//     really folds: refused, nothing written through the alias;
//   - a fault at every one of the receiver's mutating calls in turn, for a
//     run that creates, replaces, deletes and backs up: the receiver never
//     leaves a half-written file under a final name or a temporary behind,
//     every path is its old or its new self, and a clean run afterwards
//     converges.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { destinationFolding } from '../../lib/fs/probe.js';
import { realFs } from '../../lib/fs/seam.js';
import { TsyncError } from '../../lib/errors.js';
import { faultyFs, foldingFs } from '../helpers/fake-fs.js';
import { receiveFrom, receiveFromPeer } from '../helpers/in-process.js';
import { writeTree } from '../helpers/standin.js';
import { dir, file, link, sendManifest, serveRequests } from '../helpers/hostile.js';
import { diffSnapshots, snapshot, type Entry as SnapEntry } from '../helpers/tree.js';
import type { Entry } from '../../lib/wire/schema.js';
import { isReserved, PARTIAL_PREFIX, TMP_PREFIX } from '../../lib/tree/reserved.js';

const MUTATING = ['openSync', 'writeSync', 'closeSync', 'fchmodSync', 'futimesSync', 'lutimesSync', 'renameSync', 'mkdirSync', 'symlinkSync', 'linkSync', 'copyFileSync', 'unlinkSync', 'rmdirSync', 'rmSync'] as const;
/** the calls that change something (opening and closing to read do not) */
const CHANGES = ['writeSync', 'fchmodSync', 'chmodSync', 'futimesSync', 'lutimesSync', 'utimesSync', 'writeFileSync', 'renameSync', 'mkdirSync', 'symlinkSync', 'linkSync', 'copyFileSync', 'cpSync', 'unlinkSync', 'rmdirSync', 'rmSync'] as const;
const PWNED = Buffer.from('pwned\n');
const OLD = 1_500_000_000;

t.test('the folding fake folds as APFS does: an alias reaches what the other spelling names, links included', async (t) => {
  const sb = t.testdir({ mnt: {}, elsewhere: {} });
  const mnt = path.join(sb, 'mnt');
  const ci = foldingFs(mnt, { case: true, unicode: true });
  fs.symlinkSync(path.join(sb, 'elsewhere'), path.join(mnt, 'A'));
  ci.writeFileSync(path.join(mnt, 'a/x'), 'through the alias');
  t.equal(fs.readFileSync(path.join(sb, 'elsewhere/x'), 'utf8'), 'through the alias', 'a/x was written through A');
  ci.writeFileSync(path.join(mnt, 'README'), 'one');
  t.equal(ci.lstatSync(path.join(mnt, 'readme')).size, 3, 'readme finds README');
  t.throws(() => ci.openSync(path.join(mnt, 'ReadMe'), fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY), { code: 'EEXIST' }, 'and cannot be made beside it');
  ci.mkdirSync(path.join(mnt, 'caf\u00e9'));
  t.ok(ci.statSync(path.join(mnt, 'cafe\u0301')).isDirectory(), 'the NFD spelling finds the NFC directory');
  t.same(fs.readdirSync(mnt).sort(), ['A', 'README', 'caf\u00e9'], 'names are kept as first written');
  const plain = foldingFs(mnt, { case: false, unicode: false });
  t.notOk(plain.lstatSync(path.join(mnt, 'readme'), { throwIfNoEntry: false }), 'with nothing folded, readme is another name');
});

t.test('the receiver\'s probe sees the folding through the seam (and none on the real file system)', async (t) => {
  const sb = t.testdir({ d: { 'caf\u00e9.txt': 'x', 'Mixed.txt': 'y' } });
  const d = path.join(sb, 'd');
  for (const dryRun of [false, true]) {
    const how = dryRun ? 'looking only (dry run)' : 'writing two probes';
    t.same(destinationFolding(d, { dryRun }, foldingFs(sb, { case: true, unicode: true })), { caseInsensitive: true, unicode: true }, `case and Unicode, ${how}`);
    t.same(destinationFolding(d, { dryRun }, foldingFs(sb, { case: false, unicode: true })), { caseInsensitive: false, unicode: true }, `Unicode only, ${how}`);
    t.same(destinationFolding(d, { dryRun }, realFs), { caseInsensitive: false, unicode: false }, `this machine's file system folds nothing, ${how}`);
  }
  t.same(fs.readdirSync(d).sort(), ['Mixed.txt', 'caf\u00e9.txt'], 'the probes left nothing behind');
});

/** a lying sender's manifest, every file in it served as PWNED */
async function lie(dest: string, fsys: ReturnType<typeof foldingFs>, batches: Entry[][]) {
  const { peer, key, done } = receiveFromPeer(dest, fsys);
  sendManifest(peer, key, batches);
  const files = new Map<number, Buffer>();
  batches.flat().forEach((e, i) => e.type === 'f' && files.set(i, PWNED));
  serveRequests(peer, files).catch(() => {});
  return done;
}

t.test('casefold-alias-write on a file system that folds: a/, A -> outside, a/x is refused, nothing lands outside', async (t) => {
  const sb = t.testdir({ dst: {}, outside: { 'keep.txt': 'kept\n' } });
  const dst = path.join(sb, 'dst');
  const outside = path.join(sb, 'outside');
  const before = await snapshot(outside);
  const r = await lie(dst, foldingFs(dst, { case: true, unicode: true }), [[dir('.'), link('A', outside), dir('a'), file('a/x', PWNED.length)]]);
  t.equal(r.error, null, 'the run goes on');
  t.match(r.warnings.map((w) => `${w.path}: ${w.message}`).join('\n'), /a: not written: on this case-insensitive destination it is the same file as "A"/, 'the alias is a per-file error');
  t.same(diffSnapshots(before, await snapshot(outside)), [], 'nothing was written outside');
  t.ok(fs.lstatSync(path.join(dst, 'A')).isSymbolicLink(), 'the first spelling is written');
  t.same(fs.readdirSync(dst), ['A'], 'the alias, and what was under it, are not');
});

t.test('nfc-nfd-alias on a file system that normalises: a link in NFD, a directory in NFC, a file under it', async (t) => {
  const sb = t.testdir({ dst: {}, outside: {} });
  const dst = path.join(sb, 'dst');
  const outside = path.join(sb, 'outside');
  const r = await lie(dst, foldingFs(dst, { case: false, unicode: true }), [[dir('.'), link('cafe\u0301', outside), dir('caf\u00e9'), file('caf\u00e9/x', PWNED.length)]]);
  t.equal(r.error, null, 'the run goes on');
  t.match(r.warnings.map((w) => w.message).join('\n'), /Unicode-normalising destination it is the same file as/, 'refused as an alias');
  t.same(fs.readdirSync(outside), [], 'nothing was written outside');
});

t.test('README then readme from an honest sender: one is written, the other is a per-file error, on a folding destination only', async (t) => {
  const sb = t.testdir({ src: { README: 'upper\n', readme: 'lower\n' }, ci: {}, cs: {} });
  const ci = await receiveFrom(`${sb}/src/`, `${sb}/ci/`, foldingFs(path.join(sb, 'ci'), { case: true, unicode: false }));
  t.equal(ci.error, null);
  t.same(fs.readdirSync(path.join(sb, 'ci')), ['README'], 'folding: the first of the two');
  t.match(ci.warnings.map((w) => w.message).join('\n'), /same file as "README"/);
  const cs = await receiveFrom(`${sb}/src/`, `${sb}/cs/`, realFs);
  t.equal(cs.error, null);
  t.same(fs.readdirSync(path.join(sb, 'cs')).sort(), ['README', 'readme'], 'case-sensitive: both');
  t.same(cs.warnings, []);
});

/** the destination's state before (old) and the source (new): every path of dest must be one of them */
function oldOrNew(t: Test, _dest: string, oldTree: Map<string, SnapEntry>, newTree: Map<string, SnapEntry>, what: string, nowTree: Map<string, SnapEntry>) {
  const bad: string[] = [];
  // a file is its content, mode and mtime; a link its target; a directory's own times settle last, so only its type counts
  const look = (e: SnapEntry) => (e.type === 'dir' ? 'dir' : `${e.type} ${e.sha256 ?? ''} ${e.target ?? ''} ${e.type === 'file' ? `${e.mode} ${e.mtimeNs}` : ''}`);
  for (const [p, e] of nowTree) {
    if (p.startsWith('bk/') || p === 'bk' || isReserved(p)) continue;
    const same = (m: Map<string, SnapEntry>) => m.has(p) && look(m.get(p)!) === look(e);
    if (!same(oldTree) && !same(newTree)) bad.push(p);
  }
  t.same(bad, [], `${what}: every path is its old or its new self`);
}

/** a destination's tree without its --backup-dir (bk) */
function withoutBackups(tree: Map<string, SnapEntry>): Map<string, SnapEntry> {
  return new Map([...tree].filter(([p]) => p !== 'bk' && !p.startsWith('bk/')));
}

/** tsync's temporaries in a tree */
function temps(tree: Map<string, SnapEntry>): string[] {
  return [...tree.keys()].filter((p) => path.basename(p).startsWith(TMP_PREFIX) || path.basename(p).startsWith(PARTIAL_PREFIX));
}


/** a destination's old version and a source that creates, replaces (one file by delta), deletes and relinks in it */
async function faultWorld(sb: string) {
  const src = path.join(sb, 'src');
  const old = path.join(sb, 'old');
  // the destination holds an older version: files to replace (one big enough for a delta), to delete, a link to change, a directory to make
  const big = Buffer.alloc(200_000, 1);
  await writeTree(old, { 'keep.txt': 'same\n', 'edit.txt': 'old edit\n', 'gone.txt': 'to be deleted\n', 'd': null, 'd/inner.txt': 'old inner\n' }, OLD);
  fs.writeFileSync(path.join(old, 'big.bin'), big);
  fs.utimesSync(path.join(old, 'big.bin'), OLD, OLD);
  fs.symlinkSync('keep.txt', path.join(old, 'ln'));
  fs.cpSync(old, src, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  fs.rmSync(path.join(src, 'gone.txt'));
  await writeTree(src, { 'edit.txt': 'new edit, longer\n', 'd/inner.txt': 'new inner\n', 'new': null, 'new/file.txt': 'brand new\n' }, OLD + 100);
  const big2 = Buffer.from(big);
  big2.write('an edit', 100_000);
  fs.writeFileSync(path.join(src, 'big.bin'), big2);
  fs.utimesSync(path.join(src, 'big.bin'), OLD + 100, OLD + 100);
  fs.rmSync(path.join(src, 'ln'));
  fs.symlinkSync('edit.txt', path.join(src, 'ln'));
  return { src, old, OLD_TREE: await snapshot(old), NEW_TREE: await snapshot(src) };
}

t.test('a dry run goes through the dry-run file system: nothing reaches the disk, and it says what the real run does', async (t) => {
  const sb = t.testdir();
  const { src, old, OLD_TREE } = await faultWorld(sb);
  const options = { delete: true, backupDir: 'bk' };
  const spy = faultyFs({ ops: CHANGES, failAt: Infinity });
  const dry = await receiveFrom(`${src}/`, `${old}/`, spy, { ...options, dryRun: true });
  t.equal(dry.error, null, 'the dry run succeeds');
  t.same(dry.warnings, [], 'with no warning');
  t.equal(spy.calls, 0, 'no call that changes anything reached the file system');
  t.same(diffSnapshots(OLD_TREE, await snapshot(old)), [], 'the destination is as it was');
  const real = await receiveFrom(`${src}/`, `${old}/`, realFs, options);
  t.equal(real.error, null);
  t.ok(real.items.length > 5, `the real run itemizes ${real.items.length} changes`);
  t.same(dry.items, real.items, 'the dry run itemized the same lines, in the same order');
});

t.test('a fault at each of the receiver\'s mutating calls in turn: nothing half-written, no temporary, a clean re-run converges', async (t) => {
  const sb = t.testdir();
  const { src, old, OLD_TREE, NEW_TREE } = await faultWorld(sb);
  const options = { delete: true, backupDir: 'bk' };

  // how many mutating calls a clean run makes
  const dest0 = path.join(sb, 'dest0');
  fs.cpSync(old, dest0, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  const counting = faultyFs({ ops: MUTATING, failAt: Infinity });
  const clean = await receiveFrom(`${src}/`, `${dest0}/`, counting, options);
  t.equal(clean.error, null, 'a clean run succeeds');
  t.same(clean.warnings, [], 'with no warning');
  t.same(diffSnapshots(NEW_TREE, withoutBackups(await snapshot(dest0))), [], 'and equals the source');
  const total = counting.calls;
  t.ok(total > 20, `it makes ${total} mutating calls`);

  for (let n = 1; n <= total; n++) {
    const dest = path.join(sb, `dest${n}`);
    fs.cpSync(old, dest, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    const faulty = faultyFs({ ops: MUTATING, failAt: n, code: n % 2 ? 'EIO' : 'ENOSPC' });
    const r = await receiveFrom(`${src}/`, `${dest}/`, faulty, options);
    const what = `fault ${n}/${total} at ${faulty.failed}`;
    const after = await snapshot(dest);
    const told = r.error !== null || r.warnings.length > 0;
    if (told) t.pass(`${what}: reported (${r.error ? (r.error instanceof TsyncError ? r.error.code : String(r.error)) : `${r.warnings.length} warning(s)`})`);
    // not reported: the receiver worked around it (a hard link for a backup falls back to a copy), so the run did its whole job
    else t.same(diffSnapshots(NEW_TREE, withoutBackups(after)), [], `${what}: worked around, the destination equals the source`);
    oldOrNew(t, dest, OLD_TREE, NEW_TREE, what, after);
    // a temporary outlives the run only where removing it was the call that failed
    t.same(temps(after).filter((p) => !faulty.failed.includes(p)), [], `${what}: no other temporary left`);
    const again = await receiveFrom(`${src}/`, `${dest}/`, realFs, options);
    t.equal(again.error, null, `${what}: a clean re-run succeeds`);
    t.same(diffSnapshots(NEW_TREE, withoutBackups(await snapshot(dest))), [], `${what}: and converges on the source`);
    t.same(temps(await snapshot(dest)), [], `${what}: with no temporary left`);
    fs.rmSync(dest, { recursive: true, force: true });
  }
});
