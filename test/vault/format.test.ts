// The vault's pieces on their own: Padmé, the keyed chunker (an edit moves
// only nearby cut points), blobs and heads (every byte authenticated), key
// codes (typos caught, read-only cannot sign), the store's names (nothing
// outside the vault), and the remote store against a read-only server.

import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { Chunker } from '../../lib/vault/chunker.js';
import { BLOB, blobId, openBlob, openHead, padme, PackBuilder, sealHead, squeeze, type Head } from '../../lib/vault/format.js';
import { codeOf, fromMaster, lockCode, newMaster, parseCode, readOnlyCode } from '../../lib/vault/keys.js';
import { checkName, LocalStore } from '../../lib/vault/store.js';
import { RemoteStore, serveVault } from '../../lib/vault/remote.js';
import { Connection } from '../../lib/link/connection.js';

t.test('Padmé: at most 12% overhead, few distinct lengths', async (t) => {
  const seen = new Set<number>();
  const bad: number[] = [];
  for (let n = 1; n < 200_000; n += 7) {
    const p = padme(n);
    if (!(p >= n && p <= n * 1.12 + 1)) bad.push(n);
    seen.add(p);
  }
  t.same(bad, [], 'every length padded by at most 12%');
  t.ok(seen.size < 200_000 / 7 / 20, `${seen.size} lengths for ~28,500 sizes`);
});

t.test('keyed chunker: deterministic per key, edits move only nearby cuts, sizes bounded', async (t) => {
  const data = randomBytes(8 << 20);
  const key = randomBytes(32);
  const cut = async (c: Chunker, b: Buffer) => {
    const out: Buffer[] = [];
    for await (const x of c.chunks([b.subarray(0, 1000), b.subarray(1000)])) out.push(x);
    return out;
  };
  const a = await cut(new Chunker(key), data);
  t.same(Buffer.concat(a), data, 'the chunks are the data');
  t.ok(a.slice(0, -1).every((c) => c.length >= 64 << 10 && c.length <= 1 << 20), 'every chunk within 64 KiB..1 MiB');
  const avg = data.length / a.length;
  t.ok(avg > 128 << 10 && avg < 512 << 10, `average ${Math.round(avg / 1024)} KiB`);
  t.same((await cut(new Chunker(key), data)).map((c) => c.length), a.map((c) => c.length), 'the same key cuts the same way');
  const other = await cut(new Chunker(randomBytes(32)), data);
  t.not(other.map((c) => c.length).join(), a.map((c) => c.length).join(), 'another key cuts elsewhere');
  const edited = Buffer.concat([data.subarray(0, 4 << 20), Buffer.from('inserted'), data.subarray(4 << 20)]);
  const b = await cut(new Chunker(key), edited);
  const ids = new Set(a.map((c) => c.toString('base64')));
  const fresh = b.filter((c) => !ids.has(c.toString('base64')));
  t.ok(fresh.length <= 2, `an insertion makes ${fresh.length} new chunk(s)`);
});

t.test('blobs: sealed, compressed when it pays, every byte authenticated, ids checked', async (t) => {
  const keys = newMaster();
  const text = Buffer.from('compressible '.repeat(1000));
  const noise = randomBytes(100_000);
  t.ok(squeeze(text), 'text is deflated');
  t.equal(squeeze(noise), null, 'noise is stored as it is');
  const p = new PackBuilder(keys);
  const idT = blobId(keys, BLOB.Data, text);
  const idN = blobId(keys, BLOB.Tree, noise);
  p.add(idT, BLOB.Data, text, squeeze(text));
  p.add(idN, BLOB.Tree, noise, null);
  const { name, bytes } = p.finish();
  t.equal(bytes.length, padme(p.size), 'the pack is padded to a Padmé length');
  t.notOk(bytes.includes(Buffer.from('compressible')), 'no plaintext in the pack');
  const salt = bytes.subarray(0, 32);
  const [bt, bn] = p.blobs;
  const ref = (b: typeof bt) => ({ pack: name, off: b.off, len: b.len });
  t.same(openBlob(keys, ref(bt), salt, bytes.subarray(bt.off, bt.off + bt.len), idT, BLOB.Data), text, 'opens');
  t.same(openBlob(keys, ref(bn), salt, bytes.subarray(bn.off, bn.off + bn.len), idN, BLOB.Tree), noise, 'opens');
  const damaged = (fn: () => unknown, what: string) => t.throws(fn, { code: 'E_VAULT_DAMAGED' }, what);
  for (const at of [0, 5, bt.len - 1]) {
    const b = Buffer.from(bytes.subarray(bt.off, bt.off + bt.len));
    b[at] ^= 1;
    damaged(() => openBlob(keys, ref(bt), salt, b, idT, BLOB.Data), `a flipped byte at ${at} of the blob`);
  }
  damaged(() => openBlob(keys, ref(bt), salt, bytes.subarray(bn.off, bn.off + bn.len), idT, BLOB.Data), 'another blob in its place');
  damaged(() => openBlob(keys, ref(bn), salt, bytes.subarray(bn.off, bn.off + bn.len), idN, BLOB.Data), 'a blob of another kind');
  damaged(() => openBlob(fromMaster(randomBytes(32)), ref(bt), salt, bytes.subarray(bt.off, bt.off + bt.len), idT, BLOB.Data), 'another key');
});

t.test('heads: signed by writers only, sealed, bound to their number', async (t) => {
  const keys = newMaster();
  const head: Head = { v: 1, seq: 3, prev: 'ab', writer: 'w', counters: { w: 1 }, host: 'h-MARKER', time: 1, hostTime: 2, trees: [], index: [], files: 0, bytes: 0 };
  const sealed = sealHead(keys, head);
  t.notOk(sealed.includes(Buffer.from('MARKER')), 'sealed');
  t.same(openHead(keys, sealed, 'heads/0000000003'), head, 'opens');
  const ro = parseCode(readOnlyCode(keys), 'ro');
  t.same(openHead(ro, sealed, 'heads/0000000003'), head, 'a read-only key opens it');
  t.throws(() => sealHead(ro, head), 'a read-only key cannot sign');
  t.throws(() => openHead(keys, sealed, 'heads/0000000004'), { code: 'E_VAULT_DAMAGED' }, 'under another number it is refused');
  for (const at of [0, 30, sealed.length - 1]) {
    const b = Buffer.from(sealed);
    b[at] ^= 1;
    t.throws(() => openHead(keys, b, 'heads/0000000003'), { code: 'E_VAULT_DAMAGED' }, `a flipped byte at ${at}`);
  }
});

t.test('key codes: round trip, typos caught, read-only derived, passphrase-sealed', async (t) => {
  const keys = newMaster();
  const code = codeOf(keys);
  t.match(code, /^tsync-vault:/);
  t.same(parseCode(code, 'k').master, keys.master, 'round trip');
  const ro = parseCode(readOnlyCode(keys), 'ro');
  t.equal(ro.master, null, 'read-only has no master');
  t.equal(ro.signer, null, 'nor a signing key');
  t.same(ro.packKey, keys.packKey, 'but reads the same packs');
  const body = code.slice('tsync-vault:'.length);
  let caught = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i] === 'A' ? 'B' : 'A';
    try {
      parseCode(`tsync-vault:${body.slice(0, i)}${c}${body.slice(i + 1)}`, 'k');
    } catch {
      caught++;
    }
  }
  t.equal(caught, body.length, 'every one-character typo is caught');
  const locked = lockCode(code, 'pw');
  t.notMatch(locked, /tsync-vault:/, 'the sealed file does not hold the code');
});

t.test("the store's names: nothing outside the vault", async (t) => {
  for (const bad of ['../x', '/etc/passwd', 'heads/../../x', 'data/aa/../../x', 'heads/1', 'data/ab/cd' + 'e'.repeat(62), 'config/', '.tmp-1', 'data/aa/' + 'b'.repeat(64)]) {
    t.throws(() => checkName(bad), { code: 'E_PROTOCOL' }, `refused: ${bad}`);
  }
  t.equal(checkName('data/ab/ab' + 'c'.repeat(62)), 'data/ab/ab' + 'c'.repeat(62));
});

/** a RemoteStore talking to serveVault over in-memory streams */
function pair(root: string, readOnly: boolean) {
  const a = new PassThrough();
  const b = new PassThrough();
  const client = new Connection(a, b, { timeout: 0, expectJunk: false });
  const server = new Connection(b, a, { timeout: 0, expectJunk: false });
  const served = serveVault(server, root, readOnly).catch((e: unknown) => e);
  return { store: new RemoteStore(client), served };
}

t.test('the remote store: puts, ranged gets, claims, lists; a read-only server refuses writes', async (t) => {
  const root = t.testdir();
  const { store, served } = pair(root, false);
  const big = randomBytes(3 << 20);
  const name = `data/${'ab'}/ab${'0'.repeat(62)}`;
  await store.put(name, big);
  t.same(await store.get(name), big, 'a 3 MiB object round-trips in pieces');
  t.same(await store.get(name, 1000, 5000), big.subarray(1000, 6000), 'a ranged get');
  // two packs at once, as a push sends them: their parts interleave on the wire
  const [n1, n2] = ['cd', 'ef'].map((x) => `data/${x}/${x}${'1'.repeat(62)}`);
  const [b1, b2] = [randomBytes(2 << 20), randomBytes(3 << 20)];
  await Promise.all([store.put(n1, b1), store.put(n2, b2)]);
  t.same([await store.get(n1), await store.get(n2)], [b1, b2], 'two uploads in flight at once both arrive whole');
  t.equal(await store.get('heads/0000000001'), null, 'absent');
  t.equal(await store.claim('heads/0000000001', Buffer.from('one')), true, 'the first claim wins');
  t.equal(await store.claim('heads/0000000001', Buffer.from('two')), false, 'the second loses');
  t.same(await store.get('heads/0000000001'), Buffer.from('one'), 'and changed nothing');
  t.same((await store.list('heads')).map((o) => o.name), ['heads/0000000001']);
  t.same(fs.readdirSync(root).filter((n) => n.startsWith('.tmp')), [], 'no temporaries left');
  await t.rejects(store.put('../escape', Buffer.from('x')), 'a name outside the vault is refused');
  t.notOk(fs.existsSync(path.join(root, '..', 'escape')), 'nothing written outside');
  await t.rejects(store.close(), 'the session is over: the server ended it');
  t.match(await served, { code: 'E_PROTOCOL' }, 'with a protocol error');
  const ro = t.testdir();
  const r = pair(ro, true);
  await t.rejects(r.store.put(name, Buffer.from('x')), { code: 'E_READ_ONLY' }, 'a read-only server refuses a put');
  await t.rejects(r.store.claim('heads/0000000001', Buffer.from('x')), { code: 'E_READ_ONLY' }, 'and a claim');
  t.same(fs.readdirSync(ro), [], 'and wrote nothing');
  await r.store.close();
  await r.served;
  t.ok(new LocalStore(ro));
});

t.test("scanOrder is the scanner's own order (a two-way run merges left-out entries into a listing by it)", async (t) => {
  const { Scanner, scanOrder } = await import('../../lib/tree/scan.js');
  const { Filter } = await import('../../lib/tree/filter.js');
  const { makeRandomTree } = await import('../helpers/tree.js');
  const dir = t.testdir();
  await makeRandomTree(dir, 1501, { files: 150, dirs: 30 });
  const scanned = [...new Scanner(Filter.create([], { ignoreFiles: false }), () => {}).scan([{ abs: dir, contents: true }])].flat().map((f) => f.entry);
  t.ok(scanned.length > 150, `${scanned.length} entries`);
  const shuffled = [...scanned].reverse();
  shuffled.sort(scanOrder);
  t.same(
    shuffled.map((e) => e.path),
    scanned.map((e) => e.path),
    'sorting by scanOrder gives the scan back',
  );
});

t.test('the compressing worker gives what squeeze gives here, in order, and a dead worker loses nothing', async (t) => {
  const { Squeezer } = await import('../../lib/vault/squeezer.js');
  const chunks: Buffer[] = [];
  for (let i = 0; i < 600; i++) {
    const n = [100, 3000, 70_000, 300_000][i % 4];
    // text-like (compressible), random (not), and the small ones squeeze() leaves alone
    chunks.push(i % 3 === 0 ? randomBytes(n) : Buffer.from(`line ${i} of a text that repeats itself\n`.repeat(Math.ceil(n / 40)).slice(0, n)));
  }
  const sq = new Squeezer();
  const got = await Promise.all(chunks.map((c) => sq.squeeze(c)));
  await sq.close();
  t.ok(
    got.every((z, i) => {
      const here = squeeze(chunks[i]);
      return z === null ? here === null : here !== null && z.equals(here);
    }),
    '600 chunks: each the same as on this thread',
  );
  t.ok(got.some((z) => z !== null) && got.some((z) => z === null), 'some deflated, some stored as they are');
  // the worker dies with batches out: they are squeezed here instead
  const dying = new Squeezer();
  const waits = chunks.slice(0, 300).map((c) => dying.squeeze(c));
  (dying as unknown as { kick(): void }).kick();
  await (dying as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  const after = await Promise.all([...waits, dying.squeeze(chunks[2])]);
  t.ok(after.slice(0, 300).every((z, i) => (z === null ? squeeze(chunks[i]) === null : z.equals(squeeze(chunks[i])!))), 'every chunk still answered, the same');
  await dying.close();
});
