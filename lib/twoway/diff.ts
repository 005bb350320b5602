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
import type { IndexedTree, SortedTree } from '../tree/packed.js';
import { mergeRows } from '../plan/rows.js';

export interface ManifestDiff {
  /** the entries to send as the manifest, in scan order, each after its directory */
  batches: ScannedFile[][];
  /** baseline entries the scan did not meet */
  gone: Entry[];
}

/**
 * Pure: the scan of a replica against its baseline, batch by batch as it
 * comes (what is kept: the packed baseline, one bit per baseline entry,
 * what changed, and the directories). The root is always sent.
 */
export function diffFromBaseline(scan: Iterable<ScannedFile[]>, base: IndexedTree): ManifestDiff {
  const seen = new Uint8Array(base.size);
  // every directory and every changed entry, in scan order; what is sent is those of them needed
  const met: ScannedFile[] = [];
  const needed = new Set<string>();
  for (const batch of scan) {
    for (const f of batch) {
      const p = f.entry.path;
      const at = base.indexOf(p);
      const was = at < 0 ? undefined : base.get(p);
      if (at >= 0) seen[at] = 1;
      const changed = p === '.' || !sameEntry(was, f.entry);
      if (changed || f.entry.type === 'd') met.push(f);
      // a changed entry and the directories above it (the root comes first in every scan, so the walk stops at it)
      if (changed) for (let d = p; !needed.has(d); d = parentOf(d)) needed.add(d);
    }
  }
  const gone: Entry[] = [];
  let i = 0;
  for (const e of base.entries()) if (!seen[i++]) gone.push(e);
  // scan order keeps the manifest's promise: parents first, siblings in increasing order
  return { batches: Batcher.all(met.filter((f) => needed.has(f.entry.path))), gone };
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

/** The replica's whole tree: the baseline, less what is gone, with what it sent laid over it (a view; nothing is copied). */
export function applyDiff(base: SortedTree, gone: readonly Entry[], sent: SortedTree): SortedTree {
  const goneSet = new Set(gone.map((e) => e.path));
  function* entries(): Generator<Entry> {
    for (const r of mergeRows(base.entries(), sent.entries(), null)) {
      if (r.b) yield r.b;
      else if (!goneSet.has(r.path)) yield r.a!;
    }
  }
  let size = -1;
  return {
    entries,
    get: (p) => sent.get(p) ?? (goneSet.has(p) ? undefined : base.get(p)),
    get size() {
      if (size < 0) {
        size = 0;
        for (const _ of entries()) size++;
      }
      return size;
    },
  };
}
