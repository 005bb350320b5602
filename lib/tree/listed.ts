// What a sender keeps of its manifest to answer requests by index: each
// batch as it went on the wire (the canonical encoding, some 15-20 bytes an
// entry) and, for its files, the absolute path as a shared prefix plus the
// entry's own path. A million listed files cost some 20 MB this way, against
// some 200 MB as a map of entry objects and absolute paths. A batch is
// decoded again when a request names one of its files; requests come in
// manifest order, so the last decoded batch is kept.

import { decodeEntries, type Entry } from '../wire/schema.js';
import type { ScannedFile } from './scan.js';

export interface ListedFile {
  entry: Entry;
  abs: string;
}

interface Batch {
  /** index of its first entry */
  start: number;
  count: number;
  data: Buffer;
  /** every file's absolute path is this prefix and its entry's path; or, when they do not share one, each file's own */
  prefix: string | Map<number, string>;
}

export class ListedFiles {
  private readonly batches: Batch[] = [];
  private next = 0;
  private cached: { batch: Batch; entries: Entry[] } | null = null;

  /** A batch as listed, its entries numbered on from the last; `encoded` is its wire form (copied, not kept). */
  add(files: readonly ScannedFile[], encoded: Buffer): void {
    const start = this.next;
    this.next += files.length;
    const own = (f: ScannedFile) => (f.abs.endsWith(f.entry.path) ? f.abs.slice(0, f.abs.length - f.entry.path.length) : null);
    const at = files.flatMap((f, i) => (f.entry.type === 'f' ? [i] : []));
    // a batch without files is never asked about
    if (at.length === 0) return;
    const first = own(files[at[0]]);
    const shared = first !== null && at.every((i) => own(files[i]) === first);
    const prefix = shared ? first : new Map(at.map((i) => [i, files[i].abs]));
    this.batches.push({ start, count: files.length, data: Buffer.from(encoded), prefix });
  }
  /** The file listed at `index`, or undefined when that entry is not a file (or there is none). */
  get(index: number): ListedFile | undefined {
    const batch = this.find(index);
    if (!batch) return undefined;
    if (this.cached?.batch !== batch) this.cached = { batch, entries: decodeEntries(batch.data) };
    const i = index - batch.start;
    const entry = this.cached.entries[i];
    if (entry?.type !== 'f') return undefined;
    const abs = typeof batch.prefix === 'string' ? batch.prefix + entry.path : batch.prefix.get(i);
    return abs === undefined ? undefined : { entry, abs };
  }

  private find(index: number): Batch | undefined {
    let lo = 0;
    let hi = this.batches.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.batches[mid].start <= index) lo = mid + 1;
      else hi = mid;
    }
    const b = this.batches[lo - 1];
    return b && index < b.start + b.count ? b : undefined;
  }
}
