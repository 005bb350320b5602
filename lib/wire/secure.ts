// The keyed channel's cryptography, with no I/O: the handshake transcript,
// each side's proof that it holds the pre-shared key, the session keys, and
// the record layer both sides use once the proofs are exchanged.
//
// Record layer: every byte a side writes after its AUTH message travels in
// sealed frames, [u32 BE length][AES-256-GCM ciphertext][16-byte tag], one
// key per direction, the nonce and the associated data made of a 64-bit
// sequence number that counts the frames of that direction from 0. The
// number is never sent: the receiver knows which one it expects, so a
// frame that was altered, dropped, replayed or reordered fails to open.
// AES-256-GCM over ChaCha20-Poly1305: as fast or faster here at every
// frame size (bench/aead.mjs). See docs/design.md, "Keyed channel".

import { createCipheriv, createDecipheriv, createHash, createHmac, createPublicKey, createSecretKey, diffieHellman, generateKeyPairSync, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { DecodeError } from './codec.js';
import { FRAME_HEADER, FrameDecoder } from './frames.js';
import { LIMITS } from './schema.js';
import { KX_CAP } from './caps.js';

export const KEY_LEN = 32;
export const TAG_LEN = 16;
export const PROOF_LEN = 32;
const AEAD = 'aes-256-gcm';
/** plaintext bytes in one sealed frame; a sealed payload is at most this plus the tag */
export const RECORD_MAX = LIMITS.frame;
/** sequence numbers stay exact as JavaScript numbers; nobody sends 2^53 frames */
const SEQ_MAX = Number.MAX_SAFE_INTEGER;

export type Side = 'client' | 'server';

export interface SessionKeys {
  /** HMAC key of the two proofs */
  auth: Buffer;
  /** record keys, client to server and server to client */
  c2s: Buffer;
  s2c: Buffer;
  /** the manifest MAC chain's key: secret, unlike an unkeyed session's */
  manifest: Buffer;
}

export function checkKey(key: Buffer): void {
  if (key.length !== KEY_LEN) throw new RangeError(`expected a key of ${KEY_LEN} bytes, got ${key.length}`);
}

/**
 * What both sides agree happened before the proofs: the two HELLO payloads
 * exactly as encoded (they carry both fresh nonces, both versions and both
 * capability lists, so a changed HELLO changes every key and proof).
 */
export function transcript(clientHello: Buffer, serverHello: Buffer): Buffer {
  const len = (b: Buffer) => {
    const n = Buffer.alloc(4);
    n.writeUInt32BE(b.length);
    return n;
  };
  return createHash('sha256').update('tsync keyed v1\0').update(len(clientHello)).update(clientHello).update(len(serverHello)).update(serverHello).digest();
}

/**
 * HKDF-SHA256 of the pre-shared key, salted with the transcript, one label
 * per key. With `shared` (the ephemeral X25519 secret both sides agreed
 * on), the input is the key and that secret together: a recording cannot
 * be opened by whoever learns the key later (forward secrecy). Without it
 * (a peer that does not offer an ephemeral key), the key alone.
 */
export function sessionKeys(psk: Buffer, t: Buffer, shared: Buffer | null = null): SessionKeys {
  checkKey(psk);
  if (shared && shared.length !== KEY_LEN) throw new RangeError(`expected a shared secret of ${KEY_LEN} bytes, got ${shared.length}`);
  const ikm = shared ? Buffer.concat([psk, shared]) : psk;
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', ikm, t, Buffer.from(info), KEY_LEN));
  try {
    return { auth: derive('tsync auth v1'), c2s: derive('tsync c2s v1'), s2c: derive('tsync s2c v1'), manifest: derive('tsync manifest v1') };
  } finally {
    if (shared) ikm.fill(0);
  }
}

export interface Ephemeral {
  /** the capability to offer */
  cap: string;
  /** the shared secret with the peer whose capability this is */
  agree(theirCap: string): Buffer;
}

/** A fresh X25519 key pair for one handshake (node:crypto). */
export function ephemeral(): Ephemeral {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  const x = publicKey.export({ format: 'jwk' }).x!;
  return {
    cap: `${KX_CAP}${x}`,
    agree(theirCap: string): Buffer {
      const x = theirCap.slice(KX_CAP.length);
      if (!/^[A-Za-z0-9_-]{43}$/.test(x)) throw new RangeError('expected an X25519 public key of 32 bytes in base64url');
      let shared: Buffer;
      try {
        shared = diffieHellman({ privateKey, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' }) });
      } catch {
        // OpenSSL refuses a low-order point ("failed during derivation")
        shared = Buffer.alloc(KEY_LEN);
      }
      // a low-order point gives all zeros: no secret at all
      if (shared.every((b) => b === 0)) throw new RangeError('the X25519 exchange gave no secret (a low-order public key)');
      return shared;
    },
  };
}

/** A side's proof: its role is inside, so a proof sent back to its author does not pass. */
export function proof(authKey: Buffer, side: Side, t: Buffer): Buffer {
  return createHmac('sha256', authKey).update(`tsync proof v1 ${side}\0`).update(t).digest();
}

export function proofMatches(got: Buffer, want: Buffer): boolean {
  return got.length === want.length && timingSafeEqual(got, want);
}

/** the 12-byte nonce, which is also the associated data: 4 zero bytes, then the u64 sequence number */
function nonce(seq: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(Math.floor(seq / 2 ** 32), 4);
  n.writeUInt32BE(seq >>> 0, 8);
  return n;
}

/** One direction of a keyed session: its key, and the frames it has sealed or opened (each frame's sequence number). */
abstract class Direction {
  protected readonly key: KeyObject;
  protected seq = 0;

  constructor(key: Buffer) {
    checkKey(key);
    this.key = createSecretKey(key);
  }

  /** frames sealed or opened so far */
  get count(): number {
    return this.seq;
  }
}

/** Seals outgoing bytes into frames; the sequence number counts every frame. */
export class Sealer extends Direction {

  /** Bytes in, wire bytes out: one sealed frame per RECORD_MAX bytes. */
  seal(plain: Buffer): Buffer {
    const frames: Buffer[] = [];
    for (let off = 0; off < plain.length; off += RECORD_MAX) frames.push(this.sealOne(plain.subarray(off, off + RECORD_MAX)));
    return frames.length === 1 ? frames[0] : Buffer.concat(frames);
  }

  private sealOne(plain: Buffer): Buffer {
    if (this.seq >= SEQ_MAX) throw new RangeError('sequence numbers exhausted');
    const iv = nonce(this.seq++);
    const c = createCipheriv(AEAD, this.key, iv, { authTagLength: TAG_LEN });
    c.setAAD(iv);
    const body = c.update(plain);
    c.final();
    // one copy: [length][ciphertext][tag]
    const frame = Buffer.alloc(FRAME_HEADER + body.length + TAG_LEN);
    frame.writeUInt32BE(body.length + TAG_LEN, 0);
    body.copy(frame, FRAME_HEADER);
    c.getAuthTag().copy(frame, FRAME_HEADER + body.length);
    return frame;
  }
}

/** Opens incoming sealed frames in order; throws DecodeError on the first that does not open. */
export class Opener extends Direction {
  private readonly frames = new FrameDecoder(RECORD_MAX + TAG_LEN);

  /** bytes received that do not yet make a whole sealed frame */
  get pending(): number {
    return this.frames.pending;
  }

  /** Buffer wire bytes without opening anything yet. */
  feed(wire: Buffer): void {
    this.frames.feed(wire);
  }

  /** The plaintext of the next whole sealed frame, or null until more bytes arrive. */
  next(): Buffer | null {
    const f = this.frames.next();
    return f && this.openOne(f);
  }

  /** Wire bytes in, the plaintext of every whole sealed frame out (in order). */
  push(wire: Buffer): Buffer[] {
    this.feed(wire);
    const out: Buffer[] = [];
    for (let p = this.next(); p; p = this.next()) out.push(p);
    return out;
  }

  private openOne(sealed: Buffer): Buffer {
    const seq = this.seq;
    const fail = () => new DecodeError(`sealed frame ${seq} failed authentication: it was altered, dropped, replayed or reordered on the way`);
    if (sealed.length < TAG_LEN || seq >= SEQ_MAX) throw fail();
    const iv = nonce(seq);
    const d = createDecipheriv(AEAD, this.key, iv, { authTagLength: TAG_LEN });
    d.setAAD(iv);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_LEN));
    const plain = d.update(sealed.subarray(0, sealed.length - TAG_LEN));
    try {
      d.final();
    } catch {
      throw fail();
    }
    this.seq++;
    return plain;
  }
}
