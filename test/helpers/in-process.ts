// A receiver run in this process, over a pair of in-memory streams, with a
// file system of the test's choosing (lib/fs/seam.ts): the way to reach
// the receiver's folding and fault paths, which need a fake file system
// that a separate tsync process cannot be given. The other end is a real
// Sender, or a WirePeer that plays a lying one.

import { PassThrough } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { Connection } from '../../lib/link/connection.js';
import { Receiver } from '../../lib/oneway/receiver.js';
import { Sender, toSources } from '../../lib/oneway/sender.js';
import type { FileSystem } from '../../lib/fs/seam.js';
import type { StartOptions } from '../../lib/wire/schema.js';
import type { ErrorRecord } from '../../lib/cli/stats.js';
import { OPTIONS, WirePeer } from './hostile.js';

export interface Received {
  /** exit-worthy failure of the receiver (a TsyncError, or what a fault threw) */
  error: unknown;
  /** itemized lines, as -i prints them */
  items: string[];
  warnings: ErrorRecord[];
}

function pair(): { receiverSide: { input: PassThrough; output: PassThrough }; otherSide: { input: PassThrough; output: PassThrough } } {
  const toReceiver = new PassThrough();
  const fromReceiver = new PassThrough();
  return { receiverSide: { input: toReceiver, output: fromReceiver }, otherSide: { input: fromReceiver, output: toReceiver } };
}

function collector() {
  const items: string[] = [];
  const warnings: ErrorRecord[] = [];
  return { items, warnings, events: { item: (code: string, p: string) => void items.push(`${code} ${p}`), warn: (w: ErrorRecord) => void warnings.push(w) } };
}

async function runReceiver(r: Receiver, conn: Connection): Promise<unknown> {
  try {
    const stats = await Promise.race([r.run(), conn.failed()]);
    conn.send({ t: 'done', stats: JSON.stringify(stats) });
    conn.close();
    return null;
  } catch (e) {
    r.abandon();
    conn.close();
    return e;
  }
}

/** src sent by a real Sender to dest, received through fsys. */
export async function receiveFrom(src: string, dest: string, fsys: FileSystem, options: Partial<StartOptions> = {}): Promise<Received> {
  const { receiverSide, otherSide } = pair();
  const key = randomBytes(32);
  const opts = { ...OPTIONS, ...options };
  const c = collector();
  const rconn = new Connection(receiverSide.input, receiverSide.output, { timeout: 0, expectJunk: false });
  const sconn = new Connection(otherSide.input, otherSide.output, { timeout: 0, expectJunk: false });
  const receiver = new Receiver(rconn, { dest, options: opts, key, fs: fsys }, c.events);
  const sender = new Sender({ sources: toSources([src]), options: opts }, { item: () => {}, warn: () => {} });
  // as the server runs it: a connection that fails ends the sender too
  const sending = Promise.race([sender.run(sconn, key), sconn.failed()]).then(
    () => null,
    (e: unknown) => e,
  );
  const error = await runReceiver(receiver, rconn);
  if (error) otherSide.output.end();
  await sending;
  sconn.close();
  return { error, items: c.items, warnings: c.warnings };
}

/** A receiver writing to dest through fsys, and the WirePeer that plays its sender. */
export function receiveFromPeer(dest: string, fsys: FileSystem, options: Partial<StartOptions> = {}): { peer: WirePeer; key: Buffer; done: Promise<Received> } {
  const { receiverSide, otherSide } = pair();
  const key = randomBytes(32);
  const c = collector();
  const rconn = new Connection(receiverSide.input, receiverSide.output, { timeout: 0, expectJunk: false });
  const receiver = new Receiver(rconn, { dest, options: { ...OPTIONS, ...options }, key, fs: fsys }, c.events);
  const peer = new WirePeer(otherSide.input, otherSide.output);
  const done = runReceiver(receiver, rconn).then((error) => {
    peer.destroy();
    return { error, items: c.items, warnings: c.warnings };
  });
  return { peer, key, done };
}
