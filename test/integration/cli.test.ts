// The real binary, end to end: bin/tsync as a user runs it, locally, pushing
// and pulling through a stdio stand-in for ssh (a script that drops the host
// argument and runs the rest with `sh -c`), and every documented failure:
// exit code, one `tsync:` line on stderr, no stack trace, nothing written
// outside the destination.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { TSYNC_BIN, collect, runTsync, spawnTsync, type RunResult } from '../helpers/run.js';
import { requireOrSkip, toolAvailable } from '../helpers/sshd.js';
import { describe, fatal as fatalLine, writeTree } from '../helpers/standin.js';
import { NFC_NAME, NFD_NAME, diffSnapshots, makeRandomTree, snapshot, tempsUnder, type Entry } from '../helpers/tree.js';

// ---------------------------------------------------------------- running bin/tsync

// ---------------------------------------------------------------- stand-ins and small helpers

const TOOLS = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-cli-tools-'));
t.teardown(() => fs.rmSync(TOOLS, { recursive: true, force: true }));

function tool(name: string, body: string): string {
  const p = path.join(TOOLS, name);
  fs.writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return p;
}
const THROTTLE = `perl -e '$|=1; while (sysread(STDIN, $b, 32768)) { syswrite(STDOUT, $b); select(undef, undef, undef, 0.01) }'`;
/** drops the host, runs the remote command */
const STANDIN = tool('standin-rsh', 'shift\nexec sh -c "$*"');
/** a remote whose shell greets before tsync starts */
const JUNK = tool('junk-rsh', 'shift\necho "Welcome!"\nexec sh -c "$*"');
/** the greeting and tsync's own first bytes reach us in one read (the shell's output is held back for a moment) */
const JUNK_GLUED = tool('junk-glued-rsh', 'shift\n{ echo "Welcome!"; exec sh -c "$*"; } | { sleep 1; exec cat; }');
/** a peer that never says a word */
const SILENT = tool('silent-rsh', 'exec sleep 60');
/** the peer's output to us at ~3 MB/s (for interrupting a pull mid-file) */
const SLOW_OUT = tool('slow-out-rsh', `shift\nsh -c "$*" | ${THROTTLE}`);
/** our output to the peer at ~3 MB/s (for interrupting a push mid-file) */
const SLOW_IN = tool('slow-in-rsh', `shift\n${THROTTLE} | sh -c "$*"`);

const remote = (p: string) => `localhost:${p}`;
const viaStandin = ['-e', STANDIN, '--tsync-path', TSYNC_BIN];


function ok(t: Test, r: RunResult, what: string): void {
  t.equal(r.code, 0, `${what}: exit 0 (${describe(r)})`);
}


const snap = (dir: string): Promise<Map<string, Entry>> => snapshot(dir, { includeRoot: true });
const read = (p: string) => fs.readFileSync(p, 'utf8');
const sha = (p: string) => createHash('sha256').update(fs.readFileSync(p)).digest('hex');

function same(t: Test, a: Map<string, Entry>, b: Map<string, Entry>, what: string, labels: [string, string] = ['src', 'dst']): void {
  const d = diffSnapshots(a, b, { labels });
  t.same(d.slice(0, 30), [], `${what}${d.length > 30 ? ` (${d.length} differences, first 30 shown)` : ''}`);
}

/** Everything under `sandbox` except `dest` (relative), to prove nothing was written elsewhere. */
function outside(sandbox: string, dest: string): Promise<Map<string, Entry>> {
  return snapshot(sandbox, { exclude: (rel) => rel === dest || rel.startsWith(`${dest}/`) });
}

/** A fatal error: the exit code, one `tsync:` line on stderr, no stack trace, nothing on stdout. */
function fatal(t: Test, r: RunResult, code: number, pattern?: RegExp): void {
  fatalLine(t, r, code, pattern);
  t.equal(r.stdout, '', 'nothing on stdout');
}

/** A partial transfer: exit 23; stderr lines all `tsync:`, no stack trace. */
function partial(t: Test, r: RunResult, pattern: RegExp): void {
  t.equal(r.code, 23, `exit 23 (${describe(r)})`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  t.ok(lines.length >= 1, 'something on stderr');
  t.same(lines.filter((l) => !l.startsWith('tsync:')), [], 'every stderr line starts with "tsync:"');
  t.notMatch(r.stderr, /^\s+at /m, 'no stack trace');
  t.match(r.stderr, pattern, `stderr matches ${pattern}`);
}


const SMALL_TREE: Record<string, string | Buffer | null> = {
  'a.txt': 'alpha\n',
  'b.bin': Buffer.from([0, 1, 2, 3, 255]),
  'sub/c.txt': 'gamma\n',
  'sub/deeper/d.txt': 'delta\n',
  'empty-dir': null,
};

// ---------------------------------------------------------------- the runner itself

// Regression: under tap every child inherits NODE_OPTIONS=--import=@tapjs/processinfo,
// whose loader forced the extensionless ES module bin/tsync to CommonJS, so it
// died with ERR_REQUIRE_CYCLE_MODULE before doing anything. bin/tsync now loads
// its code with a dynamic import and starts under that loader.
t.test('bin/tsync starts under tap\'s NODE_OPTIONS loader (was ERR_REQUIRE_CYCLE_MODULE)', async (t) => {
  t.comment(`NODE_OPTIONS in the child: ${JSON.stringify(process.env.NODE_OPTIONS ?? '')}`);
  const r = await runTsync(['--version'], { timeoutMs: 30_000 });
  t.equal(r.code, 0, `tsync --version through runTsync exits 0 (${describe(r)})`);
  t.match(r.stdout, /^tsync \S+/, 'prints the version');
  t.notMatch(r.stderr, /ERR_REQUIRE_CYCLE_MODULE|ERR_REQUIRE_ESM/, 'no module-loading error');
});

// ---------------------------------------------------------------- transfers

t.test('push, pull and local through the stand-in give identical trees', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await makeRandomTree(src, 77, { files: 25, dirs: 6, bigFiles: 1, bigMaxBytes: 200 * 1024, symlinks: 6 });
  await fsp.utimes(src, 1_500_000_000, 1_500_000_000);
  const want = await snap(src);
  const cases: Array<[string, string[], string]> = [
    ['local', [`${src}/`, `${sb}/local/`], 'local'],
    ['push', [...viaStandin, `${src}/`, remote(`${sb}/push/`)], 'push'],
    ['pull', [...viaStandin, remote(`${src}/`), `${sb}/pull/`], 'pull'],
  ];
  for (const [what, args, dir] of cases) {
    const r = await runTsync(args);
    ok(t, r, what);
    same(t, want, await snap(path.join(sb, dir)), `${what}: destination equals source`);
  }
  same(t, want, await snap(src), 'the source is untouched');
});

t.test('trailing slash rule, both directions', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await writeTree(src, SMALL_TREE);
  const want = await snap(src);
  for (const [what, prefix, args] of [
    ['local', [], (s: string, d: string) => [s, d]],
    ['push', viaStandin, (s: string, d: string) => [s, remote(d)]],
    ['pull', viaStandin, (s: string, d: string) => [remote(s), d]],
  ] as const) {
    const noSlash = path.join(sb, `${what}-noslash`);
    let r = await runTsync([...prefix, ...args(src, `${noSlash}/`)]);
    ok(t, r, `${what}: src dst/`);
    t.same(fs.readdirSync(noSlash), ['src'], `${what}: without the slash the directory itself lands in DEST`);
    same(t, want, await snap(path.join(noSlash, 'src')), `${what}: DEST/src equals src`);

    const slash = path.join(sb, `${what}-slash`);
    r = await runTsync([...prefix, ...args(`${src}/`, slash)]);
    ok(t, r, `${what}: src/ dst`);
    same(t, want, await snap(slash), `${what}: with the slash the contents land in DEST`);

    // DEST without a trailing slash that does not exist yet: still a directory holding src
    const bare = path.join(sb, `${what}-bare`);
    r = await runTsync([...prefix, ...args(src, bare)]);
    ok(t, r, `${what}: src dst (dst missing)`);
    t.same(fs.readdirSync(bare), ['src'], `${what}: DEST is created and holds src`);
  }
});

t.test('a single file: to a new name, into a directory', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await writeTree(src, { 'file.txt': 'one file\n' });
  await fsp.chmod(path.join(src, 'file.txt'), 0o640);
  await fsp.mkdir(path.join(sb, 'into'));
  await fsp.mkdir(path.join(sb, 'into-noslash'));
  const file = path.join(src, 'file.txt');
  const want = (await snapshot(src)).get('file.txt')!;
  const check = async (p: string, what: string) => {
    const st = await snapshot(path.dirname(p));
    const got = st.get(path.basename(p));
    t.ok(got, `${what}: ${p} exists`);
    if (got) t.same(diffSnapshots(new Map([['f', want]]), new Map([['f', got]])), [], `${what}: same content, mode and mtime`);
  };
  let r = await runTsync([file, path.join(sb, 'renamed.txt')]);
  ok(t, r, 'local to a new name');
  await check(path.join(sb, 'renamed.txt'), 'local to a new name');
  t.notOk(fs.statSync(path.join(sb, 'renamed.txt')).isDirectory(), 'a file, not a directory');

  r = await runTsync([file, `${path.join(sb, 'into')}/`]);
  ok(t, r, 'local into dir/');
  await check(path.join(sb, 'into', 'file.txt'), 'local into dir/');

  r = await runTsync([file, path.join(sb, 'into-noslash')]);
  ok(t, r, 'local into an existing dir named without a slash');
  await check(path.join(sb, 'into-noslash', 'file.txt'), 'into existing dir');

  r = await runTsync([...viaStandin, file, remote(path.join(sb, 'pushed.txt'))]);
  ok(t, r, 'push to a new name');
  await check(path.join(sb, 'pushed.txt'), 'push to a new name');

  r = await runTsync([...viaStandin, remote(file), path.join(sb, 'pulled.txt')]);
  ok(t, r, 'pull to a new name');
  await check(path.join(sb, 'pulled.txt'), 'pull to a new name');

  r = await runTsync([...viaStandin, remote(file), `${path.join(sb, 'into')}/`]);
  ok(t, r, 'pull into dir/ (already there: nothing to do)');
  await check(path.join(sb, 'into', 'file.txt'), 'pull into dir/');
});

t.test('--dry-run changes nothing on either side, yet -i lists the changes', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 'dst');
  await writeTree(src, { 'same.txt': 'same\n', 'changed.txt': 'new content\n', 'new.txt': 'brand new\n', 'newdir/inner.txt': 'inner\n' });
  await writeTree(dst, { 'same.txt': 'same\n', 'changed.txt': 'old\n', 'extra.txt': 'only here\n' });
  for (const [what, args] of [
    ['local', [`${src}/`, `${dst}/`]],
    ['push', [...viaStandin, `${src}/`, remote(`${dst}/`)]],
    ['pull', [...viaStandin, remote(`${src}/`), `${dst}/`]],
  ] as const) {
    const before = [await snap(src), await snap(dst)];
    const r = await runTsync(['-n', '-i', '--delete', ...args]);
    ok(t, r, `${what} dry run`);
    same(t, before[0], await snap(src), `${what}: source unchanged`, ['before', 'after']);
    same(t, before[1], await snap(dst), `${what}: destination unchanged`, ['before', 'after']);
    t.match(r.stdout, /^>f\S*\s+new\.txt$/m, `${what}: lists new.txt`);
    t.match(r.stdout, /^\S+\s+newdir\/$/m, `${what}: lists newdir/`);
    t.match(r.stdout, /^>f\S*\s+newdir\/inner\.txt$/m, `${what}: lists newdir/inner.txt`);
    t.match(r.stdout, /^>f\S*\s+changed\.txt$/m, `${what}: lists changed.txt`);
    t.match(r.stdout, /^\*deleting\s+extra\.txt$/m, `${what}: lists the deletion of extra.txt`);
    t.notMatch(r.stdout, /same\.txt/, `${what}: does not list the unchanged file`);
  }
  // into a destination that does not exist: not even the directory is made
  const r = await runTsync(['-n', '-i', `${src}/`, path.join(sb, 'not-yet')]);
  ok(t, r, 'dry run to a new destination');
  t.notOk(fs.existsSync(path.join(sb, 'not-yet')), 'the destination was not created');
  t.match(r.stdout, /new\.txt/, 'still lists what it would do');
});

t.test('--delete removes extraneous files, but never excluded ones', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 'dst');
  await writeTree(src, { 'a.txt': 'a\n', 'sub/b.txt': 'b\n' });
  await writeTree(dst, { 'extra.txt': 'x\n', 'sub/extra2.txt': 'x\n', 'gone-dir/deep/f': 'x\n', 'keep.log': 'protected\n', 'sub/keep.log': 'protected\n' });
  let r = await runTsync([`${src}/`, `${dst}/`]);
  ok(t, r, 'without --delete');
  t.ok(fs.existsSync(path.join(dst, 'extra.txt')), 'without --delete nothing is removed');

  r = await runTsync([...viaStandin, '--delete', '--exclude', '*.log', `${src}/`, remote(`${dst}/`)]);
  ok(t, r, 'push --delete --exclude *.log');
  for (const p of ['extra.txt', 'sub/extra2.txt', 'gone-dir']) t.notOk(fs.existsSync(path.join(dst, p)), `${p} deleted`);
  for (const p of ['keep.log', 'sub/keep.log']) t.equal(read(path.join(dst, p)), 'protected\n', `excluded ${p} survives --delete`);
  for (const p of ['a.txt', 'sub/b.txt']) t.ok(fs.existsSync(path.join(dst, p)), `${p} present`);

  r = await runTsync(['--delete', `${src}/`, `${dst}/`]);
  ok(t, r, 'local --delete without the exclude');
  t.notOk(fs.existsSync(path.join(dst, 'keep.log')), 'no longer excluded: deleted');
  same(t, await snap(src), await snap(dst), 'destination equals source');
});

t.test('--exclude, --include, --exclude-from, .tsyncignore, --no-tsyncignore', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await writeTree(src, {
    'a.txt': 'a',
    'b.log': 'b',
    'keep.log': 'k',
    'sub/c.log': 'c',
    'sub/d.tmp': 'd',
    'sub/e.txt': 'e',
    'cache/x.bin': 'x',
    'sub/.tsyncignore': 'e.txt\n',
    '.tsyncignore': '*.tmp\ncache/\n',
  });
  const list = (dir: string) =>
    [...fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })]
      .filter((p) => !path.basename(p).startsWith('.tsyncignore') && fs.statSync(path.join(dir, p)).isFile())
      .sort();

  let r = await runTsync(['--exclude', '*.log', `${src}/`, `${sb}/ex/`]);
  ok(t, r, '--exclude');
  t.same(list(`${sb}/ex`), ['a.txt'], '--exclude *.log, plus .tsyncignore (*.tmp, cache/, sub/e.txt)');

  r = await runTsync([...viaStandin, '--include', 'keep.log', '--exclude', '*.log', `${src}/`, remote(`${sb}/inc/`)]);
  ok(t, r, '--include before --exclude');
  t.same(list(`${sb}/inc`), ['a.txt', 'keep.log'], 'the first matching rule wins: keep.log included');

  const rules = path.join(sb, 'rules.txt');
  await fsp.writeFile(rules, '# comment\n\n*.log\na.txt\n');
  r = await runTsync([...viaStandin, '--exclude-from', rules, remote(`${src}/`), `${sb}/from/`]);
  ok(t, r, '--exclude-from (pull)');
  t.same(list(`${sb}/from`), [], '--exclude-from: *.log and a.txt excluded, comments ignored');

  r = await runTsync(['--no-tsyncignore', `${src}/`, `${sb}/noig/`]);
  ok(t, r, '--no-tsyncignore');
  t.same(list(`${sb}/noig`), ['a.txt', 'b.log', 'cache/x.bin', 'keep.log', 'sub/c.log', 'sub/d.tmp', 'sub/e.txt'], 'every file, .tsyncignore not honoured');

  r = await runTsync([`${src}/`, `${sb}/plain/`]);
  ok(t, r, 'defaults');
  t.same(list(`${sb}/plain`), ['a.txt', 'b.log', 'keep.log', 'sub/c.log'], '.tsyncignore honoured by default (root and nested)');
});

t.test('--backup-dir keeps overwritten and deleted files', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 'dst');
  await writeTree(src, { 'f.txt': 'new version\n', 'sub/g.txt': 'new g\n' });
  await writeTree(dst, { 'f.txt': 'old version\n', 'sub/g.txt': 'old g, longer\n', 'extra.txt': 'deleted but kept\n' }, 1_500_000_000);
  let r = await runTsync(['--delete', '--backup-dir', 'bk', `${src}/`, `${dst}/`]);
  ok(t, r, 'local --delete --backup-dir bk');
  t.equal(read(path.join(dst, 'f.txt')), 'new version\n', 'f.txt updated');
  t.equal(read(path.join(dst, 'bk/f.txt')), 'old version\n', 'old f.txt kept in DEST/bk');
  t.equal(read(path.join(dst, 'bk/sub/g.txt')), 'old g, longer\n', 'old sub/g.txt kept under its relative path');
  t.equal(read(path.join(dst, 'bk/extra.txt')), 'deleted but kept\n', 'deleted extra.txt kept');
  t.notOk(fs.existsSync(path.join(dst, 'extra.txt')), 'extra.txt deleted');

  // again over the stand-in with an absolute backup dir; the relative one survives --delete
  await fsp.writeFile(path.join(src, 'f.txt'), 'third version, longer\n');
  r = await runTsync([...viaStandin, '--delete', '--backup-dir', path.join(sb, 'abs-bk'), `${src}/`, remote(`${dst}/`)]);
  ok(t, r, 'push --backup-dir /abs');
  t.equal(read(path.join(sb, 'abs-bk/f.txt')), 'new version\n', 'previous f.txt kept in the absolute backup dir');
  t.equal(read(path.join(dst, 'f.txt')), 'third version, longer\n', 'f.txt updated');
});

t.test('-u keeps a newer receiver file', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 'dst');
  await writeTree(src, { 'f.txt': 'sender, older\n', 'g.txt': 'sender, newer\n' }, 1_500_000_000);
  await writeTree(dst, { 'f.txt': 'receiver, newer\n', 'g.txt': 'receiver, older\n' }, 1_600_000_000);
  await fsp.utimes(path.join(src, 'g.txt'), 1_700_000_000, 1_700_000_000);
  let r = await runTsync([...viaStandin, '-u', `${src}/`, remote(`${dst}/`)]);
  ok(t, r, '-u');
  t.equal(read(path.join(dst, 'f.txt')), 'receiver, newer\n', 'the newer receiver file is kept');
  t.equal(read(path.join(dst, 'g.txt')), 'sender, newer\n', 'an older receiver file is still updated');
  r = await runTsync([`${src}/`, `${dst}/`]);
  ok(t, r, 'without -u');
  t.equal(read(path.join(dst, 'f.txt')), 'sender, older\n', 'without -u the sender wins');
});

t.test('--json, --stats, -q, -v', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await writeTree(src, SMALL_TREE);
  const files = Object.entries(SMALL_TREE).filter(([, c]) => c !== null);
  const bytes = files.reduce((n, [, c]) => n + Buffer.byteLength(c as string | Buffer), 0);

  let r = await runTsync(['--json', `${src}/`, `${sb}/json/`]);
  ok(t, r, '--json');
  const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
  t.equal(lines.length, 1, 'exactly one line on stdout');
  let j: any = null;
  try {
    j = JSON.parse(r.stdout);
  } catch (e) {
    t.fail(`stdout is not one JSON object: ${(e as Error).message}: ${r.stdout}`);
  }
  if (j) {
    t.equal(typeof j, 'object');
    t.equal(j.ok, true, 'ok: true');
    t.equal(j.exitCode, 0, 'exitCode 0');
    t.equal(j.counts?.files, files.length, 'counts.files');
    // rsync --stats counts the newly made root too: "Number of created files: 8 (reg: 4, dir: 4)"; -i lists it as cd+++++++++ ./
    t.equal(j.counts?.created, files.length + 4, 'counts.created: 4 files and 4 directories (the new root, sub, sub/deeper, empty-dir), as rsync counts');
    t.equal(j.bytes?.literal, bytes, 'bytes.literal is every byte of a first copy');
    t.equal(j.bytes?.total, bytes, 'bytes.total');
    t.ok(j.bytes?.sent > 0 && j.bytes?.received > 0, 'wire bytes both ways');
    t.ok(Array.isArray(j.errors) && j.errors.length === 0, 'no errors');
    t.equal(typeof j.durationMs, 'number', 'durationMs');
  }
  t.equal(r.stderr, '', 'nothing on stderr');

  r = await runTsync([...viaStandin, '--json', `${src}/`, remote(`${sb}/json/`)]);
  ok(t, r, '--json, nothing to do');
  try {
    const j2 = JSON.parse(r.stdout);
    t.equal(j2.counts?.created, 0, 'nothing created the second time');
    t.equal(j2.counts?.unchanged, files.length, 'every file unchanged');
    t.equal(j2.bytes?.literal, 0, 'no literal data');
  } catch (e) {
    t.fail(`second --json output: ${(e as Error).message}: ${r.stdout}`);
  }

  r = await runTsync(['--stats', `${src}/`, `${sb}/stats/`]);
  ok(t, r, '--stats');
  for (const re of [/files/i, /literal/i, /matched/i, /sent/i, /received/i, /(time|elapsed)/i]) t.match(r.stdout, re, `--stats mentions ${re}`);
  t.match(r.stdout, new RegExp(`${bytes}`), '--stats shows the total size');

  r = await runTsync(['-q', `${src}/`, `${sb}/quiet/`]);
  ok(t, r, '-q');
  t.equal(r.stdout, '', '-q: nothing on stdout');
  t.equal(r.stderr, '', '-q: nothing on stderr');
  t.ok(fs.existsSync(path.join(sb, 'quiet/sub/deeper/d.txt')), '-q still transfers');

  r = await runTsync([...viaStandin, '-v', remote(`${src}/`), `${sb}/verbose/`]);
  ok(t, r, '-v');
  for (const name of ['a.txt', 'b.bin', 'sub/c.txt', 'sub/deeper/d.txt']) t.match(r.stdout, name, `-v names ${name}`);

  r = await runTsync([`${src}/`, `${sb}/default/`]);
  ok(t, r, 'no output options');
  t.equal(r.stdout, '', 'silent by default on success (like rsync)');
  t.equal(r.stderr, '', 'nothing on stderr');
});

t.test('a file whose mtime changed but content did not is not re-sent', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 'dst');
  await writeTree(src, { 'big.bin': randomBytes(300 * 1024), 'small.txt': 'small\n' });
  for (const [what, args] of [
    ['local', [`${src}/`, `${dst}/`]],
    ['push', [...viaStandin, `${src}/`, remote(`${dst}/`)]],
    ['pull', [...viaStandin, remote(`${src}/`), `${dst}/`]],
  ] as const) {
    await fsp.rm(dst, { recursive: true, force: true });
    let r = await runTsync([...args]);
    ok(t, r, `${what}: first copy`);
    const m = 1_650_000_000 + Math.random() * 1e6;
    const when = Math.floor(m) + 256 / 512;
    await fsp.utimes(path.join(src, 'big.bin'), when, when);
    await fsp.utimes(path.join(src, 'small.txt'), when, when);
    r = await runTsync(['--json', ...args]);
    ok(t, r, `${what}: touched re-run`);
    let j: any = {};
    try {
      j = JSON.parse(r.stdout);
    } catch (e) {
      t.fail(`--json: ${(e as Error).message}: ${r.stdout}`);
    }
    t.equal(j.bytes?.literal, 0, `${what}: bytes.literal == 0`);
    t.equal(j.counts?.metaOnly, 2, `${what}: two files had only metadata fixed`);
    t.equal(j.counts?.updated, 0, `${what}: nothing counted as updated`);
    same(t, await snap(src), await snap(dst), `${what}: mtimes fixed, destination equals source`);
  }
});

t.test('odd names: spaces, newlines, leading dashes, non-ASCII, NFC and NFD', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, '-src');
  const names: Record<string, string | null> = {
    'with space.txt': 'space',
    'new\nline': 'newline',
    'tab\there': 'tab',
    '-leading-dash': 'dash',
    '--rf': 'rf',
    ' leading space': 'ls',
    'trailing space ': 'ts',
    'ünïcödé-日本語-😀.txt': 'unicode',
    [NFC_NAME]: 'nfc',
    [NFD_NAME]: 'nfd',
    'dir with space/-x': 'x',
    '-dash-dir/new\nline dir/f': 'deep',
    "quote's \"double\" $HOME `x` *": 'shell',
  };
  await writeTree(src, names);
  t.equal(fs.readdirSync(src).filter((n) => n === NFC_NAME || n === NFD_NAME).length, 2, 'NFC and NFD are two files in the source');
  const want = await snap(src);
  // the source named relative to the cwd, after `--`, so its leading dash is no option
  let r = await runTsync(['--', '-src/', 'local/'], { cwd: sb });
  ok(t, r, 'local');
  same(t, want, await snap(path.join(sb, 'local')), 'local: every odd name arrives intact');
  r = await runTsync([...viaStandin, `${src}/`, remote(`${sb}/pushed/`)]);
  ok(t, r, 'push');
  same(t, want, await snap(path.join(sb, 'pushed')), 'push: every odd name arrives intact');
  r = await runTsync([...viaStandin, '-i', remote(`${src}/`), `${sb}/pulled/`]);
  ok(t, r, 'pull');
  same(t, want, await snap(path.join(sb, 'pulled')), 'pull: every odd name arrives intact');
  t.equal(fs.readFileSync(path.join(sb, 'pulled', NFC_NAME), 'utf8'), 'nfc', 'NFC name has its own content');
  t.equal(fs.readFileSync(path.join(sb, 'pulled', NFD_NAME), 'utf8'), 'nfd', 'NFD name has its own content');
  t.notMatch(r.stdout.replace(/\n$/, ''), /new\nline/, '-i never prints a raw newline inside a name');
});

t.test('an invalid UTF-8 name is skipped with a warning, exit 23, the rest transferred', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await writeTree(src, { 'good.txt': 'good\n', 'sub/also-good.txt': 'fine\n' });
  const bad = Buffer.concat([Buffer.from(`${src}/sub/bad-`), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('.txt')]);
  fs.writeFileSync(bad, 'latin1 name\n');
  for (const [what, args, dst] of [
    ['local', [`${src}/`, `${sb}/local/`], 'local'],
    ['push', [...viaStandin, `${src}/`, remote(`${sb}/push/`)], 'push'],
    ['pull', [...viaStandin, remote(`${src}/`), `${sb}/pull/`], 'pull'],
  ] as const) {
    const r = await runTsync([...args]);
    partial(t, r, /UTF-8/i);
    t.match(r.stderr, /bad-/, `${what}: the warning names the file`);
    t.equal(read(path.join(sb, dst, 'good.txt')), 'good\n', `${what}: good.txt transferred`);
    t.equal(read(path.join(sb, dst, 'sub/also-good.txt')), 'fine\n', `${what}: sub/also-good.txt transferred`);
    t.same(fs.readdirSync(path.join(sb, dst, 'sub')), ['also-good.txt'], `${what}: nothing else in sub/`);
  }
});

t.test('an unreadable file and directory: exit 23, the rest transferred', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await writeTree(src, { 'readable.txt': 'ok\n', 'secret.txt': 'secret\n', 'locked/inside.txt': 'hidden\n', 'open/fine.txt': 'fine\n' });
  await fsp.chmod(sb, 0o755);
  await fsp.chmod(src, 0o755);
  await fsp.chmod(path.join(src, 'secret.txt'), 0o000);
  await fsp.chmod(path.join(src, 'locked'), 0o000);
  let args: string[];
  if (process.getuid?.() === 0) {
    // root reads mode-000 files anyway: the sending side runs as nobody (the stand-in pulls from it)
    if (!requireOrSkip(t, toolAvailable('setpriv', 'util-linux'))) return;
    let p = path.dirname(sb);
    while (p !== '/') {
      if ((fs.statSync(p).mode & 0o001) === 0) {
        t.comment(`${p} is not searchable by others; cannot run the sender as nobody`);
        if (!requireOrSkip(t, `${p} not searchable by nobody`)) return;
      }
      p = path.dirname(p);
    }
    args = ['-e', STANDIN, '--tsync-path', `env -u NODE_OPTIONS setpriv --reuid=65534 --regid=65534 --clear-groups ${TSYNC_BIN}`, remote(`${src}/`), `${sb}/dst/`];
  } else {
    args = [`${src}/`, `${sb}/dst/`];
  }
  const r = await runTsync(args);
  partial(t, r, /secret\.txt/);
  t.match(r.stderr, /locked/, 'the unreadable directory is reported');
  t.match(r.stderr, /permission denied|EACCES/i, 'with the reason');
  t.equal(read(path.join(sb, 'dst/readable.txt')), 'ok\n', 'readable.txt transferred');
  t.equal(read(path.join(sb, 'dst/open/fine.txt')), 'fine\n', 'open/fine.txt transferred');
  t.notOk(fs.existsSync(path.join(sb, 'dst/secret.txt')), 'no secret.txt (not even empty)');
  t.same(tempsUnder(path.join(sb, 'dst')), [], 'no temporary files left');
  await fsp.chmod(path.join(src, 'locked'), 0o755);
});

// ---------------------------------------------------------------- failures

t.test('missing source: exit 3, one line', async (t) => {
  const sb = t.testdir();
  await writeTree(path.join(sb, 'other'), { 'x.txt': 'x' });
  const before = await outside(sb, 'dst');
  for (const [what, args] of [
    ['local', [`${sb}/nope/`, `${sb}/dst/`]],
    ['push', [...viaStandin, `${sb}/nope/`, remote(`${sb}/dst/`)]],
    ['pull', [...viaStandin, remote(`${sb}/nope/`), `${sb}/dst/`]],
  ] as const) {
    const r = await runTsync([...args]);
    t.test(what, async (t) => fatal(t, r, 3, /nope/));
  }
  same(t, before, await outside(sb, 'dst'), 'nothing written outside the destination', ['before', 'after']);
  t.notOk(fs.existsSync(path.join(sb, 'dst')), 'the destination was not created either');
});

t.test('missing destination parent: exit 3, one line', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await writeTree(src, { 'x.txt': 'x' });
  const before = await outside(sb, 'no');
  for (const [what, args] of [
    ['local', [`${src}/`, `${sb}/no/such/dst/`]],
    ['push', [...viaStandin, `${src}/`, remote(`${sb}/no/such/dst/`)]],
    ['pull', [...viaStandin, remote(`${src}/`), `${sb}/no/such/dst/`]],
  ] as const) {
    const r = await runTsync([...args]);
    t.test(what, async (t) => fatal(t, r, 3, /no\/such/));
  }
  same(t, before, await outside(sb, 'no'), 'nothing written anywhere', ['before', 'after']);
  t.notOk(fs.existsSync(path.join(sb, 'no')), 'no parent directories were made');
});

t.test('unknown option: exit 1, one line', async (t) => {
  const sb = t.testdir();
  await writeTree(path.join(sb, 'src'), { 'x.txt': 'x' });
  const r = await runTsync(['--frobnicate', `${sb}/src/`, `${sb}/dst/`]);
  fatal(t, r, 1, /frobnicate/);
  t.notOk(fs.existsSync(path.join(sb, 'dst')), 'nothing written');
  const r2 = await runTsync(['-Z', `${sb}/src/`, `${sb}/dst/`]);
  t.test('unknown short option', async (t) => fatal(t, r2, 1, /Z/));
});

t.test('errors reaching the peer', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await writeTree(src, { 'x.txt': 'x' });
  const before = await outside(sb, 'dst');
  const version = (await runTsync(['--version'])).stdout;
  const ours = /protocol (\d+-\d+)/.exec(version)?.[1] ?? 'unknown';

  await t.test('a remote without tsync: exit 5, mentions --tsync-path', async (t) => {
    const r = await runTsync(['-e', STANDIN, '--tsync-path', '/nonexistent/tsync', `${src}/`, remote(`${sb}/dst/`)]);
    fatal(t, r, 5, /--tsync-path/);
  });

  await t.test('an rsh that cannot connect: exit 10 with ssh\'s message', async (t) => {
    if (!requireOrSkip(t, toolAvailable('ssh', 'openssh-client'))) return;
    const started = Date.now();
    const r = await runTsync(['-e', 'ssh -p 1 -o BatchMode=yes -o ConnectTimeout=2', '--tsync-path', TSYNC_BIN, `${src}/`, `127.0.0.1:${sb}/dst/`], { timeoutMs: 30_000 });
    fatal(t, r, 10, /connect to host 127\.0\.0\.1 port 1|Connection refused/i);
    t.ok(Date.now() - started < 15_000, 'fails promptly');
  });

  await t.test('a remote shell that prints junk first: exit 5, naming the junk', async (t) => {
    const r = await runTsync(['-e', JUNK, '--tsync-path', TSYNC_BIN, `${src}/`, remote(`${sb}/dst/`)]);
    fatal(t, r, 5, /Welcome!/);
    t.notMatch(r.stderr, /TSYNC|\uFFFD/, "names only the junk, not tsync's own binary greeting");
  });

  await t.test('junk that arrives in the same read as the greeting: exit 5, naming only the junk', async (t) => {
    const r = await runTsync(['-e', JUNK_GLUED, '--tsync-path', TSYNC_BIN, `${src}/`, remote(`${sb}/dst/`)]);
    fatal(t, r, 5, /Welcome!/);
    t.notMatch(r.stderr, /TSYNC|\uFFFD|\\x00/, "names only the junk, not tsync's own binary greeting");
  });

  await t.test('a peer of another protocol version: exit 2, naming both', async (t) => {
    const r = await runTsync(['-e', STANDIN, '--tsync-path', `env TSYNC_TEST_PROTOCOL=5-7 ${TSYNC_BIN}`, `${src}/`, remote(`${sb}/dst/`)]);
    fatal(t, r, 2, /5-7/);
    t.match(r.stderr, ours, `names our protocol range ${ours} too`);
    const r2 = await runTsync(['-e', STANDIN, '--tsync-path', `env TSYNC_TEST_PROTOCOL=5-7 ${TSYNC_BIN}`, remote(`${src}/`), `${sb}/dst/`]);
    t.test('pull too', async (t) => fatal(t, r2, 2, /5-7/));
  });

  await t.test('--timeout 2 against a peer that never answers: exit 30 within ~5 s', async (t) => {
    const started = Date.now();
    const r = await runTsync(['-e', SILENT, '--tsync-path', TSYNC_BIN, '--timeout', '2', `${src}/`, remote(`${sb}/dst/`)], { timeoutMs: 30_000 });
    const took = Date.now() - started;
    fatal(t, r, 30, /timed out|no data/i);
    t.ok(took < 9000, `gave up after ${took} ms (want ~2-5 s; more allowed for a busy machine)`);
    t.ok(took >= 1900, `not before the timeout (${took} ms)`);
  });

  same(t, before, await outside(sb, 'dst'), 'nothing written outside the destination', ['before', 'after']);
  t.notOk(fs.existsSync(path.join(sb, 'dst')), 'nor the destination itself');
});

// ---------------------------------------------------------------- interruption

async function interrupted(t: Test, mode: 'pull' | 'push'): Promise<void> {
  if (!requireOrSkip(t, toolAvailable('perl'))) return;
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 'dst');
  const N = 4;
  const spec: Record<string, Buffer> = {};
  const old: Record<string, Buffer> = {};
  for (let i = 0; i < N; i++) {
    spec[`big${i}.bin`] = randomBytes(3 * 1024 * 1024 + i * 1000);
    old[`big${i}.bin`] = randomBytes(2 * 1024 * 1024 + i * 7);
  }
  spec['sub/big-in-sub.bin'] = randomBytes(2 * 1024 * 1024);
  await writeTree(src, spec, 1_600_000_000);
  await writeTree(dst, old, 1_500_000_000);
  const hash = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const rsh = mode === 'pull' ? SLOW_OUT : SLOW_IN;
  const args = mode === 'pull' ? ['-e', rsh, '--tsync-path', TSYNC_BIN, remote(`${src}/`), `${dst}/`] : ['-e', rsh, '--tsync-path', TSYNC_BIN, `${src}/`, remote(`${dst}/`)];

  const child = spawnTsync(args);
  const done = collect(child);
  // wait until the second file is being written (the first is complete), then SIGKILL the client
  const deadline = Date.now() + 20_000;
  const seen = new Set<string>();
  while (Date.now() < deadline && child.exitCode === null && seen.size < 2) {
    for (const tmp of tempsUnder(dst)) seen.add(tmp);
    await new Promise((r) => setTimeout(r, 15));
  }
  await new Promise((r) => setTimeout(r, 200));
  child.kill('SIGKILL');
  const r = await done;
  const sawTemp = seen.size > 0;
  t.ok(sawTemp, 'a temporary file appeared mid-transfer');
  t.equal(r.signal, 'SIGKILL', `the client was killed mid-transfer (${describe(r)})`);
  await new Promise((r) => setTimeout(r, 300)); // let the orphaned peer notice

  // every file is old or new, never partial under its final name
  let fresh = 0;
  for (const [name, content] of Object.entries(spec)) {
    const p = path.join(dst, name);
    if (!fs.existsSync(p)) {
      t.notOk(old[name], `${name}: not there yet (it is new)`);
      continue;
    }
    const h = sha(p);
    const isNew = h === hash(content);
    const isOld = old[name] !== undefined && h === hash(old[name]);
    t.ok(isNew || isOld, `${name}: ${isNew ? 'new' : isOld ? 'old' : 'PARTIAL'} content under its final name`);
    if (isNew) fresh++;
  }
  t.ok(fresh < Object.keys(spec).length, `the run was really interrupted (${fresh} of ${Object.keys(spec).length} files complete)`);
  t.comment(`temporary names seen while it ran: ${JSON.stringify([...seen])}`);
  const temps = tempsUnder(dst);
  t.comment(`temporary files after the kill: ${JSON.stringify(temps)}`);

  // the next run converges and leaves no temporary file behind
  const r2 = await runTsync([...viaStandin, ...(mode === 'pull' ? [remote(`${src}/`), `${dst}/`] : [`${src}/`, remote(`${dst}/`)])]);
  ok(t, r2, 'the next run');
  t.same(tempsUnder(dst), [], 'no .tsync-tmp-* files remain');
  same(t, await snap(src), await snap(dst), 'converged: destination equals source');
}

t.test('interrupted pull (the receiving client is SIGKILLed), then a clean re-run', (t) => interrupted(t, 'pull'));
t.test('interrupted push (the sending client is SIGKILLed), then a clean re-run', (t) => interrupted(t, 'push'));
