// apply refuses what it must not act on, with one clear line and the
// directory untouched: a flipped byte, a cut-off bundle (plain and gzipped),
// a bundle made against another tree's manifest, a tree changed since its
// manifest, the wrong key, and a forged bundle that names a path outside
// the directory or writes through a symlinked parent.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import tar from 'tar-stream';
import { runTsync, type RunResult } from '../helpers/run.js';
import { diffSnapshots, makeRandomTree, mutateTree, snapshot } from '../helpers/tree.js';
import { entryHead, HEADER_NAME, MANIFEST_NAME, PLAN_NAME, SEAL_NAME } from '../../lib/bundle/format.js';
import { encodeManifest } from '../../lib/bundle/manifest-file.js';
import type { ManifestEntry } from '../../lib/bundle/entries.js';

const TREE = { files: 30, dirs: 6, bigFiles: 1, bigMaxBytes: 200 * 1024 } as const;
const describe = (r: RunResult) => `exit ${r.code}: ${r.stderr.slice(0, 1500)}`;

/** the stderr of a refusal: exactly one line, tsync's, no stack trace */
function oneLine(t: Test, r: RunResult, re: RegExp): void {
  const lines = r.stderr.trimEnd().split('\n');
  t.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
  t.match(lines[0], re, 'says what is wrong');
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

/** a receiver (an older copy), its manifest, and a bundle of the newer sender */
async function setup(dir: string, seed: number, extra: string[] = []): Promise<{ src: string; dst: string; manifest: string; bundle: string }> {
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  await makeRandomTree(src, seed, TREE);
  fs.cpSync(src, dst, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  await mutateTree(src, seed + 1);
  const manifest = path.join(dir, 'manifest');
  const bundle = path.join(dir, 'b.tar');
  const m = await runTsync(['manifest', dst, '-o', manifest, ...extra]);
  if (m.code !== 0) throw new Error(describe(m));
  const b = await runTsync(['bundle', '--delete', `${src}/`, '--against', manifest, '-o', bundle, ...extra]);
  if (b.code !== 0) throw new Error(describe(b));
  return { src, dst, manifest, bundle };
}

/** [offset of the content, size] of each tar entry, by name */
function tarEntries(buf: Buffer): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (let off = 0; off + 512 <= buf.length; ) {
    const name = buf.toString('utf8', off, off + 100).replace(/\0.*$/s, '');
    if (!name) break;
    const size = parseInt(buf.toString('latin1', off + 124, off + 136).replace(/\0.*$/s, '').trim(), 8);
    out.set(name, [off + 512, size]);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

async function unchanged(t: Test, dst: string, before: Awaited<ReturnType<typeof snapshot>>): Promise<void> {
  t.same(diffSnapshots(before, await snapshot(dst, { includeRoot: true }), { mtimePrecision: 'ns' }), [], 'the directory is unchanged');
}

t.test('a flipped byte anywhere that matters is refused, the directory unchanged', async (t) => {
  const dir = t.testdir();
  const { dst, bundle } = await setup(dir, 501);
  const good = fs.readFileSync(bundle);
  const entries = tarEntries(good);
  const before = await snapshot(dst, { includeRoot: true });
  const spots: Array<[string, number]> = [];
  for (const [name, [off, size]] of entries) if (size > 0) spots.push([name, off + Math.floor(size / 2)]);
  spots.push(['a tar header', 100]);
  t.ok(spots.some(([n]) => n.includes('/data/')), 'the bundle has data entries');
  for (const [what, at] of spots) {
    const bad = Buffer.from(good);
    bad[at] ^= 0x20;
    const f = path.join(dir, 'flipped.tar');
    fs.writeFileSync(f, bad);
    const r = await runTsync(['apply', f, dst]);
    t.equal(r.code, 13, `byte flipped in ${what}: exit 13 (${r.stderr.trim()})`);
    oneLine(t, r, /^tsync: error: the bundle.*(damaged|truncated|not a tsync bundle)/);
    await unchanged(t, dst, before);
  }
});

t.test('a cut-off bundle, plain or gzipped, from a file or a pipe, is refused', async (t) => {
  const dir = t.testdir();
  const { src, dst, manifest, bundle } = await setup(dir, 502);
  const gz = path.join(dir, 'b.tar.gz');
  t.equal((await runTsync(['bundle', '-z', '--delete', `${src}/`, '--against', manifest, '-o', gz])).code, 0, 'gzipped bundle');
  const before = await snapshot(dst, { includeRoot: true });
  for (const f of [bundle, gz]) {
    const whole = fs.readFileSync(f);
    for (const keep of [Math.floor(whole.length / 2), whole.length - 600, 10]) {
      const cut = whole.subarray(0, keep);
      const r1 = await runTsync(['apply', '-', dst], { input: cut });
      t.equal(r1.code, 13, `${path.basename(f)} cut to ${keep} bytes, on stdin: exit 13`);
      oneLine(t, r1, /^tsync: error: the bundle .*(truncated|damaged|not a tar|not a tsync bundle)/);
      const c = path.join(dir, `cut-${path.basename(f)}`);
      fs.writeFileSync(c, cut);
      const r2 = await runTsync(['apply', c, dst]);
      t.equal(r2.code, 13, `${path.basename(f)} cut to ${keep} bytes, from a file: exit 13`);
      oneLine(t, r2, /^tsync: error: the bundle/);
    }
  }
  await unchanged(t, dst, before);
});

t.test("a bundle made against another tree's manifest is refused as conflicts; nothing changes", async (t) => {
  const dir = t.testdir();
  const { dst } = await setup(dir, 503);
  const other = path.join(dir, 'other');
  await makeRandomTree(other, 9503, TREE);
  const om = path.join(dir, 'other-manifest');
  t.equal((await runTsync(['manifest', other, '-o', om])).code, 0, 'manifest of another tree');
  const b = path.join(dir, 'other.tar');
  t.equal((await runTsync(['bundle', '--delete', `${path.join(dir, 'src')}/`, '--against', om, '-o', b])).code, 0, 'bundle against it');
  const before = await snapshot(dst, { includeRoot: true });
  const r = await runTsync(['apply', b, dst]);
  t.equal(r.code, 40, `exit 40 (E_CONFLICTS): ${r.stderr.split('\n').slice(-2).join(' ')}`);
  t.match(r.stderr, /tsync: conflict: .*changed since the manifest was made; kept/, 'each conflict is named');
  t.match(r.stderr, /tsync: error: \d+ paths? in .* changed since the manifest this bundle was made against; nothing was changed\n$/, 'one closing line');
  await unchanged(t, dst, before);
});

t.test('a file changed since the manifest is a conflict: reported, kept, exit 40, the rest unchanged too', async (t) => {
  const dir = t.testdir();
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'a.txt'), 'new a\n');
  fs.writeFileSync(path.join(src, 'b.txt'), 'new b\n');
  fs.cpSync(src, dst, { recursive: true });
  fs.writeFileSync(path.join(dst, 'a.txt'), 'old a\n');
  fs.writeFileSync(path.join(dst, 'b.txt'), 'old b\n');
  const m = path.join(dir, 'm');
  const b = path.join(dir, 'b.tar');
  t.equal((await runTsync(['manifest', dst, '-o', m])).code, 0, 'manifest');
  t.equal((await runTsync(['bundle', `${src}/`, '--against', m, '-o', b])).code, 0, 'bundle');
  fs.writeFileSync(path.join(dst, 'a.txt'), 'the receiver edited a, longer now\n');
  const before = await snapshot(dst, { includeRoot: true });
  const r = await runTsync(['apply', b, dst]);
  t.equal(r.code, 40, describe(r));
  t.match(r.stderr, /^tsync: conflict: a\.txt: changed since the manifest was made; kept$/m, 'the conflict is named');
  await unchanged(t, dst, before);
  t.equal(fs.readFileSync(path.join(dst, 'a.txt'), 'utf8'), 'the receiver edited a, longer now\n', "the receiver's edit is kept");
});

t.test('keys: a MACed manifest and bundle need the same key (exit 15 otherwise)', async (t) => {
  const dir = t.testdir();
  const ka = path.join(dir, 'ka');
  const kb = path.join(dir, 'kb');
  t.equal((await runTsync(['keygen', ka])).code, 0);
  t.equal((await runTsync(['keygen', kb])).code, 0);
  const { src, dst, manifest, bundle } = await setup(dir, 504, ['--key', ka]);
  t.match(fs.readFileSync(manifest, 'latin1'), /^tsync-manifest 1 hmac-sha256 [0-9a-f]{16}\n/, 'the manifest is MACed');
  const before = await snapshot(dst, { includeRoot: true });
  const wrong = await runTsync(['apply', '--key', kb, bundle, dst]);
  t.equal(wrong.code, 15, `wrong key: ${describe(wrong)}`);
  oneLine(t, wrong, /^tsync: error: the bundle was MACed under another key/);
  const none = await runTsync(['apply', bundle, dst], { env: { TSYNC_KEY_FILE: undefined } });
  t.equal(none.code, 15, `no key: ${describe(none)}`);
  oneLine(t, none, /MACed under a key: give it with --key/);
  const against = await runTsync(['bundle', '--key', kb, `${src}/`, '--against', manifest, '-o', path.join(dir, 'x.tar')]);
  t.equal(against.code, 15, `bundle --against a manifest MACed under another key: ${describe(against)}`);
  const plain = path.join(dir, 'plain.tar');
  const pm = path.join(dir, 'pm');
  t.equal((await runTsync(['manifest', dst, '-o', pm])).code, 0);
  t.equal((await runTsync(['bundle', `${src}/`, '--against', pm, '-o', plain])).code, 0);
  const unkeyed = await runTsync(['apply', '--key', ka, plain, dst]);
  t.equal(unkeyed.code, 15, `a checksum-only bundle where --key was given: ${describe(unkeyed)}`);
  await unchanged(t, dst, before);
  const right = await runTsync(['apply', '--key', ka, bundle, dst]);
  t.equal(right.code, 0, `the right key: ${describe(right)}`);
});

/** a bundle as an attacker could make one: any plan, a correct (unkeyed) seal */
async function forge(file: string, plan: unknown, data: Buffer[], entries: ManifestEntry[] = []): Promise<void> {
  const h = createHash('sha256');
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => pack.on('end', r));
  const put = (name: string, b: Buffer) => {
    h.update(entryHead(name, b.length)).update(b);
    pack.entry({ name, size: b.length }, b);
  };
  put(HEADER_NAME, Buffer.from(JSON.stringify({ format: 'tsync-bundle', version: 1, seal: 'sha256', keyId: null, against: { id: 'x' }, delete: true })));
  put(PLAN_NAME, Buffer.from(JSON.stringify(plan)));
  put(MANIFEST_NAME, encodeManifest({ id: '0'.repeat(32), entries }, null));
  data.forEach((d, i) => put(`tsync-bundle/data/${i}`, d));
  pack.entry({ name: SEAL_NAME }, Buffer.from(h.digest('hex')));
  pack.finalize();
  await done;
  fs.writeFileSync(file, Buffer.concat(chunks));
}

const fileEntry = (p: string, content: Buffer): ManifestEntry => ({ path: p, type: 'f', mode: 0o644, size: content.length, mtime: 1_600_000_000_000_000, hash: createHash('sha256').update(content).digest('hex') });

t.test('a forged bundle cannot write outside the directory', async (t) => {
  const dir = t.testdir();
  const dst = path.join(dir, 'dst');
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(dst);
  fs.mkdirSync(outside);
  fs.symlinkSync(outside, path.join(dst, 'link'));
  const evil = Buffer.from('evil\n');
  const before = await snapshot(dst, { includeRoot: true });
  for (const p of ['../outside/x', '/tmp/x', 'a/../../x', '.tsync-tmp-x', '.tsync/baseline']) {
    const f = path.join(dir, 'forged.tar');
    await forge(f, { ops: [{ do: 'file', path: p, from: { how: 'data', data: 0 } }], was: { [p]: null } }, [evil]);
    const r = await runTsync(['apply', f, dst]);
    t.equal(r.code, 13, `path ${p}: exit 13`);
    oneLine(t, r, /bad path|reserved/);
  }
  // through a symlinked parent, which the forger claims is a directory
  const f = path.join(dir, 'forged.tar');
  const linkDir: ManifestEntry = { path: 'link', type: 'd', mode: 0o755, size: 0, mtime: 0 };
  const root: ManifestEntry = { path: '.', type: 'd', mode: 0o755, size: 0, mtime: 0 };
  await forge(f, { ops: [{ do: 'file', path: 'link/x', from: { how: 'data', data: 0 } }], was: { 'link/x': null, link: linkDir } }, [evil], [root, linkDir, fileEntry('link/x', evil)]);
  const r = await runTsync(['apply', f, dst]);
  t.equal(r.code, 40, `a file under a symlinked parent is refused: ${describe(r)}`);
  t.match(r.stderr, /link\/x: a parent directory is not a real directory/);
  await unchanged(t, dst, before);
  t.same(fs.readdirSync(outside), [], 'nothing outside');
});

t.test('apply -n changes nothing; apply of a missing bundle or directory is a usage error', async (t) => {
  const dir = t.testdir();
  const { dst, bundle } = await setup(dir, 505);
  const before = await snapshot(dst, { includeRoot: true });
  const r = await runTsync(['apply', '-n', '-i', bundle, dst]);
  t.equal(r.code, 0, describe(r));
  t.not(r.stdout, '', 'lists the changes');
  await unchanged(t, dst, before);
  t.equal((await runTsync(['apply', path.join(dir, 'nope.tar'), dst])).code, 1, 'missing bundle: exit 1');
  t.equal((await runTsync(['apply', bundle, path.join(dir, 'nope')])).code, 3, 'missing directory: exit 3');
  await fsp.rm(path.join(dir, 'src'), { recursive: true });
});
