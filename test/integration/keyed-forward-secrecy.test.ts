// keyed-forward-secrecy: a keyed session recorded on the wire must not be
// readable by whoever later learns the pre-shared key. Before, the session
// keys were HKDF(psk, transcript) and the transcript is sent in the clear:
// the key alone opened a recording. Now both sides add an ephemeral X25519
// exchange (its public keys ride in the HELLO capabilities, so the proofs,
// which cover both HELLOs, cover them too) and the session keys depend on
// both. A peer without the capability still works (PSK only), and a relay
// that strips the capability in transit is caught by the proofs.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { TSYNC_BIN, runTsync, type RunResult } from '../helpers/run.js';
import { loadKey } from '../../lib/link/key-file.js';
import { FrameDecoder } from '../../lib/wire/frames.js';
import { decodeMessage, MAGIC } from '../../lib/wire/schema.js';
import { Opener, sessionKeys, transcript } from '../../lib/wire/secure.js';
import { diffSnapshots, snapshot } from '../helpers/tree.js';

const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-fs-'));
t.teardown(() => fs.rmSync(WORK, { recursive: true, force: true }));
const SCHEMA = fileURLToPath(new URL('../../dist/wire/schema.js', import.meta.url));
const FRAMES = fileURLToPath(new URL('../../dist/wire/frames.js', import.meta.url));

/**
 * A relay used as -e: drops the host, runs the server, records each
 * direction's bytes to $REC.c2s / $REC.s2c; with STRIP set, it removes the
 * capabilities that start with STRIP from the server's HELLO on the way.
 */
const RELAY = path.join(WORK, 'relay.mjs');
fs.writeFileSync(
  RELAY,
  `import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { decodeMessage, encodeMessage } from ${JSON.stringify(SCHEMA)};
import { encodeFrame } from ${JSON.stringify(FRAMES)};
const [, ...server] = process.argv.slice(2);
const rec = process.env.REC;
const strip = process.env.STRIP || '';
const child = spawn(server[0], server.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
child.on('exit', (code) => process.exit(code ?? 1));
process.stdin.on('data', (b) => { fs.appendFileSync(rec + '.c2s', b); child.stdin.write(b); });
process.stdin.on('end', () => child.stdin.end());
let head = Buffer.alloc(0);
let passed = false;
child.stdout.on('data', (b) => {
  if (!passed && strip) {
    head = Buffer.concat([head, b]);
    if (head.length < 12) return;
    const len = head.readUInt32BE(8);
    if (head.length < 12 + len) return;
    const hello = decodeMessage(head.subarray(12, 12 + len));
    hello.caps = hello.caps.filter((c) => !c.startsWith(strip));
    b = Buffer.concat([head.subarray(0, 8), encodeFrame(encodeMessage(hello)), head.subarray(12 + len)]);
    passed = true;
  }
  fs.appendFileSync(rec + '.s2c', b);
  process.stdout.write(b);
});
child.stdout.on('end', () => process.stdout.end());
`,
);
const RSH = `${process.execPath} ${RELAY}`;

async function keygen(name: string): Promise<string> {
  const file = path.join(WORK, name);
  const r = await runTsync(['keygen', file]);
  if (r.code !== 0) throw new Error(r.stderr);
  return file;
}

/** the frames of one recorded direction: the HELLO payload and the raw bytes after AUTH */
function split(rec: Buffer): { hello: Buffer; sealed: Buffer } {
  if (!rec.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('no preamble recorded');
  const d = new FrameDecoder(1 << 21);
  let off = MAGIC.length;
  const frame = () => {
    const len = rec.readUInt32BE(off);
    const f = rec.subarray(off + 4, off + 4 + len);
    off += 4 + len;
    return f;
  };
  void d;
  const hello = frame();
  const auth = frame();
  if (decodeMessage(Buffer.from(auth)).t !== 'auth') throw new Error('the second frame is not AUTH');
  return { hello: Buffer.from(hello), sealed: rec.subarray(off) };
}

const describe = (r: RunResult) => `exit ${r.code}; stderr ${JSON.stringify(r.stderr.slice(0, 600))}`;

t.test('a recorded session cannot be opened with the pre-shared key alone', async (t) => {
  const key = await keygen('k1');
  const src = path.join(WORK, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'secret.txt'), 'the content a recording must not give away\n');
  const rec = path.join(WORK, 'rec1');
  const dst = path.join(WORK, 'dst1');
  const r = await runTsync(['--key', key, '-e', RSH, '--tsync-path', `${TSYNC_BIN} --key ${key}`, `${src}/`, `x:${dst}/`], { env: { REC: rec } });
  t.equal(r.code, 0, describe(r));
  t.same(diffSnapshots(await snapshot(src), await snapshot(dst)), [], 'the push arrived');
  const c2s = split(fs.readFileSync(`${rec}.c2s`));
  const s2c = split(fs.readFileSync(`${rec}.s2c`));
  const hc = decodeMessage(c2s.hello);
  const hs = decodeMessage(s2c.hello);
  t.ok(hc.t === 'hello' && hc.caps.some((c) => c.startsWith('x25519=')), 'the client offered an ephemeral key');
  t.ok(hs.t === 'hello' && hs.caps.some((c) => c.startsWith('x25519=')), 'the server offered one');
  // what someone who recorded the session and later stole the key file would compute
  const keys = sessionKeys(loadKey(key), transcript(c2s.hello, s2c.hello));
  t.throws(() => new Opener(keys.c2s).push(c2s.sealed), /failed authentication/, 'the client-to-server stream does not open');
  t.throws(() => new Opener(keys.s2c).push(s2c.sealed), /failed authentication/, 'nor the server-to-client stream');
  t.equal(fs.readFileSync(`${rec}.c2s`).indexOf('the content a recording'), -1, 'the content is not in the recording in the clear');
});

t.test('a peer without the capability still works, keyed by the PSK alone', async (t) => {
  const key = await keygen('k2');
  const src = path.join(WORK, 'src');
  for (const [side, env] of [
    ['server', { TSYNC_TEST_NO_CAPS: undefined }],
    ['client', { TSYNC_TEST_NO_CAPS: 'x25519' }],
  ] as const) {
    const dst = path.join(WORK, `old-${side}`);
    const server = side === 'server' ? `env TSYNC_TEST_NO_CAPS=x25519 ${TSYNC_BIN} --key ${key}` : `${TSYNC_BIN} --key ${key}`;
    const r = await runTsync(['--key', key, '-e', RSH, '--tsync-path', server, `${src}/`, `x:${dst}/`], { env: { ...env, REC: path.join(WORK, `rec-${side}`) } });
    t.equal(r.code, 0, `an older ${side}: ${describe(r)}`);
    t.same(diffSnapshots(await snapshot(src), await snapshot(dst)), [], `an older ${side}: the push arrived`);
    const hs = decodeMessage(split(fs.readFileSync(path.join(WORK, `rec-${side}.s2c`))).hello);
    const hc = decodeMessage(split(fs.readFileSync(path.join(WORK, `rec-${side}.c2s`))).hello);
    t.notOk(hs.t === 'hello' && hc.t === 'hello' && hs.caps.some((c) => c.startsWith('x25519=')) && hc.caps.some((c) => c.startsWith('x25519=')), 'one side offered no ephemeral key');
  }
});

t.test('a relay that strips the capability from a HELLO: the proofs catch the downgrade', async (t) => {
  const key = await keygen('k3');
  const src = path.join(WORK, 'src');
  const dst = path.join(WORK, 'downgraded');
  const r = await runTsync(['--key', key, '-e', RSH, '--tsync-path', `${TSYNC_BIN} --key ${key}`, `${src}/`, `x:${dst}/`], { env: { REC: path.join(WORK, 'rec-strip'), STRIP: 'x25519=' } });
  t.equal(r.code, 15, `exit 15 (${describe(r)})`);
  t.match(r.stderr, /key mismatch: .*handshake was altered/);
  t.notOk(fs.existsSync(dst), 'nothing was written');
});
