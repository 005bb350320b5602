// The server's side of a two-way run: a replica that answers the client's
// clock pings, tells its id and baseline digest, sends its manifest and the
// files the client pulls, carries out the deletions and conflict moves the
// client decided, receives the files the client pushes, and stores the
// baseline the client computed. Every decision is the client's; every check
// of what the client asks is ours.

import * as os from 'node:os';
import type { Connection } from '../link/connection.js';
import { decodeEntries, type Entry, type Message, type StartOptions } from '../wire/schema.js';
import { Sender } from '../oneway/sender.js';
import { Receiver } from '../oneway/receiver.js';
import type { Events } from '../cli/report.js';
import { TsyncError } from '../errors.js';
import { decodeBaseline, loadBaseline, NO_DIGEST, replicaId, saveBaseline } from './baseline.js';
import { applyOp, type OpContext } from './ops.js';
import { SetAside } from './set-aside.js';
import { backupPlace } from '../fs/nofollow.js';
import { diffFromBaseline, sendGone } from './diff.js';
import { acquireLock } from '../fs/lock.js';
import { backupRoot, ensureRootDir } from '../fs/root.js';
import type { Negotiated } from '../link/handshake.js';

/** at most this many baseline batches (of 1,000 entries) are taken from a client */
const MAX_BATCHES = 10_000;

/** The replica's root: a directory, made (like rsync's destination) when only its parent exists. */
export function ensureRoot(root: string, dryRun: boolean): string {
  return ensureRootDir(root, dryRun).root;
}

/** moves: deleted files are set aside until the transfers end, when the peer speaks 'moves' */
export function opContext(root: string, options: StartOptions, moves = false): OpContext {
  const backup = options.backupDir ? backupPlace(root, backupRoot(root, options.backupDir)!) : null;
  let setAside: SetAside | null = null;
  if (moves && !options.dryRun && !backup) {
    SetAside.sweep(root);
    setAside = new SetAside(root);
  }
  return { root, dryRun: options.dryRun, backup, dirMode: 0o777, setAside };
}

export function decodeExpect(b: Buffer): Entry {
  const list = decodeEntries(b);
  if (list.length !== 1) throw new TsyncError('E_PROTOCOL', 'an operation must name exactly one expected entry');
  return list[0];
}

/** neg: the session's manifest key, and whether both sides speak multi-round deltas and diff manifests */
export async function serveReplica(conn: Connection, root: string, options: StartOptions, neg: Pick<Negotiated, 'key' | 'rounds' | 'diff' | 'moves'>, events: Events): Promise<void> {
  const { key, rounds, moves } = neg;
  const dir = ensureRoot(root, options.dryRun);
  const self = replicaId(dir);
  let receiver: Receiver | null = null;
  let setAside: SetAside | null = null;
  const lock = options.dryRun ? null : await acquireLock(dir, { waitSeconds: options.lockWait ?? 0, note: (s) => process.stderr.write(`tsync: note: ${s}\n`) });
  try {
    // our scan starts now, while the client pings and reads baselines
    let sender: Sender | null = new Sender({ sources: [{ abs: dir, contents: true }], options }, events);
    let go!: () => void;
    const prefetching = sender.prefetch(new Promise<void>((r) => (go = r)));
    // hello, clock pings, go
    let peer = '';
    let mine: ReturnType<typeof loadBaseline> = null;
    let batches: Buffer[] = [];
    let diff = false;
    for (;;) {
      const m = await conn.next();
      if (m.t === 'ping') conn.send({ t: 'pong', seq: m.seq, clock: Date.now() });
      else if (m.t === 'tw_hello') {
        peer = m.replica;
        if (peer === self) throw new TsyncError('E_USAGE', `both replicas have the same id (${dir}/.tsync was copied from the other side, or both are the same directory); remove .tsync/id on one side`);
        mine = loadBaseline(dir, peer);
        batches = mine?.batches ?? [];
        conn.send({ t: 'tw_hello', replica: self, host: os.hostname(), digest: mine?.digest ?? NO_DIGEST, baseCount: batches.length });
      } else if (peer && (m.t === 'tw_go' || (m.t === 'tw_diff' && mine && neg.diff))) {
        if (m.t === 'tw_go' && m.wantBase) for (const data of batches) conn.send({ t: 'tw_base', data });
        diff = m.t === 'tw_diff';
        go();
        await prefetching;
        break;
      } else throw unexpected(m);
    }
    // our manifest (or only what changed since the baseline); the client pulls what it decided to
    conn.doneEnds = false;
    if (diff) {
      const scan = sender.batchesLeft();
      const changes = diffFromBaseline(scan.batches, mine!.tree);
      sendGone(conn, key, changes.gone);
      await new Sender({ sources: [{ abs: dir, contents: true }], options, scanned: { batches: changes.batches, ioErrors: scan.ioErrors() } }, events).run(conn, key);
    } else await sender.run(conn, key);
    // what it kept to serve the pull (every file it listed) is garbage now, before a new baseline arrives
    sender = null;
    conn.doneEnds = true;
    const ctx = opContext(dir, options, moves);
    setAside = ctx.setAside;
    let failed = 0;
    let save: Buffer[] = [];
    for (;;) {
      const m = await conn.next();
      switch (m.t) {
        case 'tw_op': {
          const why = applyOp(ctx, { op: m.op, path: m.path, to: m.to, expect: decodeExpect(m.expect) });
          if (why) {
            failed++;
            events.warn({ path: m.path, code: 'E_PARTIAL', message: why });
          }
          break;
        }
        case 'tw_ops_end':
          conn.send({ t: 'tw_ops_done', failed });
          failed = 0;
          break;
        case 'flist_head': {
          // the client pushes
          receiver = new Receiver(conn, { dest: dir, options, key, rounds, moves, setAside: ctx.setAside?.files }, events);
          receiver.preload([m]);
          const stats = await receiver.run();
          receiver = null;
          ctx.setAside?.clear();
          conn.release();
          conn.send({ t: 'done', stats: JSON.stringify(stats) });
          break;
        }
        case 'tw_save':
          if (save.length >= MAX_BATCHES) throw new TsyncError('E_PROTOCOL', 'the new baseline is too large');
          save.push(m.data);
          break;
        case 'tw_save_end': {
          const base = decodeBaseline(save, 'the new baseline');
          if (base.count !== m.count || !base.digest.equals(m.digest)) throw new TsyncError('E_PROTOCOL', 'the new baseline does not match its count or digest');
          if (!options.dryRun) saveBaseline(dir, self, peer, base);
          conn.send({ t: 'tw_saved' });
          save = [];
          break;
        }
        case 'done':
          return;
        default:
          throw unexpected(m);
      }
    }
  } catch (e) {
    receiver?.abandon();
    throw e;
  } finally {
    setAside?.clear();
    lock?.release();
  }
}

function unexpected(m: Message): TsyncError {
  return new TsyncError('E_PROTOCOL', `unexpected ${m.t} message in a two-way run`);
}
