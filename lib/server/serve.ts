// The peer side: `tsync --server`, spoken to over stdin/stdout. Everything
// it is asked to do arrives in the START message, not on its command line.

import * as os from 'node:os';
import { Connection } from '../link/connection.js';
import { CAPS, handshake } from '../link/handshake.js';
import { chooseCodec } from '../link/compress.js';
import { Sender, toSources } from '../oneway/sender.js';
import { Receiver } from '../oneway/receiver.js';
import { ERROR_TABLE, TsyncError, toTsyncError } from '../errors.js';
import type { Events } from '../cli/report.js';
import { serveReplica } from '../twoway/replica.js';
import { keyFileFrom, loadKey } from '../link/key-file.js';
import { destLock } from '../fs/lock.js';
import { streamProgress } from '../cli/progress.js';
import { PROGRESS_CAP } from '../wire/caps.js';
import { hideRoot, limitStart, shownInRoot, type ServerLimits } from './restrict.js';

export function expandHome(p: string): string {
  if (p === '~') return os.homedir();
  if (p.startsWith('~/')) return os.homedir() + p.slice(1);
  return p;
}

/** Events of a receiver running as the server travel to the client. */
function remoteEvents(conn: Connection): Events {
  return {
    item: (code, path, type, target, size) => void conn.send({ t: 'item', code, path, type, target, size }),
    warn: (w) => void conn.send({ t: 'warn', path: w.path, code: w.code, message: w.message }),
  };
}

/** limits: --root/--read-only, and --key, from the server's command line */
export async function runServer(limits: ServerLimits & { key?: unknown } = { readOnly: false }): Promise<number> {
  const conn = new Connection(process.stdin, process.stdout, { timeout: 0, expectJunk: false });
  let receiver: Receiver | null = null;
  let stopProgress: (() => void) | null = null;
  // sshd hangs up (SIGHUP) when the client vanishes: temporaries go (kept as
  // partials with --partial) before the process ends, lost link 10, else 20.
  // Listening here also stops the lock's handler from re-raising the signal first.
  const onSignal = (sig: NodeJS.Signals) => {
    try {
      receiver?.abandon();
    } finally {
      process.exit(sig === 'SIGHUP' ? ERROR_TABLE.E_CONNECTION_LOST.exit : ERROR_TABLE.E_INTERRUPTED.exit);
    }
  };
  for (const sig of ['SIGHUP', 'SIGINT', 'SIGTERM'] as const) process.on(sig, onSignal);
  try {
    // With -z the client compresses everything after START: switch at that very
    // frame. Armed before the handshake, as HELLO, START and compressed bytes
    // may all arrive in one read.
    let peerCaps: string[] = [];
    conn.inflateAfter = (m) => {
      if (m.t === 'hello') peerCaps = m.caps;
      return m.t === 'start' && m.options.compress ? chooseCodec(CAPS, peerCaps) : null;
    };
    const keyFile = keyFileFrom(limits.key);
    const neg = await Promise.race([handshake(conn, 'server', keyFile ? loadKey(keyFile) : null), conn.failed()]);
    const start = await Promise.race([conn.next(), conn.failed()]);
    const startAt = Date.now();
    if (start.t !== 'start') throw new TsyncError('E_PROTOCOL', `expected START, got ${start.t}`);
    conn.setTimeout(start.options.timeout);
    if (start.options.compress) conn.startCompress(neg.codec, start.options.compressLevel);
    if (start.paths.length === 0) throw new TsyncError('E_PROTOCOL', 'START names no path');
    // --root/--read-only (an SSH forced command): refused or mapped into the root here
    const { paths, options } = limitStart(limits, start.role, start.paths, start.options, expandHome);
    const events = remoteEvents(conn);
    if (start.role === 'twoway') {
      if (paths.length !== 1) throw new TsyncError('E_PROTOCOL', 'a two-way replica takes exactly one root');
      await Promise.race([serveReplica(conn, paths[0], options, neg, events), conn.failed()]);
    } else if (start.role === 'doctor') {
      // doctor's report loads only when asked for
      const { diagReport } = await import('../doctor/probe.js');
      conn.send({ t: 'diag', report: JSON.stringify(diagReport(paths[0], startAt, { readOnly: limits.readOnly, shown: (abs) => shownInRoot(limits, abs) })) });
    } else if (start.role === 'vault') {
      if (paths.length !== 1) throw new TsyncError('E_PROTOCOL', 'a vault session names exactly one vault');
      const { serveVault } = await import('../vault/remote.js');
      await serveVault(conn, paths[0], limits.readOnly);
    } else if (start.role === 'sender') {
      const sender = new Sender({ sources: toSources(paths), options }, events);
      await Promise.race([sender.run(conn, neg.key), conn.failed()]);
    } else {
      if (paths.length !== 1) throw new TsyncError('E_PROTOCOL', 'a receiver takes exactly one destination');
      let tick: (() => void) | undefined;
      const r = new Receiver(conn, { dest: paths[0], options, key: neg.key, rounds: neg.rounds, moves: neg.moves, lock: destLock(options, (s) => process.stderr.write(`tsync: note: ${s}\n`)), progress: () => tick?.() }, events);
      receiver = r;
      if (neg.peer.caps.includes(PROGRESS_CAP)) {
        // flushed at once: the receiver may be busy for a while before the event loop turns
        const feed = streamProgress((s) => conn.send({ t: 'progress', ...s }) && conn.flush(), () => r.progress());
        tick = feed.tick;
        stopProgress = feed.stop;
      }
      const stats = await Promise.race([r.run(), conn.failed()]);
      stopProgress?.();
      conn.send({ t: 'done', stats: JSON.stringify(stats) });
    }
    conn.close();
    return 0;
  } catch (e) {
    stopProgress?.();
    receiver?.abandon();
    const err = hideRoot(limits, toTsyncError(e));
    // whoever runs the server (socat, inetd) sees a failed key check too, not only the client
    if (err.code === 'E_AUTH' && !err.remote) process.stderr.write(`tsync --server: error: ${err.message}\n`);
    conn.abort(err);
    conn.close();
    return err.exitCode;
  }
}
