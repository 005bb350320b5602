// One manifest intake for every side that reads a sender's manifest (the
// receiver, and the two-way client reading the replica's): each batch is
// checked against the MAC chain before it is decoded, each entry's path is
// checked (safe, not reserved, not listed twice), and the end checks the
// count and the final MAC, which covers the single-file flag of the header.

import { decodeEntries, type Entry, type Message } from '../wire/schema.js';
import type { DecodeError } from '../wire/codec.js';
import { MacChain, macEqual } from '../tree/manifest.js';
import { checkRelPath } from '../tree/paths.js';
import { isReserved } from '../tree/reserved.js';
import { TsyncError } from '../errors.js';

type Msg<T extends Message['t']> = Extract<Message, { t: T }>;

export class ManifestIntake {
  private readonly mac: MacChain;
  /** every path in the manifest so far: duplicates are refused */
  private readonly seen = new Set<string>();
  /** the header's flag: one file, not a directory tree */
  singleFile = false;

  constructor(key: Buffer) {
    this.mac = new MacChain(key);
  }

  head(m: Msg<'flist_head'>): void {
    this.singleFile = m.singleFile;
  }

  /** A batch's entries, once its MAC is verified. Each must still pass check(). */
  batch(m: Msg<'flist'>): Entry[] {
    const mac = this.mac.next(m.data);
    if (!macEqual(mac, m.mac)) throw new TsyncError('E_PROTOCOL', 'manifest batch failed verification (MAC mismatch)');
    try {
      return decodeEntries(m.data);
    } catch (e) {
      throw new TsyncError('E_PROTOCOL', `bad manifest batch: ${(e as DecodeError).message}`);
    }
  }

  /** One entry: a safe relative path, not tsync's own, not listed before. */
  check(e: Entry): void {
    const bad = checkRelPath(e.path);
    if (bad) throw new TsyncError('E_PROTOCOL', `the sender named an unsafe path (${bad}): ${JSON.stringify(e.path)}`);
    if (isReserved(e.path)) throw new TsyncError('E_PROTOCOL', `the sender named a reserved path: ${JSON.stringify(e.path)}`);
    if (this.seen.has(e.path)) throw new TsyncError('E_PROTOCOL', `duplicate path in manifest: ${JSON.stringify(e.path)}`);
    this.seen.add(e.path);
  }

  /** The end: count entries the caller took, and the final MAC over count, I/O errors and the single-file flag. */
  end(m: Msg<'flist_end'>, count: number): void {
    if (m.count !== count || !macEqual(this.mac.final(count, m.ioErrors, this.singleFile), m.mac)) throw new TsyncError('E_PROTOCOL', 'manifest failed verification at its end (count or MAC mismatch)');
  }

  /** whether the manifest listed this path */
  listed(p: string): boolean {
    return this.seen.has(p);
  }
}
