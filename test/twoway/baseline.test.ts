// What a replica keeps in ROOT/.tsync for two-way runs (lib/twoway/baseline):
// baselines survive encode, save and load exactly (odd names included), are
// MACed so an altered, truncated or foreign one is refused, are written
// atomically with mode 0600 under .tsync, and agreed() keeps only what two
// baselines share. (The next baseline itself is computed in lib/plan/twoway.)

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, createHmac } from 'node:crypto';
import t from 'tap';
import { agreed, decodeBaseline, digestOf, encodeBaseline, loadBaseline, replicaId, sameEntry, saveBaseline, type Baseline } from '../../lib/twoway/baseline.js';
import { byPath } from '../../lib/tree/packed.js';
import { encodeEntries, type Entry } from '../../lib/wire/schema.js';

const SELF = 'a'.repeat(32);
const PEER = 'b'.repeat(32);
const OTHER = 'c'.repeat(32);
const T0 = 1_700_000_000_000_000;
const file = (p: string, size = 3, mtime = T0): Entry => ({ path: p, type: 'f', mode: 0o644, size, mtime });
const dir = (p: string): Entry => ({ path: p, type: 'd', mode: 0o755, size: 0, mtime: T0 });
const link = (p: string, target: string): Entry => ({ path: p, type: 'l', mode: 0o777, size: 0, mtime: T0, target });
const sorted = (l: Entry[]) => [...l].sort(byPath);
const refused = (what: RegExp) => ({ name: 'TsyncError', code: 'E_REFUSED', message: what });

/** 2,500 entries (three batches), with spaces, newlines, UTF-8, a 4096-byte path, odd mtimes */
function manyEntries(): Entry[] {
  const odd = ['with space', 'new\nline', 'tab\there', 'café', 'é', '日本語/ファイル', '🙂 emoji', 'Å', 'back\\slash', '"quoted"', '-dash'];
  const long = Array.from({ length: 16 }, (_, i) => `${i}`.padEnd(255, 'x')).join('/') + 'z';
  const out: Entry[] = [dir('d'), file(long, 7, -1), link('ln', '../../outside\nodd target'), file('neg', 0, -T0)];
  for (let i = 0; i < 2500 - odd.length - 4; i++) out.push(file(`d/f${String(i).padStart(5, '0')}`, i, T0 + i));
  for (const n of odd) out.push(file(n, 2 ** 40, Number.MAX_SAFE_INTEGER));
  return sorted(out);
}

function save(root: string, entries: Entry[], peer = PEER): Baseline {
  const b = encodeBaseline(entries);
  saveBaseline(root, SELF, peer, b);
  return b;
}

/** a baseline file with a valid MAC (made with the replica's own secret) around whatever header and batches */
function forge(root: string, header: object, batches: Buffer[]): void {
  const key = fs.readFileSync(path.join(root, '.tsync/secret'));
  const parts: Buffer[] = [Buffer.from(`tsync-baseline 1\n${JSON.stringify(header)}\n`)];
  for (const b of batches) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    parts.push(len, b);
  }
  const body = Buffer.concat(parts);
  fs.writeFileSync(path.join(root, `.tsync/baseline-${PEER}`), Buffer.concat([body, createHmac('sha256', key).update(body).digest()]));
}

t.test('encode, save and load give back every entry exactly, odd names included', async (t) => {
  const root = t.testdir();
  const entries = manyEntries();
  const b = save(root, entries);
  t.equal(b.count, 2500);
  t.equal(b.batches.length, 3, 'batches of a thousand');
  t.same(b.digest, createHash('sha256').update(Buffer.concat(b.batches)).digest(), 'digest: SHA-256 over the batches');
  t.same([...b.tree.entries()], entries, 'the new baseline walks as given');
  const got = loadBaseline(root, PEER)!;
  t.ok(got, 'loaded');
  t.equal(got.count, 2500);
  t.same(got.digest, b.digest, 'same digest on load');
  t.same(got.batches, b.batches, 'the very same batches');
  t.strictSame([...got.tree.entries()], entries, 'every entry, field for field');
  t.same(got.tree.get('new\nline'), file('new\nline', 2 ** 40, Number.MAX_SAFE_INTEGER), 'lookup of a name with a newline');
  const long = entries.find((e) => e.path.length > 4000)!.path;
  t.equal(Buffer.byteLength(long), 4096, 'the longest path a manifest allows');
  t.equal(got.tree.get(long)?.size, 7, 'lookup of the 4096-byte path');
  t.same(decodeBaseline(b.batches, 'x').tree.get('ln'), link('ln', '../../outside\nodd target'), 'decodeBaseline agrees');
  const empty = save(root, [], OTHER);
  t.same([...loadBaseline(root, OTHER)!.tree.entries()], [], 'an empty baseline round-trips too');
  t.same(loadBaseline(root, OTHER)!.digest, empty.digest);
});

t.test('stored as ROOT/.tsync/baseline-PEER next to id and secret, private, nothing else left', async (t) => {
  const root = t.testdir({ 'data.txt': 'x' });
  t.equal(loadBaseline(root, PEER), null, 'no .tsync yet: no baseline');
  const fresh = replicaId(root);
  t.match(fresh, /^[0-9a-f]{32}$/, 'a fresh id before the first save');
  t.not(replicaId(root), fresh, 'not kept until a baseline is saved');
  t.notOk(fs.existsSync(path.join(root, '.tsync')), 'asking for an id writes nothing');
  save(root, [file('data.txt')]);
  const st = path.join(root, '.tsync');
  t.same(fs.readdirSync(st).sort(), [`baseline-${PEER}`, 'id', 'secret'], 'exactly these files');
  t.equal(fs.statSync(st).mode & 0o777, 0o700, '.tsync is 0700');
  t.equal(fs.statSync(path.join(st, 'secret')).mode & 0o777, 0o600, 'secret is 0600');
  t.equal(fs.statSync(path.join(st, 'secret')).size, 32);
  t.equal(fs.statSync(path.join(st, `baseline-${PEER}`)).mode & 0o777, 0o600, 'baseline is 0600');
  t.equal(fs.readFileSync(path.join(st, 'id'), 'utf8'), `${SELF}\n`);
  t.equal(replicaId(root), SELF, 'the id is kept from now on');
  t.match(fs.readFileSync(path.join(st, `baseline-${PEER}`), 'latin1'), /^tsync-baseline 1\n\{"self":"a{32}","peer":"b{32}","count":1,"digest":"[0-9a-f]{64}"/);
  t.equal(loadBaseline(root, OTHER), null, 'no baseline for a peer never synced with');
  t.equal(loadBaseline(`${root}///`, PEER)?.count, 1, 'trailing slashes on the root are fine');
});

t.test('peer ids and a .tsync that is not ours are refused', async (t) => {
  const root = t.testdir({ outside: {}, r: {}, s: {} });
  const [r, s] = [path.join(root, 'r'), path.join(root, 's')];
  for (const bad of ['../../etc/passwd', 'B'.repeat(32), 'b'.repeat(31), `${'b'.repeat(32)}/x`, '']) {
    t.throws(() => loadBaseline(r, bad), { code: 'E_PROTOCOL', message: /malformed replica id/ }, `load: ${JSON.stringify(bad)}`);
    t.throws(() => saveBaseline(r, SELF, bad, encodeBaseline([])), { code: 'E_PROTOCOL', message: /malformed replica id/ }, `save: ${JSON.stringify(bad)}`);
  }
  t.same(fs.readdirSync(root).sort(), ['outside', 'r', 's'], 'no path escaped the replica');
  t.notOk(fs.readdirSync(r).includes('.tsync') && fs.readdirSync(path.join(r, '.tsync')).some((n) => n.startsWith('baseline')), 'no baseline written');
  t.notOk(fs.existsSync(path.join(r, '.tsync')), 'a refused save writes no state');
  fs.symlinkSync(path.join(root, 'outside'), path.join(s, '.tsync'));
  t.throws(() => replicaId(s), refused(/is not a directory/), 'replicaId: .tsync a symlink');
  t.throws(() => loadBaseline(s, PEER), refused(/is not a directory/), 'load: .tsync a symlink');
  t.throws(() => save(s, []), refused(/is not a directory/), 'save: .tsync a symlink');
  t.same(fs.readdirSync(path.join(root, 'outside')), [], 'nothing written through the link');
  fs.unlinkSync(path.join(s, '.tsync'));
  fs.mkdirSync(path.join(s, '.tsync'));
  fs.writeFileSync(path.join(s, '.tsync/id'), 'not an id\n');
  t.throws(() => replicaId(s), refused(/is not a tsync replica id/));
  fs.writeFileSync(path.join(s, '.tsync/id'), `${SELF}\n`);
  fs.symlinkSync(path.join(root, 'outside/secret'), path.join(s, '.tsync/secret'));
  t.throws(() => save(s, []), { code: 'E_IO', message: /cannot read .*secret/ }, 'a secret planted as a link is not followed');
  t.notOk(fs.existsSync(path.join(root, 'outside/secret')), 'nothing created outside');
});

t.test('a flipped byte anywhere, or a truncated file, is refused', async (t) => {
  const root = t.testdir();
  save(root, manyEntries().slice(0, 1500));
  const p = path.join(root, `.tsync/baseline-${PEER}`);
  const good = fs.readFileSync(p);
  const hint = /remove it and the next run merges both sides without deleting anything/;
  for (const at of [0, 5, 16, 17, 40, 200, good.length >> 1, good.length - 33, good.length - 32, good.length - 1]) {
    const bad = Buffer.from(good);
    bad[at] ^= 0x01;
    fs.writeFileSync(p, bad);
    t.throws(() => loadBaseline(root, PEER), refused(at < 17 ? /is not a tsync baseline/ : /failed verification \(altered or damaged\)/), `byte ${at} flipped`);
  }
  for (const len of [0, 10, 48, 49, 100, good.length >> 1, good.length - 32, good.length - 1]) {
    fs.writeFileSync(p, good.subarray(0, len));
    t.throws(() => loadBaseline(root, PEER), refused(len < 49 ? /is not a tsync baseline/ : /failed verification/), `cut to ${len} bytes`);
  }
  fs.writeFileSync(p, Buffer.concat([good, Buffer.from('x')]));
  t.throws(() => loadBaseline(root, PEER), refused(hint), 'a byte appended');
  fs.writeFileSync(p, good);
  t.equal(loadBaseline(root, PEER)?.count, 1500, 'the intact file still loads');
  fs.rmSync(path.join(root, '.tsync/secret'));
  t.throws(() => loadBaseline(root, PEER), refused(/has no secret to check it with/), 'a baseline without its secret');
  fs.writeFileSync(path.join(root, '.tsync/secret'), 'short');
  t.throws(() => loadBaseline(root, PEER), refused(/secret is damaged/), 'a damaged secret');
});

t.test("another replica's baseline, under its own secret, does not verify here", async (t) => {
  const root = t.testdir({ one: {}, two: {} });
  const [one, two] = [path.join(root, 'one'), path.join(root, 'two')];
  save(one, [file('x')]);
  save(two, [file('y')]);
  fs.copyFileSync(path.join(one, `.tsync/baseline-${PEER}`), path.join(two, `.tsync/baseline-${PEER}`));
  t.throws(() => loadBaseline(two, PEER), refused(/failed verification/));
});

t.test('a baseline saved for one peer, renamed to another, is not taken for it', async (t) => {
  const root = t.testdir();
  save(root, [file('x')], OTHER);
  fs.renameSync(path.join(root, `.tsync/baseline-${OTHER}`), path.join(root, `.tsync/baseline-${PEER}`));
  t.throws(() => loadBaseline(root, PEER), refused(/./), 'refused');
});

t.test('verified but inconsistent contents are refused (header, count, order, paths)', async (t) => {
  const root = t.testdir();
  save(root, [file('x')]);
  const batch = (l: Entry[]) => Buffer.from(encodeEntries(l));
  const ok = [batch([file('a'), file('b')])];
  const hdr = (count: number, batches: Buffer[]) => ({ self: SELF, peer: PEER, count, digest: digestOf(batches).toString('hex') });
  forge(root, hdr(2, ok), ok);
  t.same([...loadBaseline(root, PEER)!.tree.entries()].map((e) => e.path), ['a', 'b'], 'the forging helper makes a good file');
  forge(root, { ...hdr(2, ok), digest: '00'.repeat(32) }, ok);
  t.throws(() => loadBaseline(root, PEER), refused(/does not match its header/), 'digest differs from the header');
  forge(root, hdr(3, ok), ok);
  const lying = loadBaseline(root, PEER)!;
  t.equal(lying.count, 3, 'the count is taken from the header...');
  t.throws(() => lying.tree, refused(/does not match its header/), '...and refused once the entries are walked');
  for (const [name, list] of [['unsorted', [file('b'), file('a')]], ['duplicate', [file('a'), file('a')]], ['unsafe', [file('../up')]], ['root', [dir('.')]]] as const) {
    const bs = [batch([...list])];
    forge(root, hdr(list.length, bs), bs);
    t.throws(() => loadBaseline(root, PEER)!.tree, { code: 'E_PROTOCOL', message: name === 'unsafe' || name === 'root' ? /names an unsafe path/ : /not sorted or has duplicates/ }, name);
    t.throws(() => decodeBaseline(bs, 'the peer baseline'), { code: 'E_PROTOCOL', message: /^the peer baseline / }, `decodeBaseline: ${name}`);
  }
  t.throws(() => encodeBaseline([file('b'), file('a')]).tree, { code: 'E_PROTOCOL' }, 'an unsorted new baseline is caught when walked');
});

t.test('saving is atomic: the old baseline stays whole, no temporary is left', async (t) => {
  const root = t.testdir();
  save(root, [file('old')]);
  const st = path.join(root, '.tsync');
  const before = fs.readFileSync(path.join(st, `baseline-${PEER}`));
  save(root, [file('new'), file('newer')]);
  t.same([...loadBaseline(root, PEER)!.tree.entries()].map((e) => e.path), ['new', 'newer'], 'replaced');
  t.same(fs.readdirSync(st).filter((n) => n.endsWith('.tmp')), [], 'no temporary after a save');
  t.not(fs.readFileSync(path.join(st, `baseline-${PEER}`)).length, before.length);
  t.test('a failed write (read-only .tsync) keeps the old one', { skip: process.getuid?.() === 0 ? 'running as root: a read-only directory does not stop root writing' : false }, async (t) => {
    const kept = fs.readFileSync(path.join(st, `baseline-${PEER}`));
    fs.chmodSync(st, 0o500);
    t.teardown(() => fs.chmodSync(st, 0o700));
    t.throws(() => save(root, [file('lost')]), /EACCES/);
    fs.chmodSync(st, 0o700);
    t.same(fs.readFileSync(path.join(st, `baseline-${PEER}`)), kept, 'the old baseline, byte for byte');
    t.same(fs.readdirSync(st).filter((n) => n.endsWith('.tmp')), [], 'no temporary');
  });
});

t.test('a save that fails at the rename keeps what stood there', async (t) => {
  const root = t.testdir();
  save(root, [file('x')]);
  fs.mkdirSync(path.join(root, `.tsync/baseline-${OTHER}/inside`), { recursive: true });
  t.throws(() => save(root, [file('x')], OTHER), { code: 'EISDIR' });
  t.ok(fs.existsSync(path.join(root, `.tsync/baseline-${OTHER}/inside`)), 'not replaced');
  t.equal(loadBaseline(root, PEER)?.count, 1, "another peer's baseline untouched");
  t.same(fs.readdirSync(path.join(root, '.tsync')).filter((n) => n.endsWith('.tmp')), [], 'no temporary left');
});

t.test('agreed(): per path the entries both baselines hold exactly; null without both', async (t) => {
  const mine = encodeBaseline(sorted([file('same'), file('size', 1), file('mtime'), link('lnk', 'x'), dir('d'), file('only-mine'), file('type')]));
  const theirs = encodeBaseline(sorted([file('same'), file('size', 2), file('mtime', 3, T0 + 1), link('lnk', 'y'), dir('d'), file('only-theirs'), dir('type')]));
  t.same([...agreed(mine, theirs)!.entries()].map((e) => e.path), ['d', 'same']);
  t.same([...agreed(theirs, mine)!.entries()].map((e) => e.path), ['d', 'same'], 'either order');
  t.equal(agreed(mine, null), null);
  t.equal(agreed(null, theirs), null);
  t.ok(sameEntry(link('x', 'y'), { ...link('x', 'y'), path: 'elsewhere' }), 'sameEntry ignores the path');
  t.notOk(sameEntry(undefined, file('x')), 'no entry is never the same');
  t.notOk(sameEntry({ ...file('x'), mode: 0o600 }, file('x')), 'mode counts');
});
