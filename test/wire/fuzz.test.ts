// Seeded fuzzing of everything that decodes a peer's bytes, beyond
// schema.test.ts's single-byte mutations of single messages: whole valid
// sessions (every message a session carries, manifests, delta signatures
// and ops) mutated many ways at once (test/helpers/fuzz-core.mjs), decoded
// frame by frame; and the same streams, plain and -z compressed, pushed
// through a real Connection. Decoders may refuse only with DecodeError or
// TsyncError E_PROTOCOL; a Connection may only fail with a protocol or
// connection error. bench/fuzz.mjs runs the same engine for longer.

import { PassThrough } from 'node:stream';
import * as zlib from 'node:zlib';
import t from 'tap';
import { Connection } from '../../lib/link/connection.js';
import { CAPS } from '../../lib/link/handshake.js';
import { DecodeError } from '../../lib/wire/codec.js';
import * as frames from '../../lib/wire/frames.js';
import * as schema from '../../lib/wire/schema.js';
import { TsyncError } from '../../lib/errors.js';
import { checkRelPath } from '../../lib/tree/paths.js';
import { MacChain } from '../../lib/tree/manifest.js';
import * as delta from '../../lib/delta/index.js';
import { parseStats } from '../../lib/cli/stats.js';
import { mulberry32 } from '../helpers/prng.mjs';
import { makeFuzzer } from '../helpers/fuzz-core.mjs';

const SEED = Number(process.env.TSYNC_FUZZ_SEED ?? 0xf0221);
const fuzz = makeFuzzer({ ...schema, ...frames, DecodeError, TsyncError, checkRelPath, ...delta, parseStats, MacChain, CAPS });

t.test('valid sessions decode whole', async (t) => {
  const rnd = mulberry32(SEED);
  for (let i = 0; i < 20; i++) {
    const { stream, blockCount } = fuzz.validSession(rnd);
    t.equal(fuzz.decodeSession(rnd, stream, blockCount), '20 messages', `session ${i} (${stream.length} bytes)`);
  }
});

t.test(`mutated sessions: decoders refuse only with DecodeError or E_PROTOCOL (seed ${SEED})`, async (t) => {
  const r = fuzz.run({ seed: SEED, iterations: 8000, mulberry32 });
  t.same(r.crashes, [], `no crash in ${r.cases} cases (replay one with bench/fuzz.mjs --case SEED)`);
  t.ok(r.refused > r.cases / 2, `most mutations are refused (${r.refused})`);
  t.ok(r.decodedWhole > 0, `some still decode whole (${r.decodedWhole}): mutations that stay valid`);
});

/** Feed bytes to a server-side Connection in seeded chunks, then end; how did it end? */
async function throughConnection(bytes: Buffer, rnd: () => number, compressed: boolean): Promise<string> {
  const input = new PassThrough();
  const output = new PassThrough();
  output.resume();
  const conn = new Connection(input, output, { timeout: 0, expectJunk: false });
  if (compressed) conn.inflateAfter = (m) => (m.t === 'start' && m.options.compress ? 'deflate' : null);
  let messages = 0;
  conn.onMessage(() => messages++);
  const ended = conn.failed().then(
    () => 'never',
    (e: TsyncError) => (e.remote ? 'remote error' : e.code),
  );
  for (let off = 0; off < bytes.length; ) {
    const n = 1 + Math.floor(rnd() * 200);
    input.write(bytes.subarray(off, off + n));
    off += n;
    if (rnd() < 0.2) await new Promise((r) => setImmediate(r));
  }
  input.end();
  const how = await Promise.race([ended, new Promise<string>((r) => setTimeout(() => r(conn.error ? conn.error.code : 'no failure'), 500))]);
  conn.close();
  return how;
}

type Start = Extract<schema.Message, { t: 'start' }>;

/** A session whose START asks for -z, compressed after it; head: the plain bytes up to there. */
function compressedSession(rnd: () => number): { bytes: Buffer; head: number } {
  const { stream } = fuzz.validSession(rnd);
  const payloads = new frames.FrameDecoder(schema.LIMITS.frame + 16).push(stream.subarray(schema.MAGIC.length));
  const start = schema.decodeMessage(payloads[1]) as Start;
  const head = Buffer.concat([schema.MAGIC, frames.encodeFrame(payloads[0]), frames.encodeFrame(schema.encodeMessage({ ...start, options: { ...start.options, compress: true } }))]);
  const rest = Buffer.concat(payloads.slice(2).map((p) => frames.encodeFrame(p)));
  return { bytes: Buffer.concat([head, zlib.deflateRawSync(rest)]), head: head.length };
}

t.test('mutated sessions through a real Connection, plain and -z: only protocol or connection errors', async (t) => {
  const rnd = mulberry32(SEED + 1);
  const pool = fuzz.sessionPool(mulberry32).map((s) => s.stream);
  const seen = new Map<string, number>();
  const bad: string[] = [];
  for (let i = 0; i < 400; i++) {
    const compressed = i % 2 === 1;
    // keep the preamble and, for -z, the plain HELLO and START: the mutation lands in what follows
    const { bytes: base, head: keep } = compressed ? compressedSession(rnd) : { bytes: fuzz.validSession(rnd).stream, head: schema.MAGIC.length };
    const bytes = i % 10 === 0 ? base : Buffer.concat([base.subarray(0, keep), fuzz.mutate(rnd, base.subarray(keep), pool)]);
    const how = await throughConnection(bytes, rnd, compressed);
    seen.set(how, (seen.get(how) ?? 0) + 1);
    if (!['E_PROTOCOL', 'E_CONNECTION_LOST', 'remote error', 'no failure'].includes(how) && bad.length < 5) bad.push(`case ${i} (${compressed ? '-z' : 'plain'}): ${how}`);
  }
  t.same(bad, [], `ended as: ${JSON.stringify(Object.fromEntries(seen))}`);
});
