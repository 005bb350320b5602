// The handshake both sides run first: preamble (in Connection), HELLO each
// way at once (no round trip), version choice, session key. Deterministic:
// both sides compute the same result from the two HELLOs.

import { randomBytes } from 'node:crypto';
import type { Connection } from './connection.js';
import { TsyncError } from './errors.js';
import { PROTOCOL_MIN, PROTOCOL_VERSION, type Message } from './wire/schema.js';
import { deriveKey } from './tree/manifest.js';
import { VERSION } from './version.js';
import { capsFor, chooseCodec, CODECS, type Codec } from './compress.js';

export type Hello = Extract<Message, { t: 'hello' }>;

// 'lock': a receiving server takes the destination's lock and reads START's lockWait;
// 'doctor': the server answers START role doctor with a DIAG.
export const CAPS = ['hash:sha256', ...capsFor(CODECS), 'lock', 'doctor'];

export interface Negotiated {
  version: number;
  peer: Hello;
  /** the codec -z would use with this peer */
  codec: Codec;
  key: Buffer;
  /** when the peer's HELLO arrived (our clock, ms) */
  receivedAt: number;
  sentAt: number;
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

/** extraCaps: requests of this run only (PROGRESS_CAP) */
export async function handshake(conn: Connection, side: 'client' | 'server', extraCaps: readonly string[] = []): Promise<Negotiated> {
  const range = ourRange();
  const nonce = randomBytes(32);
  const sentAt = Date.now();
  conn.send({ t: 'hello', version: range.max, minVersion: range.min, software: VERSION, caps: [...CAPS, ...extraCaps], clock: sentAt, nonce });
  const m = await conn.next();
  const receivedAt = Date.now();
  if (m.t !== 'hello') throw new TsyncError('E_PROTOCOL', `expected HELLO from the peer, got ${m.t}`);
  const version = Math.min(range.max, m.version);
  if (version < range.min || version < m.minVersion) {
    const mine = `tsync ${VERSION} (protocol ${range.min}-${range.max})`;
    const theirs = `tsync ${m.software} (protocol ${m.minVersion}-${m.version})`;
    throw new TsyncError('E_VERSION', side === 'client' ? `${mine} and the remote ${theirs} share no protocol version` : `the client's ${theirs} and this ${mine} share no protocol version`);
  }
  const [c, s] = side === 'client' ? [nonce, m.nonce] : [m.nonce, nonce];
  const key = deriveKey(Buffer.from('tsync-unkeyed'), Buffer.concat([c, s]), 'tsync manifest v1');
  return { version, peer: m, key, receivedAt, sentAt, codec: chooseCodec(CAPS, m.caps) };
}
