// The keyed step of the handshake (tsync keygen, --key): what handshake.ts
// runs after the HELLOs when a pre-shared key is in use. Both sides prove
// that they hold the key, then everything either side sends is sealed
// (lib/wire/secure.ts holds the cryptography; this module wires it to a
// Connection). A side with a key never goes on without the peer's proof:
// there is no fallback to an unkeyed session.

import { Transform } from 'node:stream';
import type { Connection } from './connection.js';
import { TsyncError } from '../errors.js';
import { encodeMessage, type Message } from '../wire/schema.js';
import { KEY_CAP } from '../wire/caps.js';
import { Opener, proof, proofMatches, Sealer, sessionKeys, transcript, type Side } from '../wire/secure.js';

type Hello = Extract<Message, { t: 'hello' }>;

const HOW = 'give both sides the same key: --key FILE or TSYNC_KEY_FILE on the client, and tsync --server --key FILE';

/** Both sides hold a key, or neither: anything else ends the run, on both sides, saying which side lacks one. */
export function checkKeyPresence(side: Side, weHaveKey: boolean, peer: Hello): void {
  const peerHasKey = peer.caps.includes(KEY_CAP);
  if (weHaveKey === peerHasKey) return;
  const other = side === 'client' ? 'server' : 'client';
  if (weHaveKey) throw new TsyncError('E_AUTH', `the ${other} has no key but this ${side} has one; refusing an unauthenticated, unencrypted session (${HOW})`);
  throw new TsyncError('E_AUTH', `the ${other} requires a key and this ${side} has none (${HOW})`);
}

/**
 * Exchange proofs of the key over the transcript of both HELLOs, then seal
 * what we send and open what we receive. The caller has asked the
 * connection to pause after the peer's AUTH (conn.pauseAfter) before any
 * byte arrived. Returns the manifest MAC key for this session.
 */
export async function authenticate(conn: Connection, side: Side, psk: Buffer, ours: Hello, theirs: Hello): Promise<Buffer> {
  const [client, server] = side === 'client' ? [ours, theirs] : [theirs, ours];
  const t = transcript(encodeMessage(client), encodeMessage(server));
  const keys = sessionKeys(psk, t);
  const other: Side = side === 'client' ? 'server' : 'client';
  try {
    conn.send({ t: 'auth', proof: proof(keys.auth, side, t) });
    conn.startSeal(sealStream(new Sealer(side === 'client' ? keys.c2s : keys.s2c)));
    const m = await conn.next();
    if (m.t !== 'auth') throw new TsyncError('E_PROTOCOL', `expected the ${other}'s AUTH, got ${m.t}`);
    if (!proofMatches(m.proof, proof(keys.auth, other, t))) {
      throw new TsyncError('E_AUTH', `key mismatch: the ${other} does not hold the same key (or the handshake was altered on the way)`);
    }
    conn.startOpen(new Opener(side === 'client' ? keys.s2c : keys.c2s));
    return Buffer.from(keys.manifest);
  } finally {
    for (const k of Object.values(keys)) k.fill(0);
  }
}

/** A stream that seals every chunk written to it into frames. */
export function sealStream(sealer: Sealer): Transform {
  return new Transform({
    // the connection writes up to 64 KiB at a time; don't make it wait for each
    highWaterMark: 256 << 10,
    transform(chunk: Buffer, _enc, done) {
      try {
        done(null, sealer.seal(chunk));
      } catch (e) {
        done(e as Error);
      }
    },
  });
}
