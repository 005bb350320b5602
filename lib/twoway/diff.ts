// A replica's manifest as changes from the baseline both sides hold
// (capability twoway:diff). When the client's baseline digest matches the
// replica's, the replica sends only what differs from it: every entry not
// exactly as the baseline has it (with the directories above it, so the
// client can still pull it), and the baseline entries it no longer has.
// On a re-run with nothing changed that is the root entry and nothing
// else, instead of the whole tree.
//
// The gone list travels before the manifest, MAC-chained under a key of
// its own (derived from the session's manifest key), and the client checks
// each gone entry against its own copy of the baseline.

import type { Connection } from '../link/connection.js';
import { encodeEntries, decodeEntries, type Entry } from '../wire/schema.js';
import { MacChain, deriveKey, macEqual } from '../tree/manifest.js';
import { Batcher, type ScannedFile } from '../tree/scan.js';
import { parentOf } from '../tree/paths.js';
import { TsyncError } from '../errors.js';
import { sameEntry } from './baseline.js';

export interface ManifestDiff {
  /** the entries to send as the manifest, in scan order, each after its directory */
  batches: ScannedFile[][];
  /** baseline entries the scan did not meet */
  gone: Entry[];
}

/**
 * Pure: the scan of a replica against its baseline, batch by batch as it
 * comes (what is kept: the baseline, what changed, and the directories).
 * The root is always sent.
 */
export function diffFromBaseline(scan: Iterable<ScannedFile[]>, base: readonly Entry[]): ManifestDiff {
  const left = new Map(base.map((e) => [e.path, e]));
  const dirs = new Map<string, ScannedFile>();
  const sent = new Set<string>();
  const out: ScannedFile[] = [];
  // the root comes first in every scan, so the walk up from any other entry stops at it
  const send = (f: ScannedFile) => {
    const above: ScannedFile[] = [];
    for (let d = parentOf(f.entry.path); d !== '.' && !sent.has(d); d = parentOf(d)) above.push(dirs.get(d)!);
    for (const a of above.reverse()) {
      sent.add(a.entry.path);
      out.push(a);
    }
    sent.add(f.entry.path);
    out.push(f);
  };
  for (const batch of scan) {
    for (const f of batch) {
      const p = f.entry.path;
      const was = left.get(p);
      left.delete(p);
      if (f.entry.type === 'd') dirs.set(p, f);
      if (p === '.' || !sameEntry(was, f.entry)) send(f);
    }
  }
  return { batches: Batcher.all(out), gone: [...left.values()] };
}

function goneMac(key: Buffer): MacChain {
  return new MacChain(deriveKey(key, Buffer.alloc(0), 'tsync two-way gone list'));
}

export function sendGone(conn: Connection, key: Buffer, gone: readonly Entry[]): void {
  const mac = goneMac(key);
  for (const batch of Batcher.all(gone.map((entry) => ({ entry })))) {
    const data = encodeEntries(batch.map((g) => g.entry));
    conn.send({ t: 'tw_gone', data, mac: mac.next(data) });
  }
  conn.send({ t: 'tw_gone_end', count: gone.length, mac: mac.final(gone.length, 0, false) });
}

/** The replica's gone list, verified, each entry one the baseline holds exactly. */
export async function readGone(conn: Connection, key: Buffer, inBase: (path: string) => Entry | undefined): Promise<Entry[]> {
  const mac = goneMac(key);
  const gone = new Map<string, Entry>();
  for (;;) {
    const m = await conn.next();
    if (m.t === 'tw_gone') {
      if (!macEqual(mac.next(m.data), m.mac)) throw new TsyncError('E_PROTOCOL', "the replica's gone list failed verification (MAC mismatch)");
      for (const e of decodeEntries(m.data)) {
        if (!sameEntry(inBase(e.path), e) || gone.has(e.path) || e.path === '.') throw new TsyncError('E_PROTOCOL', `the replica listed ${JSON.stringify(e.path)} as gone, which is not a baseline entry`);
        gone.set(e.path, e);
      }
    } else if (m.t === 'tw_gone_end') {
      if (m.count !== gone.size || !macEqual(mac.final(m.count, 0, false), m.mac)) throw new TsyncError('E_PROTOCOL', "the replica's gone list failed verification at its end (count or MAC mismatch)");
      return [...gone.values()];
    } else throw new TsyncError('E_PROTOCOL', `expected the replica's gone list, got ${m.t}`);
  }
}

/** The replica's whole tree: the baseline, less what is gone, with what it sent laid over it. */
export function applyDiff(base: ReadonlyMap<string, Entry>, gone: readonly Entry[], sent: Iterable<Entry>): Map<string, Entry> {
  const b = new Map(base);
  for (const e of gone) b.delete(e.path);
  for (const e of sent) b.set(e.path, e);
  return b;
}
