// Pre-shared keys on disk and on screen (tsync keygen, --key FILE).
//
// The key code is what a user copies from one machine to the other:
//
//     tsync-key:<base64url of the 32 key bytes and a 2-byte checksum>
//
// The checksum is CRC-16/XMODEM of the key. A CRC-16 detects every error
// burst of up to 16 bits, and a mistyped or swapped pair of base64
// characters changes at most 12 adjacent bits, so every such typo is caught
// (test/link/key-file.test.ts tries them all). A key file holds either that code
// (what keygen writes) or exactly 32 raw bytes, and must not be readable by
// group or others, like an ssh private key.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TsyncError } from '../errors.js';
import { KEY_LEN } from '../wire/secure.js';

export const CODE_PREFIX = 'tsync-key:';
const CODE_CHARS = Math.ceil(((KEY_LEN + 2) * 8) / 6);

/** CRC-16/XMODEM (polynomial 0x1021, initial 0, most significant bit first). */
export function crc16(data: Uint8Array): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

export function encodeKeyCode(key: Buffer): string {
  if (key.length !== KEY_LEN) throw new RangeError(`expected a key of ${KEY_LEN} bytes, got ${key.length}`);
  const body = Buffer.alloc(KEY_LEN + 2);
  key.copy(body);
  body.writeUInt16BE(crc16(key), KEY_LEN);
  return CODE_PREFIX + body.toString('base64url');
}

/** The key in a code; `where` names its origin in error messages (never the code itself). */
export function decodeKeyCode(code: string, where: string): Buffer {
  const text = code.trim();
  if (!text.startsWith(CODE_PREFIX)) throw new TsyncError('E_USAGE', `${where} is not a tsync key code (it should start with "${CODE_PREFIX}")`);
  const b64 = text.slice(CODE_PREFIX.length);
  if (!/^[A-Za-z0-9_-]*$/.test(b64)) throw new TsyncError('E_USAGE', `${where}: the key code holds a character that is not in its alphabet (A-Z, a-z, 0-9, - and _)`);
  if (b64.length !== CODE_CHARS) throw new TsyncError('E_USAGE', `${where}: the key code has ${b64.length} characters after "${CODE_PREFIX}", not ${CODE_CHARS}`);
  const body = Buffer.from(b64, 'base64url');
  const key = body.subarray(0, KEY_LEN);
  // the last character carries 4 bits beyond the data: a canonical code has them zero
  if (body.toString('base64url') !== b64 || body.readUInt16BE(KEY_LEN) !== crc16(key)) {
    throw new TsyncError('E_USAGE', `${where}: the key code is mistyped (its checksum does not match); copy it again`);
  }
  return Buffer.from(key);
}

/** The key in a key file's content: a key code, or exactly 32 raw bytes. */
export function parseKeyFile(content: Buffer, where: string): Buffer {
  const text = content.toString('latin1');
  if (text.trimStart().startsWith(CODE_PREFIX)) return decodeKeyCode(text, where);
  if (content.length === KEY_LEN) return Buffer.from(content);
  throw new TsyncError('E_USAGE', `${where} holds neither a key code ("${CODE_PREFIX}...", as tsync keygen prints) nor exactly ${KEY_LEN} raw bytes`);
}

/** Read a key file, refusing one that group or others may read or write. */
export function loadKey(file: string): Buffer {
  const where = `key file ${file}`;
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file (create one with tsync keygen)' : code === 'ELOOP' ? 'it is a symbolic link' : code;
    throw new TsyncError('E_USAGE', `cannot read ${where}: ${why}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new TsyncError('E_USAGE', `${where} is not a regular file`);
    if (st.mode & 0o077) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new TsyncError('E_USAGE', `${where} may be read or written by others (mode ${mode}); run chmod 600 ${file}`);
    }
    if (st.size > 4096) throw new TsyncError('E_USAGE', `${where} is too big to be a key (${st.size} bytes)`);
    return parseKeyFile(fs.readFileSync(fd), where);
  } finally {
    fs.closeSync(fd);
  }
}

/** --key FILE, else TSYNC_KEY_FILE, else none; a leading ~/ is the home directory (no shell expands it under docker exec or socat). */
export function keyFileFrom(option: unknown, env: NodeJS.ProcessEnv = process.env): string | null {
  if (option === '') throw new TsyncError('E_USAGE', '--key needs a file name');
  const file = typeof option === 'string' ? option : env.TSYNC_KEY_FILE;
  if (!file) return null;
  return file === '~' || file.startsWith('~/') ? path.join(os.homedir(), file.slice(1)) : file;
}

/** where tsync keygen writes without a FILE: $XDG_CONFIG_HOME/tsync/key, or ~/.config/tsync/key */
export function defaultKeyPath(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(config, 'tsync', 'key');
}

/**
 * Write a fresh key to file (mode 0600), as its code and a newline. An
 * existing file is refused unless force; then the new key is written
 * beside it under another name and renamed over it. Returns the code.
 */
export function writeNewKey(file: string, force: boolean): string {
  const key = randomBytes(KEY_LEN);
  const code = encodeKeyCode(key);
  key.fill(0);
  const target = force ? `${file}.tsync-new-${randomBytes(6).toString('hex')}` : file;
  let fd: number;
  try {
    fd = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new TsyncError('E_USAGE', `${file} already exists; not overwriting a key (use --force to replace it)`);
    throw new TsyncError('E_IO', `cannot create ${target}: ${code === 'ENOENT' ? 'its directory does not exist' : code}`);
  }
  try {
    fs.fchmodSync(fd, 0o600); // whatever the umask
    fs.writeFileSync(fd, `${code}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  if (force) {
    try {
      fs.renameSync(target, file);
    } catch (e) {
      fs.rmSync(target, { force: true });
      throw new TsyncError('E_IO', `cannot replace ${file}: ${(e as NodeJS.ErrnoException).code}`);
    }
  }
  return code;
}
