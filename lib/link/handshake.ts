// The handshake both sides run first: preamble (in Connection), HELLO each
// way at once (no round trip), version choice, session key. Deterministic:
// both sides compute the same result from the two HELLOs.

import { randomBytes } from 'node:crypto';
import type { Connection } from './connection.js';
import { TsyncError } from '../errors.js';
import { PROTOCOL_MIN, PROTOCOL_VERSION, type Message } from '../wire/schema.js';
import { deriveKey } from '../tree/manifest.js';
import { VERSION } from '../version.js';
import { capsFor, chooseCodec, CODECS, type Codec } from './compress.js';
import { authenticate, checkKeyPresence } from './key-proof.js';
import { DIFF_CAP, DOCTOR_CAP, HASH_CAP, KEY_CAP, LOCK_CAP, MOVES_CAP, ROUNDS_CAP, TWOWAY_CAP, VAULT_CAP } from '../wire/caps.js';
import { ephemeral } from '../wire/secure.js';

export type Hello = Extract<Message, { t: 'hello' }>;

/** what every HELLO of ours offers (each capability is described in lib/wire/caps.ts) */
export const CAPS = [HASH_CAP, TWOWAY_CAP, ...capsFor(CODECS), LOCK_CAP, DOCTOR_CAP, ROUNDS_CAP, DIFF_CAP, MOVES_CAP, VAULT_CAP];

export interface Negotiated {
  version: number;
  peer: Hello;
  /** the codec -z would use with this peer */
  codec: Codec;
  key: Buffer;
  /** when the peer's HELLO arrived (our clock, ms) */
  receivedAt: number;
  sentAt: number;
  /** both HELLOs offer multi-round deltas */
  rounds: boolean;
  /** both HELLOs offer two-way diff manifests */
  diff: boolean;
  /** both HELLOs offer moves (a receiver may ask for a file's hash only) */
  moves: boolean;
}

/** Our supported range; TSYNC_TEST_PROTOCOL="min-max" pretends to be another version (tests only). */
export function ourRange(): { min: number; max: number } {
  const o = process.env.TSYNC_TEST_PROTOCOL;
  if (o && /^\d+-\d+$/.test(o)) {
    const [min, max] = o.split('-').map(Number);
    return { min, max };
  }
  return { min: PROTOCOL_MIN, max: PROTOCOL_VERSION };
}

/**
 * psk: the pre-shared key (--key), or null for an unkeyed session; it is wiped when the handshake ends.
 * extraCaps: requests of this run only (PROGRESS_CAP).
 */
export async function handshake(conn: Connection, side: 'client' | 'server', psk: Buffer | null = null, extraCaps: readonly string[] = []): Promise<Negotiated> {
  try {
    return await negotiate(conn, side, psk, extraCaps);
  } finally {
    psk?.fill(0);
  }
}

async function negotiate(conn: Connection, side: 'client' | 'server', psk: Buffer | null, extraCaps: readonly string[]): Promise<Negotiated> {
  const range = ourRange();
  const nonce = randomBytes(32);
  const sentAt = Date.now();
  // keyed: the peer seals everything after its AUTH, so decoding stops there until we can open it
  if (psk) conn.pauseAfter('auth');
  // TSYNC_TEST_NO_CAPS=cap,... plays a peer without those capabilities (tests only)
  const without = (process.env.TSYNC_TEST_NO_CAPS ?? '').split(',');
  const ours = CAPS.filter((c) => !without.includes(c));
  // keyed: a fresh X25519 key in the HELLO, for forward secrecy (TSYNC_TEST_NO_CAPS=x25519 plays an older peer)
  const eph = psk && !without.includes('x25519') ? ephemeral() : null;
  const caps = [...ours, ...extraCaps, ...(psk ? [KEY_CAP] : []), ...(eph ? [eph.cap] : [])];
  const hello: Hello = { t: 'hello', version: range.max, minVersion: range.min, software: VERSION, caps, clock: sentAt, nonce };
  conn.send(hello);
  const m = await conn.next();
  const receivedAt = Date.now();
  if (m.t !== 'hello') throw new TsyncError('E_PROTOCOL', `expected HELLO from the peer, got ${m.t}`);
  const version = Math.min(range.max, m.version);
  if (version < range.min || version < m.minVersion) {
    const mine = `tsync ${VERSION} (protocol ${range.min}-${range.max})`;
    const theirs = `tsync ${m.software} (protocol ${m.minVersion}-${m.version})`;
    throw new TsyncError('E_VERSION', side === 'client' ? `${mine} and the remote ${theirs} share no protocol version` : `the client's ${theirs} and this ${mine} share no protocol version`);
  }
  checkKeyPresence(side, psk !== null, m);
  const [c, s] = side === 'client' ? [nonce, m.nonce] : [m.nonce, nonce];
  const key = psk ? await authenticate(conn, side, psk, hello, m, eph) : deriveKey(Buffer.from('tsync-unkeyed'), Buffer.concat([c, s]), 'tsync manifest v1');
  return { version, peer: m, key, receivedAt, sentAt, codec: chooseCodec(caps, m.caps), rounds: caps.includes(ROUNDS_CAP) && m.caps.includes(ROUNDS_CAP), diff: caps.includes(DIFF_CAP) && m.caps.includes(DIFF_CAP), moves: caps.includes(MOVES_CAP) && m.caps.includes(MOVES_CAP) };
}
