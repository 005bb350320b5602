// --progress as a person sees it: bin/tsync in a real terminal (tmux), the
// screen read while it runs and after. Pushing (the receiving server sends
// PROGRESS messages), pulling (the client's own receiver), locally (a local
// server, like a push); and nothing at all when stdout is not a terminal.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { TSYNC_BIN, runTsync } from '../helpers/run.js';
import { requireOrSkip, toolAvailable } from '../helpers/sshd.js';
import { describe, remote, standins, until, via, writeTree } from '../helpers/standin.js';
import { startTmux, type Terminal } from '../helpers/tmux.js';
import { snapshot, diffSnapshots } from '../helpers/tree.js';

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const tsync = (args: string[]) => [process.execPath, TSYNC_BIN, ...args].map(q).join(' ');

/** the whole-run line: "12/51 files  1.50 MiB/5.72 MiB  26%  2.99 MiB/s  ETA 0:01" */
const RUN_LINE = /^\d[\d,]*\/\d[\d,]*\+? files {2}\S+ \S*B\/\S+ \S*B\+? {2}\d+% {2}\S+ \S*B\/s {2}ETA ((\d+:)?\d+:\d\d|--:--)$/m;
/** a file's bar: "big.bin [#####.....]   52%  3.00 MiB/6.00 MiB" */
const FILE_BAR = /^big\.bin \[#*\.*\] +\d+% {2}\S+ \S*B\/\S+ \S*B$/m;

async function bigTree(dir: string): Promise<void> {
  const spec: Record<string, Buffer | string> = { 'big.bin': randomBytes(6 * 1024 * 1024) };
  for (let i = 0; i < 40; i++) spec[`small/f${i}.txt`] = `file ${i}\n`;
  await writeTree(dir, spec);
}

/** Watch a terminal until its command ends; every distinct screen seen on the way. */
async function watch(term: Terminal): Promise<string[]> {
  const screens: string[] = [];
  await until(() => {
    const s = term.screen();
    if (screens[screens.length - 1] !== s) screens.push(s);
    return term.exit() !== null;
  }, 60_000, 50);
  return screens;
}

async function same(t: Test, a: string, b: string): Promise<void> {
  const d = diffSnapshots(await snapshot(a, { includeRoot: true }), await snapshot(b, { includeRoot: true }), { labels: ['src', 'dst'] });
  t.same(d.slice(0, 20), [], 'the destination equals the source');
}

t.test('--progress in a terminal', async (t) => {
  if (!requireOrSkip(t, toolAvailable('tmux'))) return;
  if (!requireOrSkip(t, toolAvailable('perl'))) return;
  const sb = t.testdir();
  const { slowIn, slowOut } = standins(t);
  const tmux = startTmux(t, sb);
  const src = path.join(sb, 'src');
  await bigTree(src);

  await t.test('push through a slow pipe: the run line, then the file bar, then a clean screen', async (t) => {
    const term = tmux.run('push', tsync(['--progress', ...via(slowIn), `${src}/`, remote(`${sb}/push/`)]));
    const screens = await watch(term);
    t.equal(term.exit(), 0, `exit 0; last screen:\n${term.screen()}`);
    t.ok(screens.some((s) => RUN_LINE.test(s)), `the run line was on screen (${screens.length} screens seen)`);
    t.ok(screens.some((s) => FILE_BAR.test(s) && RUN_LINE.test(s)), 'the 6 MB file (about 2 s at 3 MB/s) got its bar above the run line');
    const percents = screens.map((s) => /(\d+)% {2}\S+ \S*B\/s/.exec(s)?.[1]).filter((x): x is string => x !== undefined).map(Number);
    t.ok(percents.length >= 2 && percents[percents.length - 1] > percents[0], `the percentage went up: ${percents.join(' ')}`);
    t.equal(term.screen(), 'EXIT=0', 'at the end the progress lines are gone');
    await same(t, src, path.join(sb, 'push'));
  });

  await t.test('pull with -i: item lines stay whole, the progress steps aside', async (t) => {
    const term = tmux.run('pull', tsync(['--progress', '-i', ...via(slowOut), remote(`${src}/`), `${sb}/pull/`]), { rows: 60 });
    const screens = await watch(term);
    t.equal(term.exit(), 0, `exit 0; last screen:\n${term.screen()}`);
    t.ok(screens.some((s) => RUN_LINE.test(s)), 'the run line was on screen');
    t.ok(screens.some((s) => FILE_BAR.test(s)), 'and the file bar');
    const lines = term.screen().split('\n');
    t.equal(lines[lines.length - 1], 'EXIT=0', 'the last line is the shell, not progress');
    const items = lines.slice(0, -1);
    t.equal(items.length, 43, 'one line per change: the root, small/, big.bin and 40 small files');
    t.same(items.filter((l) => !/^(cd|>f)\+{9} \S+$/.test(l)), [], 'every line is an intact -i line');
    await same(t, src, path.join(sb, 'pull'));
  });

  await t.test('local: drawn while it runs, erased at the end', async (t) => {
    const many = path.join(sb, 'many');
    const spec: Record<string, string> = {};
    for (let i = 0; i < 3000; i++) spec[`d${i % 30}/f${i}`] = `${i}\n`;
    await writeTree(many, spec);
    const term = tmux.run('local', tsync(['--progress', `${many}/`, `${sb}/local/`]));
    await watch(term);
    t.equal(term.exit(), 0, `exit 0; last screen:\n${term.screen()}`);
    // everything the terminal received, with the redraws
    const frames = term.log().split('\r\x1b[2K').filter((f) => RUN_LINE.test(f.replace(/\x1b\[1A/g, '')));
    t.ok(frames.length >= 1, `the run line was drawn (${frames.length} frames)`);
    t.match(frames[frames.length - 1] ?? '', /^\d[\d,]*\/3,000 files/, 'the totals reach 3,000 files');
    t.equal(term.screen(), 'EXIT=0', 'nothing left on screen');
    await same(t, many, path.join(sb, 'local'));
  });

  await t.test('an ordinary run in a terminal shows no progress', async (t) => {
    const term = tmux.run('plain', tsync([...via(slowIn), `${src}/`, remote(`${sb}/plain/`)]));
    await watch(term);
    t.equal(term.exit(), 0);
    t.notMatch(term.log(), /files {2}\S+ \S*B|\x1b\[2K/, 'no progress line, no terminal escapes');
  });
});

t.test('--progress with stdout not a terminal: only the usual output', async (t) => {
  const sb = t.testdir();
  const { standin } = standins(t);
  const src = path.join(sb, 'src');
  await bigTree(src);
  const r = await runTsync(['--progress', ...via(standin), `${src}/`, remote(`${sb}/a/`)]);
  t.equal(r.code, 0, describe(r));
  t.equal(r.stdout, '', 'nothing on stdout');
  t.equal(r.stderr, '', 'nothing on stderr');
  fs.rmSync(path.join(sb, 'a', 'big.bin'));
  const s = await runTsync(['--progress', '--stats', `${src}/`, `${sb}/a/`]);
  t.equal(s.code, 0, describe(s));
  t.match(s.stdout, /^\nNumber of entries: 43 \(reg: 41\)\n/, 'the --stats summary');
  t.notMatch(s.stdout, /\x1b|\r|ETA/, 'and no progress in it');
});
