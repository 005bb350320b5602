// Delta transfer and -z, end to end through the real bin/tsync: locally and
// through a stdio stand-in for ssh (a script that drops the host argument and
// runs the rest with `sh -c`). The `--json` summary's byte counters are the
// evidence that the rolling-checksum path (bytes.matched) and compression
// (bytes.sent + bytes.received) were really used; sha256 and snapshots prove
// the result.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { TSYNC_BIN, collect, runTsync, spawnTsync, type RunResult } from '../helpers/run.js';
import { diffSnapshots, mulberry32, snapshot, type Entry } from '../helpers/tree.js';

const MiB = 1024 * 1024;
const KiB = 1024;
const T1 = 1_600_000_000;
const T2 = 1_650_000_000;

interface Summary {
  ok: boolean;
  exitCode: number;
  counts: Record<string, number>;
  bytes: { total: number; literal: number; matched: number; sent: number; received: number };
}

type Mode = 'local' | 'push' | 'pull';
const MODES: readonly Mode[] = ['local', 'push', 'pull'];

function describe(r: RunResult): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? ' TIMED OUT' : ''}; stdout ${JSON.stringify(r.stdout.slice(0, 600))}; stderr ${JSON.stringify(r.stderr.slice(0, 1500))}`;
}

/** The stand-in rsh: drops the host, runs the remote command with sh -c. */
const TOOLS = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-delta-tools-'));
t.teardown(() => fs.rmSync(TOOLS, { recursive: true, force: true }));
const STANDIN = path.join(TOOLS, 'standin-rsh');
fs.writeFileSync(STANDIN, '#!/bin/sh\nshift\nexec sh -c "$*"\n', { mode: 0o755 });
/** the same, but our bytes reach the peer half a second late, all in one read (HELLO, START and what follows) */
const LATE_IN = path.join(TOOLS, 'late-in-rsh');
fs.writeFileSync(LATE_IN, '#!/bin/sh\nshift\n{ sleep 0.5; exec cat; } | sh -c "$*"\n', { mode: 0o755 });

/** tsync [flags] SRC DEST in the given mode; SRC and DEST are local paths. Asserts exit 0. */
async function tsync(t: Test, mode: Mode, flags: string[], src: string, dest: string, what: string): Promise<RunResult> {
  const rsh = mode === 'local' ? [] : ['-e', STANDIN, '--tsync-path', TSYNC_BIN];
  const [s, d] = mode === 'pull' ? [`localhost:${src}`, dest] : mode === 'push' ? [src, `localhost:${dest}`] : [src, dest];
  const r = await runTsync([...flags, ...rsh, s, d]);
  t.equal(r.code, 0, `${what} (${mode}): exit 0${r.code === 0 ? '' : ` (${describe(r)})`}`);
  return r;
}

function summary(t: Test, r: RunResult): Summary {
  try {
    return JSON.parse(r.stdout) as Summary;
  } catch {
    t.fail(`--json printed no JSON: ${describe(r)}`);
    return { ok: false, exitCode: -1, counts: {}, bytes: { total: NaN, literal: NaN, matched: NaN, sent: NaN, received: NaN } };
  }
}

const sha = (p: string) => createHash('sha256').update(fs.readFileSync(p)).digest('hex');
const mtimeS = (p: string) => Math.floor(fs.statSync(p).mtimeMs / 1000);
const snap = (dir: string): Promise<Map<string, Entry>> => snapshot(dir, { includeRoot: false });

function same(t: Test, a: Map<string, Entry>, b: Map<string, Entry>, what: string): void {
  const d = diffSnapshots(a, b, { labels: ['src', 'dst'] });
  t.same(d.slice(0, 30), [], `${what}${d.length > 30 ? ` (${d.length} differences, first 30 shown)` : ''}`);
}

async function writeFileAt(p: string, data: Buffer | string, mtime: number): Promise<void> {
  await fsp.mkdir(path.dirname(p), { recursive: true });
  await fsp.writeFile(p, data);
  await fsp.utimes(p, mtime, mtime);
}

/** 5 scattered in-place edits (a few bytes each) and a 1-byte insert near the start. */
function edit(buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  for (const frac of [0.1, 0.3, 0.5, 0.7, 0.95]) {
    const at = Math.floor(out.length * frac);
    for (let i = 0; i < 7; i++) out[at + i] = out[at + i]! ^ 0xa5;
  }
  const ins = 1000;
  return Buffer.concat([out.subarray(0, ins), Buffer.from([0x42]), out.subarray(ins)]);
}

/** src/big.bin (4 MiB of random bytes, mtime T1), copied to dst by a first run in this mode */
async function copiedOnce(t: Test, mode: Mode): Promise<{ src: string; dst: string; f: string; orig: Buffer }> {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 'dst');
  const f = 'big.bin';
  const orig = randomBytes(4 * MiB);
  await writeFileAt(path.join(src, f), orig, T1);
  await tsync(t, mode, [], `${src}/`, `${dst}/`, 'first run');
  return { src, dst, f, orig };
}

// ---------------------------------------------------------------- (a) delta transfer of an edited file

t.test('delta: a 4 MiB file with scattered edits and a 1-byte insert sends mostly matched blocks', async (t) => {
  for (const mode of MODES) {
    await t.test(mode, async (t) => {
      const { src, dst, f, orig } = await copiedOnce(t, mode);
      t.equal(sha(path.join(dst, f)), sha(path.join(src, f)), 'first run: identical');

      await writeFileAt(path.join(src, f), edit(orig), T2);
      const r = await tsync(t, mode, ['--json'], `${src}/`, `${dst}/`, 'second run');
      const s = summary(t, r);
      t.ok(s.bytes.matched > 3 * MiB, `bytes.matched > 3 MiB (${s.bytes.matched})`);
      t.ok(s.bytes.literal < 256 * KiB, `bytes.literal < 256 KiB (${s.bytes.literal})`);
      t.ok(s.bytes.sent + s.bytes.received < 1 * MiB, `less than 1 MiB crossed the wire (sent ${s.bytes.sent}, received ${s.bytes.received})`);
      t.equal(sha(path.join(dst, f)), sha(path.join(src, f)), 'second run: byte-identical (sha256)');
      t.equal(mtimeS(path.join(dst, f)), T2, 'mtime copied');
    });
  }
});

// ---------------------------------------------------------------- (b) touched, unchanged

t.test('delta: a touched but unchanged 4 MiB file sends no data, only fixes the mtime', async (t) => {
  for (const mode of MODES) {
    await t.test(mode, async (t) => {
      const { src, dst, f } = await copiedOnce(t, mode);
      await fsp.utimes(path.join(src, f), T2, T2);
      const r = await tsync(t, mode, ['--json'], `${src}/`, `${dst}/`, 'touched run');
      const s = summary(t, r);
      t.equal(s.bytes.literal, 0, 'bytes.literal == 0');
      t.equal(s.bytes.matched, 0, 'bytes.matched == 0');
      t.ok(s.bytes.sent + s.bytes.received < 64 * KiB, `almost nothing crossed the wire (sent ${s.bytes.sent}, received ${s.bytes.received})`);
      t.equal(mtimeS(path.join(dst, f)), T2, 'mtime fixed');
      t.equal(sha(path.join(dst, f)), sha(path.join(src, f)), 'content unchanged');
    });
  }
});

// ---------------------------------------------------------------- (c) -z

const WORDS = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua'.split(' ');

async function textTree(root: string, seed: number): Promise<number> {
  const rnd = mulberry32(seed);
  let total = 0;
  for (let i = 0; i < 50; i++) {
    const words: string[] = [];
    let len = 0;
    const target = 30_000 + Math.floor(rnd() * 20_000);
    while (len < target) {
      const w = WORDS[Math.floor(rnd() * WORDS.length)]!;
      words.push(w);
      len += w.length + 1;
    }
    const text = words.join(' ') + '\n';
    total += text.length;
    await writeFileAt(path.join(root, `d${i % 5}`, `f${i}.txt`), text, T1 + i);
  }
  return total;
}

t.test('-z: push and pull of compressible text are identical and cross the wire in less than half the bytes', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  const total = await textTree(src, 4242);
  t.comment(`source: 50 files, ${total} bytes`);
  const want = await snap(src);
  for (const mode of ['push', 'pull'] as const) {
    await t.test(mode, async (t) => {
      const wire = (s: Summary) => s.bytes.sent + s.bytes.received;
      const plain = summary(t, await tsync(t, mode, ['--json'], `${src}/`, path.join(sb, `${mode}-plain/`), 'without -z'));
      same(t, want, await snap(path.join(sb, `${mode}-plain`)), 'without -z: identical');
      const z = summary(t, await tsync(t, mode, ['-z', '--json'], `${src}/`, path.join(sb, `${mode}-z/`), 'with -z'));
      if (z.exitCode === 0) same(t, want, await snap(path.join(sb, `${mode}-z`)), '-z: identical');
      t.ok(wire(z) < wire(plain) / 2, `-z: ${wire(z)} bytes on the wire < half of ${wire(plain)} without -z`);
      t.equal(z.bytes.total, plain.bytes.total, 'same bytes.total');
      const z1 = summary(t, await tsync(t, mode, ['-z', '--compress-level', '1', '--json'], `${src}/`, path.join(sb, `${mode}-z1/`), '-z --compress-level 1'));
      if (z1.exitCode === 0) same(t, want, await snap(path.join(sb, `${mode}-z1`)), '-z --compress-level 1: identical');
      t.ok(wire(z1) < wire(plain) / 2, `-z --compress-level 1: ${wire(z1)} bytes on the wire < half of ${wire(plain)}`);
    });
  }
});

// Regression: the server armed its switch to inflating ("everything after
// START is compressed") only after its handshake promise resolved. When the
// client's HELLO, START and first compressed bytes arrived in one read, the
// frame loop dispatched START before that, and the compressed bytes were
// parsed as plain frames ("remote: frame of N bytes exceeds the maximum").
t.test('-z: the client\'s HELLO, START and compressed bytes in one read (server switched to inflate too late)', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await textTree(src, 7);
  const want = await snap(src);
  for (const mode of ['push', 'pull'] as const) {
    const dst = path.join(sb, `${mode}-dst`);
    const [s, d] = mode === 'pull' ? [`localhost:${src}/`, `${dst}/`] : [`${src}/`, `localhost:${dst}/`];
    const r = await runTsync(['-z', '-e', LATE_IN, '--tsync-path', TSYNC_BIN, s, d]);
    t.equal(r.code, 0, `${mode}: exit 0${r.code === 0 ? '' : ` (${describe(r)})`}`);
    if (r.code === 0) same(t, want, await snap(dst), `${mode}: identical`);
  }
});

t.test('-z with delta: an edited big file through the stand-in', async (t) => {
  for (const mode of ['push', 'pull'] as const) {
    await t.test(mode, async (t) => {
      const sb = t.testdir();
      const src = path.join(sb, 'src');
      const dst = path.join(sb, 'dst');
      const orig = randomBytes(2 * MiB);
      await writeFileAt(path.join(src, 'big.bin'), orig, T1);
      await tsync(t, mode, ['-z'], `${src}/`, `${dst}/`, 'first run');
      await writeFileAt(path.join(src, 'big.bin'), edit(orig), T2);
      const s = summary(t, await tsync(t, mode, ['-z', '--json'], `${src}/`, `${dst}/`, 'second run'));
      t.ok(s.bytes.matched > 1.5 * MiB, `bytes.matched > 1.5 MiB (${s.bytes.matched})`);
      t.equal(sha(path.join(dst, 'big.bin')), sha(path.join(src, 'big.bin')), 'byte-identical');
    });
  }
});

// ---------------------------------------------------------------- (d) the basis shrank

t.test('delta: a file that shrank on the receiver between runs still ends identical', async (t) => {
  for (const mode of MODES) {
    await t.test(mode, async (t) => {
      const { src, dst, f, orig } = await copiedOnce(t, mode);

      // the receiver's copy loses its tail (odd size, not a block multiple); the source is unchanged
      await fsp.truncate(path.join(dst, f), 1 * MiB + 12_345);
      await fsp.utimes(path.join(dst, f), T1, T1);
      let s = summary(t, await tsync(t, mode, ['--json'], `${src}/`, `${dst}/`, 'truncated basis, source unchanged'));
      t.equal(sha(path.join(dst, f)), sha(path.join(src, f)), 'truncated basis: identical');
      t.ok(s.bytes.matched > 0, `the truncated basis was used (matched ${s.bytes.matched})`);

      // the receiver's copy shrinks to almost nothing while the source is edited
      await fsp.truncate(path.join(dst, f), 20_001);
      await writeFileAt(path.join(src, f), edit(orig), T2);
      s = summary(t, await tsync(t, mode, ['--json'], `${src}/`, `${dst}/`, 'tiny basis, source edited'));
      t.equal(sha(path.join(dst, f)), sha(path.join(src, f)), 'tiny basis: identical');
      t.equal(mtimeS(path.join(dst, f)), T2, 'mtime copied');

      // a basis below the delta threshold (16 KiB) and an empty one
      for (const size of [100, 0]) {
        await fsp.truncate(path.join(dst, f), size);
        await fsp.utimes(path.join(dst, f), T1, T1);
        await tsync(t, mode, [], `${src}/`, `${dst}/`, `basis of ${size} bytes`);
        t.equal(sha(path.join(dst, f)), sha(path.join(src, f)), `basis of ${size} bytes: identical`);
      }
    });
  }
});

// --partial: a pipe cut in the middle of a big file keeps what arrived aside,
// and the next run sends only the rest (rsync's --partial, used as the basis).
const CUT_RELAY = path.join(TOOLS, 'cut-relay.mjs');
fs.writeFileSync(
  CUT_RELAY,
  `#!${process.execPath}
// stand-in rsh: runs the command; cuts the link after CUT_DOWN bytes from the server or CUT_UP bytes to it
import { spawn } from 'node:child_process';
const child = spawn('/bin/sh', ['-c', process.argv.slice(3).join(' ')], { stdio: ['pipe', 'pipe', 'inherit'] });
let down = Number(process.env.CUT_DOWN || Infinity);
let up = Number(process.env.CUT_UP || Infinity);
const cut = () => { child.stdin.destroy(); child.stdout.destroy(); process.stdout.end(() => process.exit(255)); };
process.stdin.on('data', (b) => {
  if (b.length >= up) { child.stdin.write(b.subarray(0, up), () => setTimeout(cut, 300)); up = 0; process.stdin.pause(); return; }
  up -= b.length; child.stdin.write(b);
});
child.stdin.on('error', () => {});
child.stdout.on('data', (b) => {
  if (b.length >= down) { process.stdout.write(b.subarray(0, down)); cut(); return; }
  down -= b.length; process.stdout.write(b);
});
child.on('exit', () => process.exit(255));
`,
  { mode: 0o755 },
);

/** src/big.bin, 16 MiB of random bytes, and where dst will be */
function bigSource(t: Test): { src: string; dst: string; data: Buffer } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-partial-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  const data = randomBytes(16 * MiB);
  fs.writeFileSync(path.join(src, 'big.bin'), data);
  return { src, dst: path.join(dir, 'dst'), data };
}

for (const mode of ['pull', 'push'] as const) {
  t.test(`--partial: a pipe cut at 75% of a 16 MiB file costs about 25% next time (${mode})`, async (t) => {
    const { src, dst, data } = bigSource(t);
    const [s, d] = mode === 'pull' ? [`h:${src}/`, `${dst}/`] : [`${src}/`, `h:${dst}/`];
    // cut the direction that carries the data
    const env = mode === 'pull' ? { CUT_DOWN: String(12 * MiB) } : { CUT_UP: String(12 * MiB) };
    const cut = await runTsync(['--partial', '-e', CUT_RELAY, '--tsync-path', TSYNC_BIN, s, d], { env });
    t.not(cut.code, 0, `the cut run fails (${describe(cut)})`);
    t.notMatch(cut.stderr, /^\s+at /m, 'no stack trace');
    t.notOk(fs.existsSync(path.join(dst, 'big.bin')), 'nothing half-written under the final name');
    // the server side may still be finishing its exit
    for (let i = 0; i < 50 && !fs.existsSync(path.join(dst, '.tsync-partial-big.bin')); i++) await new Promise((r) => setTimeout(r, 100));
    t.same(fs.readdirSync(dst).filter((n) => n.startsWith('.tsync-tmp-')), [], 'no temporary left');
    const kept = fs.statSync(path.join(dst, '.tsync-partial-big.bin')).size;
    t.ok(kept > 8 * MiB && kept < 16 * MiB, `the partial file keeps what arrived (${kept} bytes)`);
    const again = await runTsync(['--partial', '--json', '-e', STANDIN, '--tsync-path', TSYNC_BIN, s, d]);
    t.equal(again.code, 0, `the next run succeeds (${describe(again)})`);
    const sum = summary(t, again);
    t.ok(sum.bytes.matched >= kept - 64 * KiB, `matched ${sum.bytes.matched} of ${kept} kept bytes`);
    t.ok(sum.bytes.literal <= 16 * MiB - kept + 64 * KiB, `only the rest is sent (${sum.bytes.literal} literal bytes)`);
    t.same(fs.readdirSync(dst), ['big.bin'], 'the partial file is gone once the file is complete');
    t.ok(createHash('sha256').update(fs.readFileSync(path.join(dst, 'big.bin'))).digest().equals(createHash('sha256').update(data).digest()), 'identical after the second run');
  });
}

// --partial after a SIGKILL: the killed receiver could not move its temporary
// aside; the next run adopts it as the partial file and sends only the rest.
const THROTTLE = `perl -e '$|=1; while (sysread(STDIN, $b, 65536)) { syswrite(STDOUT, $b); select(undef, undef, undef, 0.01) }'`;
const SLOW_OUT = path.join(TOOLS, 'slow-out-rsh');
fs.writeFileSync(SLOW_OUT, `#!/bin/sh\nshift\nsh -c "$*" | ${THROTTLE}\n`, { mode: 0o755 });

t.test('--partial: the temporary of a receiver killed by SIGKILL is adopted next time', async (t) => {
  const { src, dst, data } = bigSource(t);
  const child = spawnTsync(['--partial', '-e', SLOW_OUT, '--tsync-path', TSYNC_BIN, `h:${src}/`, `${dst}/`]);
  const done = collect(child);
  const temp = () => (fs.existsSync(dst) ? fs.readdirSync(dst).find((n) => n.startsWith('.tsync-tmp-big.bin-')) : undefined);
  for (let i = 0; i < 400; i++) {
    const name = temp();
    if (name && fs.statSync(path.join(dst, name)).size >= 4 * MiB) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill('SIGKILL');
  await done;
  const left = temp();
  t.ok(left, 'the killed receiver left its temporary');
  const kept = fs.statSync(path.join(dst, left!)).size;
  t.notOk(fs.existsSync(path.join(dst, 'big.bin')), 'nothing under the final name');
  const again = await runTsync(['--partial', '--json', '-e', STANDIN, '--tsync-path', TSYNC_BIN, `h:${src}/`, `${dst}/`]);
  t.equal(again.code, 0, describe(again));
  const sum = summary(t, again);
  t.ok(sum.bytes.matched >= kept - 64 * KiB, `matched ${sum.bytes.matched} of the ${kept} bytes the killed run wrote`);
  t.ok(sum.bytes.literal <= 16 * MiB - kept + 64 * KiB, `only the rest is sent (${sum.bytes.literal} literal bytes)`);
  t.same(fs.readdirSync(dst), ['big.bin'], 'no temporary and no partial file left');
  t.ok(createHash('sha256').update(fs.readFileSync(path.join(dst, 'big.bin'))).digest().equals(createHash('sha256').update(data).digest()), 'identical');
});

// ---------------------------------------------------------------- multi-round deltas

/** the repository's own workload generator and byte-counting stand-in for ssh */
const BENCH = path.resolve(TSYNC_BIN, '../../bench');
const COUNT_RSH = path.join(BENCH, 'count-rsh.mjs');
/** a peer without multi-round deltas: the same tsync, told to leave the capability out of its HELLO */
const NO_ROUNDS_PEER = path.join(TOOLS, 'tsync-no-rounds');
fs.writeFileSync(NO_ROUNDS_PEER, `#!/bin/sh\nTSYNC_TEST_NO_CAPS=delta:rounds exec ${TSYNC_BIN} "$@"\n`, { mode: 0o755 });

t.test('multi-round delta: 64 MiB with 100 scattered edits sends a fraction of one round\'s bytes and of rsync\'s', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-rounds-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const oldF = path.join(dir, 'old.bin');
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(src);
  const { spawnSync } = await import('node:child_process');
  const mk = spawnSync(process.execPath, [path.join(BENCH, 'data.mjs'), 'pair', oldF, path.join(src, 'big.bin'), '64', '100', '42']);
  t.equal(mk.status, 0, `bench/data.mjs made the files (${mk.stderr})`);
  fs.utimesSync(path.join(src, 'big.bin'), T2, T2);
  const want = sha(path.join(src, 'big.bin'));
  const countFile = path.join(dir, 'count');
  const prepare = () => {
    fs.rmSync(dst, { recursive: true, force: true });
    fs.mkdirSync(dst);
    fs.copyFileSync(oldF, path.join(dst, 'big.bin'));
    fs.utimesSync(path.join(dst, 'big.bin'), T1, T1);
    fs.rmSync(countFile, { force: true });
  };
  const wire = () => fs.readFileSync(countFile, 'utf8').trim().split(/\s+/).map(Number).reduce((a, b) => a + b, 0);
  /** one tsync run over the counting pipe: its literal bytes and what crossed the pipe */
  const run = async (mode: 'push' | 'pull', peer: string, env: Record<string, string>, what: string) => {
    prepare();
    const [s, d] = mode === 'pull' ? [`h:${src}/`, `${dst}/`] : [`${src}/`, `h:${dst}/`];
    const r = await runTsync(['--json', '-e', COUNT_RSH, '--tsync-path', peer, s, d], { env: { COUNT_FILE: countFile, ...env } });
    t.equal(r.code, 0, `${what} (${mode}): exit 0${r.code === 0 ? '' : ` (${describe(r)})`}`);
    t.equal(sha(path.join(dst, 'big.bin')), want, `${what} (${mode}): identical`);
    t.equal(mtimeS(path.join(dst, 'big.bin')), T2, `${what} (${mode}): mtime copied`);
    t.same(fs.readdirSync(dst), ['big.bin'], `${what} (${mode}): no temporary left`);
    return { literal: summary(t, r).bytes.literal, wire: wire() };
  };
  for (const mode of ['push', 'pull'] as const) {
    const rounds = await run(mode, TSYNC_BIN, {}, 'rounds');
    const single = await run(mode, TSYNC_BIN, { TSYNC_TEST_NO_CAPS: 'delta:rounds' }, 'both peers without rounds');
    const mixed = await run(mode, NO_ROUNDS_PEER, {}, 'a remote peer without rounds');
    t.comment(`${mode}: rounds ${rounds.wire} wire / ${rounds.literal} literal bytes; one round ${single.wire} / ${single.literal}; mixed peers ${mixed.wire}`);
    // measured: 97,463 vs 900,530 wire bytes (0.108), 25,424 vs 800,000+ literal
    t.ok(rounds.wire < 0.2 * single.wire, `${mode}: rounds put < 0.2x one round's bytes on the wire (${rounds.wire} vs ${single.wire})`);
    t.ok(rounds.literal < 0.1 * single.literal, `${mode}: < 0.1x the literal bytes (${rounds.literal} vs ${single.literal})`);
    t.ok(Math.abs(mixed.wire - single.wire) < 0.05 * single.wire, `${mode}: a peer without the capability gets one round (${mixed.wire} vs ${single.wire})`);
  }
  const { toolAvailable, requireOrSkip } = await import('../helpers/sshd.js');
  if (!requireOrSkip(t, toolAvailable('rsync'))) return;
  prepare();
  const rs = spawnSync('rsync', ['-a', '-e', COUNT_RSH, `${src}/`, `h:${dst}/`], { env: { ...process.env, COUNT_FILE: countFile } });
  t.equal(rs.status, 0, `rsync ran (${rs.stderr})`);
  t.equal(sha(path.join(dst, 'big.bin')), want, 'rsync: identical');
  const rsyncWire = wire();
  const ours = await run('push', TSYNC_BIN, {}, 'rounds, against rsync');
  t.comment(`rsync ${rsyncWire} wire bytes; tsync ${ours.wire} (x${(ours.wire / rsyncWire).toFixed(3)})`);
  // measured: 97,463 vs 908,410 (0.107)
  t.ok(ours.wire < 0.2 * rsyncWire, `tsync puts < 0.2x rsync's bytes on the same pipe (${ours.wire} vs ${rsyncWire})`);
});
