// Offline bundles end to end through the real binary: manifest -> bundle ->
// apply on seeded random trees, with `rsync -a` as the oracle; over a pipe
// (`bundle -o - | apply -`); gzipped; keyed.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { TSYNC_BIN, runTsync, type RunResult } from '../helpers/run.js';
import { toolAvailable } from '../helpers/sshd.js';
import { diffSnapshots, makeRandomTree, mutateTree, snapshot, tempsUnder, type Entry } from '../helpers/tree.js';

const execFileP = promisify(execFile);
const haveRsync = toolAvailable('rsync') === null;
const TREE = { files: 45, dirs: 10, bigFiles: 1, bigMaxBytes: 300 * 1024 } as const;
const ROOT_MTIME_1 = 1_500_000_000.25;
const ROOT_MTIME_2 = 1_650_000_000.5;

const rsync = (args: string[]) => execFileP('rsync', args, { maxBuffer: 16 << 20 });
const snap = (dir: string): Promise<Map<string, Entry>> => snapshot(dir, { includeRoot: true });
const describe = (r: RunResult) => `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\n--- stderr ---\n${r.stderr.slice(0, 2000)}`;

function same(t: Test, ref: Map<string, Entry>, out: Map<string, Entry>, what: string): void {
  const d = diffSnapshots(ref, out, { labels: ['rsync', 'tsync'] });
  t.same(d.slice(0, 40), [], `${what}: the applied tree equals rsync's${d.length > 40 ? ` (${d.length} differences)` : ''}`);
}


/** `bash -c` with pipefail: the exit code of the first stage that failed */
async function sh(cmd: string): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await execFileP('bash', ['-o', 'pipefail', '-c', cmd], { maxBuffer: 64 << 20 });
    return { code: 0, stderr };
  } catch (e) {
    const err = e as { code: number; stderr: string };
    return { code: err.code, stderr: err.stderr };
  }
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const T = `${q(process.execPath)} ${q(TSYNC_BIN)}`;

type Way = 'file' | 'pipe' | 'gzip' | 'keyed';
const WAYS: Way[] = ['file', 'pipe', 'gzip', 'keyed'];
// 503 and 506: without --delete, a directory that became a file stays (rsync and apply both exit 23)
const SEEDS = [301, 302, 503, 304, 305, 506, 307, 308];

for (const [i, seed] of SEEDS.entries()) {
  const way = WAYS[i % WAYS.length];
  const del = i % 3 !== 2;
  t.test(`seed ${seed} (${way}${del ? ', --delete' : ''}): manifest -> bundle -> apply equals rsync`, { skip: haveRsync ? false : 'rsync missing' }, async (t) => {
    const dir = t.testdir();
    const src = path.join(dir, 'src');
    const dst = path.join(dir, 'dst');
    const ref = path.join(dir, 'ref');
    await makeRandomTree(src, seed, TREE);
    await fsp.utimes(src, ROOT_MTIME_1, ROOT_MTIME_1);
    // the receiver holds an older copy; the sender moved on
    await rsync(['-a', `${src}/`, `${dst}/`]);
    await rsync(['-a', `${src}/`, `${ref}/`]);
    const log = await mutateTree(src, seed + 1000, { ops: 16 });
    await fsp.utimes(src, ROOT_MTIME_2, ROOT_MTIME_2);
    t.comment(`mutations: ${JSON.stringify(log.join('; '))}`);
    // without --delete rsync cannot put a file where a non-empty directory stands (exit 23), and neither can apply
    const partial = await rsync(['-a', ...(del ? ['--delete'] : []), `${src}/`, `${ref}/`]).then(
      () => false,
      (e: { code?: number }) => {
        if (del || e.code !== 23) throw e;
        return true;
      },
    );
    const want = partial ? 23 : 0;

    const key = path.join(dir, 'key');
    const keyArgs = way === 'keyed' ? ['--key', key] : [];
    if (way === 'keyed') t.equal((await runTsync(['keygen', key])).code, 0, 'keygen');
    const manifest = path.join(dir, 'manifest');
    const m = await runTsync(['manifest', `${dst}/`, '-o', manifest, ...keyArgs]);
    t.equal(m.code, 0, `manifest: ${describe(m)}`);
    const flags = [...(del ? ['--delete'] : []), ...keyArgs];
    if (way === 'pipe') {
      const r = await sh(`${T} bundle ${flags.map(q).join(' ')} ${q(`${src}/`)} --against ${q(manifest)} -o - | ${T} apply - ${q(`${dst}/`)}`);
      t.equal(r.code, want, `bundle -o - | apply -: ${r.stderr}`);
    } else {
      const out = path.join(dir, way === 'gzip' ? 'b.tar.gz' : 'b.tar');
      const b = await runTsync(['bundle', ...flags, ...(way === 'gzip' ? ['-z'] : []), `${src}/`, '--against', manifest, '-o', out]);
      t.equal(b.code, 0, `bundle: ${describe(b)}`);
      const listed = await execFileP('tar', [way === 'gzip' ? 'tzf' : 'tf', out]);
      t.match(listed.stdout, /^tsync-bundle\/header\.json$/m, 'tar lists the bundle');
      const dry = await runTsync(['apply', '-n', '-i', ...keyArgs, out, `${dst}/`]);
      t.equal(dry.code, 0, `apply -n: ${describe(dry)}`);
      const before = await snap(dst);
      t.same(diffSnapshots(before, await snap(dst), { mtimePrecision: 'ns' }), [], '-n changes nothing');
      const a = await runTsync(['apply', '-i', ...keyArgs, out, `${dst}/`]);
      t.equal(a.code, want, `apply: ${describe(a)}`);
      t.equal(a.stdout, dry.stdout, 'apply -i itemizes what apply -n -i said it would');
      t.not(a.stdout, '', 'some changes itemized');
      // applied already: a second apply finds everything done
      const again = await runTsync(['apply', '-i', ...keyArgs, out, `${dst}/`]);
      t.equal(again.code, want, `a second apply of the same bundle: ${describe(again)}`);
    }
    same(t, await snap(ref), await snap(dst), 'after apply');
    t.same(tempsUnder(dst), [], 'no temporary files left');
  });
}

t.test('first bundle into an empty directory, SRC without a trailing slash', { skip: haveRsync ? false : 'rsync missing' }, async (t) => {
  const dir = t.testdir();
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  const ref = path.join(dir, 'ref');
  await makeRandomTree(src, 77, TREE);
  await fsp.utimes(src, ROOT_MTIME_1, ROOT_MTIME_1); // rsync leaves a root time close to now alone (test/integration/oracle.test.ts)
  fs.mkdirSync(dst);
  fs.mkdirSync(ref);
  await rsync(['-a', src, `${ref}/`]);
  const manifest = path.join(dir, 'm');
  t.equal((await runTsync(['manifest', dst, '-o', manifest])).code, 0, 'manifest of an empty directory');
  const r = await sh(`${T} bundle ${q(src)} --against ${q(manifest)} -z -o - | ${T} apply - ${q(dst)}`);
  t.equal(r.code, 0, `bundle -z -o - | apply -: ${r.stderr}`);
  same(t, await snap(path.join(ref, 'src')), await snap(path.join(dst, 'src')), 'src/ inside dst');
});

t.test('a directory replaced by a link and a file by a directory: with --delete all of it; without, a non-empty directory stays (exit 23)', async (t) => {
  const dir = t.testdir();
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'x'), { recursive: true });
  fs.writeFileSync(path.join(src, 'x', 'inner'), 'xx\n');
  fs.symlinkSync('x', path.join(src, 'y'));
  fs.utimesSync(src, ROOT_MTIME_1, ROOT_MTIME_1);
  for (const del of [true, false]) {
    const dst = path.join(dir, `dst-${del}`);
    fs.mkdirSync(path.join(dst, 'y'), { recursive: true });
    fs.writeFileSync(path.join(dst, 'x'), 'xx\n');
    fs.writeFileSync(path.join(dst, 'y', 'z'), 'zz\n');
    const m = path.join(dir, `m-${del}`);
    const b = path.join(dir, `b-${del}`);
    t.equal((await runTsync(['manifest', dst, '-o', m])).code, 0);
    t.equal((await runTsync(['bundle', ...(del ? ['--delete'] : []), `${src}/`, '--against', m, '-o', b])).code, 0);
    const r = await runTsync(['apply', b, dst]);
    if (del) {
      t.equal(r.code, 0, describe(r));
      t.same(diffSnapshots(await snap(src), await snap(dst)), [], 'equals SRC');
    } else {
      t.equal(r.code, 23, describe(r));
      t.match(r.stderr, /y: a directory with files in it stands where the bundle puts a link; only a bundle made with --delete replaces it/);
      t.equal(fs.readFileSync(path.join(dst, 'y', 'z'), 'utf8'), 'zz\n', 'the directory and its file stay');
      t.equal(fs.readFileSync(path.join(dst, 'x', 'inner'), 'utf8'), 'xx\n', 'the rest is applied');
    }
    t.same(tempsUnder(dst), [], 'no temporaries left');
  }
});
