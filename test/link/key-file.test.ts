// Key codes and key files (lib/link/key-file.ts): the code round-trips; every
// mistyped character, every swapped pair, a missing or an extra character
// is caught; a key file holds a code or 32 raw bytes and must be private;
// writing a new key never overwrites one unless forced.

import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TsyncError } from '../../lib/errors.js';
import { CODE_PREFIX, crc16, decodeKeyCode, defaultKeyPath, encodeKeyCode, keyFileFrom, loadKey, parseKeyFile, writeNewKey } from '../../lib/link/key-file.js';
import { mulberry32 } from '../helpers/prng.mjs';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function keyFromSeed(seed: number): Buffer {
  const rnd = mulberry32(seed);
  const k = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) k[i] = rnd() * 256;
  return k;
}

/** the TsyncError fn throws (fails the test if it returns) */
function usageError(t: Test, fn: () => unknown): TsyncError | null {
  try {
    fn();
  } catch (e) {
    if (e instanceof TsyncError && e.code === 'E_USAGE') return e;
    t.fail(`expected E_USAGE, got ${String(e)}`);
    return null;
  }
  t.fail('expected an error');
  return null;
}

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-keys-'));
t.teardown(() => fs.rmSync(DIR, { recursive: true, force: true }));

t.test('CRC-16/XMODEM check value', async (t) => {
  t.equal(crc16(Buffer.from('123456789')), 0x31c3);
  t.equal(crc16(Buffer.alloc(0)), 0);
});

t.test('a code is tsync-key: and 46 base64url characters, and round-trips', async (t) => {
  for (let seed = 1; seed <= 50; seed++) {
    const key = keyFromSeed(seed);
    const code = encodeKeyCode(key);
    if (!t.match(code, /^tsync-key:[A-Za-z0-9_-]{46}$/)) break;
    if (!t.same(decodeKeyCode(code, 'code'), key, `seed ${seed}`)) break;
    t.same(decodeKeyCode(`  ${code}\n`, 'code'), key, 'surrounding whitespace is fine');
  }
  t.same(decodeKeyCode(encodeKeyCode(Buffer.alloc(32)), 'code'), Buffer.alloc(32), 'an all-zero key');
});

t.test('every single-character typo and every swap of neighbours is caught', async (t) => {
  for (const seed of [1, 2, 3]) {
    const code = encodeKeyCode(keyFromSeed(seed));
    const body = code.slice(CODE_PREFIX.length);
    let tried = 0;
    let missed: string[] = [];
    for (let i = 0; i < body.length; i++) {
      for (const c of ALPHABET) {
        if (c === body[i]) continue;
        const typo = CODE_PREFIX + body.slice(0, i) + c + body.slice(i + 1);
        tried++;
        try {
          decodeKeyCode(typo, 'code');
          missed.push(typo);
        } catch (e) {
          if (!(e instanceof TsyncError)) throw e;
        }
      }
      if (i + 1 < body.length && body[i] !== body[i + 1]) {
        const swapped = CODE_PREFIX + body.slice(0, i) + body[i + 1] + body[i] + body.slice(i + 2);
        tried++;
        try {
          decodeKeyCode(swapped, 'code');
          missed.push(swapped);
        } catch (e) {
          if (!(e instanceof TsyncError)) throw e;
        }
      }
    }
    t.same(missed, [], `seed ${seed}: all ${tried} typos caught`);
    missed = [];
  }
});

t.test('what a mistyped code is told', async (t) => {
  const code = encodeKeyCode(keyFromSeed(9));
  const flip = code.slice(0, 20) + (code[20] === 'A' ? 'B' : 'A') + code.slice(21);
  t.match(usageError(t, () => decodeKeyCode(flip, 'key file k'))?.message, /^key file k: the key code is mistyped \(its checksum does not match\)/);
  t.match(usageError(t, () => decodeKeyCode(code.slice(0, -1), 'c'))?.message, /has 45 characters after "tsync-key:", not 46/);
  t.match(usageError(t, () => decodeKeyCode(`${code}A`, 'c'))?.message, /has 47 characters/);
  t.match(usageError(t, () => decodeKeyCode(`${code.slice(0, 30)}+${code.slice(31)}`, 'c'))?.message, /not in its alphabet/);
  t.match(usageError(t, () => decodeKeyCode('tsync-kye:abc', 'c'))?.message, /is not a tsync key code/);
  // no message repeats the code: it is a secret
  for (const bad of [flip, code.slice(0, -1)]) t.notMatch(usageError(t, () => decodeKeyCode(bad, 'c'))?.message, code.slice(12, 40));
});

t.test('a key file: a code (with a newline) or exactly 32 raw bytes', async (t) => {
  const key = keyFromSeed(5);
  t.same(parseKeyFile(Buffer.from(`${encodeKeyCode(key)}\n`), 'f'), key);
  t.same(parseKeyFile(key, 'f'), key, 'raw bytes');
  t.match(usageError(t, () => parseKeyFile(Buffer.alloc(31), 'key file f'))?.message, /key file f holds neither a key code .* nor exactly 32 raw bytes/);
  t.match(usageError(t, () => parseKeyFile(Buffer.from('hunter2\n'), 'f'))?.message, /holds neither/);
});

t.test('loadKey: private regular files only', async (t) => {
  const key = keyFromSeed(6);
  const good = path.join(DIR, 'good');
  fs.writeFileSync(good, `${encodeKeyCode(key)}\n`, { mode: 0o600 });
  fs.chmodSync(good, 0o600);
  t.same(loadKey(good), key);
  fs.writeFileSync(path.join(DIR, 'raw'), key, { mode: 0o400 });
  fs.chmodSync(path.join(DIR, 'raw'), 0o400);
  t.same(loadKey(path.join(DIR, 'raw')), key, 'read-only for the owner is fine');

  const open = path.join(DIR, 'open');
  fs.writeFileSync(open, encodeKeyCode(key));
  fs.chmodSync(open, 0o644);
  t.match(usageError(t, () => loadKey(open))?.message, `key file ${open} may be read or written by others (mode 0644); run chmod 600 ${open}`);
  fs.chmodSync(open, 0o620);
  t.match(usageError(t, () => loadKey(open))?.message, /mode 0620/);

  t.match(usageError(t, () => loadKey(path.join(DIR, 'missing')))?.message, /no such file \(create one with tsync keygen\)/);
  fs.symlinkSync(good, path.join(DIR, 'link'));
  t.match(usageError(t, () => loadKey(path.join(DIR, 'link')))?.message, /it is a symbolic link/);
  t.match(usageError(t, () => loadKey(DIR))?.message, /is not a regular file/);
});

t.test('writeNewKey: O_EXCL, mode 0600 whatever the umask, --force replaces', async (t) => {
  const file = path.join(DIR, 'new');
  const old = process.umask(0);
  let code: string;
  try {
    code = writeNewKey(file, false);
  } finally {
    process.umask(old);
  }
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  t.equal(fs.readFileSync(file, 'utf8'), `${code}\n`, 'the file holds the code');
  t.same(loadKey(file), decodeKeyCode(code, 'c'));

  const e = usageError(t, () => writeNewKey(file, false));
  t.match(e?.message, /already exists; not overwriting a key \(use --force to replace it\)/);
  t.equal(fs.readFileSync(file, 'utf8'), `${code}\n`, 'the old key is untouched');

  const again = writeNewKey(file, true);
  t.not(again, code, 'a new key');
  t.equal(fs.readFileSync(file, 'utf8'), `${again}\n`);
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  t.same(
    fs.readdirSync(DIR).filter((n) => n.includes('tsync-new')),
    [],
    'no temporary left',
  );

  // a symlink planted at the name is not followed
  const target = path.join(DIR, 'victim');
  fs.writeFileSync(target, 'precious');
  fs.symlinkSync(target, path.join(DIR, 'planted'));
  usageError(t, () => writeNewKey(path.join(DIR, 'planted'), false));
  t.equal(fs.readFileSync(target, 'utf8'), 'precious');

  t.throws(() => writeNewKey(path.join(DIR, 'no', 'such', 'dir'), false), { code: 'E_IO', message: /its directory does not exist/ });
});

t.test('where the key comes from', async (t) => {
  t.equal(keyFileFrom('k', { TSYNC_KEY_FILE: 'env' }), 'k', '--key wins');
  t.equal(keyFileFrom(undefined, { TSYNC_KEY_FILE: 'env' }), 'env');
  t.equal(keyFileFrom(undefined, { TSYNC_KEY_FILE: '' }), null, 'an empty variable is no key');
  t.equal(keyFileFrom(undefined, {}), null);
  usageError(t, () => keyFileFrom('', {}));
  t.equal(keyFileFrom('~/.config/tsync/key', {}), path.join(os.homedir(), '.config/tsync/key'), '~/ is expanded');
  t.equal(keyFileFrom(undefined, { TSYNC_KEY_FILE: '~/k' }), path.join(os.homedir(), 'k'));
  t.equal(keyFileFrom('~user/k', {}), '~user/k', '~user is not');
  t.equal(defaultKeyPath({ XDG_CONFIG_HOME: '/cfg' }), '/cfg/tsync/key');
  t.equal(defaultKeyPath({ XDG_CONFIG_HOME: 'relative' }), path.join(os.homedir(), '.config', 'tsync', 'key'), 'a relative XDG_CONFIG_HOME is ignored');
});
