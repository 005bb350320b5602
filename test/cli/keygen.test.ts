// `tsync keygen` with the real binary: the code on stdout is the file's
// content, the file is 0600, an existing key is never overwritten without
// --force, the default place is ~/.config/tsync/key in a 0700 directory,
// and the key works with --key at once.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { runTsync } from '../helpers/run.js';

const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-keygen-'));
t.teardown(() => fs.rmSync(WORK, { recursive: true, force: true }));

const CODE = /^tsync-key:[A-Za-z0-9_-]{46}\n$/;

t.test('keygen FILE: the code on stdout, the same in a 0600 file; no overwrite without --force', async (t) => {
  const file = path.join(WORK, 'k');
  const r = await runTsync(['keygen', file]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, CODE);
  t.equal(fs.readFileSync(file, 'utf8'), r.stdout, 'the file holds the printed code');
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  t.match(r.stderr, /wrote a new key to .*k \(mode 0600\)/);

  const again = await runTsync(['keygen', file]);
  t.equal(again.code, 1, 'refused: usage error');
  t.match(again.stderr, /^tsync: error: .*k already exists; not overwriting a key \(use --force to replace it\)/);
  t.equal(again.stdout, '');
  t.equal(fs.readFileSync(file, 'utf8'), r.stdout, 'the old key is untouched');

  const forced = await runTsync(['keygen', '--force', file]);
  t.equal(forced.code, 0);
  t.match(forced.stdout, CODE);
  t.not(forced.stdout, r.stdout, 'a new key');
  t.equal(fs.readFileSync(file, 'utf8'), forced.stdout);
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
});

t.test('keygen without FILE: ~/.config/tsync/key, its directory made 0700', async (t) => {
  const home = path.join(WORK, 'home');
  fs.mkdirSync(home);
  const env = { HOME: home, XDG_CONFIG_HOME: undefined };
  const r = await runTsync(['keygen'], { env });
  t.equal(r.code, 0, r.stderr);
  const file = path.join(home, '.config', 'tsync', 'key');
  t.equal(fs.readFileSync(file, 'utf8'), r.stdout);
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  t.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700, '~/.config/tsync is 0700');
  t.equal((await runTsync(['keygen'], { env })).code, 1, 'a second keygen refuses too');

  const xdg = path.join(WORK, 'xdg');
  const r2 = await runTsync(['keygen'], { env: { HOME: home, XDG_CONFIG_HOME: xdg } });
  t.equal(r2.code, 0, r2.stderr);
  t.equal(fs.readFileSync(path.join(xdg, 'tsync', 'key'), 'utf8'), r2.stdout, '$XDG_CONFIG_HOME/tsync/key');
});

t.test('a pasted code works as a key file; the key works at once', async (t) => {
  const made = await runTsync(['keygen', path.join(WORK, 'orig')]);
  const pasted = path.join(WORK, 'pasted');
  fs.writeFileSync(pasted, `\n  ${made.stdout.trim()}  \n`, { mode: 0o600 });
  const src = path.join(WORK, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'f'), 'keyed\n');
  const r = await runTsync(['--key', pasted, `${src}/`, path.join(WORK, 'dst')]);
  t.equal(r.code, 0, r.stderr);
  t.equal(fs.readFileSync(path.join(WORK, 'dst', 'f'), 'utf8'), 'keyed\n');
});

t.test('keygen usage errors and --help', async (t) => {
  const help = await runTsync(['keygen', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /\$ tsync keygen \[options\] \[\.\.\.FILES\][^]*-f, --force/);
  for (const [args, msg] of [
    [['keygen', '--bogus'], /unknown option --bogus for tsync keygen/],
    [['keygen', 'a', 'b'], /at most one FILE/],
    [['keygen', '-'], /not to standard output/],
    [['keygen', path.join(WORK, 'no', 'dir', 'k')], /its directory does not exist/],
  ] as const) {
    const r = await runTsync([...args]);
    t.not(r.code, 0, `${args.join(' ')}: fails`);
    t.match(r.stderr, msg);
    t.equal(r.stderr.split('\n').filter(Boolean).length, 1, 'one line');
  }
});
