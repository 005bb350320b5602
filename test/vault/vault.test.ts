// The vault as its users run it (PRODUCT.md §8, issue 13): push, restore,
// --at, log and check through the real binary, on a local directory and
// over the real sshd; what the host can see; tampering (16), rollback and
// fork (17), read-only and wrong keys (15); two clients at once; kill -9.

import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { TSYNC_BIN, collect, runTsync, spawnTsync, type RunResult } from '../helpers/run.js';
import { diffSnapshots, makeRandomTree, mutateTree, snapshot } from '../helpers/tree.js';
import { requireOrSkip, sshdAvailable, startSshd } from '../helpers/sshd.js';

const AUTH = 15;
const DAMAGED = 16;
const ROLLBACK = 17;

interface Client {
  run(args: string[], env?: Record<string, string>): Promise<RunResult>;
  spawn(args: string[]): ReturnType<typeof spawnTsync>;
  env: Record<string, string>;
}

/** a client with its own state and cache directories, as on its own machine */
function client(sb: string, name: string): Client {
  const env = { XDG_STATE_HOME: path.join(sb, name, 'state'), XDG_CACHE_HOME: path.join(sb, name, 'cache') };
  return {
    env,
    run: (args, extra = {}) => runTsync(args, { env: { ...env, ...extra } }),
    spawn: (args) => spawnTsync(args, { env }),
  };
}

async function keygen(sb: string, name = 'key'): Promise<string> {
  const file = path.join(sb, name);
  const r = await runTsync(['keygen', '--vault', file]);
  if (r.code !== 0) throw new Error(r.stderr);
  return file;
}

/** an exact copy (rsync -a, the oracle's own copy) */
const copy = (from: string, to: string) => execFileSync('rsync', ['-a', '--delete', `${from}/`, `${to}/`]);
const same = async (a: string, b: string) => diffSnapshots(await snapshot(a), await snapshot(b), { mtimePrecision: 'us', labels: ['source', 'restored'] });
const ok = (t: Test, r: RunResult, what: string) => t.equal(r.code, 0, `${what}: exit 0${r.code ? ` (${r.stderr.trim()})` : ''}`);

/** every file below dir with its bytes, for the host's-view and unchanged checks */
function objects(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(dir, rel))) {
      const r = rel ? `${rel}/${n}` : n;
      const st = fs.lstatSync(path.join(dir, r));
      if (st.isDirectory()) walk(r);
      else out.set(r, fs.readFileSync(path.join(dir, r)));
    }
  };
  walk('');
  return out;
}

t.test('round trips on seeded random trees, and --at restores every snapshot exactly', async (t) => {
  const sb = t.testdir();
  const key = await keygen(sb);
  const a = client(sb, 'a');
  const src = path.join(sb, 'src');
  const vault = path.join(sb, 'vault');
  await makeRandomTree(src, 1301, { bigFiles: 2, bigMaxBytes: 3 << 20 });
  const kept: string[] = [];
  for (let i = 1; i <= 3; i++) {
    if (i > 1) await mutateTree(src, 1301 + i);
    ok(t, await a.run(['--vault', key, `${src}/`, vault]), `push ${i}`);
    kept.push(path.join(sb, `copy${i}`));
    copy(src, kept[i - 1]);
  }
  const dst = path.join(sb, 'dst');
  ok(t, await a.run(['--vault', key, vault, `${dst}/`]), 'restore the latest');
  t.same(await same(src, dst), [], 'the latest restores exactly');
  for (let i = 1; i <= 3; i++) {
    const at = path.join(sb, `at${i}`);
    ok(t, await a.run(['--vault', key, '--at', String(i), vault, `${at}/`]), `restore --at ${i}`);
    t.same(await same(kept[i - 1], at), [], `snapshot ${i} restores exactly`);
  }
  // --delete on a restore into a directory that holds more; -n changes nothing
  await fsp.writeFile(path.join(dst, 'extra.txt'), 'not in the vault\n');
  const dry = await a.run(['--vault', key, '--at', '1', '--delete', '-n', '-i', vault, `${dst}/`]);
  ok(t, dry, 'dry-run restore');
  t.match(dry.stdout, /\*deleting +extra\.txt/, 'the dry run says it would delete');
  t.ok(fs.existsSync(path.join(dst, 'extra.txt')), 'and deletes nothing');
  ok(t, await a.run(['--vault', key, '--at', '1', '--delete', vault, `${dst}/`]), 'restore --at 1 --delete over the newer tree');
  t.same(await same(kept[0], dst), [], 'DEST is snapshot 1 exactly');
  // log lists them
  const log = await a.run(['vault', 'log', '--json', '--vault', key, vault]);
  ok(t, log, 'vault log');
  const rows = (JSON.parse(log.stdout) as { snapshots: Array<{ snapshot: number; files: number }> }).snapshots;
  t.same(rows.map((r) => r.snapshot), [1, 2, 3], 'three snapshots, numbered from 1');
  const check = await a.run(['vault', 'check', '--read-data', '--vault', key, vault]);
  ok(t, check, 'check --read-data passes');
  // a filter on restore
  const only = path.join(sb, 'only');
  ok(t, await a.run(['--vault', key, '--exclude', '*', '--include', '*/', vault, `${only}/`]), 'restore with filters');
});

t.test('over the real sshd', async (t) => {
  if (!requireOrSkip(t, sshdAvailable())) return;
  const sshd = await startSshd(t);
  const sb = t.testdir();
  const key = await keygen(sb);
  const a = client(sb, 'a');
  const src = path.join(sb, 'src');
  // big enough for several packs, so that two are uploaded at once
  await makeRandomTree(src, 1311, { bigFiles: 8, bigMaxBytes: 5 << 20 });
  const reach = ['-e', sshd.rsh, '--tsync-path', TSYNC_BIN];
  const vault = `127.0.0.1:${path.join(sb, 'remote-vault')}`;
  ok(t, await a.run(['--vault', key, ...reach, `${src}/`, vault]), 'push over ssh (the first push creates the vault)');
  copy(src, path.join(sb, 'copy1'));
  await mutateTree(src, 1312);
  const again = await a.run(['--vault', key, ...reach, '--stats', `${src}/`, vault]);
  ok(t, again, 'second push over ssh');
  const dst = path.join(sb, 'dst');
  ok(t, await a.run(['--vault', key, ...reach, vault, `${dst}/`]), 'restore over ssh');
  t.same(await same(src, dst), [], 'restored exactly');
  const at1 = path.join(sb, 'at1');
  ok(t, await a.run(['--vault', key, ...reach, '--at', '1', vault, `${at1}/`]), 'restore --at 1 over ssh');
  t.same(await same(path.join(sb, 'copy1'), at1), [], 'snapshot 1 exactly');
  ok(t, await a.run(['vault', 'check', '--read-data', '--vault', key, ...reach, vault]), 'check --read-data over ssh');
});

t.test("the host's view: no names, no contents, few objects", async (t) => {
  const sb = t.testdir();
  const key = await keygen(sb);
  const a = client(sb, 'a');
  const src = path.join(sb, 'src');
  await fsp.mkdir(path.join(src, 'MARKERDIR'), { recursive: true });
  for (let i = 0; i < 2000; i++) await fsp.writeFile(path.join(src, i % 2 ? 'MARKERDIR' : '', `MARKERNAME-${i}.txt`), `MARKERCONTENT ${i} ${'x'.repeat(i % 700)}\n`);
  const vault = path.join(sb, 'vault');
  ok(t, await a.run(['--vault', key, `${src}/`, vault]), 'push 2,000 small files');
  const seen = objects(vault);
  for (const [name, bytes] of seen) {
    for (const marker of ['MARKER', 'marker', 'NAME-1', 'CONTENT']) {
      if (name.includes(marker) || bytes.includes(marker)) t.fail(`${name} shows ${marker}`);
    }
  }
  t.ok(seen.size <= 6, `2,000 files are ${seen.size} objects (config, a head, packs)`);
  const sizes = [...seen.entries()].filter(([n]) => n.startsWith('data/')).map(([, b]) => b.length);
  const fileSizes = new Set(Array.from({ length: 2000 }, (_, i) => `MARKERCONTENT ${i} ${'x'.repeat(i % 700)}\n`.length));
  t.notOk(sizes.some((s) => fileSizes.has(s)), "no object's size is a file's size");
});

/** two snapshots of a small tree in which every file changes, so old and new differ everywhere */
async function twoSnapshots(sb: string, key: string, a: Client): Promise<{ vault: string; v1: string; v2: string }> {
  const src = path.join(sb, 'src');
  for (const v of [1, 2]) {
    await fsp.mkdir(path.join(src, 'd'), { recursive: true });
    for (let i = 0; i < 20; i++) await fsp.writeFile(path.join(src, i % 2 ? 'd' : '', `f${i}`), randomBytes(1000 * (i + 1)));
    await fsp.writeFile(path.join(src, 'big'), randomBytes(3 << 20));
    await a.run(['--vault', key, `${src}/`, path.join(sb, 'vault')]);
    if (v === 1) fs.writeFileSync(path.join(sb, 'first-objects'), [...objects(path.join(sb, 'vault')).keys()].join('\n'));
    copy(src, path.join(sb, `v${v}`));
  }
  return { vault: path.join(sb, 'vault'), v1: path.join(sb, 'v1'), v2: path.join(sb, 'v2') };
}

/** each file of dir is its version in a or in b */
async function oldOrNew(dir: string, a: string, b: string): Promise<string[]> {
  const bad: string[] = [];
  for (const [rel, e] of await snapshot(dir)) {
    if (e.type !== 'file') continue;
    const got = fs.readFileSync(path.join(dir, rel));
    const inA = fs.existsSync(path.join(a, rel)) && got.equals(fs.readFileSync(path.join(a, rel)));
    const inB = fs.existsSync(path.join(b, rel)) && got.equals(fs.readFileSync(path.join(b, rel)));
    if (!inA && !inB) bad.push(rel);
  }
  return bad;
}

t.test('tampering: check --read-data and the restore that reads it exit 16 naming the object', async (t) => {
  const sb = t.testdir();
  const key = await keygen(sb);
  const a = client(sb, 'a');
  const { vault, v1, v2 } = await twoSnapshots(sb, key, a);
  const first = new Set(fs.readFileSync(path.join(sb, 'first-objects'), 'utf8').split('\n'));
  // the objects the newest snapshot added: the ones a restore of it must read
  const names = [...objects(vault).keys()].filter((n) => n.startsWith('heads/') || !first.has(n));
  const heads = names.filter((n) => n.startsWith('heads/'));
  const packs = names.filter((n) => n.startsWith('data/')).sort((x, y) => fs.statSync(path.join(vault, y)).size - fs.statSync(path.join(vault, x)).size);
  const small = packs.filter((p) => fs.statSync(path.join(vault, p)).size < 4096);
  const big = packs[0];
  const flip = (rel: string, at: (len: number) => number) => (dir: string) => {
    const p = path.join(dir, rel);
    const b = fs.readFileSync(p);
    b[at(b.length)] ^= 0x40;
    fs.writeFileSync(p, b);
  };
  const cases: Array<{ what: string; names: string; tamper: (dir: string) => void }> = [
    { what: 'a byte flipped in the newest head', names: heads[1], tamper: flip(heads[1], (n) => n >> 1) },
    { what: 'a byte flipped in a data pack', names: big, tamper: flip(big, (n) => n >> 1) },
    // inside its one blob: the padding after it is checked by the pack's name, which only --read-data reads whole
    { what: 'a byte flipped in an index pack', names: small[0], tamper: flip(small[0], () => 40) },
    { what: 'a data pack truncated', names: big, tamper: (d) => fs.truncateSync(path.join(d, big), 1000) },
    {
      what: 'two packs swapped',
      names: 'data/',
      tamper: (d) => {
        const [x, y] = [path.join(d, packs[0]), path.join(d, packs[1])];
        fs.renameSync(x, `${x}.swap`);
        fs.renameSync(y, x);
        fs.renameSync(`${x}.swap`, y);
      },
    },
    { what: 'a data pack deleted', names: big, tamper: (d) => fs.rmSync(path.join(d, big)) },
    { what: 'the newest head deleted (a gap the last snapshot leaves is a rollback to this client)', names: heads[1], tamper: (d) => fs.rmSync(path.join(d, heads[1])) },
  ];
  let n = 0;
  for (const c of cases) {
    await t.test(c.what, async (t) => {
      const dir = path.join(sb, `case${++n}`);
      copy(vault, dir);
      c.tamper(dir);
      const deleted = c.what.includes('head deleted');
      const check = await a.run(['vault', 'check', '--read-data', '--vault', key, dir]);
      t.equal(check.code, deleted ? ROLLBACK : DAMAGED, `check exits ${deleted ? 17 : 16}`);
      if (!deleted) t.match(check.stderr, c.names, 'and names the object');
      // a client with no history of the vault reads it as it is: damage is 16 all the same
      const fresh = client(sb, `fresh${n}`);
      const dest = path.join(sb, `dest${n}`);
      copy(v1, dest);
      const r = await fresh.run(['--vault', key, dir, `${dest}/`]);
      if (deleted) {
        t.equal(r.code, 0, 'a client that never saw the lost head restores what is there');
        return;
      }
      t.equal(r.code, DAMAGED, `the restore exits 16 (${r.stderr.trim().split('\n').pop()})`);
      t.same(await oldOrNew(dest, v1, v2), [], "DEST's files are all old or new");
      t.same(fs.readdirSync(dest).filter((x) => x.includes('.tsync')), [], 'no temporary is left');
    });
  }
});

t.test('rollback and fork: exit 17 before anything changes', async (t) => {
  const sb = t.testdir();
  const key = await keygen(sb);
  const a = client(sb, 'a');
  const b = client(sb, 'b');
  const src = path.join(sb, 'src');
  const vault = path.join(sb, 'vault');
  await makeRandomTree(src, 1321, { files: 30, bigFiles: 0 });
  ok(t, await a.run(['--vault', key, `${src}/`, vault]), 'push 1');
  copy(vault, path.join(sb, 'old'));
  for (const i of [2, 3]) {
    await mutateTree(src, 1321 + i, { ops: 5 });
    ok(t, await a.run(['--vault', key, `${src}/`, vault]), `push ${i}`);
  }
  copy(path.join(sb, 'old'), vault); // the host puts the old copy back
  const before = objects(vault);
  const push = await a.run(['--vault', key, `${src}/`, vault]);
  t.equal(push.code, ROLLBACK, 'the pushing client exits 17');
  t.match(push.stderr, /rolled back/, 'and says the vault was rolled back');
  t.same([...objects(vault).keys()], [...before.keys()], 'nothing was written to the vault');
  const dst = path.join(sb, 'dst');
  const restore = await a.run(['--vault', key, vault, `${dst}/`]);
  t.equal(restore.code, ROLLBACK, 'a restore exits 17 too');
  t.notOk(fs.existsSync(dst), 'and made nothing');
  t.equal((await a.run(['vault', 'log', '--vault', key, vault])).code, ROLLBACK, 'and so does log');

  // a fork: snapshot 1, then a continues it one way and b (on a copy the host kept) another
  const fv = path.join(sb, 'fv');
  ok(t, await a.run(['--vault', key, `${src}/`, fv]), 'a pushes snapshot 1 of another vault');
  const kept = path.join(sb, 'fork');
  copy(fv, kept);
  await mutateTree(src, 1330, { ops: 5 });
  ok(t, await a.run(['--vault', key, `${src}/`, fv]), 'a pushes snapshot 2');
  await mutateTree(src, 1331, { ops: 5 });
  ok(t, await b.run(['--vault', key, `${src}/`, kept]), 'b pushes another snapshot 2 onto the kept copy (first contact: it trusts it)');
  copy(kept, fv);
  const forked = await a.run(['--vault', key, `${src}/`, fv]);
  t.equal(forked.code, ROLLBACK, 'a exits 17 on the fork');
  t.match(forked.stderr, /forked/, 'and says it forked');
  ok(t, await b.run(['--vault', key, `${src}/`, fv]), 'b, whose history it is, goes on');
});

t.test('keys: read-only restores and cannot push; a wrong key is 15; passphrase; TSYNC_VAULT_KEY', async (t) => {
  const sb = t.testdir();
  const key = await keygen(sb);
  const other = await keygen(sb, 'other');
  const a = client(sb, 'a');
  const src = path.join(sb, 'src');
  const vault = path.join(sb, 'vault');
  await makeRandomTree(src, 1331, { files: 20, bigFiles: 0 });
  ok(t, await a.run(['--vault', key, `${src}/`, vault]), 'push');
  const ro = path.join(sb, 'ro');
  const made = await runTsync(['keygen', '--read-only', key, ro]);
  ok(t, made, 'keygen --read-only');
  t.match(made.stdout, /^tsync-vault-ro:/, 'prints a read-only code');
  t.equal(fs.statSync(ro).mode & 0o777, 0o600, 'written 0600');
  const dst = path.join(sb, 'dst');
  ok(t, await a.run(['--vault', ro, vault, `${dst}/`]), 'a read-only key restores');
  t.same(await same(src, dst), [], 'exactly');
  ok(t, await a.run(['vault', 'check', '--read-data', '--vault', ro, vault]), 'and checks');
  const before = objects(vault);
  const refused = await a.run(['--vault', ro, `${src}/`, vault]);
  t.equal(refused.code, AUTH, 'a push with it exits 15');
  t.same([...objects(vault).keys()], [...before.keys()], 'and writes nothing');
  const wrong = await a.run(['--vault', other, vault, `${path.join(sb, 'dst2')}/`]);
  t.equal(wrong.code, AUTH, 'another vault\'s key exits 15');
  t.match(wrong.stderr, /does not open this vault/);
  t.equal((await a.run(['--vault', other, `${src}/`, vault])).code, AUTH, 'and cannot push either');

  // a passphrase-protected key
  const pf = path.join(sb, 'pass');
  fs.writeFileSync(pf, 'correct horse\n');
  const locked = path.join(sb, 'locked');
  ok(t, await runTsync(['keygen', '--vault', locked, '--passphrase'], { env: { TSYNC_PASSPHRASE_FILE: pf } }), 'keygen --passphrase');
  t.notMatch(fs.readFileSync(locked, 'utf8'), /tsync-vault:/, 'the file does not hold the code in clear');
  const v2 = path.join(sb, 'vault2');
  ok(t, await a.run(['--vault', locked, `${src}/`, v2], { TSYNC_PASSPHRASE_FILE: pf }), 'push with the passphrase');
  fs.writeFileSync(pf, 'wrong\n');
  const bad = await a.run(['--vault', locked, `${src}/`, v2], { TSYNC_PASSPHRASE_FILE: pf });
  t.equal(bad.code, AUTH, 'a wrong passphrase exits 15');
  t.match(bad.stderr, /wrong passphrase/);
  // TSYNC_VAULT_KEY names the key when --vault is not given (a local vault is recognised)
  const dst3 = path.join(sb, 'dst3');
  ok(t, await a.run([vault, `${dst3}/`], { TSYNC_VAULT_KEY: key }), 'restore with TSYNC_VAULT_KEY');
  t.same(await same(src, dst3), [], 'exactly');
});

t.test('two clients pushing at the same moment: every push ends in the history', async (t) => {
  const sb = t.testdir();
  const key = await keygen(sb);
  const vault = path.join(sb, 'vault');
  const clients = [client(sb, 'a'), client(sb, 'b')];
  const copies: string[] = [];
  for (let round = 0; round < 3; round++) {
    const runs = clients.map(async (c, i) => {
      const src = path.join(sb, `src${i}`);
      await fsp.rm(src, { recursive: true, force: true });
      await makeRandomTree(src, 2000 + round * 10 + i, { files: 40, bigFiles: 1, bigMaxBytes: 1 << 20, oddNames: false });
      const copyDir = path.join(sb, `copy-${round}-${i}`);
      copy(src, copyDir);
      copies.push(copyDir);
      return collect(c.spawn(['--vault', key, `${src}/`, vault]));
    });
    for (const r of await Promise.all(runs)) ok(t, r, `round ${round}: a push`);
  }
  const log = JSON.parse((await clients[0].run(['vault', 'log', '--json', '--vault', key, vault])).stdout) as { snapshots: unknown[] };
  t.equal(log.snapshots.length, 6, 'six pushes, six snapshots');
  const matched = new Set<string>();
  for (let s = 1; s <= 6; s++) {
    const dst = path.join(sb, `r${s}`);
    ok(t, await clients[1].run(['--vault', key, '--at', String(s), vault, `${dst}/`]), `restore snapshot ${s}`);
    for (const c of copies) if ((await same(c, dst)).length === 0) matched.add(c);
  }
  t.equal(matched.size, 6, 'each snapshot restores exactly one of the six pushed trees, and all six are there');
  ok(t, await clients[0].run(['vault', 'check', '--read-data', '--vault', key, vault]), 'check --read-data');
});

t.test('kill -9 of either side during a push: the vault stays readable, the next push completes', async (t) => {
  const sb = t.testdir();
  const key = await keygen(sb);
  const a = client(sb, 'a');
  const src = path.join(sb, 'src');
  await makeRandomTree(src, 1341, { files: 60, bigFiles: 6, bigMaxBytes: 6 << 20, oddNames: false });
  const vault = path.join(sb, 'vault');
  const pidFile = path.join(sb, 'server.pid');
  // an -e stand-in that records the server's pid (exec keeps it)
  const rsh = path.join(sb, 'rsh');
  fs.writeFileSync(rsh, `#!/bin/sh\nshift\necho $$ > '${pidFile}'\nexec sh -c "exec $*"\n`, { mode: 0o755 });
  let first = true;
  for (const [side, ms] of [['client', 150], ['server', 300], ['client', 700], ['server', 1200]] as const) {
    if (!first) await mutateTree(src, 1341 + ms, { ops: 10 });
    first = false;
    fs.rmSync(pidFile, { force: true });
    const child = a.spawn(['--vault', key, '-e', rsh, '--tsync-path', TSYNC_BIN, `${src}/`, `host:${vault}`]);
    const done = collect(child);
    await new Promise((r) => setTimeout(r, ms));
    if (side === 'client') child.kill('SIGKILL');
    else if (fs.existsSync(pidFile)) {
      try {
        process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL');
      } catch {
        // the server had finished already: this round is a completed push
      }
    }
    await done;
    if (fs.existsSync(path.join(vault, 'config'))) {
      ok(t, await a.run(['vault', 'check', '--read-data', '--vault', key, vault]), `after kill -9 of the ${side} at ${ms} ms: check passes`);
    }
    ok(t, await a.run(['--vault', key, `${src}/`, vault]), 'the next push completes');
    const dst = path.join(sb, `dst-${ms}`);
    ok(t, await a.run(['--vault', key, vault, `${dst}/`]), 'and restores');
    t.same(await same(src, dst), [], 'exactly');
  }
  ok(t, await a.run(['vault', 'check', '--read-data', '--vault', key, vault]), 'check --read-data at the end');
});

t.test('a re-push reads only what changed and stores about one chunk per edit', async (t) => {
  const sb = t.testdir();
  const key = await keygen(sb);
  const a = client(sb, 'a');
  const src = path.join(sb, 'src');
  await fsp.mkdir(src);
  const big = Buffer.alloc(20 << 20);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
  fs.writeFileSync(path.join(src, 'big.bin'), big);
  const vault = path.join(sb, 'vault');
  ok(t, await a.run(['--vault', key, `${src}/`, vault]), 'push');
  const stats = async () => JSON.parse((await a.run(['--vault', key, '--json', `${src}/`, vault])).stdout) as { bytes: { literal: number } };
  t.equal((await stats()).bytes.literal, 0, 'nothing new is stored for an unchanged tree');
  const fd = fs.openSync(path.join(src, 'big.bin'), 'r+');
  fs.writeSync(fd, Buffer.from('an edit in the middle'), 0, 21, 10 << 20);
  fs.closeSync(fd);
  const edited = await stats();
  t.ok(edited.bytes.literal > 0 && edited.bytes.literal <= 2 << 20, `an edit stores ${edited.bytes.literal} bytes (chunks of at most 1 MiB)`);
  fs.renameSync(path.join(src, 'big.bin'), path.join(src, 'moved.bin'));
  t.equal((await stats()).bytes.literal, 0, 'a moved file stores nothing');
});

t.test('a vault behind a forced command: --root keeps it inside the share, --read-only lets restores through', async (t) => {
  const sb = t.testdir();
  const key = await keygen(sb);
  const a = client(sb, 'a');
  const share = path.join(sb, 'share');
  fs.mkdirSync(share);
  const forced = (extra: string) => {
    const p = path.join(sb, `forced${extra.replace(/\W/g, '')}`);
    // like sshd with command="tsync --server --root SHARE": the client's own command line is ignored
    fs.writeFileSync(p, `#!/bin/sh\nexec '${TSYNC_BIN}' --server --root '${share}' ${extra}\n`, { mode: 0o755 });
    return p;
  };
  const src = path.join(sb, 'src');
  await makeRandomTree(src, 1351, { files: 20, bigFiles: 0 });
  ok(t, await a.run(['--vault', key, '-e', forced(''), `${src}/`, 'host:vaults/mine']), 'push into the share');
  t.ok(fs.existsSync(path.join(share, 'vaults/mine/config')), 'the vault is inside the share');
  const out = await a.run(['--vault', key, '-e', forced(''), `${src}/`, 'host:../escape']);
  t.equal(out.code, 4, 'a vault outside the share is refused');
  t.notOk(fs.existsSync(path.join(sb, 'escape')), 'and nothing is written there');
  const dst = path.join(sb, 'dst');
  ok(t, await a.run(['--vault', key, '-e', forced('--read-only'), 'host:vaults/mine', `${dst}/`]), 'a read-only share restores');
  t.same(await same(src, dst), [], 'exactly');
  const before = objects(path.join(share, 'vaults/mine'));
  const refused = await a.run(['--vault', key, '-e', forced('--read-only'), `${src}/`, 'host:vaults/mine']);
  t.equal(refused.code, 4, 'and refuses a push');
  t.same([...objects(path.join(share, 'vaults/mine')).keys()], [...before.keys()], 'writing nothing');
});
