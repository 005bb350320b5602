// What makes a manifest or bundle trustworthy: an HMAC-SHA256 under a key
// derived from a pre-shared key file (tsync keygen), or, without a key, a
// plain SHA-256 that catches accidents (a flipped byte, a cut-off copy) but
// not a forger. A keyed seal also carries a key id, so a wrong --key is told
// apart from a damaged file.

import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { TsyncError } from '../errors.js';
import { deriveKey, macEqual } from '../tree/manifest.js';
import { keyFileFrom, loadKey } from '../link/key-file.js';

export type SealKind = 'sha256' | 'hmac-sha256';

export interface SealKey {
  /** the derived MAC key */
  mac: Buffer;
  /** 8 bytes that name the key (hex), so a wrong key is recognised */
  id: string;
}

const SALT = Buffer.from('tsync offline bundle v1');

export function sealKey(psk: Buffer): SealKey {
  const mac = deriveKey(psk, SALT, 'tsync seal mac');
  const id = deriveKey(psk, SALT, 'tsync seal key id').subarray(0, 8).toString('hex');
  return { mac, id };
}

/** --key FILE (or $TSYNC_KEY_FILE) loaded into a seal key, or null */
export function sealKeyFrom(option: unknown): SealKey | null {
  const file = keyFileFrom(option);
  return file ? sealKey(loadKey(file)) : null;
}

export class Sealer {
  readonly kind: SealKind;
  private readonly h: Hash | Hmac;
  constructor(key: SealKey | null) {
    this.kind = key ? 'hmac-sha256' : 'sha256';
    this.h = key ? createHmac('sha256', key.mac) : createHash('sha256');
  }
  update(b: Uint8Array | string): this {
    this.h.update(b);
    return this;
  }
  digest(): Buffer {
    return this.h.digest();
  }
}

/**
 * The key a reader must use for a seal of this kind and key id: checks that
 * a keyed file gets a key, that it is the right one (E_AUTH, exit 15), and
 * that a file sealed without a key is not accepted where a key was given.
 */
export function keyFor(what: string, kind: string, keyId: string | undefined, key: SealKey | null): SealKey | null {
  if (kind === 'sha256') {
    if (key) throw new TsyncError('E_AUTH', `${what} carries no MAC, only a checksum, but --key was given: refusing an unauthenticated ${what}`);
    return null;
  }
  if (kind !== 'hmac-sha256') throw new TsyncError('E_BUNDLE', `${what}: unknown seal "${kind}"`);
  if (!key) throw new TsyncError('E_AUTH', `${what} is MACed under a key: give it with --key FILE`);
  if (keyId !== key.id) throw new TsyncError('E_AUTH', `${what} was MACed under another key than --key (key id ${String(keyId)}, yours ${key.id})`);
  return key;
}

/** compare a seal read from a file with the one computed; a mismatch is damage (the key id already matched) */
export function checkSeal(what: string, kind: SealKind, want: Buffer, got: Buffer): void {
  if (!macEqual(want, got)) {
    throw new TsyncError('E_BUNDLE', `${what} is damaged: its ${kind === 'sha256' ? 'checksum' : 'MAC'} does not match its content`);
  }
}
