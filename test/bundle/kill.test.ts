// kill -9 in the middle of an apply: every file is old or new, nothing but
// tsync's temporaries (which the next apply reuses or sweeps) is left, and a
// second apply of the same bundle completes.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { runTsync, spawnTsync, collect } from '../helpers/run.js';
import { diffSnapshots, snapshot, tempsUnder, type Entry } from '../helpers/tree.js';

const MB = 1 << 20;


const sameThing = (a: Entry | undefined, b: Entry | undefined): boolean =>
  a === b || (!!a && !!b && a.type === b.type && a.sha256 === b.sha256 && a.target === b.target);

for (const when of ['the first temporary appears', 'a big temporary is half written'] as const) {
  t.test(`kill -9 when ${when}: old or new, then a second apply completes`, async (t) => {
    const dir = t.testdir();
    const dst = path.join(dir, 'dst');
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(dst, 'd'), { recursive: true });
    fs.writeFileSync(path.join(dst, 'big.bin'), randomBytes(32 * MB));
    fs.writeFileSync(path.join(dst, 'a.txt'), 'a, old\n');
    fs.writeFileSync(path.join(dst, 'b.txt'), 'b, old\n');
    fs.writeFileSync(path.join(dst, 'd', 'gone.txt'), 'deleted by the bundle\n');
    fs.writeFileSync(path.join(dst, 'd', 'keep.bin'), randomBytes(3 * MB));
    fs.cpSync(dst, src, { recursive: true, preserveTimestamps: true });
    fs.writeFileSync(path.join(src, 'big.bin'), randomBytes(192 * MB)); // new content: travels whole
    fs.writeFileSync(path.join(src, 'a.txt'), 'a, new\n');
    fs.renameSync(path.join(src, 'b.txt'), path.join(src, 'd', 'b-moved.txt'));
    fs.rmSync(path.join(src, 'd', 'gone.txt'));
    fs.renameSync(path.join(src, 'd', 'keep.bin'), path.join(src, 'keep-moved.bin'));
    fs.writeFileSync(path.join(src, 'd', 'new.bin'), randomBytes(8 * MB));
    fs.utimesSync(src, 1_500_000_000, 1_500_000_000);

    const m = path.join(dir, 'manifest');
    const b = path.join(dir, 'b.tar');
    t.equal((await runTsync(['manifest', dst, '-o', m])).code, 0, 'manifest');
    t.equal((await runTsync(['bundle', '--delete', `${src}/`, '--against', m, '-o', b])).code, 0, 'bundle');
    const oldSnap = await snapshot(dst);
    const newSnap = await snapshot(src);

    const child = spawnTsync(['apply', b, dst]);
    const result = collect(child);
    // watch for the moment, then kill; if the apply wins the race the checks below still hold
    for (;;) {
      const temps = tempsUnder(dst);
      const big = temps.map((x) => fs.statSync(path.join(dst, x), { throwIfNoEntry: false })?.size ?? 0).some((s) => s > 64 * MB);
      if (when === 'the first temporary appears' ? temps.length > 0 : big) {
        child.kill('SIGKILL');
        break;
      }
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    const r = await result;
    t.comment(r.signal === 'SIGKILL' ? `killed; left: ${tempsUnder(dst).join(', ') || 'no temporaries'}` : `the apply finished first (exit ${r.code})`);

    // .tsync/lock: the killed run's lock, which the next run finds stale and takes over
    const now = await snapshot(dst, { exclude: (p) => path.basename(p).startsWith('.tsync-tmp-') || p === '.tsync' });
    for (const p of new Set([...oldSnap.keys(), ...newSnap.keys(), ...now.keys()])) {
      const e = now.get(p);
      t.ok(sameThing(e, oldSnap.get(p)) || sameThing(e, newSnap.get(p)) || (e?.type === 'dir' && !oldSnap.has(p)), `${p}: old or new`);
    }
    for (const tmp of tempsUnder(dst)) t.match(path.basename(tmp), /^\.tsync-tmp-/, `${tmp}: only tsync's temporaries are left`);

    const again = await runTsync(['apply', b, dst]);
    t.equal(again.code, 0, `the second apply completes: ${again.stderr}`);
    t.same(diffSnapshots(await snapshot(src, { includeRoot: true }), await snapshot(dst, { includeRoot: true }), { labels: ['src', 'dst'] }), [], 'the tree equals the sender');
    t.same(tempsUnder(dst), [], 'no temporaries left');
    const h = createHash('sha256').update(fs.readFileSync(path.join(dst, 'big.bin'))).digest('hex');
    t.equal(h, newSnap.get('big.bin')!.sha256, 'big.bin is the new one');
  });
}
