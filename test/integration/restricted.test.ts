// `tsync --server --root DIR [--read-only]`, the command an SSH forced
// command runs: first through a stand-in that ignores what the client asks
// to run (as sshd does with a forced command), then through a real sshd
// with command="..." in authorized_keys, then spoken to directly by a
// hostile client. Pulls work, pushes to a read-only share are refused,
// `..` and symlinks leading out of DIR are refused with exit 4, and nothing
// outside DIR is read or written.

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { TSYNC_BIN, runTsync, spawnTsync, type RunResult } from '../helpers/run.js';
import { requireOrSkip, sshdAvailable, startSshd } from '../helpers/sshd.js';
import { diffSnapshots, snapshot } from '../helpers/tree.js';
import { describe, outcome } from '../helpers/hostile-case.js';
import { clientHandshake, OPTIONS, WirePeer } from '../helpers/hostile.js';

const REFUSED = 4;

interface Share {
  sb: string;
  share: string;
  outside: string;
  /** an -e stand-in for `ssh host` with command="tsync --server --root SHARE [...]" */
  forced(extra: string[]): string;
}

/** share/{a.txt, sub/b.txt, sub/deeper/c.txt, inlink -> sub, escape -> ../outside}, outside/secret.txt */
async function makeShare(t: Test): Promise<Share> {
  const sb = t.testdir();
  const share = path.join(sb, 'share');
  const outside = path.join(sb, 'outside');
  await fsp.mkdir(path.join(share, 'sub/deeper'), { recursive: true });
  await fsp.mkdir(outside);
  await fsp.writeFile(path.join(share, 'a.txt'), 'alpha\n');
  await fsp.writeFile(path.join(share, 'sub/b.txt'), 'beta\n');
  await fsp.writeFile(path.join(share, 'sub/deeper/c.txt'), 'gamma\n');
  await fsp.writeFile(path.join(outside, 'secret.txt'), 'outside the share\n');
  await fsp.symlink('sub', path.join(share, 'inlink'));
  await fsp.symlink('../outside', path.join(share, 'escape'));
  const forced = (extra: string[]) => {
    const p = path.join(sb, `forced-${extra.join('')}`);
    // like sshd with a forced command: the client's command line (host, tsync path, --server) is ignored
    fs.writeFileSync(p, `#!/bin/sh\nexec '${TSYNC_BIN}' --server --root '${share}' ${extra.join(' ')}\n`, { mode: 0o755 });
    return p;
  };
  return { sb, share, outside, forced };
}

const files = async (dir: string) => [...(await snapshot(dir)).keys()].sort();
const everything = (s: Share) => snapshot(s.sb, { exclude: (rel) => rel.startsWith('dst') || rel.startsWith('forced-') });

t.test('a read-only share through a forced-command stand-in', async (t) => {
  const s = await makeShare(t);
  const rsh = s.forced(['--read-only']);
  const before = await everything(s);
  const pull = (from: string, to: string, extra: string[] = []) => runTsync(['-e', rsh, '--tsync-path', '/nonexistent/tsync', ...extra, `host:${from}`, path.join(s.sb, to)]);

  for (const [from, want] of [
    ['', ['a.txt', 'escape', 'inlink', 'sub', 'sub/b.txt', 'sub/deeper', 'sub/deeper/c.txt']],
    ['/', ['a.txt', 'escape', 'inlink', 'sub', 'sub/b.txt', 'sub/deeper', 'sub/deeper/c.txt']],
    ['~/sub/', ['b.txt', 'deeper', 'deeper/c.txt']],
    ['/sub/', ['b.txt', 'deeper', 'deeper/c.txt']],
    ['sub', ['sub', 'sub/b.txt', 'sub/deeper', 'sub/deeper/c.txt']],
    ['sub/deeper/c.txt', ['c.txt']],
    ['inlink/', ['b.txt', 'deeper', 'deeper/c.txt']],
    ['inlink', ['inlink']],
  ] as const) {
    await t.test(`pull host:${from} works, anchored at the root`, async (t) => {
      const to = `dst-${from.replace(/\W/g, '_')}/`;
      const r = await pull(from, to);
      t.equal(r.code, 0, describe(r));
      t.same(await files(path.join(s.sb, to)), [...want].sort(), 'the share\'s files, nothing else');
    });
  }
  await t.test("pulling with --backup-dir ../x: the client's own backup directory, not the server's business", async (t) => {
    const r = await pull('sub/', 'dst-bk/', ['--backup-dir', '../dst-bk-old']);
    t.equal(r.code, 0, describe(r));
  });
  await t.test('a symlink to outside is pulled as a link, never followed', async (t) => {
    t.equal(fs.readlinkSync(path.join(s.sb, 'dst-/escape')), '../outside', 'escape is a link in the copy');
  });

  for (const [from, why] of [
    ['../outside/', /"\.\.\/outside\/" is refused: this server does not allow "\.\." in paths/],
    ['sub/../../outside/secret.txt', /does not allow "\.\."/],
    ['sub/deeper/../..', /does not allow "\.\."/],
    ['escape/', /"escape\/" is refused: it leads outside the server's root through a symbolic link/],
    ['escape', /leads outside the server's root/],
    ['escape/secret.txt', /leads outside the server's root/],
  ] as const) {
    await t.test(`pull host:${from} is refused: exit 4`, async (t) => {
      const r = await pull(from, 'dst-refused/');
      outcome(t, r, { code: REFUSED, stderr: why });
      t.match(r.stderr, /^tsync: error: remote: /, 'the server said it');
      t.notOk(fs.existsSync(path.join(s.sb, 'dst-refused')), 'nothing was made locally');
    });
  }

  await t.test('an absolute path names something inside the root, not the server\'s file', async (t) => {
    const r = await pull(path.join(s.outside, 'secret.txt'), 'dst-abs/');
    outcome(t, r, { code: 3, stderr: /source \/.*\/outside\/secret\.txt does not exist/ });
    t.notOk(r.stderr.includes(s.share), "the message names the path as the client gave it, not the share's location");
    t.notOk(fs.existsSync(path.join(s.sb, 'dst-abs')), 'nothing arrived');
  });

  for (const [what, extra] of [
    ['push', []],
    ['push --dry-run', ['-n']],
    ['push --delete', ['--delete']],
  ] as const) {
    await t.test(`${what} is refused: the share is read-only`, async (t) => {
      const src = path.join(s.sb, 'dst-');
      const r = await runTsync(['-e', rsh, ...extra, `${src}/`, 'host:sub/']);
      outcome(t, r, { code: REFUSED, stderr: /remote: this server is read-only: it can be pulled from, not pushed to/ });
    });
  }
  await t.test('--two-way with a read-only share is refused: a replica is written to', async (t) => {
    const mine = path.join(s.sb, 'dst-twoway');
    await fsp.mkdir(mine);
    await fsp.writeFile(path.join(mine, 'mine.txt'), 'would go there\n');
    const r = await runTsync(['--two-way', '-e', rsh, mine, 'host:sub']);
    outcome(t, r, { code: REFUSED, stderr: /remote: this server is read-only/ });
  });
  t.same(diffSnapshots(before, await everything(s), { labels: ['before', 'after'] }), [], 'the share and everything beside it are unchanged');
});

t.test('a writable share: pushes land inside it, escapes are refused', async (t) => {
  const s = await makeShare(t);
  const rsh = s.forced([]);
  const src = path.join(s.sb, 'dst-src');
  await fsp.mkdir(src);
  await fsp.writeFile(path.join(src, 'new.txt'), 'new\n');
  const outsideBefore = await snapshot(s.outside);
  const push = (to: string, extra: string[] = []) => runTsync(['-e', rsh, ...extra, `${src}/`, `host:${to}`]);

  let r = await push('incoming/');
  t.equal(r.code, 0, `push to host:incoming/ (${describe(r)})`);
  t.equal(fs.readFileSync(path.join(s.share, 'incoming/new.txt'), 'utf8'), 'new\n', 'landed in SHARE/incoming');

  r = await push('/');
  t.equal(r.code, 0, `push to host:/ (${describe(r)})`);
  t.ok(fs.existsSync(path.join(s.share, 'new.txt')), 'host:/ is the share itself');

  r = await push(`${s.outside}/`);
  outcome(t, r, { code: 3, stderr: /destination's parent directory .* does not exist/ });
  t.notOk(r.stderr.includes(s.share), "the server's messages do not show where the share lives");

  for (const [to, extra, why] of [
    ['escape/', [], /"escape\/" is refused: it leads outside/],
    ['../outside/', [], /does not allow "\.\."/],
    ['incoming/', ['--backup-dir', '../../outside'], /"\.\.\/\.\.\/outside" is refused: this server does not allow "\.\."/],
    ['incoming/', ['--backup-dir', '/escape/bk'], /"\/escape\/bk" is refused: it leads outside/],
  ] as const) {
    await t.test(`push to host:${to} ${extra.join(' ')}: refused`, async (t) => {
      const r = await push(to, [...extra]);
      outcome(t, r, { code: REFUSED, stderr: why });
    });
  }

  await t.test('--backup-dir /bk is anchored at the root', async (t) => {
    await fsp.writeFile(path.join(src, 'new.txt'), 'newer content\n');
    const r = await push('incoming/', ['--backup-dir', '/bk']);
    t.equal(r.code, 0, describe(r));
    t.equal(fs.readFileSync(path.join(s.share, 'bk/new.txt'), 'utf8'), 'new\n', 'the old version is in SHARE/bk');
  });

  await t.test('a client plants a symlink to outside, then pushes through it: refused', async (t) => {
    await fsp.symlink(s.outside, path.join(src, 'planted'));
    let r = await push('incoming/');
    t.equal(r.code, 0, `the link itself is copied (${describe(r)})`);
    r = await push('incoming/planted/');
    outcome(t, r, { code: REFUSED, stderr: /"incoming\/planted\/" is refused: it leads outside/ });
    r = await runTsync(['-e', rsh, 'host:incoming/planted/', path.join(s.sb, 'dst-planted')]);
    outcome(t, r, { code: REFUSED, stderr: /leads outside/ });
  });
  await t.test('--two-way: the replica is inside the share; escapes are refused', async (t) => {
    const mine = path.join(s.sb, 'dst-twoway');
    await fsp.mkdir(mine);
    await fsp.writeFile(path.join(mine, 'mine.txt'), 'from the client\n');
    const r = await runTsync(['--two-way', '-e', rsh, mine, 'host:/replica']);
    t.equal(r.code, 0, describe(r));
    t.equal(fs.readFileSync(path.join(s.share, 'replica/mine.txt'), 'utf8'), 'from the client\n', 'host:/replica is SHARE/replica');
    for (const [to, extra, why] of [
      ['escape/x', [], /leads outside/],
      ['../outside', [], /does not allow "\.\."/],
      ['/replica', ['--backup-dir', '/escape/bk'], /leads outside/],
    ] as const) {
      const bad = await runTsync(['--two-way', '-e', rsh, ...extra, mine, `host:${to}`]);
      outcome(t, bad, { code: REFUSED, stderr: why });
    }
  });
  t.same(diffSnapshots(outsideBefore, await snapshot(s.outside), { labels: ['before', 'after'] }), [], 'nothing outside the share changed');
});

t.test('--root and --read-only belong to the server', async (t) => {
  const sb = t.testdir();
  for (const args of [['--root', sb, `${sb}/a`, `${sb}/b`], ['--read-only', `${sb}/a`, `${sb}/b`]]) {
    const r = await runTsync(args);
    outcome(t, r, { code: 1, stderr: /--root and --read-only limit a server: give them with --server/ });
  }
  const s = await makeShare(t);
  const rsh = path.join(sb, 'bad-root');
  fs.writeFileSync(rsh, `#!/bin/sh\nexec '${TSYNC_BIN}' --server --root '${sb}/no-such-share'\n`, { mode: 0o755 });
  const r = await runTsync(['-e', rsh, 'host:a.txt', path.join(s.sb, 'dst')]);
  outcome(t, r, { code: REFUSED, stderr: /the server's --root .*no-such-share is not usable \(ENOENT\)/ });
});

/** Talk to `tsync --server --root SHARE --read-only` directly, as a client that sends what it likes. */
async function hostileStart(s: Share, role: 'sender' | 'receiver', paths: string[], backupDir = ''): Promise<{ r: RunResult; said: string }> {
  const child = spawnTsync(['--server', '--root', s.share, '--read-only']);
  const p = new WirePeer(child.stdout, child.stdin);
  const exited = new Promise<RunResult>((resolve) => {
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.on('close', (code, signal) => resolve({ code, signal, stdout: '', stderr, timedOut: false }));
  });
  await clientHandshake(p, { role, paths, options: { ...OPTIONS, backupDir } });
  const said = (await p.drain(10_000)).map((m) => (m.t === 'error' ? `${m.code}: ${m.message}` : m.t)).join(' | ');
  p.destroy();
  return { r: await exited, said };
}

t.test('a hostile client speaking to the restricted server directly', async (t) => {
  const s = await makeShare(t);
  for (const [what, role, paths, want] of [
    ['a receiver role', 'receiver', ['sub/'], /^E_READ_ONLY: this server is read-only/],
    ['.. among several paths', 'sender', ['a.txt', 'sub/../../outside/'], /^E_REFUSED: .*does not allow "\.\."/],
    ['a NUL in a path', 'sender', ['a.txt\0/../../outside'], /^E_REFUSED: .*NUL byte/],
    ['a path through the escaping symlink', 'sender', ['escape/secret.txt'], /^E_REFUSED: .*leads outside/],
  ] as const) {
    await t.test(what, async (t) => {
      const { r, said } = await hostileStart(s, role, [...paths]);
      t.match(said, want, `the server answered with an error: ${said}`);
      t.equal(r.code, REFUSED, `the server exits 4 (${describe(r)})`);
      t.equal(r.stderr, '', 'and prints nothing on its own stderr');
    });
  }
});

t.test('a read-only share behind a real sshd forced command', async (t) => {
  if (!requireOrSkip(t, sshdAvailable())) return;
  const s = await makeShare(t);
  const sshd = await startSshd(t);
  // as the man page's FORCED COMMANDS example has it
  await sshd.setForcedCommand(`${TSYNC_BIN} --server --root ${s.share} --read-only`, ['restrict']);
  const before = await everything(s);
  const over = ['-e', sshd.rsh, '--tsync-path', '/the/client/cannot/choose/this'];

  let r = await runTsync([...over, `${sshd.host}:sub/`, path.join(s.sb, 'dst-ssh')]);
  t.equal(r.code, 0, `pull over ssh (${describe(r)})`);
  t.same(await files(path.join(s.sb, 'dst-ssh')), ['b.txt', 'deeper', 'deeper/c.txt'], 'the share\'s sub/ arrived');

  r = await runTsync([...over, path.join(s.sb, 'dst-ssh/'), `${sshd.host}:sub/`]);
  outcome(t, r, { code: REFUSED, stderr: /remote: this server is read-only/ });
  for (const from of ['../outside/', 'escape/']) {
    r = await runTsync([...over, `${sshd.host}:${from}`, path.join(s.sb, 'dst-ssh-escape')]);
    outcome(t, r, { code: REFUSED, stderr: /is refused/ });
  }
  t.notOk(fs.existsSync(path.join(s.sb, 'dst-ssh-escape')), 'nothing arrived from outside');
  t.same(diffSnapshots(before, await everything(s), { labels: ['before', 'after'] }), [], 'the share and everything beside it are unchanged');
});
