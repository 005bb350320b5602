// A remote with node but no tsync (PRODUCT.md §9): tsync sends its
// single-file build and runs it, over a stand-in that runs its argv directly
// like `docker exec -i` (no shell re-parsing; a clean environment whose
// PATH holds only sh and node) and over the real sshd. The stand-in logs
// every byte the client sends, so "the second run sends no build" is
// measured, not inferred.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { runTsync, type RunResult } from '../helpers/run.js';
import { requireOrSkip, sshdAvailable, startSshd } from '../helpers/sshd.js';
import { describe, fatal, writeTree } from '../helpers/standin.js';

const BUILD = fs.readFileSync(new URL('../../dist/tsync.mjs', import.meta.url));
const HASH = createHash('sha256').update(BUILD).digest('hex');
const GZ = gzipSync(BUILD, { level: 9 }).length;

interface Box {
  dir: string;
  home: string;
  tools: string;
  log: string;
  rsh: string;
}

/** A "container": a tools dir (sh, and node unless told otherwise) and a home outside /home; the -e command logs what it is sent. */
function box(t: Test, o: { node?: 'real' | 'old' | 'none'; banner?: string; wrap?: (inner: string, home: string, dir: string) => string } = {}): Box {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-box-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const home = path.join(dir, 'srv', 'users', 'me');
  const tools = path.join(dir, 'tools');
  fs.mkdirSync(home, { recursive: true });
  fs.mkdirSync(tools);
  fs.symlinkSync('/bin/sh', path.join(tools, 'sh'));
  if ((o.node ?? 'real') === 'real') fs.symlinkSync(process.execPath, path.join(tools, 'node'));
  if (o.node === 'old') fs.writeFileSync(path.join(tools, 'node'), '#!/bin/sh\necho v18.19.0\n', { mode: 0o755 });
  const log = path.join(dir, 'sent.log');
  const inner = `/usr/bin/env -i HOME=${home} PATH=${tools} "$@"`;
  const body = [
    '#!/bin/sh',
    'shift # the host',
    'umask 027',
    o.banner ? `printf '%s\\n' '${o.banner}'` : '',
    `tee -a ${log} | ${o.wrap ? o.wrap(inner, home, dir) : `exec ${inner}`}`,
    '',
  ].join('\n');
  const rsh = path.join(dir, 'docker-like');
  fs.writeFileSync(rsh, body, { mode: 0o755 });
  return { dir, home, tools, log, rsh };
}

const cacheDir = (b: Box) => path.join(b.home, '.cache', 'tsync', 'server', `0.1.0-${HASH.slice(0, 16)}`);
const sent = (b: Box) => (fs.existsSync(b.log) ? fs.statSync(b.log).size : 0);

async function push(t: Test, b: Box, name = 'dst'): Promise<{ r: RunResult; dst: string; bytes: number }> {
  const src = path.join(b.dir, 'src');
  if (!fs.existsSync(src)) await writeTree(src, { 'a.txt': 'alpha\n', 'd/b.bin': Buffer.alloc(50_000, 3) });
  const before = sent(b);
  const dst = path.join(b.dir, name);
  const r = await runTsync(['-e', b.rsh, `${src}/`, `box:${dst}/`]);
  return { r, dst, bytes: sent(b) - before };
}

function synced(t: Test, res: { r: RunResult; dst: string }): void {
  t.equal(res.r.code, 0, describe(res.r));
  t.equal(fs.readFileSync(path.join(res.dst, 'a.txt'), 'utf8'), 'alpha\n', 'the tree arrived');
}

t.test('install, reuse, repair, under umask 027 in a home outside /home', async (t) => {
  const b = box(t);
  const first = await push(t, b);
  synced(t, first);
  t.match(first.r.stderr, /installing tsync 0\.1\.0 on box/, 'the first run says it installs');
  const file = path.join(cacheDir(b), 'tsync.mjs');
  t.equal(createHash('sha256').update(fs.readFileSync(file)).digest('hex'), HASH, 'the cached build is the build');
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'file 0600 whatever the umask');
  t.equal(fs.statSync(cacheDir(b)).mode & 0o777, 0o700, 'dir 0700');
  t.ok(first.bytes > GZ, `the first run sent the build (${first.bytes} bytes)`);

  const second = await push(t, b, 'dst2');
  synced(t, second);
  t.equal(second.r.stderr, '', 'the second run says nothing');
  t.ok(first.bytes - second.bytes >= GZ, `the second run sent no build (${second.bytes} bytes vs ${first.bytes}; the gzipped build is ${GZ})`);

  fs.writeFileSync(file, 'export function run() { throw new Error("tampered") }\n');
  const third = await push(t, b, 'dst3');
  synced(t, third);
  t.match(third.r.stderr, /replacing a damaged cached tsync/, 'a damaged cache is noticed');
  t.equal(createHash('sha256').update(fs.readFileSync(file)).digest('hex'), HASH, 'and replaced');
  t.same(fs.readdirSync(cacheDir(b)), ['tsync.mjs'], 'no temporary left in the cache');
});

t.test('two clients install at once', async (t) => {
  const b = box(t);
  await writeTree(path.join(b.dir, 'src'), { 'a.txt': 'alpha\n' });
  const [one, two] = await Promise.all([push(t, b, 'one'), push(t, b, 'two')]);
  synced(t, one);
  synced(t, two);
  t.same(fs.readdirSync(cacheDir(b)), ['tsync.mjs'], 'one cached build, no temporary');
  t.equal(createHash('sha256').update(fs.readFileSync(path.join(cacheDir(b), 'tsync.mjs'))).digest('hex'), HASH);
});

t.test('a banner from the remote shell is skipped and reported', async (t) => {
  const b = box(t, { banner: 'Welcome to box! Last login: never' });
  const r = await push(t, b);
  synced(t, r);
  t.match(r.r.stderr, /printed text before tsync started \(skipped\): Welcome to box!/);
});

t.test('node too old, node missing: one line, exit 5', async (t) => {
  const old = await push(t, box(t, { node: 'old' }));
  fatal(t, old.r, 5, /tsync is not installed on box and its node v18\.19\.0 is too old \(20\.19 or later is needed\): install tsync there/);
  const none = await push(t, box(t, { node: 'none' }));
  fatal(t, none.r, 5, /neither tsync nor node was found on box: install tsync there/);
});

t.test('a remote that runs tsync --server whatever it is asked (a forced command) still works', async (t) => {
  const b = box(t);
  fs.writeFileSync(b.rsh, `#!/bin/sh\nshift\nexec ${process.execPath} ${path.resolve('bin/tsync')} --server\n`, { mode: 0o755 });
  const r = await push(t, b);
  synced(t, r);
  t.equal(r.r.stderr, '', 'quietly');
});

const canUnshare = (): string | null => {
  try {
    execFileSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o noexec tmpfs /mnt'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'needs root and unshare -m (private mount namespaces)';
  }
};

t.test('a read-only home: run from memory, every time', async (t) => {
  if (!requireOrSkip(t, canUnshare())) return;
  // the home is bind-mounted read-only over itself, in a private mount namespace
  const b = box(t, { wrap: (inner, home) => `exec unshare -m sh -c 'mount --bind ${home} ${home} && mount -o remount,bind,ro ${home} && exec ${inner.replace('"$@"', 'sh')}'` });
  const first = await push(t, b);
  synced(t, first);
  t.match(first.r.stderr, /the home on box is not writable: tsync runs from memory there/);
  t.notOk(fs.existsSync(path.join(b.home, '.cache')), 'nothing was cached');
  const again = await push(t, b, 'dst2');
  synced(t, again);
  t.ok(again.bytes > GZ, 'the build is sent again next time');
});

t.test('/tmp mounted noexec (and the home on it): install and run', async (t) => {
  if (!requireOrSkip(t, canUnshare())) return;
  // /tmp (which holds the box's home) is remounted noexec in a private mount namespace
  const b = box(t, { wrap: (inner) => `exec unshare -m sh -c 'mount --bind /tmp /tmp && mount -o remount,bind,noexec /tmp && exec ${inner.replace('HOME=', 'TMPDIR=/tmp HOME=').replace('"$@"', 'sh')}'` });
  const first = await push(t, b);
  synced(t, first);
  t.match(first.r.stderr, /installing tsync/, 'installed into a noexec file system');
  const again = await push(t, b, 'dst2');
  synced(t, again);
  t.equal(again.r.stderr, '', 'and run from there next time');
});

t.test('over the real sshd: a PATH with node and no tsync', async (t) => {
  if (!requireOrSkip(t, sshdAvailable())) return;
  const sshd = await startSshd(t, { extraConfig: ['AcceptEnv XDG_CACHE_HOME'] });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-ssh-zi-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cache = path.join(dir, 'cache');
  await writeTree(path.join(dir, 'src'), { 'a.txt': 'alpha\n', 'd/b.bin': Buffer.alloc(50_000, 3) });
  const rsh = `${sshd.rsh} -o SetEnv=XDG_CACHE_HOME=${cache}`;
  const first = await runTsync(['-e', rsh, `${dir}/src/`, `127.0.0.1:${dir}/dst/`]);
  synced(t, { r: first, dst: path.join(dir, 'dst') });
  t.match(first.stderr, /installing tsync 0\.1\.0 on 127\.0\.0\.1/);
  t.ok(fs.existsSync(path.join(cache, 'tsync', 'server', `0.1.0-${HASH.slice(0, 16)}`, 'tsync.mjs')), 'cached under XDG_CACHE_HOME');
  const second = await runTsync(['-e', rsh, `127.0.0.1:${dir}/src/`, `${dir}/pulled/`]);
  synced(t, { r: second, dst: path.join(dir, 'pulled') });
  t.equal(second.stderr, '', 'the second run (a pull) reuses the cache and says nothing');
});

t.test('the single-file build is all of tsync: as a client, a local run starts the build itself as its peer', async (t) => {
  // a path relative to dist/tsync.mjs pointed outside the tree: `node dist/tsync.mjs src/ dst/` ended with exit 5
  const dir = t.testdir();
  await writeTree(path.join(dir, 'src'), { 'a.txt': 'alpha\n', 'd/b.bin': Buffer.alloc(50_000, 3) });
  await writeTree(path.join(dir, 'b'), { 'only-b.txt': 'b\n' });
  const single = new URL('../../dist/tsync.mjs', import.meta.url).pathname;
  const run = (args: string[]) => execFileSync(process.execPath, [single, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  run([`${dir}/src/`, `${dir}/dst/`]);
  t.equal(fs.readFileSync(path.join(dir, 'dst', 'a.txt'), 'utf8'), 'alpha\n', 'a one-way local run');
  t.equal(fs.statSync(path.join(dir, 'dst', 'd', 'b.bin')).size, 50_000);
  run(['--two-way', `${dir}/src/`, `${dir}/b/`]);
  t.same(fs.readdirSync(path.join(dir, 'b')).filter((n) => n !== '.tsync').sort(), ['a.txt', 'd', 'only-b.txt'], 'a two-way local run: b has the union');
  t.ok(fs.existsSync(path.join(dir, 'src', 'only-b.txt')), 'and so has a');
});
