// Keyed raw pipes with the real binary: push and pull with a key on both
// sides (by --key and by TSYNC_KEY_FILE, with -z too), a wrong key, a key on
// one side only, a man in the middle that changes, drops, replays, reorders,
// injects or cuts sealed frames (test/helpers/tamper-relay.mjs), and a real
// socat TCP pipe to a server started elsewhere. A failure is one line, a
// distinct exit code, and never a file with wrong content under its final
// name; the key itself is never on a command line or in a message.

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { TSYNC_BIN, runTsync, type RunResult } from '../helpers/run.js';
import { freePort, requireOrSkip, toolAvailable } from '../helpers/sshd.js';
import { makeRandomTree, snapshot, diffSnapshots } from '../helpers/tree.js';

const RELAY = fileURLToPath(new URL('../helpers/tamper-relay.mjs', import.meta.url));
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-keyed-'));
t.teardown(() => fs.rmSync(WORK, { recursive: true, force: true }));

const STANDIN = path.join(WORK, 'standin-rsh');
fs.writeFileSync(STANDIN, '#!/bin/sh\nshift\nexec sh -c "$*"\n', { mode: 0o755 });

async function keygen(name: string): Promise<{ file: string; code: string }> {
  const file = path.join(WORK, name);
  const r = await runTsync(['keygen', file]);
  if (r.code !== 0) throw new Error(`keygen: ${r.stderr}`);
  return { file, code: r.stdout.trim() };
}

const describe = (r: RunResult) => `exit ${r.code}; stdout ${JSON.stringify(r.stdout.slice(0, 300))}; stderr ${JSON.stringify(r.stderr.slice(0, 800))}`;

/** --tsync-path for a server that uses this key file */
const serverWith = (key: string | null) => (key ? `${TSYNC_BIN} --key ${key}` : TSYNC_BIN);

/** a fatal error: this exit code, one "tsync: error:" line matching pattern */
function fatal(t: Test, r: RunResult, code: number | number[], pattern: RegExp): void {
  const codes = Array.isArray(code) ? code : [code];
  t.ok(codes.includes(r.code ?? -1), `exit ${codes.join(' or ')} (${describe(r)})`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  t.equal(lines.length, 1, 'one line on stderr');
  t.match(lines[0] ?? '', /^tsync: error: /);
  t.match(r.stderr, pattern);
  t.notMatch(r.stderr, /^\s+at /m, 'no stack trace');
}

/** every regular file under dst (temporaries aside) has the content of its twin under src */
async function noWrongContent(t: Test, src: string, dst: string, what: string): Promise<number> {
  if (!fs.existsSync(dst)) return 0;
  let files = 0;
  const bad: string[] = [];
  for (const [rel, e] of await snapshot(dst)) {
    if (e.type !== 'file' || path.basename(rel).startsWith('.tsync-')) continue;
    files++;
    if (!fs.readFileSync(path.join(dst, rel)).equals(fs.readFileSync(path.join(src, rel)))) bad.push(rel);
  }
  t.same(bad, [], `${what}: no file under its final name has wrong content (${files} files there)`);
  return files;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.on('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.on('error', () => resolve(false));
  });
}

const same = async (t: Test, a: string, b: string, what: string) => t.same(diffSnapshots(await snapshot(a), await snapshot(b)), [], what);

let SRC: string;
let K1: { file: string; code: string };
let K2: { file: string; code: string };

t.before(async () => {
  SRC = path.join(WORK, 'src');
  await makeRandomTree(SRC, 4242, { files: 30, dirs: 5, bigFiles: 1, bigMaxBytes: 512 << 10, symlinks: 3 });
  // a big file so that every direction carries many sealed frames
  await fsp.writeFile(path.join(SRC, 'big.bin'), randomBytes(2 << 20));
  K1 = await keygen('k1');
  K2 = await keygen('k2');
});

t.test('push and pull with the same key on both sides, by --key and by TSYNC_KEY_FILE, with and without -z', async (t) => {
  const cases: Array<[string, string[], Record<string, string>]> = [
    ['push --key', ['--key', K1.file, '-e', STANDIN, '--tsync-path', serverWith(K1.file), `${SRC}/`, `x:${WORK}/p1/`], {}],
    ['pull --key', ['--key', K1.file, '-e', STANDIN, '--tsync-path', serverWith(K1.file), `x:${SRC}/`, `${WORK}/p2/`], {}],
    ['push -z', ['-z', '--key', K1.file, '-e', STANDIN, '--tsync-path', serverWith(K1.file), `${SRC}/`, `x:${WORK}/p3/`], {}],
    ['pull -z', ['-z', '--key', K1.file, '-e', STANDIN, '--tsync-path', serverWith(K1.file), `x:${SRC}/`, `${WORK}/p4/`], {}],
    // the stand-in's server inherits the client's environment: one variable keys both
    ['push, TSYNC_KEY_FILE', ['-e', STANDIN, '--tsync-path', TSYNC_BIN, `${SRC}/`, `x:${WORK}/p5/`], { TSYNC_KEY_FILE: K1.file }],
    ['local, --key', ['--key', K1.file, `${SRC}/`, `${WORK}/p6/`], {}],
  ];
  for (const [what, args, env] of cases) {
    const r = await runTsync(args, { env });
    t.equal(r.code, 0, `${what}: exit 0 (${describe(r)})`);
    await same(t, SRC, path.join(WORK, `p${cases.findIndex((c) => c[0] === what) + 1}`), `${what}: the trees are equal`);
  }
  // a second run with nothing to do, keyed, says nothing
  const r = await runTsync(['-i', '--key', K1.file, '-e', STANDIN, '--tsync-path', serverWith(K1.file), `${SRC}/`, `x:${WORK}/p1/`]);
  t.equal(r.code, 0);
  t.equal(r.stdout, '', 'nothing changed, nothing itemized');
});

t.test('a wrong key: exit 15, "key mismatch", nothing written', async (t) => {
  for (const [what, args, dst] of [
    ['push', [`${SRC}/`, `x:${WORK}/w1/`], 'w1'],
    ['pull', [`x:${SRC}/`, `${WORK}/w2/`], 'w2'],
  ] as const) {
    const r = await runTsync(['--key', K1.file, '-e', STANDIN, '--tsync-path', serverWith(K2.file), ...args]);
    fatal(t, r, 15, /key mismatch: the server does not hold the same key/);
    t.notOk(fs.existsSync(path.join(WORK, dst)), `${what}: the destination was not even created`);
    t.notMatch(r.stderr, K1.code.slice(10), 'the key is not in the message');
    t.notMatch(r.stderr, K2.code.slice(10));
  }
});

t.test('a key on one side only: exit 15 on the client, naming the side without one', async (t) => {
  let r = await runTsync(['--key', K1.file, '-e', STANDIN, '--tsync-path', serverWith(null), `${SRC}/`, `x:${WORK}/o1/`], { env: { TSYNC_KEY_FILE: undefined } });
  fatal(t, r, 15, /the server has no key but this client has one|the client requires a key and this server has none/);
  t.notOk(fs.existsSync(path.join(WORK, 'o1')));
  r = await runTsync(['-e', STANDIN, '--tsync-path', serverWith(K1.file), `${SRC}/`, `x:${WORK}/o2/`], { env: { TSYNC_KEY_FILE: undefined } });
  fatal(t, r, 15, /the client has no key but this server has one|the server requires a key and this client has none/);
  t.notOk(fs.existsSync(path.join(WORK, 'o2')));
});

t.test('key files that are refused', async (t) => {
  const open = path.join(WORK, 'open-key');
  fs.copyFileSync(K1.file, open);
  fs.chmodSync(open, 0o644);
  let r = await runTsync(['--key', open, `${SRC}/`, `${WORK}/r1/`]);
  fatal(t, r, 1, /may be read or written by others \(mode 0644\); run chmod 600/);
  r = await runTsync(['--key', path.join(WORK, 'nope'), `${SRC}/`, `${WORK}/r1/`]);
  fatal(t, r, 1, /cannot read key file .*nope: no such file \(create one with tsync keygen\)/);
  // a code pasted with a typo
  const typo = path.join(WORK, 'typo-key');
  const c = K1.code;
  fs.writeFileSync(typo, `${c.slice(0, 20)}${c[20] === 'Q' ? 'R' : 'Q'}${c.slice(21)}\n`, { mode: 0o600 });
  r = await runTsync(['--key', typo, `${SRC}/`, `${WORK}/r1/`]);
  fatal(t, r, 1, /the key code is mistyped \(its checksum does not match\)/);
  // the server's own key file is bad: the client hears why
  r = await runTsync(['--key', K1.file, '-e', STANDIN, '--tsync-path', serverWith(open), `${SRC}/`, `x:${WORK}/r2/`]);
  fatal(t, r, 1, /remote: key file .* may be read or written by others/);
  t.notOk(fs.existsSync(path.join(WORK, 'r1')) || fs.existsSync(path.join(WORK, 'r2')), 'nothing written');
});

t.test('a man in the middle: every change to the sealed stream ends the run, and nothing wrong is written', async (t) => {
  const log = path.join(WORK, 'relay-argv.log');
  const kinds = ['flip', 'drop', 'replay', 'reorder', 'inject', 'truncate'];
  // the data direction: client to server in a push, server to client in a pull
  for (const [mode, dir] of [['push', 'c2s'], ['pull', 's2c']] as const) {
    for (const kind of kinds) {
      const dst = path.join(WORK, `mitm-${mode}-${kind}`);
      const ends = mode === 'push' ? [`${SRC}/`, `x:${dst}/`] : [`x:${SRC}/`, `${dst}/`];
      const r = await runTsync(['--key', K1.file, '-e', `node ${RELAY} ${dir}:${kind}:2`, '--tsync-path', serverWith(K1.file), ...ends], { env: { RELAY_ARGV_LOG: log } });
      const what = `${mode}, ${kind} frame 2 of ${dir}`;
      if (kind === 'truncate') fatal(t, r, [10, 12], /closed the connection|failed authentication/);
      else fatal(t, r, 12, /sealed frame \d+ failed authentication: it was altered, dropped, replayed or reordered on the way/);
      t.ok(r.code !== 0, `${what}: exit ${r.code}`);
      await noWrongContent(t, SRC, dst, what);
      t.notOk(fs.existsSync(path.join(dst, 'big.bin')), `${what}: the big file is not there`);
    }
  }
  // the relay passes through untouched: the run succeeds (the relay is no accident)
  const dst = path.join(WORK, 'mitm-none');
  const r = await runTsync(['--key', K1.file, '-e', `node ${RELAY} none`, '--tsync-path', serverWith(K1.file), `${SRC}/`, `x:${dst}/`], { env: { RELAY_ARGV_LOG: log } });
  t.equal(r.code, 0, `through the relay, untouched: exit 0 (${describe(r)})`);
  await same(t, SRC, dst, 'and the trees are equal');

  // what the client put on the relay's command line: the key file's name, never the key
  const argvs = fs.readFileSync(log, 'utf8');
  t.ok(argvs.includes(K1.file), 'the key file name is there (the user put it in --tsync-path)');
  t.notOk(argvs.includes(K1.code.slice(10)), 'the key code is not');
});

t.test('socat: a keyed server listening on 127.0.0.1, the client through sh -c "exec socat - TCP:..."', async (t) => {
  if (!requireOrSkip(t, toolAvailable('socat'))) return;
  const port = await freePort();
  const server = spawn('socat', [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `EXEC:${process.execPath} ${TSYNC_BIN} --server --key ${K1.file}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let serverSaid = '';
  server.stderr.on('data', (b: Buffer) => (serverSaid += b.toString()));
  t.teardown(() => void server.kill());
  // wait until it listens (a bare connection makes that server fail on the preamble, harmlessly)
  for (let i = 0; i < 100 && !(await listening(port)); i++) await new Promise((r) => setTimeout(r, 100));
  const rsh = ['-e', `sh -c "exec socat - TCP:127.0.0.1:${port}"`];
  let r = await runTsync(['--key', K1.file, ...rsh, `${SRC}/`, `x:${WORK}/socat-push/`]);
  t.equal(r.code, 0, `push over socat: exit 0 (${describe(r)})`);
  await same(t, SRC, path.join(WORK, 'socat-push'), 'push over socat: equal');
  r = await runTsync(['-z', '--key', K1.file, ...rsh, `x:${SRC}/`, `${WORK}/socat-pull/`]);
  t.equal(r.code, 0, `pull -z over socat: exit 0 (${describe(r)})`);
  await same(t, SRC, path.join(WORK, 'socat-pull'), 'pull over socat: equal');

  r = await runTsync(['--key', K2.file, ...rsh, `${SRC}/`, `x:${WORK}/socat-wrong/`]);
  fatal(t, r, 15, /key mismatch/);
  r = await runTsync([...rsh, `${SRC}/`, `x:${WORK}/socat-nokey/`], { env: { TSYNC_KEY_FILE: undefined } });
  fatal(t, r, 15, /remote: the client has no key but this server has one|the server requires a key and this client has none/);
  t.notOk(fs.existsSync(path.join(WORK, 'socat-wrong')) || fs.existsSync(path.join(WORK, 'socat-nokey')), 'nothing written');
  // the server process writes its line as it exits, maybe after the client did: wait for it (a busy machine is slow)
  const said = /tsync --server: error: key mismatch: the client does not hold the same key/;
  for (let i = 0; i < 100 && !said.test(serverSaid); i++) await new Promise((r) => setTimeout(r, 50));
  t.match(serverSaid, said, 'whoever runs the server sees the failed key check on its stderr');
});
