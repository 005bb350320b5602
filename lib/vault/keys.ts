// Vault keys (docs/design.md §13). A read-write key is 32 random bytes, the
// master secret. Everything else derives from it in a chain, as Tahoe-LAFS
// derives its capabilities:
//
//     master ──HKDF "sign"──▶ Ed25519 seed (signs heads: only writers hold it)
//        └────HKDF "read"──▶ read secret ──HKDF──▶ pack key, chunk-id key,
//                                                chunker key, head key, check key
//
// A read-only key is the read secret and the Ed25519 public key: it decrypts
// and verifies everything, and can sign nothing. Keys travel as codes with
// the CRC-16 the pre-shared keys use (lib/link/key-file.ts):
//
//     tsync-vault:<base64url of master, crc>
//     tsync-vault-ro:<base64url of read secret, public key, crc>
//
// A key file may instead hold the code sealed under a passphrase: argon2id
// (from @noble/hashes; Node 20 has none) stretches the passphrase into an
// XChaCha20-Poly1305 key (from @noble/ciphers), with a random salt and nonce.

import { createPrivateKey, createPublicKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import { argon2id } from '@noble/hashes/argon2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { TsyncError } from '../errors.js';
import { crc16 } from '../link/key-file.js';

const RW_PREFIX = 'tsync-vault:';
const RO_PREFIX = 'tsync-vault-ro:';
const LOCKED = 'tsync-vault-locked';
/** argon2id cost for a passphrase-protected key file (OWASP's 19 MiB, t=2 row, one more pass) */
export const ARGON = { t: 3, m: 19456, p: 1 } as const;

export interface VaultKeys {
  /** the read-write master secret; null for a read-only key */
  master: Buffer | null;
  read: Buffer;
  /** raw 32-byte Ed25519 public key */
  publicKey: Buffer;
  signer: KeyObject | null;
  verifier: KeyObject;
  /** AES-256-GCM pack keys derive from this and each pack's salt */
  packKey: Buffer;
  /** HMAC-SHA256 key of chunk ids */
  idKey: Buffer;
  /** seeds the chunker's gear table, so cut points do not reveal content */
  cdcKey: Buffer;
  /** XChaCha20-Poly1305 key of heads */
  headKey: Buffer;
  /** MAC key of the vault's public config: a wrong key is told apart from damage */
  checkKey: Buffer;
}

const hkdf = (secret: Buffer, info: string): Buffer => Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), Buffer.from(`tsync vault ${info}`), 32));
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

function fromRead(read: Buffer, publicKey: Buffer, master: Buffer | null, signer: KeyObject | null): VaultKeys {
  return {
    master,
    read,
    publicKey,
    signer,
    verifier: createPublicKey({ key: Buffer.concat([ED25519_SPKI, publicKey]), format: 'der', type: 'spki' }),
    packKey: hkdf(read, 'pack'),
    idKey: hkdf(read, 'chunk id'),
    cdcKey: hkdf(read, 'chunker'),
    headKey: hkdf(read, 'head'),
    checkKey: hkdf(read, 'check'),
  };
}

export function fromMaster(master: Buffer): VaultKeys {
  const signer = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, hkdf(master, 'sign')]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(signer).export({ format: 'der', type: 'spki' }).subarray(-32);
  return fromRead(hkdf(master, 'read'), Buffer.from(publicKey), master, signer);
}

function encode(prefix: string, body: Buffer): string {
  const crc = Buffer.alloc(2);
  crc.writeUInt16BE(crc16(body));
  return prefix + Buffer.concat([body, crc]).toString('base64url');
}

function decode(text: string, prefix: string, len: number, where: string): Buffer {
  const b64 = text.slice(prefix.length);
  const body = Buffer.from(b64, 'base64url');
  if (!/^[A-Za-z0-9_-]*$/.test(b64) || body.length !== len + 2 || body.toString('base64url') !== b64 || body.readUInt16BE(len) !== crc16(body.subarray(0, len))) {
    throw new TsyncError('E_USAGE', `${where}: the vault key code is mistyped (its checksum does not match); copy it again`);
  }
  return body.subarray(0, len);
}

export const codeOf = (k: VaultKeys): string => (k.master ? encode(RW_PREFIX, k.master) : readOnlyCode(k));
export const readOnlyCode = (k: VaultKeys): string => encode(RO_PREFIX, Buffer.concat([k.read, k.publicKey]));

/** The keys in a code (read-write or read-only). */
export function parseCode(text: string, where: string): VaultKeys {
  const t = text.trim();
  if (t.startsWith(RO_PREFIX)) {
    const body = decode(t, RO_PREFIX, 64, where);
    return fromRead(Buffer.from(body.subarray(0, 32)), Buffer.from(body.subarray(32)), null, null);
  }
  if (t.startsWith(RW_PREFIX)) return fromMaster(Buffer.from(decode(t, RW_PREFIX, 32, where)));
  throw new TsyncError('E_USAGE', `${where} is not a vault key (it should start with "${RW_PREFIX}" or "${RO_PREFIX}"; make one with tsync keygen --vault FILE)`);
}

interface Locked {
  [LOCKED]: 1;
  kdf: 'argon2id';
  t: number;
  m: number;
  p: number;
  salt: string;
  nonce: string;
  box: string;
}

const stretch = (pass: string, l: { t: number; m: number; p: number }, salt: Buffer): Uint8Array => argon2id(pass.normalize('NFC'), salt, { ...l, dkLen: 32 });

/** a key code sealed under a passphrase, as the key file's text */
export function lockCode(code: string, passphrase: string): string {
  const salt = randomBytes(16);
  const nonce = randomBytes(24);
  const box = xchacha20poly1305(stretch(passphrase, ARGON, salt), nonce).encrypt(Buffer.from(code));
  const l: Locked = { [LOCKED]: 1, kdf: 'argon2id', ...ARGON, salt: salt.toString('base64url'), nonce: nonce.toString('base64url'), box: Buffer.from(box).toString('base64url') };
  return `${JSON.stringify(l)}\n`;
}

export const isLocked = (text: string): boolean => text.trimStart().startsWith(`{"${LOCKED}"`);

function unlock(text: string, passphrase: string, where: string): string {
  let l: Locked;
  try {
    l = JSON.parse(text) as Locked;
  } catch {
    throw new TsyncError('E_USAGE', `${where} is not a readable passphrase-protected vault key`);
  }
  if (l.kdf !== 'argon2id' || ![l.t, l.m, l.p].every((n) => Number.isInteger(n) && n > 0) || l.m > 4 << 20 || l.t > 64) throw new TsyncError('E_USAGE', `${where}: unknown key-derivation parameters`);
  try {
    const open = xchacha20poly1305(stretch(passphrase, l, Buffer.from(l.salt, 'base64url')), Buffer.from(l.nonce, 'base64url')).decrypt(Buffer.from(l.box, 'base64url'));
    return Buffer.from(open).toString();
  } catch {
    throw new TsyncError('E_AUTH', `${where}: wrong passphrase`);
  }
}

/** The passphrase from TSYNC_PASSPHRASE_FILE, else asked on the terminal. */
export async function passphrase(env: NodeJS.ProcessEnv, prompt: string): Promise<string> {
  const file = env.TSYNC_PASSPHRASE_FILE;
  if (file) {
    try {
      return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new TsyncError('E_USAGE', `cannot read TSYNC_PASSPHRASE_FILE ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }
  const { askSecret } = await import('../link/tty-prompt.js');
  const got = await askSecret(prompt);
  if (got === null) throw new TsyncError('E_USAGE', 'a passphrase is needed: run on a terminal or set TSYNC_PASSPHRASE_FILE');
  return got;
}

/** --vault FILE, else TSYNC_VAULT_KEY; a file group or others can read is refused, as for --key */
export async function loadVaultKey(option: unknown, env: NodeJS.ProcessEnv = process.env): Promise<VaultKeys> {
  const file = typeof option === 'string' && option !== '' ? option : env.TSYNC_VAULT_KEY;
  if (!file) throw new TsyncError('E_USAGE', 'a vault needs its key: --vault KEYFILE or TSYNC_VAULT_KEY (make one with tsync keygen --vault FILE)');
  const where = `vault key file ${file}`;
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new TsyncError('E_USAGE', `${where} is not a regular file`);
    if (st.mode & 0o077) throw new TsyncError('E_USAGE', `${where} may be read or written by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); run chmod 600 ${file}`);
    if (st.size > 4096) throw new TsyncError('E_USAGE', `${where} is too big to be a key`);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof TsyncError) throw e;
    throw new TsyncError('E_USAGE', `cannot read ${where}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  if (isLocked(text)) text = unlock(text, await passphrase(env, `Passphrase for ${file}: `), where);
  return parseCode(text, where);
}

/** write text to a new file, mode 0600, refusing to replace one unless force */
export function writeSecret(file: string, text: string, force: boolean): void {
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW | (force ? fs.constants.O_TRUNC : fs.constants.O_EXCL);
  let fd: number;
  try {
    fd = fs.openSync(file, flags, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new TsyncError('E_USAGE', `${file} already exists; not overwriting a key (use --force to replace it)`);
    throw new TsyncError('E_IO', `cannot create ${file}: ${code}`);
  }
  try {
    fs.fchmodSync(fd, 0o600);
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export const newMaster = (): VaultKeys => fromMaster(randomBytes(32));
