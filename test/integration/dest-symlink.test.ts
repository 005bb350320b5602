// A destination that is a symbolic link to a directory (issue 18), as
// rsync treats it: the destination path the user named is resolved once,
// at the start (`~/backup -> /mnt/disk/backup`), with or without a trailing
// slash and for relative links too; the link itself stays; nothing below
// the destination is ever followed. rsync on identical copies is the
// oracle, locally, pushing and pulling through the stdio stand-in. A
// `--root` server resolves such a destination only when its target stays
// inside the root.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { TSYNC_BIN, runTsync } from '../helpers/run.js';
import { requireOrSkip, toolAvailable } from '../helpers/sshd.js';
import { MODES, describe, runMode, standins, writeTree } from '../helpers/standin.js';
import { diffSnapshots, snapshot } from '../helpers/tree.js';
import { outcome } from '../helpers/hostile-case.js';

const execFileP = promisify(execFile);
const haveRsync = toolAvailable('rsync') === null;
const skip = haveRsync ? false : 'rsync missing';
const OLD = 1_500_000_000;

const SRC = { 'a.txt': 'alpha\n', sub: null, 'sub/b.txt': 'beta\n', 'sub/deeper': null, 'sub/deeper/c.txt': 'gamma\n' };

const tsync = runMode;

/** the lines of an output, sorted */
function sorted(out: string): string[] {
  return out.split('\n').filter((l) => l !== '').sort();
}

/** DIR/NAME -> TARGET (a relative or absolute link) to a directory made with an old mtime */
async function linkedDir(dir: string, name: string, target: string): Promise<string> {
  const real = path.resolve(dir, target);
  await writeTree(real, {}, OLD);
  fs.symlinkSync(target, path.join(dir, name));
  return path.join(dir, name);
}

/** the directory's own entry is compared too unless the source did not name it (a single file: both tools just changed it now) */
async function sameTree(t: Test, ref: string, out: string, what: string, root = true): Promise<void> {
  const d = diffSnapshots(await snapshot(ref, { includeRoot: root }), await snapshot(out, { includeRoot: root }), { labels: ['rsync', 'tsync'] });
  t.same(d, [], `${what}: the link's directory holds what rsync's does`);
}

t.test('rsync is available as the oracle', async (t) => {
  if (!requireOrSkip(t, toolAvailable('rsync'))) return;
  t.pass('rsync found');
});

for (const [kind, target] of [
  ['relative', 'real'],
  ['absolute', null],
  ['relative, through ..', '../elsewhere/real'],
] as const) {
  for (const slash of ['/', ''] as const) {
    t.test(`DEST${slash} is ${kind === 'absolute' ? 'an' : 'a'} ${kind} symlink to a directory: followed, once, as rsync does`, { skip }, async (t) => {
      const dir = t.testdir();
      const { standin } = standins(t);
      const src = path.join(dir, 'src');
      await writeTree(src, SRC, OLD);
      const work = path.join(dir, 'work');
      fs.mkdirSync(work);
      const refLink = await linkedDir(work, 'ref-link', target ? target.replace('real', 'ref-real') : path.join(work, 'ref-real'));
      const want = (await execFileP('rsync', ['-ai', `${src}/`, `${refLink}${slash}`])).stdout;
      for (const mode of MODES) {
        const link = await linkedDir(work, `${mode}-link`, target ? target.replace('real', `${mode}-real`) : path.join(work, `${mode}-real`));
        const before = fs.readlinkSync(link);
        const r = await tsync(mode, standin, ['-i'], [`${src}/`], `${link}${slash}`);
        t.equal(r.code, 0, `${mode}: ${describe(r)}`);
        t.same(sorted(r.stdout), sorted(want), `${mode}: the same lines as rsync (their order is not compared: see the README)`);
        t.ok(fs.lstatSync(link).isSymbolicLink(), `${mode}: the destination is still the link`);
        t.equal(fs.readlinkSync(link), before, `${mode}: pointing where it did`);
        await sameTree(t, fs.realpathSync(refLink), fs.realpathSync(link), mode);
        const again = await tsync(mode, standin, ['-i'], [`${src}/`], `${link}${slash}`);
        t.equal(again.code, 0, describe(again));
        t.equal(again.stdout, '', `${mode}: a re-run through the link changes nothing`);
      }
    });
  }
}

t.test('a single file to a destination that is a symlink to a directory lands inside it', { skip }, async (t) => {
  const dir = t.testdir();
  const { standin } = standins(t);
  await writeTree(path.join(dir, 'src'), SRC, OLD);
  const file = path.join(dir, 'src', 'a.txt');
  const refLink = await linkedDir(dir, 'ref-link', 'ref-real');
  await execFileP('rsync', ['-a', file, refLink]);
  for (const mode of MODES) {
    const link = await linkedDir(dir, `${mode}-link`, `${mode}-real`);
    const r = await tsync(mode, standin, [], [file], link);
    t.equal(r.code, 0, `${mode}: ${describe(r)}`);
    t.ok(fs.lstatSync(link).isSymbolicLink(), `${mode}: the link stays`);
    await sameTree(t, path.join(dir, 'ref-real'), path.join(dir, `${mode}-real`), mode, false);
  }
});

t.test('nothing below the destination is followed: a link inside it where a directory comes is replaced, as rsync does', { skip }, async (t) => {
  const dir = t.testdir();
  const { standin } = standins(t);
  await writeTree(path.join(dir, 'src'), SRC, OLD);
  const sentinel = path.join(dir, 'sentinel');
  await writeTree(sentinel, { 'secret.txt': 'secret\n' }, OLD);
  const sentinelBefore = await snapshot(sentinel, { includeRoot: true });
  const refLink = await linkedDir(dir, 'ref-link', 'ref-real');
  fs.symlinkSync('../sentinel', path.join(dir, 'ref-real', 'sub'));
  await execFileP('rsync', ['-a', `${dir}/src/`, `${refLink}/`]);
  for (const mode of MODES) {
    const link = await linkedDir(dir, `${mode}-link`, `${mode}-real`);
    fs.symlinkSync('../sentinel', path.join(dir, `${mode}-real`, 'sub'));
    const r = await tsync(mode, standin, [], [`${dir}/src/`], `${link}/`);
    t.equal(r.code, 0, `${mode}: ${describe(r)}`);
    t.ok(fs.lstatSync(path.join(dir, `${mode}-real`, 'sub')).isDirectory(), `${mode}: the link below the destination was replaced by a directory`);
    await sameTree(t, path.join(dir, 'ref-real'), path.join(dir, `${mode}-real`), mode);
  }
  t.same(diffSnapshots(sentinelBefore, await snapshot(sentinel, { includeRoot: true })), [], 'the directory the links pointed at is untouched');
});

t.test('a destination that is a dangling symlink: one clear line, nothing made where it points', async (t) => {
  const dir = t.testdir();
  await writeTree(path.join(dir, 'src'), SRC, OLD);
  fs.symlinkSync('nowhere', path.join(dir, 'dangling'));
  for (const slash of ['/', '']) {
    const r = await runTsync([`${dir}/src/`, `${dir}/dangling${slash}`]);
    outcome(t, r, { code: 3, stderr: /dangling.* is a symbolic link to nothing/ });
    t.notOk(fs.existsSync(path.join(dir, 'nowhere')), 'its target was not created');
    t.ok(fs.lstatSync(path.join(dir, 'dangling')).isSymbolicLink(), 'the link is left as it was');
  }
});

t.test('a --root server follows a destination link only when it stays inside the root', async (t) => {
  const sb = t.testdir();
  const share = path.join(sb, 'share');
  const outside = path.join(sb, 'outside');
  await writeTree(path.join(share, 'inside'), {}, OLD);
  await writeTree(outside, { 'secret.txt': 'outside the share\n' }, OLD);
  fs.symlinkSync('inside', path.join(share, 'in-rel'));
  fs.symlinkSync(path.join(share, 'inside'), path.join(share, 'in-abs'));
  fs.symlinkSync('../outside', path.join(share, 'out-rel'));
  fs.symlinkSync(outside, path.join(share, 'out-abs'));
  await writeTree(path.join(sb, 'src'), SRC, OLD);
  const forced = path.join(sb, 'forced');
  fs.writeFileSync(forced, `#!/bin/sh\nexec '${TSYNC_BIN}' --server --root '${share}'\n`, { mode: 0o755 });
  const outsideBefore = await snapshot(outside, { includeRoot: true });
  for (const to of ['in-rel/', 'in-rel', 'in-abs/', '/in-abs']) {
    fs.rmSync(path.join(share, 'inside'), { recursive: true });
    fs.mkdirSync(path.join(share, 'inside'));
    const r = await runTsync(['-e', forced, `${sb}/src/`, `host:${to}`]);
    t.equal(r.code, 0, `push to host:${to}: ${describe(r)}`);
    t.equal(fs.readFileSync(path.join(share, 'inside/sub/b.txt'), 'utf8'), 'beta\n', `host:${to} landed in the link's directory`);
    t.ok(fs.lstatSync(path.join(share, to.replace(/^\/|\/$/g, ''))).isSymbolicLink(), 'the link stays a link');
  }
  for (const to of ['out-rel/', 'out-rel', 'out-abs/', '/out-abs']) {
    const r = await runTsync(['-e', forced, `${sb}/src/`, `host:${to}`]);
    outcome(t, r, { code: 4, stderr: /is refused: it leads outside/ });
  }
  // a client plants a link to outside with one push, then names it as the destination of the next
  fs.symlinkSync(outside, path.join(sb, 'src', 'planted'));
  let r = await runTsync(['-e', forced, `${sb}/src/`, 'host:inside/']);
  t.equal(r.code, 0, describe(r));
  t.ok(fs.lstatSync(path.join(share, 'inside/planted')).isSymbolicLink(), 'the planted link was copied as a link');
  for (const to of ['inside/planted', 'inside/planted/', 'in-rel/planted/']) {
    r = await runTsync(['-e', forced, `${sb}/src/`, `host:${to}`]);
    outcome(t, r, { code: 4, stderr: /is refused: it leads outside/ });
  }
  t.same(diffSnapshots(outsideBefore, await snapshot(outside, { includeRoot: true })), [], 'nothing outside the share changed');
  await fsp.rm(path.join(sb, 'src', 'planted'));
});
