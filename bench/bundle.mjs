#!/usr/bin/env node
// Offline bundle size: tsync bundle against the receiver's manifest vs
// rsync --only-write-batch, for the small-v2 change set of bench/data.mjs
// (20,000 files; every mtime touched, 2% edited, 1% deleted, 1% added;
// --delete). Both plain and compressed (tsync -z, rsync -z). The applied
// result is checked against the source with rsync -ani (no differences).
// rsync's batch needs a copy of the receiver's tree on the sender's side;
// tsync's needs only the manifest, whose size is reported too.
//
// usage: node bench/bundle.mjs [--runs N] [--data DIR] [--json FILE]

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { DATA, JSON_OUT, RUNS, TSYNC, ensureData, median, rm, sh } from './common.mjs';

ensureData('small');
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-bench-bundle-'));
const small = path.join(DATA, 'small');
const v2 = `${path.join(DATA, 'small-v2')}/`;
const dst = path.join(WORK, 'dst');
const size = (f) => fs.statSync(f).size;
const node = process.execPath;

const rows = [];
const time = { manifest: [], bundle: [], bundleZ: [], apply: [], rsyncBatch: [], rsyncBatchZ: [] };
try {
  for (let run = 0; run < RUNS; run++) {
    rm(dst);
    sh('cp', ['-a', small, dst]);
    const m = path.join(WORK, 'manifest');
    const b = path.join(WORK, 'b.tar');
    const bz = path.join(WORK, 'b.tar.gz');
    time.manifest.push(sh(node, [TSYNC, 'manifest', dst, '-o', m]));
    time.bundle.push(sh(node, [TSYNC, 'bundle', '--delete', v2, '--against', m, '-o', b]));
    time.bundleZ.push(sh(node, [TSYNC, 'bundle', '-z', '--delete', v2, '--against', m, '-o', bz]));
    const batch = path.join(WORK, 'rsync.batch');
    const batchZ = path.join(WORK, 'rsync-z.batch');
    time.rsyncBatch.push(sh('rsync', ['-a', '--delete', `--only-write-batch=${batch}`, v2, `${dst}/`]));
    time.rsyncBatchZ.push(sh('rsync', ['-az', '--delete', `--only-write-batch=${batchZ}`, v2, `${dst}/`]));
    time.apply.push(sh(node, [TSYNC, 'apply', b, `${dst}/`]));
    const diff = spawnSync('rsync', ['-ani', '--delete', v2, `${dst}/`], { encoding: 'utf8' });
    const lines = diff.stdout.split('\n').filter((l) => l && !/^\.d\.\.t/.test(l));
    if (diff.status !== 0 || lines.length) throw new Error(`applied tree differs from small-v2:\n${lines.slice(0, 10).join('\n')}`);
    if (run === 0) {
      rows.push(
        { what: 'tsync manifest (receiver -> sender)', bytes: size(m) },
        { what: 'tsync bundle', bytes: size(b) },
        { what: 'tsync bundle -z', bytes: size(bz) },
        { what: 'rsync --only-write-batch', bytes: size(batch) },
        { what: 'rsync -z --only-write-batch', bytes: size(batchZ) },
      );
    }
    for (const f of [m, b, bz, batch, batchZ, `${batch}.sh`, `${batchZ}.sh`]) rm(f);
  }
} finally {
  rm(WORK);
}

const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
console.log(`small-v2 change set, ${RUNS} run(s); sizes from the first, times are medians`);
for (const r of rows) console.log(`${r.what.padEnd(40)} ${mb(r.bytes).padStart(10)}`);
const ratio = rows[1].bytes / rows[3].bytes;
const ratioZ = rows[2].bytes / rows[4].bytes;
console.log(`bundle / rsync batch: ${ratio.toFixed(3)} plain, ${ratioZ.toFixed(3)} compressed`);
for (const [k, v] of Object.entries(time)) console.log(`${k.padEnd(12)} ${median(v).toFixed(0).padStart(7)} ms`);
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ rows, ratio, ratioZ, ms: Object.fromEntries(Object.entries(time).map(([k, v]) => [k, median(v)])) }, null, 2));
