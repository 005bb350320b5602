// receiver-umask-global: the receiver set process.umask(0) in its
// constructor, process-global state: every later receiver in the same
// process (and every file tsync made for itself after it) computed modes
// from a umask of 0, so directories came out world-writable. Modes are now
// computed without touching the process umask: received files and
// directories get exactly the sender's mode (fchmod), directories tsync
// makes for itself get the user's umask from the kernel.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import type { Connection } from '../../lib/link/connection.js';
import { Receiver } from '../../lib/oneway/receiver.js';
import { runTsync } from '../helpers/run.js';
import { OPTIONS } from '../helpers/hostile.js';
import { writeTree } from '../helpers/standin.js';

t.test('constructing receivers leaves the process umask alone', async (t) => {
  const before = process.umask(0o022);
  t.teardown(() => void process.umask(before));
  const events = { item: () => {}, warn: () => {} };
  const conn = {} as Connection;
  const sb = t.testdir();
  new Receiver(conn, { dest: `${sb}/one/`, options: { ...OPTIONS, backupDir: 'bk' }, key: Buffer.alloc(32) }, events);
  t.equal(process.umask(0o022), 0o022, 'after the first receiver: still 022');
  new Receiver(conn, { dest: `${sb}/two/`, options: { ...OPTIONS, backupDir: 'bk' }, key: Buffer.alloc(32) }, events);
  t.equal(process.umask(0o022), 0o022, 'after the second: still 022');
  // a directory made after them gets the umask
  fs.mkdirSync(path.join(sb, 'made'), { mode: 0o777 });
  t.equal(fs.statSync(path.join(sb, 'made')).mode & 0o777, 0o755, 'a directory made afterwards is not world-writable');
});

t.test('the sender\'s modes still arrive exactly, whatever the receiving process\'s umask', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await writeTree(src, { open: null, 'open/shared.txt': 'x\n', 'private.txt': 'y\n', 'old.txt': 'old\n' });
  fs.chmodSync(path.join(src, 'open'), 0o777);
  fs.chmodSync(path.join(src, 'open/shared.txt'), 0o666);
  fs.chmodSync(path.join(src, 'private.txt'), 0o600);
  const dst = path.join(sb, 'dst');
  fs.mkdirSync(dst);
  fs.writeFileSync(path.join(dst, 'old.txt'), 'older, to be replaced and kept\n');
  fs.utimesSync(path.join(dst, 'old.txt'), 1_500_000_000, 1_500_000_000);
  const r = await runTsync(['--backup-dir', 'bk', `${src}/`, `${dst}/`], { env: { UMASK_NOTE: 'the child inherits 022 from the shell below' } });
  t.equal(r.code, 0, r.stderr);
  t.equal(fs.statSync(path.join(dst, 'open')).mode & 0o7777, 0o777, 'a directory with mode 777 arrives as 777');
  t.equal(fs.statSync(path.join(dst, 'open/shared.txt')).mode & 0o7777, 0o666, 'a file with 666 as 666');
  t.equal(fs.statSync(path.join(dst, 'private.txt')).mode & 0o7777, 0o600, 'a file with 600 as 600');
  t.equal(fs.statSync(path.join(dst, 'bk')).mode & 0o777, 0o777 & ~process.umask(), "the backup directory tsync made for itself has the user's umask");
});
