// Tests of the test helpers themselves (test/helpers/ is not run by tap).

import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { TSYNC_BIN, runTsync } from '../helpers/run.js';
import { requireOrSkip, sshdAvailable, startSshd, toolAvailable } from '../helpers/sshd.js';
import { NFC_NAME, NFD_NAME, diffSnapshots, makeRandomTree, mutateTree, snapshot } from '../helpers/tree.js';

const execFileP = promisify(execFile);

t.test('makeRandomTree is a pure function of its seed', async (t) => {
  const dir = t.testdir();
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  const c = path.join(dir, 'c');
  const summary = await makeRandomTree(a, 42);
  await makeRandomTree(b, 42);
  await makeRandomTree(c, 43);
  const sa = await snapshot(a);
  const sb = await snapshot(b);
  const sc = await snapshot(c);
  t.same(diffSnapshots(sa, sb, { mtimePrecision: 'ns' }), [], 'same seed: equal down to the nanosecond, dir mtimes included');
  t.ok(diffSnapshots(sa, sc).length > 0, 'different seeds differ');
  t.equal(sa.size, summary.paths.length, 'snapshot sees every created path');

  const entries = [...sa.entries()];
  const names = entries.map(([k]) => k.split('/').pop()!);
  t.ok(names.includes(NFC_NAME) && names.includes(NFD_NAME), 'NFC and NFD forms are two files');
  t.ok(names.some((n) => n.includes('\n')), 'a name with a newline');
  t.ok(names.some((n) => Buffer.byteLength(n) >= 200), 'a ~200-byte name');
  t.ok(names.some((n) => n.startsWith('-')), 'a name with a leading dash');
  t.ok(entries.some(([, e]) => e.type === 'symlink'), 'symlinks');
  t.ok(entries.some(([, e]) => e.type === 'file' && e.size === 0), 'an empty file');
  t.ok(entries.some(([, e]) => e.type === 'file' && e.size >= 100 * 1024), 'a big file');
  t.ok(entries.some(([, e]) => e.type === 'file' && e.mtimeNs % 1_000_000_000n !== 0n), 'a sub-second mtime');
  t.ok(entries.some(([, e]) => e.mtimeMs < 500_000_000_000), 'an mtime decades ago');
  const modes = new Set(entries.filter(([, e]) => e.type === 'file').map(([, e]) => e.mode));
  t.ok(modes.has(0o644) && modes.has(0o444), 'varied file modes');
  const emptyDirs = entries.filter(([k, e]) => e.type === 'dir' && !entries.some(([k2]) => k2.startsWith(`${k}/`)));
  t.ok(emptyDirs.length > 0, 'empty directories');
  t.notOk(names.some((n) => n.startsWith('.tsync')), 'no name collides with tsync state');
  for (const [k, e] of entries) {
    if (e.type !== 'symlink') continue;
    const st = fs.lstatSync(path.join(a, k));
    t.ok(st.isSymbolicLink(), `${JSON.stringify(k)} is still a link (snapshot never follows)`);
    break;
  }
});

t.test('mutateTree is deterministic and always changes something', async (t) => {
  const dir = t.testdir();
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  await makeRandomTree(a, 7, { bigFiles: 1 });
  await makeRandomTree(b, 7, { bigFiles: 1 });
  const before = await snapshot(a);
  const logA = await mutateTree(a, 99, { ops: 30 });
  const logB = await mutateTree(b, 99, { ops: 30 });
  t.same(logA, logB, 'same edits');
  t.same(diffSnapshots(await snapshot(a), await snapshot(b), { mtimePrecision: 'ns' }), [], 'same result');
  t.ok(diffSnapshots(before, await snapshot(a)).length > 0, 'the tree changed');
  for (let seed = 1; seed <= 20; seed++) {
    const s0 = await snapshot(a);
    const log = await mutateTree(a, seed, { ops: 1 });
    const d = diffSnapshots(s0, await snapshot(a));
    if (d.length === 0) t.fail(`single edit invisible: ${log.join('; ')}`);
  }
  t.pass('every single edit is visible to diffSnapshots');
});

t.test('the comparator agrees with rsync -a', async (t) => {
  if (!requireOrSkip(t, toolAvailable('rsync'))) return;
  const dir = t.testdir();
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  await makeRandomTree(src, 1234);
  await execFileP('rsync', ['-a', `${src}/`, `${dst}/`]);
  t.same(diffSnapshots(await snapshot(src), await snapshot(dst)), [], 'rsync -a copy is equal (ms)');
  t.same(diffSnapshots(await snapshot(src), await snapshot(dst), { mtimePrecision: 'ns' }), [], 'rsync -a copy is equal (ns)');

  const log = await mutateTree(dst, 5, { ops: 25 });
  const diff = diffSnapshots(await snapshot(src), await snapshot(dst), { labels: ['src', 'dst'] });
  t.ok(diff.length > 0, `mutated copy differs (${log.length} edits, ${diff.length} differences)`);

  await execFileP('rsync', ['-a', '--delete', `${src}/`, `${dst}/`]);
  t.same(diffSnapshots(await snapshot(src), await snapshot(dst)), [], 'rsync -a --delete repairs every mutation');

  await mutateTree(src, 6, { ops: 25 });
  await execFileP('rsync', ['-a', '--delete', `${src}/`, `${dst}/`]);
  t.same(diffSnapshots(await snapshot(src), await snapshot(dst)), [], 'and carries every mutation of the source');
});

t.test('diffSnapshots reports each kind of difference', async (t) => {
  const dir = t.testdir({
    a: { f: 'hello', g: 'same-size', d: {}, l: t.fixture('symlink', 'f'), onlyA: 'x' },
    b: { f: 'hello world', g: 'SAME-SIZE', d: 'now a file', l: t.fixture('symlink', 'g') },
  });
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  fs.chmodSync(path.join(a, 'f'), 0o600);
  fs.chmodSync(path.join(b, 'f'), 0o644);
  const diff = diffSnapshots(await snapshot(a), await snapshot(b), { ignoreMtime: true });
  const text = diff.join('\n');
  t.match(text, /"f": mode 0600 in a, 0644 in b/);
  t.match(text, /"f": size 5 in a, 11 in b/);
  t.match(text, /"g": content differs/);
  t.match(text, /"d": type dir in a, file in b/);
  t.match(text, /"l": symlink target "f" in a, "g" in b/);
  t.match(text, /"onlyA": only in a/);
  fs.utimesSync(path.join(a, 'g'), 1000, 1000.5);
  fs.utimesSync(path.join(b, 'g'), 1000, 1000.75);
  const sa = await snapshot(a);
  const sb = await snapshot(b);
  t.match(diffSnapshots(sa, sb, { ignore: (k) => k !== 'g' }).join('\n'), /"g": file mtime 1000\.500000000/);
  t.same(diffSnapshots(sa, sb, { ignore: (k) => k !== 'g', mtimePrecision: 's' }).filter((l) => l.includes('mtime')), [], "'s' precision truncates");
});

t.test('runTsync points at this checkout', async (t) => {
  t.ok(path.isAbsolute(TSYNC_BIN) && TSYNC_BIN.endsWith(path.join('bin', 'tsync')), TSYNC_BIN);
  if (!fs.existsSync(TSYNC_BIN)) {
    t.comment(`${TSYNC_BIN} does not exist yet; not running it`);
    return;
  }
  const r = await runTsync(['--help'], { timeoutMs: 30_000 });
  t.equal(r.timedOut, false, 'finished');
  t.equal(typeof r.stdout, 'string');
});

t.test('a real sshd on loopback', async (t) => {
  if (!requireOrSkip(t, sshdAvailable())) return;
  const sshd = await startSshd(t);
  t.ok(sshd.port > 1024, `port ${sshd.port}`);
  t.match(sshd.rsh, /^ssh -i \S+ -p \d+ -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=\/dev\/null -o LogLevel=ERROR$/);

  const hi = await sshd.exec('echo hi');
  t.equal(hi.code, 0, hi.stderr);
  t.equal(hi.stdout, 'hi\n', 'ssh ... echo hi');

  // exactly as a tool given `-e RSH` would run it
  const viaRsh = await execFileP('/bin/sh', ['-c', `${sshd.rsh} 127.0.0.1 echo hi`]);
  t.equal(viaRsh.stdout, 'hi\n', 'the rsh string works as a command line');

  const node = await sshd.exec('command -v node && node -p process.version');
  t.equal(node.code, 0, `node is on the session PATH: ${node.stderr}`);
  t.equal(node.stdout.trim().split('\n')[1], process.version, 'the same node as the tests');

  const input = await sshd.exec('cat', { input: 'piped\n' });
  t.equal(input.stdout, 'piped\n', 'stdin reaches the remote command');

  await sshd.stop();
  await sshd.stop();
  t.notOk(fs.existsSync(sshd.dir), 'stop removes the temp dir (and is idempotent)');
  const after = await sshd.exec('true', { timeoutMs: 10_000 });
  t.not(after.code, 0, 'nothing listens after stop');
});

t.test('a forced command in authorized_keys takes effect', async (t) => {
  if (!requireOrSkip(t, sshdAvailable())) return;
  const sshd = await startSshd(t);
  await sshd.setForcedCommand('echo "forced:$SSH_ORIGINAL_COMMAND"');
  const forced = await sshd.exec('echo hi');
  t.equal(forced.code, 0, forced.stderr);
  t.equal(forced.stdout, 'forced:echo hi\n', 'the forced command ran instead, with SSH_ORIGINAL_COMMAND');
  await sshd.setForcedCommand(null);
  const free = await sshd.exec('echo hi');
  t.equal(free.stdout, 'hi\n', 'null removes it');
});

t.test('teardown stops sshd without an explicit stop()', async (t) => {
  if (!requireOrSkip(t, sshdAvailable())) return;
  let dir = '';
  let pid = 0;
  await t.test('inner', async (t) => {
    const sshd = await startSshd(t);
    dir = sshd.dir;
    pid = Number(fs.readFileSync(path.join(dir, 'sshd.pid'), 'utf8'));
    // no stop(): the teardown must do it
  });
  t.ok(pid > 0, `sshd pid ${pid}`);
  t.notOk(fs.existsSync(dir), 'temp dir removed by teardown');
  let alive = true;
  for (let i = 0; i < 50 && alive; i++) {
    try {
      process.kill(pid, 0);
      await new Promise((r) => setTimeout(r, 100));
    } catch {
      alive = false;
    }
  }
  t.notOk(alive, 'sshd process is gone');
});

t.test('sshd dies with the process that started it, even on SIGKILL', async (t) => {
  if (!requireOrSkip(t, sshdAvailable())) return;
  const tsLoader = process.execArgv.find((a) => a.includes('@tapjs/typescript'));
  if (!tsLoader) {
    t.comment('no TypeScript loader in execArgv; cannot start a helper process');
    return;
  }
  const helper = new URL('../helpers/sshd.ts', import.meta.url).href;
  const code = `const { startSshd } = await import(${JSON.stringify(helper)});
    const s = await startSshd();
    const fs = await import('node:fs');
    console.log(fs.readFileSync(s.dir + '/sshd.pid', 'utf8').trim() + ' ' + s.dir);
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, [tsLoader, '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (b: Buffer) => {
      buf += b.toString();
      if (buf.includes('\n')) resolve(buf.trim());
    });
    child.on('exit', (c) => reject(new Error(`helper process exited early (${c})`)));
  });
  const [pidText, dir] = line.split(' ');
  const pid = Number(pidText);
  t.ok(pid > 0, `sshd pid ${pid}`);
  process.kill(pid, 0); // alive now
  child.kill('SIGKILL');
  let alive = true;
  for (let i = 0; i < 50 && alive; i++) {
    try {
      process.kill(pid, 0);
      await new Promise((r) => setTimeout(r, 100));
    } catch {
      alive = false;
    }
  }
  t.notOk(alive, 'the watchdog killed sshd');
  fs.rmSync(dir, { recursive: true, force: true }); // a SIGKILLed process runs no exit hooks
});

t.test('requireOrSkip skips loudly, but fails when CI=true', async (t) => {
  const calls: string[] = [];
  const host = {
    fail: (m: string) => calls.push(`fail: ${m}`),
    plan: (n: number, c?: string) => calls.push(`plan ${n}: ${c}`),
  };
  const savedCI = process.env.CI;
  const write = process.stderr.write;
  const loud: string[] = [];
  process.stderr.write = ((s: string) => loud.push(s) > 0) as typeof process.stderr.write;
  try {
    delete process.env.CI;
    t.equal(requireOrSkip(host, null), true, 'nothing missing: go on');
    t.equal(requireOrSkip(host, 'frob not installed'), false, 'missing: stop');
    process.env.CI = 'true';
    t.equal(requireOrSkip(host, 'frob not installed'), false, 'missing in CI: stop');
  } finally {
    process.stderr.write = write;
    if (savedCI === undefined) delete process.env.CI;
    else process.env.CI = savedCI;
  }
  t.same(calls, ['plan 0: *** SKIPPING: frob not installed ***', 'fail: required in CI but unavailable: frob not installed']);
  t.match(loud.join(''), /\*\*\* SKIPPING: frob not installed \*\*\*/);
  t.match(loud.join(''), /\*\*\* FAILING \(CI=true/);
  t.equal(toolAvailable('definitely-not-a-command-xyz', 'xyz-pkg'), 'definitely-not-a-command-xyz not installed (apt-get install xyz-pkg)');
  t.equal(toolAvailable('sh'), null);
});
