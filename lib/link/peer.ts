// Reaching the peer and tearing it down, for every kind of run: spawn it
// (ssh or -e for a remote endpoint, our own binary for a local one), shake
// hands, hand the session to the run, and on any failure abort the
// connection, stop the peer and say what went wrong in the peer's words.

import * as path from 'node:path';
import { Connection } from './connection.js';
import { explainEarlyExit, spawnLocal, spawnRemote, type Peer } from './spawn.js';
import { handshake, type Negotiated } from './handshake.js';
import { TsyncError, toTsyncError } from '../errors.js';
import type { Endpoint } from './endpoint.js';
import { printable } from '../text.js';

export interface PeerSpec {
  /** the remote endpoint, or null for a local peer */
  remote: Endpoint | null;
  /** the endpoint named in errors about starting the peer */
  named: Endpoint;
  rsh: string;
  tsyncPath: string;
  timeout: number;
  /** --key: the file's name goes to a local peer (in its environment), the key into the handshake */
  keyFile: string | null;
  psk: Buffer | null;
  /** capabilities this run asks of the peer (progress reports) */
  extraCaps: readonly string[];
  /** told the bytes each way of a session that failed (--retries adds them up) */
  failedWire?: (sent: number, received: number) => void;
}

export interface Session {
  conn: Connection;
  neg: Negotiated;
  peer: Peer;
}

export interface SessionHooks {
  /** work to do while the peer starts (until the handshake settles) */
  meanwhile?: (shake: Promise<unknown>) => Promise<void>;
  /** called on a fatal error before the connection is torn down (keep or drop partial files) */
  abandon?: () => void;
}

export async function withPeer<T>(spec: PeerSpec, run: (s: Session) => Promise<T>, hooks: SessionHooks = {}): Promise<T> {
  const peer: Peer = spec.remote && spec.remote.kind === 'remote' ? spawnRemote(spec.remote, spec.rsh, spec.tsyncPath) : spawnLocal(spec.keyFile ? { TSYNC_KEY_FILE: path.resolve(spec.keyFile) } : {});
  const conn = new Connection(peer.input, peer.output, { timeout: spec.timeout, expectJunk: spec.remote !== null });
  const interrupt = onSignals(conn, peer);
  try {
    let neg: Negotiated;
    try {
      const shake = Promise.race([handshake(conn, 'client', spec.psk, spec.extraCaps), conn.failed()]);
      await hooks.meanwhile?.(shake);
      neg = await shake;
    } catch (e) {
      throw await explainEarlyExit(peer, spec.named, spec.tsyncPath, toTsyncError(e));
    }
    peer.passStderr();
    // a lost link ends the session whatever the run awaits: a two-way pull awaiting a message that cannot come
    // left nothing alive in the event loop, and node exited 0 with the replicas half-synced
    const result = await Promise.race([run({ conn, neg, peer }), conn.failed()]);
    conn.close();
    await Promise.race([peer.exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    return result;
  } catch (e) {
    hooks.abandon?.();
    spec.failedWire?.(conn.bytesOut, conn.bytesIn);
    const err = toTsyncError(e);
    conn.abort(err);
    peer.kill();
    if (err.code === 'E_CONNECTION_LOST') {
      const exit = await Promise.race([peer.exited, new Promise<null>((r) => setTimeout(() => r(null), 1000).unref())]);
      const said = printable(peer.takeStderr().trim().split('\n').slice(-2).join('; '));
      if (exit && said) throw new TsyncError('E_CONNECTION_LOST', `${err.message}: ${said}`);
    }
    // both ends are on this host: the local peer's errors are not "remote"
    if (!spec.remote && err.remote) throw new TsyncError(err.code, err.message, { cause: err });
    throw err;
  } finally {
    interrupt();
  }
}

function onSignals(conn: Connection, peer: Peer): () => void {
  const handler = (sig: NodeJS.Signals) => {
    conn.fail(new TsyncError('E_INTERRUPTED', `interrupted by ${sig}`));
    peer.kill();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.on('SIGHUP', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
    process.off('SIGHUP', handler);
  };
}
