// lib/fs/apply.ts: the receiver's hands on the destination. Reading what is
// there (never through a link), hashing, temporary names within NAME_MAX in
// bytes, metadata to the microsecond, links placed by rename, backups,
// sweeping stale temporaries, and every disk call through the fsys seam.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import t from 'tap';
import {
  cleanStaleTemps, cutUtf8, dropTemp, hashFile, keepCopy, moveAside, openTemp, partialName,
  placeSymlink, readLocal, secondsOf, setFileMeta, setPathMeta, staleTemps, tempName, tempStem,
} from '../../lib/fs/apply.js';
import { realFs, type FileSystem } from '../../lib/fs/seam.js';
import { mtimeUs } from '../../lib/time.js';
import { PARTIAL_PREFIX, TMP_PREFIX } from '../../lib/tree/reserved.js';
import type { Entry } from '../../lib/wire/schema.js';

const US = 1_600_000_000_123_457; // a mtime with all six microsecond digits in use
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest();
const bytes = (s: string) => Buffer.byteLength(s);
const entry = (type: Entry['type'], mode: number, mtime: number): Entry => ({ path: 'x', type, mode, size: 0, mtime });
const lmtime = (p: string) => mtimeUs(fs.lstatSync(p));
const errno = (code: string) => Object.assign(new Error(`${code}: injected`), { code });
/** what a file made with `mode` gets under this process's umask */
const underUmask = (dir: string, mode: number) => {
  const ref = path.join(dir, `ref-${mode.toString(8)}`);
  fs.writeFileSync(ref, '', { mode });
  return fs.statSync(ref).mode & 0o7777;
};
/** a FileSystem over realFs that rewrites /virtual/... to `real` and logs every call: a call that bypassed it would hit /virtual itself */
function virtualFs(real: string, log: string[], over: Partial<FileSystem> = {}): FileSystem {
  const map = (a: unknown) => (typeof a === 'string' && (a === '/virtual' || a.startsWith('/virtual/')) ? real + a.slice('/virtual'.length) : a);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(fs) as (keyof FileSystem)[]) {
    if (!k.endsWith('Sync') || typeof fs[k] !== 'function') continue;
    out[k] = (...args: unknown[]) => {
      log.push(k);
      const fn = (over[k] ?? realFs[k]) as (...a: unknown[]) => unknown;
      return fn(...args.map(map));
    };
  }
  return out as unknown as FileSystem;
}

t.test('readLocal: type, mode bits and mtime of what is there; a link is read, never followed', async (t) => {
  const d = t.testdir({ f: 'hello', dir: {}, link: t.fixture('symlink', 'f') });
  fs.chmodSync(path.join(d, 'f'), 0o4751);
  fs.chmodSync(path.join(d, 'dir'), 0o1700);
  fs.utimesSync(path.join(d, 'f'), 1, secondsOf(US));
  fs.lutimesSync(path.join(d, 'link'), 1, secondsOf(US + 1));
  t.same(readLocal(path.join(d, 'f')), { type: 'f', mode: 0o4751, size: 5, mtime: US }, 'setuid kept, mtime to the microsecond');
  t.match(readLocal(path.join(d, 'dir')), { type: 'd', mode: 0o1700, size: 0 });
  t.same(readLocal(path.join(d, 'link')), { type: 'l', mode: 0o777, size: 0, mtime: US + 1, target: 'f' }, "the link's own mtime, its target text");
  t.equal(readLocal(path.join(d, 'missing')), null);
  execFileSync('mkfifo', ['-m', '0640', path.join(d, 'fifo')]);
  t.match(readLocal(path.join(d, 'fifo')), { type: 'other', mode: 0o640, size: 0 });
});

t.test('hashFile: sha256 of the content; a Buffer up to 1 MiB, a Promise beyond; never through a link', async (t) => {
  const big = Buffer.alloc((1 << 20) + 12345, 7);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
  const d = t.testdir({ empty: '', small: 'small content', mib: Buffer.alloc(1 << 20, 1), big, link: t.fixture('symlink', 'small') });
  for (const name of ['empty', 'small', 'mib']) {
    const h = hashFile(path.join(d, name));
    t.ok(Buffer.isBuffer(h), `${name}: synchronous`);
    t.same(h, sha(fs.readFileSync(path.join(d, name))), `${name}: sha256`);
  }
  const p = hashFile(path.join(d, 'big'));
  t.ok(p instanceof Promise, 'over 1 MiB: a Promise');
  const small = hashFile(path.join(d, 'small')); // while the big one is under way
  t.same(await p, sha(big));
  t.same(small, sha('small content'), 'a hash meanwhile is not disturbed');
  t.throws(() => hashFile(path.join(d, 'link')), { code: 'ELOOP' });
});

t.test('names: cut in UTF-8 bytes, never inside a character', async (t) => {
  t.equal(cutUtf8('abc', 3), 'abc');
  t.equal(cutUtf8('日本語', 8), '日本', '3 bytes each: 8 holds two');
  t.equal(cutUtf8('a😀b', 4), 'a', 'a 4-byte emoji does not fit in 3');
  t.equal(cutUtf8('a😀b', 5), 'a😀');
  const cjk = '漢'.repeat(100); // 300 bytes in 100 UTF-16 units
  const emoji = '🙂'.repeat(80); // 320 bytes
  t.equal(tempStem(cjk), '漢'.repeat(33), '99 bytes, a 34th would pass 100');
  t.equal(tempStem(emoji), '🙂'.repeat(25), 'exactly 100 bytes');
  t.equal(tempStem('short.txt'), 'short.txt');
  for (const base of [cjk, emoji, 'a'.repeat(300), `x${emoji}`]) {
    const n = tempName(base);
    t.ok(n.startsWith(TMP_PREFIX + tempStem(base) + '-'), 'prefix, stem, dash');
    t.match(n.slice(-13), /^-[0-9a-f]{12}$/, 'ends with 12 hex digits');
    t.ok(bytes(n) <= 124, `tempName within 124 bytes (${bytes(n)})`);
    const pn = partialName(base);
    t.ok(pn.startsWith(PARTIAL_PREFIX) && base.startsWith(pn.slice(PARTIAL_PREFIX.length)), 'partialName keeps a prefix of whole characters');
    t.ok(bytes(pn) <= 215 && bytes(pn) > 215 - 4, `partialName near 215 bytes (${bytes(pn)})`);
  }
  t.equal(bytes(tempName('a'.repeat(300))), 124);
  t.equal(partialName('ok'), `${PARTIAL_PREFIX}ok`);
  t.not(tempName('f'), tempName('f'), 'two calls differ');
});

t.test('openTemp: a new reserved file beside the target, exclusive, never a link', async (t) => {
  const d = t.testdir({});
  const { fd, path: p } = openTemp(d, 'target.txt', 0o4640);
  fs.writeSync(fd, 'data');
  fs.closeSync(fd);
  t.equal(path.dirname(p), d, 'beside the target');
  t.ok(path.basename(p).startsWith(`${TMP_PREFIX}target.txt-`), 'a reserved name');
  t.equal(fs.readFileSync(p, 'utf8'), 'data');
  t.equal(fs.statSync(p).mode & 0o7777, underUmask(d, 0o640), 'the mode under the umask, setuid dropped');
  const log: { flags: number; mode: number }[] = [];
  let fails = 2;
  const flaky = { ...realFs, openSync: (p: fs.PathLike, flags: number, mode: number) => {
    log.push({ flags, mode });
    if (fails-- > 0) throw errno('EEXIST');
    return fs.openSync(p, flags, mode);
  } } as FileSystem;
  const r = openTemp(d, 'y', 0o600, fs.constants.O_RDWR, flaky);
  fs.closeSync(r.fd);
  t.equal(log.length, 3, 'a name taken is tried again');
  const want = fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW | fs.constants.O_RDWR;
  t.equal(log[0].flags & want, want, 'O_CREAT|O_EXCL|O_NOFOLLOW and the access asked for');
  const taken = { ...realFs, openSync: () => { throw errno('EEXIST'); } } as unknown as FileSystem;
  t.throws(() => openTemp(d, 'z', 0o600, fs.constants.O_WRONLY, taken), { code: 'EEXIST' }, 'gives up in the end');
  const denied = { ...realFs, openSync: () => { throw errno('EACCES'); } } as unknown as FileSystem;
  t.throws(() => openTemp(d, 'z', 0o600, fs.constants.O_WRONLY, denied), { code: 'EACCES' }, 'another error at once');
});

t.test('setFileMeta and setPathMeta: mode and mtime exactly; a link keeps its target untouched', async (t) => {
  const d = t.testdir({ f: 'x', g: 'y', dir: {}, target: 't', link: t.fixture('symlink', 'target') });
  for (const us of [US, 1_700_000_000_000_001, 1_700_000_000_999_999, 0]) {
    const fd = fs.openSync(path.join(d, 'f'), 'r+');
    setFileMeta(fd, entry('f', 0o2755, us));
    fs.closeSync(fd);
    t.equal(fs.statSync(path.join(d, 'f')).mode & 0o7777, 0o2755);
    t.equal(lmtime(path.join(d, 'f')), us, `setFileMeta mtime ${us}`);
  }
  setPathMeta(path.join(d, 'g'), entry('f', 0o640, US), true, true);
  t.equal(fs.statSync(path.join(d, 'g')).mode & 0o7777, 0o640);
  t.equal(lmtime(path.join(d, 'g')), US);
  setPathMeta(path.join(d, 'g'), entry('f', 0o600, US + 5), false, true);
  t.equal(fs.statSync(path.join(d, 'g')).mode & 0o7777, 0o640, 'mode=false leaves the mode');
  setPathMeta(path.join(d, 'g'), entry('f', 0o600, 1), true, false);
  t.equal(lmtime(path.join(d, 'g')), US + 5, 'mtime=false leaves the mtime');
  setPathMeta(path.join(d, 'dir'), entry('d', 0o710, US), true, true);
  t.equal(fs.statSync(path.join(d, 'dir')).mode & 0o7777, 0o710, 'a directory');
  t.equal(lmtime(path.join(d, 'dir')), US);

  const target = path.join(d, 'target');
  fs.chmodSync(target, 0o644);
  fs.utimesSync(target, 1, secondsOf(US));
  setPathMeta(path.join(d, 'link'), entry('l', 0o600, 1_234_567_890_123_456), true, true);
  t.equal(lmtime(path.join(d, 'link')), 1_234_567_890_123_456, "the link's own mtime (lutimes)");
  t.equal(fs.statSync(target).mode & 0o7777, 0o644, "its target's mode unchanged");
  t.equal(lmtime(target), US, "its target's mtime unchanged");
  t.throws(() => setPathMeta(path.join(d, 'link'), entry('f', 0o600, US), true, false), { code: 'ELOOP' }, 'a link where a file was expected: refused');
  t.equal(fs.statSync(target).mode & 0o7777, 0o644);
  setPathMeta(path.join(d, 'g'), entry('f', 0o640, -1_234_567), false, true);
  t.equal(lmtime(path.join(d, 'g')), -1_234_567, 'a pre-1970 mtime');
});

t.test('placeSymlink: a file replaced by a link in one rename; a failed rename leaves no temporary', async (t) => {
  const d = t.testdir({ f: 'old', full: { keep: 'k' } });
  const abs = path.join(d, 'f');
  fs.linkSync(abs, path.join(d, 'old-inode'));
  placeSymlink(d, abs, 'f', 'some/where', US);
  t.equal(fs.readlinkSync(abs), 'some/where');
  t.equal(lmtime(abs), US, 'with its mtime');
  t.equal(fs.readFileSync(path.join(d, 'old-inode'), 'utf8'), 'old', 'the old file was renamed over, not rewritten');
  t.same(staleTemps(d), [], 'no temporary left');
  t.throws(() => placeSymlink(d, path.join(d, 'full'), 'full', 'x', US), { code: /^(EISDIR|ENOTEMPTY|EEXIST)$/ });
  t.same(staleTemps(d), [], 'the temporary is removed on failure');
  t.same(fs.readdirSync(path.join(d, 'full')), ['keep'], 'the directory stays');
});

t.test('moveAside and keepCopy: the backup path gets the file, replacing what was there', async (t) => {
  const d = t.testdir({ f: 'one', dir: { a: 'A', sub: { b: 'B' } }, bk: { f: 'stale', dir: { old: 'o' } }, g: 'two' });
  moveAside(path.join(d, 'f'), path.join(d, 'bk/f'));
  t.notOk(fs.existsSync(path.join(d, 'f')), 'moved');
  t.equal(fs.readFileSync(path.join(d, 'bk/f'), 'utf8'), 'one', 'replacing the old backup');
  moveAside(path.join(d, 'dir'), path.join(d, 'bk/dir'));
  t.same(fs.readdirSync(path.join(d, 'bk/dir')).sort(), ['a', 'sub'], 'a directory, the old one gone');
  t.throws(() => moveAside(path.join(d, 'missing'), path.join(d, 'bk/m')), { code: 'ENOENT' });

  fs.symlinkSync('g', path.join(d, 'h'));
  fs.utimesSync(path.join(d, 'g'), 1, secondsOf(US));
  const exdev = { ...realFs, renameSync: () => { throw errno('EXDEV'); } } as unknown as FileSystem;
  moveAside(path.join(d, 'h'), path.join(d, 'bk/h'), exdev);
  moveAside(path.join(d, 'g'), path.join(d, 'bk/g'), exdev);
  t.equal(fs.readlinkSync(path.join(d, 'bk/h')), 'g', 'across file systems: a link copied as a link');
  t.ok(Math.abs(lmtime(path.join(d, 'bk/g')) - US) < 1000, 'a file copied with its mtime, to the millisecond');
  t.equal(lmtime(path.join(d, 'bk/g')), US, 'to the microsecond');
  t.notOk(fs.existsSync(path.join(d, 'g')) || fs.existsSync(path.join(d, 'h')), 'and the originals removed');

  fs.writeFileSync(path.join(d, 'k'), 'keep me');
  keepCopy(path.join(d, 'k'), path.join(d, 'bk/f'));
  t.equal(fs.readFileSync(path.join(d, 'k'), 'utf8'), 'keep me', 'the original stays');
  t.equal(fs.statSync(path.join(d, 'bk/f')).ino, fs.statSync(path.join(d, 'k')).ino, 'the backup is a hard link');
  const nolink = { ...realFs, linkSync: () => { throw errno('EXDEV'); } } as unknown as FileSystem;
  keepCopy(path.join(d, 'k'), path.join(d, 'bk/dir'), nolink);
  t.not(fs.statSync(path.join(d, 'bk/dir')).ino, fs.statSync(path.join(d, 'k')).ino, 'no link possible: a copy');
  t.equal(fs.readFileSync(path.join(d, 'bk/dir'), 'utf8'), 'keep me', 'with equal content, over a directory');
});

t.test('cleanStaleTemps and staleTemps: only TMP_PREFIX names go', async (t) => {
  const d = t.testdir({
    [`${TMP_PREFIX}a-0123456789ab`]: 'x',
    [`${TMP_PREFIX}dir`]: { inner: 'y' },
    [`${PARTIAL_PREFIX}big`]: 'half',
    '.tsync': { state: 's' },
    'tsync-tmp-not': 'n',
    keep: 'k',
  });
  t.same(staleTemps(d).sort(), [`${TMP_PREFIX}a-0123456789ab`, `${TMP_PREFIX}dir`]);
  t.equal(cleanStaleTemps(d), 2);
  t.same(fs.readdirSync(d).sort(), [`${PARTIAL_PREFIX}big`, '.tsync', 'keep', 'tsync-tmp-not'].sort(), 'the rest stays, partials too');
  t.equal(cleanStaleTemps(d), 0);
  t.same(staleTemps(path.join(d, 'missing')), []);
  t.same(staleTemps(path.join(d, 'keep')), [], 'a file');
  const unreadable = { ...realFs, readdirSync: () => { throw errno('EACCES'); } } as unknown as FileSystem;
  t.same(staleTemps(d, unreadable), [], 'an unreadable directory');
  t.equal(cleanStaleTemps(path.join(d, 'missing')), 0);
});

t.test('dropTemp: removes the file, swallows every error', async (t) => {
  const d = t.testdir({ tmp: 'x' });
  dropTemp(realFs, path.join(d, 'tmp'));
  t.notOk(fs.existsSync(path.join(d, 'tmp')));
  t.doesNotThrow(() => dropTemp(realFs, path.join(d, 'tmp')), 'already gone');
  const broken = { ...realFs, rmSync: () => { throw errno('EIO'); } } as unknown as FileSystem;
  t.doesNotThrow(() => dropTemp(broken, path.join(d, 'tmp')));
});

t.test('fsys: every disk call goes through the seam given', async (t) => {
  const d = t.testdir({ f: 'old', g: 'g', dir: {}, [`${TMP_PREFIX}x`]: '' });
  const log: string[] = [];
  const v = virtualFs(d, log);
  t.match(readLocal('/virtual/f', v), { type: 'f', size: 3 });
  t.same(hashFile('/virtual/f', v), sha('old'));
  t.same(log, ['lstatSync', 'openSync', 'closeSync'], 'readLocal and hashFile (which opens and closes once)');
  log.length = 0;
  placeSymlink('/virtual', '/virtual/f', 'f', 'elsewhere', US, v);
  t.equal(fs.readlinkSync(path.join(d, 'f')), 'elsewhere', 'placed by the seam alone');
  t.same(log, ['symlinkSync', 'lutimesSync', 'renameSync']);
  log.length = 0;
  setPathMeta('/virtual/g', entry('f', 0o604, US), true, true, v);
  t.same(log, ['openSync', 'fchmodSync', 'closeSync', 'lutimesSync']);
  t.equal(fs.statSync(path.join(d, 'g')).mode & 0o7777, 0o604);
  t.equal(lmtime(path.join(d, 'g')), US);
  log.length = 0;
  const o = openTemp('/virtual/dir', 'n', 0o600, fs.constants.O_WRONLY, v);
  setFileMeta(o.fd, entry('f', 0o640, US), v);
  v.closeSync(o.fd);
  t.same(log, ['openSync', 'fchmodSync', 'futimesSync', 'closeSync']);
  t.equal(lmtime(path.join(d, 'dir', path.basename(o.path))), US);
  log.length = 0;
  keepCopy('/virtual/g', '/virtual/dir/g', v);
  moveAside('/virtual/g', '/virtual/dir/g2', v);
  t.same(log, ['rmSync', 'linkSync', 'rmSync', 'renameSync']);
  t.same(fs.readdirSync(path.join(d, 'dir')).filter((n) => !n.startsWith(TMP_PREFIX)).sort(), ['g', 'g2']);
  log.length = 0;
  t.equal(cleanStaleTemps('/virtual', v), 1);
  t.same(log, ['readdirSync', 'rmSync']);
  t.same(staleTemps(d), []);
});

t.test('setPathMeta: the owner sets the mode of what it may not read (open says EACCES), by path, never through a link', async (t) => {
  // as root every open succeeds, so the refusal an unprivileged owner meets (mode 000 or 200) comes from the seam
  const d = t.testdir({ f: 'x', target: 'y' });
  fs.symlinkSync('target', path.join(d, 'link'));
  const denied = { ...realFs, openSync: () => { throw errno('EACCES'); } } as unknown as FileSystem;
  setPathMeta(path.join(d, 'f'), entry('f', 0o200, US), true, true, denied);
  t.equal(fs.statSync(path.join(d, 'f')).mode & 0o7777, 0o200, 'the mode is set by path');
  t.equal(lmtime(path.join(d, 'f')), US, 'and the mtime');
  fs.chmodSync(path.join(d, 'target'), 0o644);
  t.throws(() => setPathMeta(path.join(d, 'link'), entry('f', 0o600, US), true, false, denied), { code: 'EACCES' }, 'a link standing there: refused, not followed');
  t.equal(fs.statSync(path.join(d, 'target')).mode & 0o7777, 0o644, "the link's target keeps its mode");
});
