// What -i and -v print, against rsync on identical copies (issue 18): the
// same lines as rsync, in a dry run and in a real one, and -v naming a file
// whose only change was its time. Local, push and pull (through the stdio
// stand-in). The lines come in rsync's order in both runs: a file that
// arrives after the entries listed behind it were decided still comes first
// (the receiver holds their lines, lib/oneway/item-order.ts), so the big
// files below are what would reorder them if that broke. Where tsync
// differs on purpose (a touched file whose content is equal is
// `.f..t......`, not rsync's `>f..t......`: nothing is sent), the test pins
// tsync's line so the difference stays a decision.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import type { RunResult } from '../helpers/run.js';
import { requireOrSkip, toolAvailable } from '../helpers/sshd.js';
import { MODES, describe, runMode, standins, writeTree, type Mode } from '../helpers/standin.js';

const execFileP = promisify(execFile);
const haveRsync = toolAvailable('rsync') === null;
const skip = haveRsync ? false : 'rsync missing';
const OLD = 1_500_000_000;

/** names that sort files and directories among each other, and files big enough to arrive after the small ones are decided */
const TREE: Record<string, string | Buffer | null> = {
  'a-dir': null,
  'a-dir/inner.txt': 'inner\n',
  'a-dir/z-sub': null,
  'a-dir/z-sub/deep.bin': Buffer.alloc(300_000, 7),
  'b-file.txt': 'b\n',
  'c-big.bin': Buffer.alloc(2_000_000, 3),
  'd-dir': null,
  'e-file.txt': 'e\n',
  'e-file2.bin': Buffer.alloc(100_000, 9),
};

function tsync(mode: Mode, rsh: string, flags: string[], src: string, dest: string): Promise<RunResult> {
  return runMode(mode, rsh, flags, [src], dest);
}

async function rsync(args: string[]): Promise<string> {
  return (await execFileP('rsync', args)).stdout;
}

/** the lines of an output, in order */
function lines(out: string): string[] {
  return out.split('\n').filter((l) => l !== '');
}

/** rsync -v's names: the lines between its "sending incremental file list" and the blank line before its totals */
function vNames(out: string): string {
  const lines = out.split('\n');
  const end = lines.indexOf('');
  return lines.slice(1, end).map((l) => `${l}\n`).join('');
}

t.test('rsync is available as the oracle', async (t) => {
  if (!requireOrSkip(t, toolAvailable('rsync'))) return;
  t.pass('rsync found');
});

t.test('-i: rsync\'s lines, in a dry run and in a real one', { skip }, async (t) => {
  const dir = t.testdir();
  const { standin } = standins(t);
  const src = path.join(dir, 'src');
  await writeTree(src, TREE, OLD);
  fs.mkdirSync(path.join(dir, 'ref'));
  const want = await rsync(['-ai', `${src}/`, `${dir}/ref/`]);
  for (const mode of MODES) {
    const out = path.join(dir, `out-${mode}`);
    fs.mkdirSync(out);
    const dry = await tsync(mode, standin, ['-n', '-i'], `${src}/`, `${out}/`);
    t.equal(dry.code, 0, describe(dry));
    t.same(lines(dry.stdout), lines(want), `${mode}: a dry run prints rsync's lines, in rsync's order`);
    const real = await tsync(mode, standin, ['-i'], `${src}/`, `${out}/`);
    t.equal(real.code, 0, describe(real));
    t.same(lines(real.stdout), lines(want), `${mode}: the real run prints the same lines, in the same order`);
  }
});

t.test('-v: the names rsync -v prints, for a copy and for time-only and mode-only changes', { skip }, async (t) => {
  const dir = t.testdir();
  const { standin } = standins(t);
  const src = path.join(dir, 'src');
  await writeTree(src, TREE, OLD);
  fs.symlinkSync('b-file.txt', path.join(src, 'link'));
  fs.lutimesSync(path.join(src, 'link'), OLD, OLD);
  fs.utimesSync(src, OLD, OLD);
  fs.mkdirSync(path.join(dir, 'ref'));
  const first = vNames(await rsync(['-av', `${src}/`, `${dir}/ref/`]));
  const outs = MODES.map((m) => path.join(dir, `out-${m}`));
  for (const [i, mode] of MODES.entries()) {
    fs.mkdirSync(outs[i]);
    const r = await tsync(mode, standin, ['-v'], `${src}/`, `${outs[i]}/`);
    t.equal(r.code, 0, describe(r));
    t.same(lines(r.stdout), lines(first), `${mode}: a first copy names what rsync -v names, in its order`);
  }
  // only times and modes change: a touched file (content equal), a file with another mode, a directory's time, a link's time
  fs.utimesSync(path.join(src, 'b-file.txt'), OLD + 100, OLD + 100);
  fs.chmodSync(path.join(src, 'e-file.txt'), 0o600);
  fs.utimesSync(path.join(src, 'd-dir'), OLD + 100, OLD + 100);
  fs.lutimesSync(path.join(src, 'link'), OLD + 100, OLD + 100);
  fs.utimesSync(src, OLD, OLD);
  const second = vNames(await rsync(['-av', `${src}/`, `${dir}/ref/`]));
  t.equal(second, 'b-file.txt\nd-dir/\n', 'the oracle names the touched file and the directory, not the mode-only file or the link');
  for (const [i, mode] of MODES.entries()) {
    const r = await tsync(mode, standin, ['-v'], `${src}/`, `${outs[i]}/`);
    t.equal(r.code, 0, describe(r));
    t.same(lines(r.stdout), lines(second), `${mode}: -v names the same after time-only and mode-only changes`);
  }
});

t.test('-i on a touched file whose content is equal: the same path, tsync\'s `.f..t` (nothing sent) for rsync\'s `>f..t`', { skip }, async (t) => {
  const dir = t.testdir();
  const { standin } = standins(t);
  const src = path.join(dir, 'src');
  await writeTree(src, { 'same.txt': 'same\n' }, OLD);
  await rsync(['-a', `${src}/`, `${dir}/ref/`]);
  fs.utimesSync(path.join(src, 'same.txt'), OLD + 100, OLD + 100);
  fs.utimesSync(src, OLD, OLD);
  t.equal(await rsync(['-ai', `${src}/`, `${dir}/ref/`]), '>f..t...... same.txt\n', 'rsync re-sends it (all of it matched)');
  for (const mode of MODES) {
    const out = path.join(dir, `out-${mode}`);
    await writeTree(out, { 'same.txt': 'same\n' }, OLD);
    const r = await tsync(mode, standin, ['-i'], `${src}/`, `${out}/`);
    t.equal(r.code, 0, describe(r));
    t.equal(r.stdout, '.f..t...... same.txt\n', `${mode}: tsync fixes the time only, and says so`);
  }
});

t.test('-i and -v on one file copied under another name: the source\'s name, as rsync prints it', { skip }, async (t) => {
  const dir = t.testdir();
  const { standin } = standins(t);
  const src = path.join(dir, 'src');
  await writeTree(src, { 'one.txt': 'one\n' }, OLD);
  fs.mkdirSync(path.join(dir, 'ref'));
  t.equal(await rsync(['-ai', `${src}/one.txt`, `${dir}/ref/two.txt`]), '>f+++++++++ one.txt\n', 'the oracle names the source');
  fs.appendFileSync(path.join(src, 'one.txt'), 'more\n');
  t.equal(await rsync(['-ai', `${src}/one.txt`, `${dir}/ref/two.txt`]), '>f.st...... one.txt\n', 'and names it again on an update');
  fs.writeFileSync(path.join(src, 'one.txt'), 'one\n');
  fs.utimesSync(path.join(src, 'one.txt'), OLD, OLD);
  for (const mode of MODES) {
    const out = path.join(dir, `out-${mode}`);
    fs.mkdirSync(out);
    const first = await tsync(mode, standin, ['-i'], `${src}/one.txt`, `${out}/two.txt`);
    t.equal(first.code, 0, describe(first));
    t.equal(first.stdout, '>f+++++++++ one.txt\n', `${mode}: -i names the source`);
    t.equal(fs.readFileSync(path.join(out, 'two.txt'), 'utf8'), 'one\n', `${mode}: written under the destination's name`);
    fs.appendFileSync(path.join(src, 'one.txt'), 'more\n');
    const again = await tsync(mode, standin, ['-v'], `${src}/one.txt`, `${out}/two.txt`);
    t.equal(again.code, 0, describe(again));
    t.equal(again.stdout, 'one.txt\n', `${mode}: -v names the source too`);
    t.notOk(fs.existsSync(path.join(out, 'one.txt')), `${mode}: nothing is written under the source's name`);
    fs.writeFileSync(path.join(src, 'one.txt'), 'one\n');
    fs.utimesSync(path.join(src, 'one.txt'), OLD, OLD);
  }
});
