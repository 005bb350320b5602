// The keyed channel's cryptography (lib/wire/secure.ts), without I/O:
// sealed frames open in order and only in order; any altered byte, dropped,
// replayed or reordered frame, or another key, fails; the frame format is
// pinned against node:crypto directly; proofs and keys depend on
// everything in the transcript and on the role.

import t from 'tap';
import { createCipheriv, createHash } from 'node:crypto';
import { DecodeError } from '../../lib/wire/codec.js';
import { FRAME_HEADER } from '../../lib/wire/frames.js';
import { Opener, proof, proofMatches, RECORD_MAX, Sealer, sessionKeys, TAG_LEN, transcript, type SessionKeys } from '../../lib/wire/secure.js';
import { mulberry32 } from '../helpers/prng.mjs';

const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const OTHER = Buffer.alloc(32, 7);

function bytes(n: number, seed: number): Buffer {
  const rnd = mulberry32(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rnd() * 256;
  return b;
}

/** split a stream of sealed frames into the frames (header included) */
function framesOf(wire: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < wire.length; ) {
    const len = FRAME_HEADER + wire.readUInt32BE(off);
    out.push(wire.subarray(off, off + len));
    off += len;
  }
  return out;
}

/** open everything, or the error thrown */
function openAll(key: Buffer, wire: Buffer): Buffer[] | DecodeError {
  try {
    return new Opener(key).push(wire);
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw e;
  }
}

t.test('sealed frames open to what was sealed, in order, fed whole or byte by byte', async (t) => {
  const sealer = new Sealer(KEY);
  const plains = [bytes(1, 1), bytes(100, 2), bytes(64 << 10, 3), Buffer.from('the last one')];
  const wire = Buffer.concat(plains.map((p) => sealer.seal(p)));
  t.equal(sealer.count, 4);
  t.equal(wire.length, plains.reduce((n, p) => n + p.length + FRAME_HEADER + TAG_LEN, 0), 'each frame costs a header and a tag');
  t.same(openAll(KEY, wire), plains, 'all at once');

  const small = new Sealer(KEY);
  const smallPlains = [plains[0], plains[1], plains[3]];
  const smallWire = Buffer.concat(smallPlains.map((p) => small.seal(p)));
  const opener = new Opener(KEY);
  const got: Buffer[] = [];
  for (const b of smallWire) got.push(...opener.push(Buffer.from([b])));
  t.same(got, smallPlains, 'one byte at a time');
  t.equal(opener.count, 3);
  t.equal(opener.pending, 0);
});

t.test('more than RECORD_MAX bytes become several frames; nothing is sealed for nothing', async (t) => {
  const big = bytes(RECORD_MAX * 2 + 5, 4);
  const wire = new Sealer(KEY).seal(big);
  const frames = framesOf(wire);
  t.same(frames.map((f) => f.length - FRAME_HEADER - TAG_LEN), [RECORD_MAX, RECORD_MAX, 5]);
  t.same(Buffer.concat(openAll(KEY, wire) as Buffer[]), big);
  t.equal(new Sealer(KEY).seal(Buffer.alloc(0)).length, 0);
});

t.test('the frame format: AES-256-GCM, nonce and associated data = 4 zero bytes + u64 BE sequence number', async (t) => {
  const sealer = new Sealer(KEY);
  sealer.seal(Buffer.from('frame 0'));
  const wire = sealer.seal(Buffer.from('frame 1'));
  const iv = Buffer.from('000000000000000000000001', 'hex');
  const c = createCipheriv('aes-256-gcm', KEY, iv, { authTagLength: 16 });
  c.setAAD(iv);
  const body = Buffer.concat([c.update('frame 1'), c.final(), c.getAuthTag()]);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  t.same(wire, Buffer.concat([header, body]));
});

t.test('every single-bit change in a frame fails, and never yields plaintext', async (t) => {
  const sealer = new Sealer(KEY);
  const wire = Buffer.concat([sealer.seal(Buffer.from('first frame')), sealer.seal(Buffer.from('second'))]);
  const firstLen = framesOf(wire)[0].length;
  let failed = 0;
  let waiting = 0;
  for (let bit = 0; bit < firstLen * 8; bit++) {
    const bad = Buffer.from(wire);
    bad[bit >> 3] ^= 0x80 >> (bit & 7);
    const r = openAll(KEY, bad);
    if (r instanceof DecodeError) failed++;
    else if (r.length === 0) waiting++; // a longer length: the opener waits for bytes that never come
    else t.fail(`bit ${bit}: opened ${r.length} frame(s)`);
  }
  t.equal(failed + waiting, firstLen * 8, `${failed} flips fail at once, ${waiting} leave the opener waiting`);
  t.ok(failed >= (firstLen - FRAME_HEADER) * 8, 'every flip in the ciphertext or the tag fails');
});

t.test('dropped, replayed, reordered and foreign frames fail with a message that says so', async (t) => {
  const sealer = new Sealer(KEY);
  const f = [0, 1, 2, 3].map((i) => sealer.seal(Buffer.from(`frame ${i}`)));
  const cases: Array<[string, Buffer[]]> = [
    ['dropped', [f[0], f[2], f[3]]],
    ['replayed', [f[0], f[1], f[1], f[2]]],
    ['reordered', [f[0], f[2], f[1], f[3]]],
    ['from an older stream', [f[0], f[1], new Sealer(KEY).seal(Buffer.from('frame 2'))]],
    ['too short to hold a tag', [f[0], Buffer.from([0, 0, 0, TAG_LEN - 1, ...Buffer.alloc(TAG_LEN - 1)])]],
  ];
  for (const [what, frames] of cases) {
    const opener = new Opener(KEY);
    const opened: string[] = [];
    let err: unknown = null;
    try {
      for (const fr of frames) for (const p of opener.push(fr)) opened.push(p.toString());
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof DecodeError, `${what}: fails`);
    t.match((err as Error).message, /sealed frame \d+ failed authentication: it was altered, dropped, replayed or reordered/, `${what}: says why`);
    const before = what === 'replayed' || what === 'from an older stream' ? ['frame 0', 'frame 1'] : ['frame 0'];
    t.same(opened, before, `${what}: only the frames before it opened`);
  }
});

t.test('another key opens nothing; a frame longer than the limit is refused before it is buffered', async (t) => {
  const wire = new Sealer(KEY).seal(Buffer.from('secret'));
  t.ok(openAll(OTHER, wire) instanceof DecodeError, 'another key');
  const huge = Buffer.alloc(4);
  huge.writeUInt32BE(RECORD_MAX + TAG_LEN + 1);
  t.match(openAll(KEY, huge), /exceeds the maximum/);
  t.throws(() => new Sealer(Buffer.alloc(31)), /expected a key of 32 bytes, got 31/);
});

t.test('transcript, keys and proofs', async (t) => {
  const c = Buffer.from('client hello');
  const s = Buffer.from('server hello');
  const tr = transcript(c, s);
  t.equal(tr.length, 32);
  t.not(tr.toString('hex'), transcript(s, c).toString('hex'), 'the order of the HELLOs counts');
  t.not(tr.toString('hex'), transcript(Buffer.from('client hell'), Buffer.from('oserver hello')).toString('hex'), 'where one HELLO ends counts');
  t.same(tr, createHash('sha256').update('tsync keyed v1\0').update(Buffer.from([0, 0, 0, 12])).update(c).update(Buffer.from([0, 0, 0, 12])).update(s).digest());

  const keys = sessionKeys(KEY, tr);
  const all = (k: SessionKeys) => [k.auth, k.c2s, k.s2c, k.manifest].map((b) => b.toString('hex'));
  t.equal(new Set(all(keys)).size, 4, 'four different keys');
  t.same(all(sessionKeys(KEY, tr)), all(keys), 'the same on both sides');
  t.equal(new Set([...all(keys), ...all(sessionKeys(OTHER, tr)), ...all(sessionKeys(KEY, transcript(c, Buffer.from('server hellO'))))]).size, 12, 'another key or transcript changes every key');

  const pc = proof(keys.auth, 'client', tr);
  const ps = proof(keys.auth, 'server', tr);
  t.notOk(proofMatches(pc, ps), "a client's proof is not a server's (no reflection)");
  t.ok(proofMatches(pc, proof(keys.auth, 'client', tr)));
  t.notOk(proofMatches(pc, proof(sessionKeys(OTHER, tr).auth, 'client', tr)), 'another key, another proof');
  t.notOk(proofMatches(pc, pc.subarray(0, 31)), 'a short proof does not match (and does not throw)');
});

t.test('ephemeral X25519 (forward secrecy): both sides agree, the secret changes every key, bad keys are refused', async (t) => {
  const { ephemeral, sessionKeys: keysOf } = await import('../../lib/wire/secure.js');
  const { KX_CAP } = await import('../../lib/wire/caps.js');
  const a = ephemeral();
  const b = ephemeral();
  t.ok(a.cap.startsWith(KX_CAP) && a.cap.length === KX_CAP.length + 43 && a.cap.length <= 64, `a capability of ${a.cap.length} characters`);
  const sa = a.agree(b.cap);
  t.same(sa, b.agree(a.cap), 'both sides compute the same secret');
  t.not(a.cap, ephemeral().cap, 'a fresh key every time');
  const psk = Buffer.alloc(32, 1);
  const tr = Buffer.alloc(32, 2);
  const plain = keysOf(psk, tr);
  const fs = keysOf(psk, tr, sa);
  for (const k of ['auth', 'c2s', 's2c', 'manifest'] as const) t.notSame(fs[k], plain[k], `${k} depends on the exchange`);
  t.throws(() => a.agree(`${KX_CAP}short`), /32 bytes in base64url/);
  // the all-zero point is of low order: no secret
  t.throws(() => a.agree(`${KX_CAP}${Buffer.alloc(32).toString('base64url')}`), /no secret|low-order|invalid|public key/i);
  t.throws(() => keysOf(psk, tr, Buffer.alloc(31)), /shared secret of 32 bytes/);
});
