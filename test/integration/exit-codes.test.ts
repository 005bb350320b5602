// Every exit status of the error table through the real binary. Most are
// triggered where their feature is tested; this file holds the ones that
// had no test (11, 12) and an index that says where each one is, checked
// against ERROR_TABLE so that a new status without a test fails here.
//
// Not triggered anywhere, each for a reason the index gives: 70 (an
// internal error is a bug; there is no honest way to cause one), and any
// status whose feature is not in this version.
//
// Also: ssh is never left to prompt when stdin is not a terminal.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { TSYNC_BIN, runTsync } from '../helpers/run.js';
import { ERROR_TABLE } from '../../lib/errors.js';
import { helpText } from '../../lib/cli/program.js';
import { requireOrSkip, toolAvailable } from '../helpers/sshd.js';
import { describe, fatal, remote, toolbox, until, writeTree } from '../helpers/standin.js';
import { startTmux } from '../helpers/tmux.js';

/** exit status -> the test that triggers it through bin/tsync, or why none can yet */
const WHERE: Record<number, string> = {
  1: 'test/integration/cli.test.ts "unknown option: exit 1, one line"; test/cli/profile.test.ts',
  2: 'test/integration/cli.test.ts "a peer of another protocol version: exit 2"; test/integration/doctor.test.ts',
  3: 'test/integration/cli.test.ts "missing source: exit 3" and "missing destination parent: exit 3"',
  4: 'test/integration/restricted.test.ts " is refused: exit 4" (pulls of .. and of links leading out) and " is refused: the share is read-only"',
  5: 'test/integration/cli.test.ts "a remote without tsync: exit 5" and the junk-printing shells',
  10: 'test/integration/cli.test.ts "an rsh that cannot connect: exit 10"; test/integration/ssh.test.ts',
  11: 'this file: "exit 11"',
  12: 'this file: "exit 12"',
  13: 'test/bundle/refuse.test.ts "a flipped byte anywhere that matters is refused, the directory unchanged" and "a cut-off bundle, plain or gzipped, from a file or a pipe, is refused"',
  15: 'test/integration/keyed.test.ts "a wrong key" and "a key on one side only"; test/vault/vault.test.ts "keys: read-only restores and cannot push; a wrong key is 15"',
  16: 'test/vault/vault.test.ts "tampering: check --read-data and the restore that reads it exit 16 naming the object"',
  17: 'test/vault/vault.test.ts "rollback and fork: exit 17 before anything changes"',
  20: 'test/integration/lock.test.ts "SIGTERM to a pushing client: exit 20"',
  23: 'test/integration/cli.test.ts "an invalid UTF-8 name is skipped with a warning, exit 23"',
  30: 'test/integration/cli.test.ts "--timeout 2 against a peer that never answers: exit 30"',
  40: 'test/integration/twoway.test.ts "a conflict: the newer version wins, the other is kept on both sides; -n and --json tell"',
  41: 'test/integration/lock.test.ts "the second fails at once with exit 41"',
  42: 'test/integration/hooks.test.ts "a failing pre hook: exit 42"',
  43: 'test/integration/hooks.test.ts "a failing post hook: a warning, and exit 43 after a good run"',
  44: 'test/integration/doctor.test.ts "problems: what to fix, and exit 44"',
  70: 'none: an internal error is a bug in tsync, and nothing causes one on purpose',
};

t.test('every exit status has a test, or a reason why not, and --help lists it', async (t) => {
  const codes = [...new Set(Object.values(ERROR_TABLE).map((r) => r.exit))].sort((a, b) => a - b);
  for (const c of codes) {
    t.ok(WHERE[c], `exit ${c}: ${WHERE[c] ?? 'NO TEST'}`);
    const file = /^(test\/\S+)/.exec(WHERE[c] ?? '')?.[1];
    if (!file) continue;
    const url = new URL(`../../${file}`, import.meta.url);
    t.ok(fs.existsSync(url), `${file} exists`);
    // the test named in the first file is there (quoted titles, checked as written)
    const text = fs.existsSync(url) ? fs.readFileSync(url, 'utf8') : '';
    const firstFile = (WHERE[c] ?? '').split(/;\s*test\//)[0];
    for (const [, title] of firstFile.matchAll(/"([^"]+)"/g)) t.ok(text.includes(title), `${file} holds "${title}"`);
  }
  t.same(Object.keys(WHERE).map(Number).filter((c) => !codes.includes(c)), [], 'and no stale rows');
  const help = helpText();
  for (const c of [0, ...codes]) t.match(help, new RegExp(`^ +${c}  \\S`, 'm'), `--help lists ${c}`);
});

t.test('exit 11: a file I/O error ends the run', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await writeTree(src, { 'a.txt': 'alpha\n' });
  fs.writeFileSync(path.join(sb, 'file'), '');
  const r = await runTsync([`${src}/`, `${sb}/file/below/`]);
  fatal(t, r, 11, /ENOTDIR/);
  await writeTree(path.join(sb, 'dst'), { '.tsync': 'a file where tsync keeps its lock' });
  const r2 = await runTsync([`${src}/`, `${sb}/dst/`]);
  fatal(t, r2, 11, /dst\/\.tsync is not a directory: tsync keeps its lock there/);
  t.notOk(fs.existsSync(path.join(sb, 'dst', 'a.txt')), 'nothing was written');
});

t.test('exit 12: a peer that sends garbage', async (t) => {
  const sb = t.testdir();
  const tool = toolbox(t);
  // the preamble, then a frame holding a message of an unknown type
  const liar = tool('liar-rsh', `printf '\\211TSYNC\\r\\n\\000\\000\\000\\003\\377\\000\\000'; cat > /dev/null`);
  await writeTree(path.join(sb, 'src'), { 'a.txt': 'alpha\n' });
  const r = await runTsync(['-e', liar, `${sb}/src/`, remote(`${sb}/dst/`)]);
  fatal(t, r, 12, /unknown message type 0xff/);
  const r2 = await runTsync(['-e', liar, remote(`${sb}/src/`), `${sb}/dst/`]);
  fatal(t, r2, 12, /unknown message type 0xff/);
  t.notOk(fs.existsSync(path.join(sb, 'dst')), 'nothing was written');
});

t.test('ssh gets -o BatchMode=yes when stdin is not a terminal, and not when it is', async (t) => {
  const sb = t.testdir();
  await writeTree(path.join(sb, 'src'), { 'a.txt': 'alpha\n' });
  const log = path.join(sb, 'ssh.log');
  // an "ssh" that records its arguments, then runs the remote command like ssh would
  const ssh = toolbox(t)('ssh', `echo "$*" >> '${log}'\nwhile [ $# -gt 0 ]; do case "$1" in -o|-p|-i) shift 2;; -*) shift;; *) break;; esac; done\nshift\nexec sh -c "$*"`);
  const r = await runTsync(['-e', ssh, '--tsync-path', TSYNC_BIN, `${sb}/src/`, remote(`${sb}/a/`)]);
  t.equal(r.code, 0, describe(r));
  t.match(fs.readFileSync(log, 'utf8'), /^-o BatchMode=yes localhost \S+tsync --server$/m, 'from a pipe (cron): BatchMode, so ssh fails instead of asking');
  if (!requireOrSkip(t, toolAvailable('tmux'))) return;
  fs.rmSync(log);
  const term = startTmux(t, sb).run('tty', [process.execPath, TSYNC_BIN, '-e', ssh, '--tsync-path', TSYNC_BIN, `${sb}/src/`, remote(`${sb}/b/`)].map((s) => `'${s.replace(/'/g, `'\\''`)}'`).join(' '));
  t.ok(await until(() => term.exit() !== null, 30_000), 'it ran in the terminal');
  t.equal(term.exit(), 0, term.screen());
  t.match(fs.readFileSync(log, 'utf8'), /^localhost \S+tsync --server$/m, 'from a terminal: ssh may ask for a password');
});
