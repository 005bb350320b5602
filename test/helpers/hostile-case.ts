// Running one hostile case against the real binary, and what every case
// owes: the exit code it should have, stderr lines that all start with
// "tsync:" (exactly one for a fatal error), no stack trace, no internal
// error, nothing written outside the destination (a sentinel directory sits
// next to it), and no temporary file left behind.

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Test } from 'tap';
import { runTsync, type RunResult } from './run.js';
import { diffSnapshots, snapshot } from './tree.js';
import type { Entry } from '../../lib/wire/schema.js';
import { PeerClosed, readManifest, serverHandshake, remoteStandIn, type RemoteStandIn, type WirePeer } from './hostile.js';

export interface Sandbox {
  sb: string;
  /** the destination root the real client writes to */
  dst: string;
  /** next to it: must never change */
  sentinel: string;
}

export interface Expect {
  code: number;
  stderr: RegExp;
  /** a fatal error prints exactly one line; default: true unless code is 0 or 23 */
  oneLine?: boolean;
}

export function describe(r: RunResult): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? ' TIMED OUT' : ''}; stdout ${JSON.stringify(r.stdout.slice(0, 400))}; stderr ${JSON.stringify(r.stderr.slice(0, 1200))}`;
}

/** .tsync-tmp-* and .tsync-partial-* names under dir */
export function tempsUnder(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.tsync-tmp') || e.name.startsWith('.tsync-partial')) found.push(path.relative(dir, path.join(d, e.name)));
      else if (e.isDirectory()) walk(path.join(d, e.name));
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return found;
}

/** The outcome every hostile case checks. */
export function outcome(t: Test, r: RunResult, e: Expect): void {
  t.equal(r.code, e.code, `exit ${e.code} (${describe(r)})`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  const oneLine = e.oneLine ?? (e.code !== 0 && e.code !== 23);
  if (oneLine) t.equal(lines.length, 1, `stderr is one line: ${JSON.stringify(r.stderr)}`);
  t.same(lines.filter((l) => !l.startsWith('tsync:')), [], 'every stderr line starts with "tsync:"');
  t.notMatch(r.stderr, /^\s+at /m, 'no stack trace');
  t.notMatch(r.stderr, /internal error/i, 'not an internal error');
  // eslint-disable-next-line no-control-regex
  t.notMatch(r.stderr + r.stdout, /[\x00-\x08\x0b-\x1f\x7f]/, 'no raw control characters printed');
  t.match(r.stderr, e.stderr, `stderr matches ${e.stderr}`);
}

export async function makeSandbox(t: Test): Promise<Sandbox> {
  const sb = t.testdir();
  const dst = path.join(sb, 'dst');
  const sentinel = path.join(sb, 'sentinel');
  await fsp.mkdir(dst);
  await fsp.mkdir(sentinel);
  await fsp.writeFile(path.join(sentinel, 'secret.txt'), 'sentinel: must never change\n');
  await fsp.writeFile(path.join(dst, 'old.txt'), 'old\n');
  for (const p of [path.join(sentinel, 'secret.txt'), sentinel, path.join(dst, 'old.txt')]) await fsp.utimes(p, 1_500_000_000, 1_500_000_000);
  return { sb, dst, sentinel };
}

/** Everything in the sandbox but the destination. */
export function outside(s: Sandbox): ReturnType<typeof snapshot> {
  return snapshot(s.sb, { exclude: (rel) => rel === 'dst' || rel.startsWith('dst/') });
}

export interface SenderCase {
  name: string;
  /** extra client options (-z, --timeout 2, ...) */
  args?: string[];
  /** HELLO caps of the hostile server (decides the -z codec) */
  caps?: string[];
  /** the client's environment, over ours (TSYNC_TEST_* switches) */
  env?: Record<string, string>;
  setup?(s: Sandbox): Promise<void>;
  /** after the handshake: the lie */
  play(p: WirePeer, key: Buffer, s: Sandbox): Promise<unknown>;
  expect: Expect;
  check?(t: Test, s: Sandbox, r: RunResult, p: WirePeer): unknown;
}

/**
 * A hostile sender against the real client pulling (`tsync -e STANDIN
 * host:src/ DST/`): the client is the receiver under attack. With
 * throughLink, DST is named through a symlink to it.
 */
export async function runSenderCase(t: Test, remote: RemoteStandIn, c: SenderCase, o: { throughLink?: boolean } = {}): Promise<void> {
  const s = await makeSandbox(t);
  await c.setup?.(s);
  // the destination named through a relative symlink beside it (`dst-link -> dst`): resolved once, and the link must stay as it is
  if (o.throughLink) await fsp.symlink('dst', path.join(s.sb, 'dst-link'));
  const before = await outside(s);
  const started = Date.now();
  const dest = o.throughLink ? path.join(s.sb, 'dst-link') : s.dst;
  const run = runTsync(['-e', remote.rsh, '--tsync-path', 'tsync', ...(c.args ?? []), 'localhost:src/', `${dest}/`], { timeoutMs: 60_000, env: c.env });
  const p = await remote.accept();
  const played = serverHandshake(p, { caps: c.caps })
    .then(({ key }) => c.play(p, key, s))
    .then(
      () => null,
      (e: unknown) => e,
    );
  const r = await run;
  t.comment(`took ${Date.now() - started} ms`);
  const lie = await Promise.race([played, new Promise((res) => setTimeout(res, 3000, null))]);
  p.destroy();
  if (lie && !(lie instanceof PeerClosed)) t.comment(`the hostile side stopped with: ${(lie as Error).message}`);
  outcome(t, r, c.expect);
  t.same(diffSnapshots(before, await outside(s), { labels: ['before', 'after'] }), [], 'nothing outside the destination changed');
  t.same(tempsUnder(s.dst), [], 'no temporary file left in the destination');
  await c.check?.(t, s, r, p);
}

export { remoteStandIn };

export interface ReceiverCase {
  name: string;
  args?: string[];
  /**
   * After the handshake, with the sender's manifest read (entries by index):
   * the lie. Whatever it returns is ignored; the other side's end is awaited.
   */
  play(p: WirePeer, list: Entry[], s: Sandbox): Promise<unknown> | unknown;
  expect: Expect;
  check?(t: Test, s: Sandbox, r: RunResult, p: WirePeer): unknown;
}

/** The source the real sender pushes: two files, a directory, and a symlink to the sentinel's secret. */
export async function makeSource(s: Sandbox): Promise<string> {
  const src = path.join(s.sb, 'src');
  await fsp.mkdir(path.join(src, 'sub'), { recursive: true });
  await fsp.writeFile(path.join(src, 'a.txt'), 'alpha\n');
  await fsp.writeFile(path.join(src, 'sub/b.bin'), Buffer.alloc(40 * 1024, 0x62));
  await fsp.symlink(path.join(s.sentinel, 'secret.txt'), path.join(src, 'leak'));
  return src;
}

/**
 * A hostile receiver against the real client pushing (`tsync -e STANDIN
 * SRC/ host:dst/`): the client is the sender under attack. Besides the
 * usual outcome: nothing the sender sent contains the sentinel's secret.
 */
export async function runReceiverCase(t: Test, remote: RemoteStandIn, c: ReceiverCase): Promise<void> {
  const s = await makeSandbox(t);
  const src = await makeSource(s);
  const before = await outside(s);
  const run = runTsync(['-e', remote.rsh, '--tsync-path', 'tsync', ...(c.args ?? []), `${src}/`, 'localhost:dst/'], { timeoutMs: 60_000 });
  const p = await remote.accept();
  const played = serverHandshake(p)
    .then(() => readManifest(p))
    .then(({ entries }) => c.play(p, entries, s))
    .then(() => p.drain())
    .then(
      () => null,
      (e: unknown) => e,
    );
  const r = await run;
  const lie = await Promise.race([played, new Promise((res) => setTimeout(res, 3000, null))]);
  p.destroy();
  if (lie && !(lie instanceof PeerClosed)) t.comment(`the hostile side stopped with: ${(lie as Error).message}`);
  outcome(t, r, c.expect);
  t.same(diffSnapshots(before, await outside(s), { labels: ['before', 'after'] }), [], 'nothing outside the destination changed');
  const secret = fs.readFileSync(path.join(s.sentinel, 'secret.txt'));
  t.equal(Buffer.concat(p.bytesIn).indexOf(secret), -1, "the sentinel's content never crossed the wire");
  await c.check?.(t, s, r, p);
}
