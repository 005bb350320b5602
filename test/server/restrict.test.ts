// lib/server/restrict.ts: how a restricted server maps a client's path into its
// root, as a table, on a real directory with symlinks in and out.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { TsyncError } from '../../lib/errors.js';
import { hideRoot, limitStart, openRestriction, resolveInRoot, restrictStart } from '../../lib/server/restrict.js';
import { OPTIONS } from '../helpers/hostile.js';

const sb = fs.realpathSync(t.testdir({ share: { sub: { 'f.txt': 'f' }, 'a.txt': 'a' }, outside: { 's.txt': 's' } }));
const share = path.join(sb, 'share');
fs.symlinkSync('sub', path.join(share, 'in'));
fs.symlinkSync('../outside', path.join(share, 'out'));
fs.symlinkSync('/no/such/place', path.join(share, 'dangling'));
fs.symlinkSync(path.join(sb, 'loop'), path.join(sb, 'loop'));
fs.symlinkSync('../loop', path.join(share, 'looping'));
const r = openRestriction(share, false);

const refused = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return e instanceof TsyncError ? `${e.code}: ${e.message}` : `not a TsyncError: ${String(e)}`;
  }
  return 'accepted';
};

t.test('paths are anchored at the root', async (t) => {
  for (const [asked, want] of [
    ['.', `${share}/`],
    ['', `${share}/`],
    ['/', `${share}/`],
    ['~', `${share}/`],
    ['~/', `${share}/`],
    ['a.txt', `${share}/a.txt`],
    ['/a.txt', `${share}/a.txt`],
    ['~/sub/f.txt', `${share}/sub/f.txt`],
    ['./sub//f.txt', `${share}/sub/f.txt`],
    ['sub/', `${share}/sub/`],
    ['sub/.', `${share}/sub/`],
    ['new/dir/', `${share}/new/dir/`],
    ['in', `${share}/in`],
    ['in/', `${share}/in/`],
    ['in/f.txt', `${share}/sub/f.txt`],
    ['~user/x', `${share}/~user/x`],
    [`${sb}/outside/s.txt`, `${share}${sb}/outside/s.txt`],
  ] as const) {
    t.equal(resolveInRoot(r, asked), want, JSON.stringify(asked));
  }
});

t.test('what leads out is refused with E_REFUSED', async (t) => {
  for (const [asked, why] of [
    ['..', /does not allow "\.\."/],
    ['../outside', /does not allow "\.\."/],
    ['sub/../a.txt', /does not allow "\.\."/],
    ['~/../x', /does not allow "\.\."/],
    ['out', /leads outside the server's root through a symbolic link/],
    ['out/', /leads outside/],
    ['out/s.txt', /leads outside/],
    ['out/new/deeper', /leads outside/],
    ['dangling', /passes through a symbolic link that leads nowhere inside/],
    ['dangling/x', /leads nowhere inside/],
    ['looping/x', /leads nowhere inside/],
    ['a\0b', /NUL byte/],
  ] as const) {
    t.match(refused(() => resolveInRoot(r, asked)), new RegExp(`^E_REFUSED: ${JSON.stringify(asked).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is refused: .*${why.source}`), JSON.stringify(asked));
  }
});

t.test('a root that is itself a symlink is used by its real path', async (t) => {
  fs.symlinkSync(share, path.join(sb, 'share-link'));
  const viaLink = openRestriction(path.join(sb, 'share-link'), true);
  t.equal(viaLink.root, share);
  t.equal(resolveInRoot(viaLink, 'a.txt'), `${share}/a.txt`);
  t.match(refused(() => openRestriction(path.join(sb, 'nope'), false)), /^E_REFUSED: the server's --root .*nope is not usable \(ENOENT\)/);
  t.match(refused(() => openRestriction(path.join(share, 'a.txt'), false)), /^E_REFUSED: the server's --root .*a\.txt is not a directory/);
});

t.test('--read-only refuses the receiving role, with or without --root', async (t) => {
  const ro = { root: share, readOnly: true };
  t.match(refused(() => limitStart(ro, 'receiver', ['sub/'], OPTIONS, (p) => p)), /^E_READ_ONLY: this server is read-only/);
  t.match(refused(() => limitStart({ readOnly: true }, 'receiver', ['x'], OPTIONS, (p) => p)), /^E_READ_ONLY/);
  t.same(limitStart(ro, 'sender', ['sub/', '/a.txt'], OPTIONS, (p) => p).paths, [`${share}/sub/`, `${share}/a.txt`]);
  t.same(limitStart({ readOnly: false }, 'receiver', ['~/x'], OPTIONS, (p) => `HOME${p.slice(1)}`).paths, ['HOME/x'], 'unrestricted: only ~ is expanded');
});

t.test('--backup-dir is mapped into the root too', async (t) => {
  const b = (dir: string, dest = 'sub/') => restrictStart(r, 'receiver', [dest], { ...OPTIONS, backupDir: dir }).options.backupDir;
  t.equal(b('bk'), `${share}/sub/bk`, 'relative: beside the destination, as without --root');
  t.equal(b('/bk'), `${share}/bk`, 'absolute: from the root');
  t.equal(b('~/old/bk'), `${share}/old/bk`);
  t.match(refused(() => b('../bk')), /^E_REFUSED: "\.\.\/bk" is refused/);
  t.match(refused(() => b('/out/bk')), /^E_REFUSED: .*leads outside/);
  t.equal(restrictStart(r, 'receiver', ['sub/'], OPTIONS).options.backupDir, '', 'no --backup-dir: none');
  t.equal(restrictStart(r, 'sender', ['sub/'], { ...OPTIONS, backupDir: '../old' }).options.backupDir, '../old', "pulling, --backup-dir is the client's business");
});

t.test('messages show paths as the client names them', async (t) => {
  const e = new TsyncError('E_SOURCE_MISSING', `source ${share}/nope and ${share} do not exist`);
  t.equal(hideRoot({ root: share, readOnly: true }, e).message, 'source /nope and / do not exist');
  t.equal(hideRoot({ readOnly: true }, e), e, 'unrestricted: unchanged');
});
