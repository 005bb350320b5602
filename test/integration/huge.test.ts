// Sizes and offsets are 64-bit: a (sparse) file larger than 4 GiB, edited
// beyond the 4 GiB mark, is sent as a delta against the receiver's old copy;
// its size and copy operations reach past 2^32. Through the stand-in pipe, so every size
// crosses the wire encoding; each side holds only buffers, never the file.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { TSYNC_BIN, runTsync } from '../helpers/run.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const SIZE = 4 * GiB + 3 * MiB + 17;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-huge-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const STANDIN = path.join(dir, 'standin-rsh');
fs.writeFileSync(STANDIN, '#!/bin/sh\nshift\nexec sh -c "$*"\n', { mode: 0o755 });

function hashOf(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(8 * MiB);
  try {
    for (let off = 0; ; ) {
      const n = fs.readSync(fd, buf, 0, buf.length, off);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      off += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** random data at a few places, holes elsewhere */
function poke(file: string, offsets: number[]): void {
  const fd = fs.openSync(file, fs.existsSync(file) ? 'r+' : 'w');
  for (const off of offsets) fs.writeSync(fd, randomBytes(MiB), 0, MiB, off);
  fs.ftruncateSync(fd, SIZE);
  fs.closeSync(fd);
}

t.test('a file over 4 GiB: a delta beyond the 4 GiB mark', async (t) => {
  const free = fs.statfsSync(dir);
  if (free.bavail * free.bsize < 12 * GiB) {
    t.fail(`needs 12 GiB free in ${os.tmpdir()} (has ${Math.floor((free.bavail * free.bsize) / GiB)} GiB)`);
    return;
  }
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(src);
  const file = path.join(src, 'huge.img');
  poke(file, [0, 2 * GiB - 5, 4 * GiB - MiB / 2, SIZE - MiB]);
  fs.utimesSync(file, 1_600_000_000, 1_600_000_000);
  // the receiver's old copy, made sparse and fast (a whole 4 GiB copy through the pipe would double the test's time)
  fs.mkdirSync(dst);
  execFileSync('cp', ['--sparse=always', '-p', file, path.join(dst, 'huge.img')]);
  // edit beyond 4 GiB; the receiver's copy is the basis
  poke(file, [4 * GiB + MiB]);
  fs.utimesSync(file, 1_600_000_100, 1_600_000_100);
  const second = await runTsync(['--json', '-e', STANDIN, '--tsync-path', TSYNC_BIN, `${src}/`, `h:${dst}/`], { timeoutMs: 600_000 });
  t.equal(second.code, 0, second.stderr);
  const j = JSON.parse(second.stdout);
  t.ok(j.bytes.literal < 8 * MiB, `only about the edit travels as literal data (${j.bytes.literal} bytes)`);
  t.ok(j.bytes.matched > 4 * GiB, `the rest is matched from the old copy, past 2^32 (${j.bytes.matched} bytes)`);
  t.equal(j.bytes.total, SIZE, '--json reports the 64-bit size');
  t.equal(fs.statSync(path.join(dst, 'huge.img')).size, SIZE, 'the size survives the wire');
  t.equal(hashOf(path.join(dst, 'huge.img')), hashOf(file), 'identical after the delta');
});
