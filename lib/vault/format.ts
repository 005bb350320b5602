// The vault's objects, byte for byte (docs/design.md §13). No I/O here.
//
//   config              public JSON: format version, algorithms, chunk sizes,
//                       the vault id, the writers' public key, and a MAC under
//                       the check key (a wrong key is told apart from damage)
//   data/XX/<sha256>    a pack: salt(32), then sealed blobs back to back, then
//                       random padding to a Padmé length. Its name is the
//                       SHA-256 of its bytes, so damage shows without a key.
//   heads/<seq>         a head: XChaCha20-Poly1305 of the commit (random
//                       nonce), padded, then an Ed25519 signature of it all.
//
// A blob is [kind u8][codec u8][payload] sealed with AES-256-GCM under the
// pack's key (HKDF of the pack key and the pack's salt) with the blob's
// offset as its nonce: nonces never repeat within a pack, and no counter is
// shared between clients. A blob is found through the index (chunk id ->
// pack, offset, length); its id is the HMAC of its kind and plaintext, checked
// on every read.

import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, sign, verify } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import type { VaultKeys } from './keys.js';
import { TsyncError } from '../errors.js';
import { CHUNK_SIZES } from './chunker.js';

export const FORMAT = 1;
export const BLOB = { Data: 0, Tree: 1, Index: 2 } as const;
export type BlobKind = (typeof BLOB)[keyof typeof BLOB];
const CODEC = { None: 0, Deflate: 1 } as const;
const TAG = 16;
const SALT = 32;
/** a pack is closed when its blobs reach this many bytes */
export const PACK_TARGET = 8 << 20;

/** exit 16, naming the object */
export class VaultDamage extends TsyncError {
  constructor(
    readonly object: string,
    why: string,
  ) {
    super('E_VAULT_DAMAGED', `vault object ${object}: ${why}`);
  }
}

/** Padmé (Nikitin et al., 2019): at most 12% overhead, and a length leaks O(log log L) bits */
export function padme(len: number): number {
  if (len < 2) return len;
  const e = Math.floor(Math.log2(len));
  const s = Math.floor(Math.log2(e)) + 1;
  const mask = 2 ** (e - s) - 1;
  return Math.ceil(len / (mask + 1)) * (mask + 1);
}

export const blobId = (keys: VaultKeys, kind: BlobKind, plain: Buffer): Buffer => createHmac('sha256', keys.idKey).update(Buffer.of(kind)).update(plain).digest();

/** pack keys derived lately: a restore opens thousands of blobs of one pack */
const derived = new Map<string, Buffer>();
function packKey(keys: VaultKeys, salt: Buffer): Buffer {
  const tag = keys.packKey.toString('latin1') + salt.toString('latin1');
  let k = derived.get(tag);
  if (!k) {
    k = Buffer.from(hkdfSync('sha256', keys.packKey, salt, Buffer.from('tsync vault pack'), 32));
    if (derived.size >= 64) derived.delete(derived.keys().next().value!);
    derived.set(tag, k);
  }
  return k;
}
const nonceAt = (off: number): Buffer => {
  const n = Buffer.alloc(12);
  n.writeUIntBE(off, 6, 6);
  return n;
};

/**
 * The deflated form of a blob's plaintext when that saves at least an
 * eighth, else null; a chunk of 64 KiB or more is first tried on a 16 KiB
 * sample, so data that is compressed already is stored as it is.
 * Self-contained (deflate is passed in, the constants are literals): the
 * compressing worker of lib/vault/squeezer.ts runs it from its source text.
 */
export function squeezeWith(deflate: (b: Uint8Array, o: { level: number }) => Uint8Array, plain: Uint8Array): Uint8Array | null {
  if (plain.length < 256) return null;
  if (plain.length >= 65536) {
    const probe = plain.subarray(0, 16384);
    if (deflate(probe, { level: 1 }).length > probe.length - (probe.length >> 4)) return null;
  }
  const z = deflate(plain, { level: 3 });
  return z.length < plain.length - (plain.length >> 3) ? z : null;
}

/**
 * squeezeWith on this thread. Synchronous: zlib's asynchronous calls cost
 * about 7x the CPU time on 20,000 small files (a stream per call), measured
 * here; a push hands bulk data to the worker instead.
 */
export const squeeze = (plain: Buffer): Buffer | null => squeezeWith(deflateRawSync, plain) as Buffer | null;

/** where a blob is: pack name (hex), offset and sealed length */
export interface BlobRef {
  pack: string;
  off: number;
  len: number;
}

/** Builds one pack in memory. */
export class PackBuilder {
  private readonly salt = randomBytes(SALT);
  private readonly key: Buffer;
  private readonly parts: Buffer[] = [this.salt];
  size = SALT;
  readonly blobs: Array<{ id: Buffer; off: number; len: number }> = [];

  constructor(keys: VaultKeys) {
    this.key = packKey(keys, this.salt);
  }

  /** seal and append: the deflated form (see `squeeze`) when it was worth it, else the plaintext */
  add(id: Buffer, kind: BlobKind, plain: Buffer, deflated: Buffer | null = null): void {
    const codec = deflated ? CODEC.Deflate : CODEC.None;
    const body = deflated ?? plain;
    const c = createCipheriv('aes-256-gcm', this.key, nonceAt(this.size));
    const sealed = Buffer.concat([c.update(Buffer.of(kind, codec)), c.update(body), c.final(), c.getAuthTag()]);
    this.blobs.push({ id, off: this.size, len: sealed.length });
    this.parts.push(sealed);
    this.size += sealed.length;
  }

  /** the pack's bytes, padded, and its name */
  finish(): { name: string; bytes: Buffer } {
    const padded = padme(this.size);
    if (padded > this.size) this.parts.push(randomBytes(padded - this.size));
    const bytes = Buffer.concat(this.parts);
    return { name: createHash('sha256').update(bytes).digest('hex'), bytes };
  }
}

/** Open one sealed blob read from a pack at ref; checks its tag, kind and id. */
export function openBlob(keys: VaultKeys, ref: BlobRef, salt: Buffer, sealed: Buffer, id: Buffer, kind: BlobKind): Buffer {
  const where = `${packPath(ref.pack)} (blob at ${ref.off})`;
  if (sealed.length !== ref.len || sealed.length < TAG + 2) throw new VaultDamage(where, 'truncated');
  let plain: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', packKey(keys, salt), nonceAt(ref.off));
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    plain = Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG)), d.final()]);
  } catch {
    throw new VaultDamage(where, 'fails authentication (tampered or corrupt)');
  }
  if (plain[0] !== kind) throw new VaultDamage(where, 'holds another kind of blob than its index says');
  let body = plain.subarray(2);
  if (plain[1] === CODEC.Deflate) {
    try {
      body = inflateRawSync(body, { maxOutputLength: 64 << 20 });
    } catch {
      throw new VaultDamage(where, 'does not decompress');
    }
  } else if (plain[1] !== CODEC.None) throw new VaultDamage(where, 'unknown codec');
  if (!blobId(keys, kind, body).equals(id)) throw new VaultDamage(where, 'does not match its id');
  return body;
}

export const packSalt = (bytes: Buffer): Buffer => bytes.subarray(0, SALT);
export const SALT_LEN = SALT;
export const packPath = (name: string): string => `data/${name.slice(0, 2)}/${name}`;

// ---- the index: chunk id -> where --------------------------------------------

export interface IndexEntry extends BlobRef {
  kind: BlobKind;
}

/** An index segment: [count u32] then per blob [id 32][pack 32][off u32][len u32][kind u8]. */
export function encodeIndex(entries: Iterable<[Buffer, IndexEntry]>): Buffer {
  const list = [...entries];
  const b = Buffer.alloc(4 + list.length * 73);
  b.writeUInt32BE(list.length, 0);
  let o = 4;
  for (const [id, e] of list) {
    id.copy(b, o);
    Buffer.from(e.pack, 'hex').copy(b, o + 32);
    b.writeUInt32BE(e.off, o + 64);
    b.writeUInt32BE(e.len, o + 68);
    b[o + 72] = e.kind;
    o += 73;
  }
  return b;
}

export function decodeIndex(b: Buffer, into: Map<string, IndexEntry>, where: string): void {
  const n = b.length >= 4 ? b.readUInt32BE(0) : -1;
  if (n < 0 || b.length !== 4 + n * 73) throw new VaultDamage(where, 'index segment has a bad length');
  for (let i = 0, o = 4; i < n; i++, o += 73) {
    into.set(b.toString('hex', o, o + 32), { pack: b.toString('hex', o + 32, o + 64), off: b.readUInt32BE(o + 64), len: b.readUInt32BE(o + 68), kind: b[o + 72] as BlobKind });
  }
}

// ---- config --------------------------------------------------------------------

export interface Config {
  'tsync-vault': number;
  id: string;
  chunker: { algorithm: string; min: number; avg: number; max: number };
  algorithms: Record<string, string>;
  publicKey: string;
  check: string;
}

const checkOf = (keys: VaultKeys, id: string, publicKey: string): string => createHmac('sha256', keys.checkKey).update(`${FORMAT}:${id}:${publicKey}`).digest('hex');

export function newConfig(keys: VaultKeys): Config {
  const id = randomBytes(16).toString('hex');
  const publicKey = keys.publicKey.toString('hex');
  return {
    'tsync-vault': FORMAT,
    id,
    chunker: { algorithm: 'fastcdc-gear-keyed', ...CHUNK_SIZES },
    algorithms: { packs: 'aes-256-gcm, key hkdf-sha256(pack key, salt), nonce = offset', heads: 'xchacha20-poly1305, random nonce', signatures: 'ed25519', ids: 'hmac-sha256', kdf: 'hkdf-sha256 from the key; argon2id for a passphrase', compression: 'deflate (node:zlib) when it saves 1/8' },
    publicKey,
    check: checkOf(keys, id, publicKey),
  };
}

export type ConfigVerdict = 'ok' | 'format' | 'key' | 'damaged';

export function parseConfig(bytes: Buffer): Config | null {
  try {
    const c = JSON.parse(bytes.toString('utf8')) as Config;
    return typeof c === 'object' && c && typeof c.id === 'string' && typeof c.check === 'string' ? c : null;
  } catch {
    return null;
  }
}

export function judgeConfig(keys: VaultKeys, c: Config): ConfigVerdict {
  if (c['tsync-vault'] !== FORMAT) return 'format';
  if (!/^[0-9a-f]{32}$/.test(c.id) || !/^[0-9a-f]{64}$/.test(c.publicKey)) return 'damaged';
  if (c.check !== checkOf(keys, c.id, c.publicKey) || c.publicKey !== keys.publicKey.toString('hex')) return 'key';
  const k = c.chunker;
  if (k.min !== CHUNK_SIZES.min || k.avg !== CHUNK_SIZES.avg || k.max !== CHUNK_SIZES.max) return 'format';
  return 'ok';
}

// ---- heads -----------------------------------------------------------------------

export interface Head {
  v: 1;
  seq: number;
  /** sha256 (hex) of the previous head object's bytes; '' for the first */
  prev: string;
  /** the writing client's id and every writer's commit counter */
  writer: string;
  counters: Record<string, number>;
  host: string;
  /** the writer's clock and the host's, ms since the epoch */
  time: number;
  hostTime: number;
  trees: Array<BlobRef & { id: string }>;
  index: Array<BlobRef & { id: string }>;
  files: number;
  bytes: number;
  /** 'forget': a head that records a forget (its trees are the newest kept snapshot's), not a snapshot */
  kind?: 'forget';
  /** every snapshot number forgotten so far */
  forgotten?: number[];
  /** packs found unreferenced, with the host's time then: deleted once still unreferenced a grace period later */
  marked?: Array<{ pack: string; at: number }>;
}

const SIG = 64;

export function sealHead(keys: VaultKeys, head: Head): Buffer {
  if (!keys.signer) throw new Error('a read-only key cannot sign');
  const plain = Buffer.from(JSON.stringify(head));
  const framed = Buffer.alloc(padme(plain.length + 4));
  framed.writeUInt32BE(plain.length, 0);
  plain.copy(framed, 4);
  const nonce = randomBytes(24);
  const box = Buffer.concat([nonce, xchacha20poly1305(keys.headKey, nonce).encrypt(framed)]);
  return Buffer.concat([box, sign(null, box, keys.signer)]);
}

export function openHead(keys: VaultKeys, bytes: Buffer, name: string): Head {
  if (bytes.length < 24 + 16 + SIG) throw new VaultDamage(name, 'truncated');
  const box = bytes.subarray(0, bytes.length - SIG);
  if (!verify(null, box, keys.verifier, bytes.subarray(bytes.length - SIG))) throw new VaultDamage(name, 'bad signature (tampered, or not written by a holder of this vault\'s key)');
  let framed: Uint8Array;
  try {
    framed = xchacha20poly1305(keys.headKey, box.subarray(0, 24)).decrypt(box.subarray(24));
  } catch {
    throw new VaultDamage(name, 'does not decrypt');
  }
  const f = Buffer.from(framed);
  const n = f.readUInt32BE(0);
  let h: Head;
  try {
    h = JSON.parse(f.toString('utf8', 4, 4 + n)) as Head;
  } catch {
    throw new VaultDamage(name, 'is not a head');
  }
  if (h.v !== 1 || !Number.isInteger(h.seq) || `heads/${seqName(h.seq)}` !== name) throw new VaultDamage(name, 'names another sequence number than its own');
  return h;
}

export const seqName = (seq: number): string => String(seq).padStart(10, '0');
export const sha256hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
