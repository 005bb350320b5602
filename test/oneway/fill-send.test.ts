// The sender's side of multi-round deltas over a real Connection pair:
// sendRound answers each REQ_FILL round, FillFile on the other end rebuilds
// the file, and a source that changes between rounds is refused.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { Connection } from '../../lib/link/connection.js';
import { sendRound, type FillState } from '../../lib/oneway/fill-send.js';
import { FillFile } from '../../lib/oneway/fill-receive.js';
import { openTemp } from '../../lib/fs/apply.js';
import { mtimeUs } from '../../lib/time.js';
import { FileStatus, type Entry, type Message } from '../../lib/wire/schema.js';
import { emptyStats } from '../../lib/cli/stats.js';
import { mulberry32 } from '../helpers/prng.mjs';

const KiB = 1024;

function pair(): { snd: Connection; rcv: Connection; got: Message[]; wait: (n: number) => Promise<void> } {
  const ab = new PassThrough();
  const ba = new PassThrough();
  const snd = new Connection(ba, ab, { timeout: 0, expectJunk: false });
  const rcv = new Connection(ab, ba, { timeout: 0, expectJunk: false });
  const got: Message[] = [];
  let waiter: (() => void) | null = null;
  let ends = 0;
  rcv.onMessage((m) => {
    got.push(m);
    if (m.t === 'file_end') ends++;
    waiter?.();
  });
  /** until n FILE_ENDs have arrived in all */
  const wait = async (n: number) => {
    while (ends < n) await new Promise<void>((r) => (waiter = r));
  };
  return { snd, rcv, got, wait };
}

function files(t: Test, seed: number): { dir: string; src: string; basis: string; neu: Buffer } {
  const r = mulberry32(seed);
  const old = Buffer.alloc(1536 * KiB);
  for (let i = 0; i < old.length; i++) old[i] = Math.floor(r() * 256);
  const neu = Buffer.from(old);
  for (let k = 0; k < 20; k++) {
    const at = Math.floor(r() * neu.length);
    for (let i = 0; i < 5; i++) neu[(at + i) % neu.length] ^= 0x33;
  }
  const dir = t.testdir();
  const src = path.join(dir, 'src.bin');
  const basis = path.join(dir, 'basis.bin');
  fs.writeFileSync(src, neu);
  fs.writeFileSync(basis, old);
  return { dir, src, basis, neu };
}

const entryOf = (abs: string): Entry => {
  const st = fs.statSync(abs);
  return { path: 'src.bin', type: 'f', mode: 0o644, size: st.size, mtime: mtimeUs(st) };
};

t.test('sendRound + FillFile over a connection: three rounds rebuild the file', async (t) => {
  const { dir, src, basis, neu } = files(t, 3);
  const { snd, got, wait } = pair();
  const f = { entry: entryOf(src), abs: src };
  const fill = FillFile.open(basis, neu.length);
  const tmp = openTemp(dir, 'out', 0o600, fs.constants.O_RDWR);
  fill.fd = tmp.fd;
  fill.tmp = tmp.path;
  t.teardown(() => fill.discard());
  let state: FillState | undefined;
  const stats = emptyStats();
  let ends = 0;
  for (let round = 1; round <= 3; round++) {
    const { sig, holeMin } = await fill.sign();
    const next = await sendRound(snd, 7, f, { holeMin, sig }, state);
    await wait(++ends);
    fill.begin();
    let end: Extract<Message, { t: 'file_end' }> | null = null;
    for (const m of got.splice(0)) {
      if (m.t === 'data') fill.data(m.data, stats);
      else if (m.t === 'file_end') end = m;
      else t.equal(m.t, 'file_begin');
    }
    t.ok(end && end.index === 7, `round ${round}: FILE_END`);
    const more = fill.end(end!.status === FileStatus.Holes);
    t.equal(more, next !== null, `round ${round}: holes left exactly when the sender keeps state`);
    if (!more) {
      t.ok((await fill.digest()).equals(end!.hash), `identical after ${round} rounds`);
      t.ok(stats.bytesLiteral < 64 * KiB, `few literal bytes (${stats.bytesLiteral})`);
      t.ok(round >= 2, 'more than one round');
      return;
    }
    state = next!;
  }
  t.fail('more than three rounds');
});

t.test('a source that changes between rounds ends the file Failed', async (t) => {
  const { src, basis, neu } = files(t, 4);
  const { snd, got, wait } = pair();
  const f = { entry: entryOf(src), abs: src };
  const fill = FillFile.open(basis, neu.length);
  t.teardown(() => fill.discard());
  const { sig, holeMin } = await fill.sign();
  const state = await sendRound(snd, 1, f, { holeMin, sig }, undefined);
  await wait(1);
  t.ok(state && state.holes.length > 0, 'round 1 left holes');
  fs.utimesSync(src, 1_000_000_000, 1_000_000_000);
  got.length = 0;
  const again = await sendRound(snd, 1, f, { holeMin: 0, sig }, state!);
  await wait(2);
  t.equal(again, null, 'no state after a failure');
  const end = got.find((m) => m.t === 'file_end');
  t.match(end, { status: FileStatus.Failed, message: /changed/ }, 'FILE_END Failed: file changed');
  t.notOk(got.some((m) => m.t === 'data'), 'no data for a changed file');
  await t.rejects(sendRound(snd, 1, f, { holeMin: 10, sig }, undefined), { code: 'E_PROTOCOL' }, 'a hole threshold below MIN_HOLE is refused');
});
