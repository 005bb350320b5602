// --pre and --post through the real binary: what they are told, what a
// failing hook does to the run and its exit status, and the changed-paths
// file that a post hook gets and that is removed afterwards.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { runTsync } from '../helpers/run.js';
import { describe, remote, standins, via, writeTree } from '../helpers/standin.js';

/** a hook that writes its environment's TSYNC_* variables (and the changed list) to a file */
function recorder(out: string): string {
  return `{ env | grep '^TSYNC_' | sort; echo '--- changed'; [ -n "$TSYNC_CHANGED_FILE" ] && cat "$TSYNC_CHANGED_FILE"; true; } > '${out}'`;
}

function readEnv(file: string): { env: Record<string, string>; changed: string[] } {
  const [vars, changed] = fs.readFileSync(file, 'utf8').split('--- changed\n');
  const env: Record<string, string> = {};
  for (const line of vars.split('\n').filter(Boolean)) {
    const i = line.indexOf('=');
    env[line.slice(0, i)] = line.slice(i + 1);
  }
  return { env, changed: (changed ?? '').split('\n').filter(Boolean) };
}

t.test('pre and post are told about the run', async (t) => {
  const sb = t.testdir();
  const { standin } = standins(t);
  const src = path.join(sb, 'src');
  const dst = path.join(sb, 'dst');
  await writeTree(src, { 'a.txt': 'alpha\n', 'sub/b.txt': 'beta\n', 'new\nline.txt': 'odd name\n' });
  await writeTree(dst, { 'a.txt': 'old alpha\n', 'gone.txt': 'bye\n' });
  const pre = path.join(sb, 'pre.env');
  const post = path.join(sb, 'post.env');
  const r = await runTsync(['--delete', '--pre', recorder(pre), '--post', recorder(post), ...via(standin), `${src}/`, remote(`${dst}/`)]);
  t.equal(r.code, 0, describe(r));
  const p = readEnv(pre);
  t.same(p.env, { TSYNC_DEST: remote(`${dst}/`), TSYNC_DRY_RUN: '0', TSYNC_MODE: 'push', TSYNC_PROFILE: '', TSYNC_SOURCE: `${src}/` }, 'pre: where, how, no outcome yet');
  t.same(p.changed, [], 'pre: no changed file');
  const q = readEnv(post);
  t.match(q.env, { TSYNC_EXIT: '0', TSYNC_CREATED: '3', TSYNC_UPDATED: '1', TSYNC_DELETED: '1', TSYNC_UNCHANGED: '0', TSYNC_ERRORS: '0', TSYNC_CONFLICTS: '0', TSYNC_MODE: 'push', TSYNC_CHANGED: '5' }, 'post: the outcome');
  t.ok(Number(q.env.TSYNC_BYTES_SENT) > 0 && Number(q.env.TSYNC_BYTES_RECEIVED) > 0, 'post: bytes on the wire');
  t.same(q.changed.sort(), ['a.txt', 'gone.txt', 'new\\nline.txt', 'sub', 'sub/b.txt'], 'post: the changed paths (deletions too), a newline in a name escaped');
  t.match(q.env.TSYNC_CHANGED_FILE, /tsync-changed-/);
  t.notOk(fs.existsSync(q.env.TSYNC_CHANGED_FILE), 'the changed file is removed after the hook');
  t.notOk(fs.existsSync(path.dirname(q.env.TSYNC_CHANGED_FILE)), 'and its directory');
});

t.test('modes and dry runs', async (t) => {
  const sb = t.testdir();
  const { standin } = standins(t);
  const src = path.join(sb, 'src');
  await writeTree(src, { 'a.txt': 'alpha\n' });
  const env = path.join(sb, 'env');
  const cases: Array<[string, string[], string]> = [
    ['local', [`${src}/`, `${sb}/l/`], 'local'],
    ['pull', [...via(standin), remote(`${src}/`), `${sb}/p/`], 'pull'],
    ['push', [...via(standin), `${src}/`, remote(`${sb}/q/`)], 'push'],
  ];
  for (const [what, args, mode] of cases) {
    const r = await runTsync(['-n', '--post', recorder(env), ...args]);
    t.equal(r.code, 0, `${what}: ${describe(r)}`);
    const e = readEnv(env);
    t.equal(e.env.TSYNC_MODE, mode, `${what}: TSYNC_MODE`);
    t.equal(e.env.TSYNC_DRY_RUN, '1', `${what}: TSYNC_DRY_RUN`);
    t.same(e.changed, ['.', 'a.txt'], `${what}: a dry run lists what would change`);
    t.notOk(fs.existsSync(args[args.length - 1].replace(/^localhost:/, '')), `${what}: and changes nothing`);
  }
});

t.test('a failing pre hook: exit 42, nothing synced, no peer started, no post hook', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await writeTree(src, { 'a.txt': 'alpha\n' });
  const started = path.join(sb, 'peer-started');
  const rsh = `sh -c 'touch ${started}; shift; exec sh -c "$*"' rsh`;
  const post = path.join(sb, 'post-ran');
  const r = await runTsync(['--pre', 'echo checking >&2; exit 3', '--post', `touch '${post}'`, '-e', rsh, `${src}/`, remote(`${sb}/dst/`)]);
  t.equal(r.code, 42, describe(r));
  t.match(r.stderr, /^checking\ntsync: error: the --pre hook exited with status 3, so nothing was synced: echo checking >&2; exit 3\n$/, "the hook's own output, then one line saying why");
  t.notOk(fs.existsSync(started), 'the peer was never started');
  t.notOk(fs.existsSync(path.join(sb, 'dst')), 'nothing was written');
  t.notOk(fs.existsSync(post), 'the post hook did not run');
  const json = await runTsync(['--json', '--pre', 'kill -9 $$', `${src}/`, `${sb}/dst/`]);
  t.equal(json.code, 42);
  const o = JSON.parse(json.stdout) as { exitCode: number; errors: Array<{ code: string; message: string }> };
  t.equal(o.errors[0]?.code, 'E_PRE_HOOK', '--json names it');
  t.match(o.errors[0]?.message, /killed by SIGKILL/, 'a killed hook says so');
});

t.test('a failing post hook: a warning, and exit 43 after a good run', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await writeTree(src, { 'a.txt': 'alpha\n' });
  const r = await runTsync(['--post', 'exit 5', `${src}/`, `${sb}/dst/`]);
  t.equal(r.code, 43, describe(r));
  t.equal(r.stderr, 'tsync: warning: the --post hook exited with status 5: exit 5\n');
  t.equal(fs.readFileSync(path.join(sb, 'dst', 'a.txt'), 'utf8'), 'alpha\n', 'the sync itself happened');
  const json = await runTsync(['--json', '--post', 'echo from-the-hook; exit 5', `${src}/`, `${sb}/dst/`]);
  t.equal(json.code, 43, describe(json));
  const o = JSON.parse(json.stdout) as { ok: boolean; exitCode: number; errors: Array<{ code: string }> };
  t.same([o.ok, o.exitCode, o.errors.map((e) => e.code)], [false, 43, ['E_POST_HOOK']], '--json: stdout is still one JSON object, which reports it');
  t.equal(json.stderr, 'from-the-hook\n', "with --json the hook's stdout goes to stderr");
});

t.test('a post hook after a failed run sees its status, which stands', async (t) => {
  const sb = t.testdir();
  const env = path.join(sb, 'env');
  const r = await runTsync(['--post', `${recorder(env)}; exit 9`, `${sb}/no-such-src/`, `${sb}/dst/`]);
  t.equal(r.code, 3, describe(r));
  t.equal(readEnv(env).env.TSYNC_EXIT, '3', 'TSYNC_EXIT is the failure');
  t.match(r.stderr, /warning: the --post hook exited with status 9/);
  t.match(r.stderr, /error: .*no-such-src/);
  const usage = await runTsync(['--post', `touch '${env}.usage'`, `${sb}/only-one-operand`]);
  t.equal(usage.code, 1);
  t.notOk(fs.existsSync(`${env}.usage`), 'no hook runs after a usage error');
});

t.test('hooks never read the terminal: stdin is /dev/null', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  await writeTree(src, { 'a.txt': 'alpha\n' });
  const got = path.join(sb, 'stdin');
  const r = await runTsync(['--pre', `cat > '${got}'`, `${src}/`, `${sb}/dst/`], { input: 'typed by someone\n' });
  t.equal(r.code, 0, describe(r));
  t.equal(fs.readFileSync(got, 'utf8'), '', 'the hook read nothing');
});

t.test('a hook command that does not exist: exit 42', async (t) => {
  const sb = t.testdir();
  const r = await runTsync(['--pre', 'no-such-command-tsync-test', `${sb}/`, `${sb}/dst/`]);
  t.equal(r.code, 42);
  t.match(r.stderr, /tsync: error: the --pre hook exited with status 127/);
});
