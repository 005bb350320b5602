// One manifest intake for every side that reads a sender's manifest (the
// receiver, and the two-way client reading the replica's): each batch is
// checked against the MAC chain before it is decoded, each entry's path is
// checked (safe, not reserved, not listed twice, siblings in the order the
// sender promises: docs/design.md §6), and the end checks the count and the
// final MAC, which covers the single-file flag of the header. On a
// destination that folds names (told by foldWith), collide() says which
// entries would land on one already listed: the receiver refuses those.

import { decodeEntries, type Entry, type Message } from '../wire/schema.js';
import type { DecodeError } from '../wire/codec.js';
import { MacChain, macEqual } from '../tree/manifest.js';
import { checkRelPath } from '../tree/paths.js';
import { isReserved } from '../tree/reserved.js';
import { TsyncError } from '../errors.js';
import { NameGuard, NO_FOLDING, type Folding, type NameVerdict } from '../fs/names.js';

type Msg<T extends Message['t']> = Extract<Message, { t: T }>;

export class ManifestIntake {
  private readonly mac: MacChain;
  /** every path in the manifest so far: duplicates are refused */
  private readonly seen = new Set<string>();
  /** the header's flag: one file, not a directory tree */
  singleFile = false;
  /** how the destination folds names (foldWith); nothing until told */
  private folding: Folding = NO_FOLDING;
  /** the sibling order and folded names, made at the first entry (which says whether there is a root entry) */
  private names: NameGuard | null = null;

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

  /** How the destination folds names (lib/fs/probe.ts destinationFolding): before the first entry. */
  foldWith(f: Folding): void {
    if (this.names) throw new Error('foldWith after the first entry');
    this.folding = f;
  }

  /** One entry: a safe relative path, not tsync's own, not listed before, after the siblings listed before it. */
  check(e: Entry): void {
    this.checkPath(e);
    if (this.seen.has(e.path)) throw new TsyncError('E_PROTOCOL', `duplicate path in manifest: ${JSON.stringify(e.path)}`);
    this.seen.add(e.path);
  }

  /**
   * One entry's path alone: safe, not tsync's own, after its siblings. For a reader that finds
   * duplicates itself (the two-way client, once its sorted tree is built),
   * so that a million paths are not held a second time in a set.
   */
  checkPath(e: Entry): void {
    const bad = checkRelPath(e.path);
    if (bad) throw new TsyncError('E_PROTOCOL', `the sender named an unsafe path (${bad}): ${JSON.stringify(e.path)}`);
    if (isReserved(e.path)) throw new TsyncError('E_PROTOCOL', `the sender named a reserved path: ${JSON.stringify(e.path)}`);
    // several sources listed without a root entry come in command-line order at the top
    this.names ??= new NameGuard(this.folding, e.path !== '.');
    const order = this.names.order(e.path, e.type === 'd');
    if (!order.ok) throw new TsyncError('E_PROTOCOL', order.why);
  }

  /** A checked entry's path against the names listed before it, as the destination stores them: not ok when it is one of them there. */
  collide(p: string): NameVerdict {
    return this.names ? this.names.collide(p) : { ok: true };
  }

  /** a path as the destination stores it (itself where nothing folds) */
  fold(p: string): string {
    return this.names ? this.names.fold(p) : p;
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
