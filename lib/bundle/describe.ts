// Walking a tree into offline-manifest entries: the scanner's entries plus
// each file's SHA-256 and, for a file big enough to be worth a delta, its
// block signature; both from one read of the file.

import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { encodeSignature, SignatureBuilder } from '../delta/index.js';
import { basisBlockSize, DELTA_MIN, NOFOLLOW, readAt } from '../oneway/source.js';
import { Scanner, type ScanWarning, type Source } from '../tree/scan.js';
import type { Filter } from '../tree/filter.js';
import type { ManifestEntry } from './entries.js';
import { TsyncError } from '../errors.js';

const CHUNK = 1 << 20;

/** SHA-256 (hex) of a file and, when `sig`, its encoded block signature (base64); the size read must be the listed one */
export async function digestFile(abs: string, size: number, sig: boolean): Promise<{ hash: string; sig?: string }> {
  const fd = fs.openSync(abs, NOFOLLOW);
  try {
    const h = createHash('sha256');
    const b = sig ? new SignatureBuilder({ ...basisBlockSize(size), expectedSize: size }) : null;
    const buf = Buffer.alloc(Math.min(CHUNK, Math.max(size, 1)));
    let off = 0;
    for (;;) {
      const { bytesRead } = await readAt(fd, buf, 0, buf.length, off);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      b?.update(buf.subarray(0, bytesRead));
      off += bytesRead;
    }
    if (off !== size) throw new TsyncError('E_PARTIAL', `${abs} changed size while it was read`);
    return { hash: h.digest('hex'), ...(b ? { sig: encodeSignature(b.finish()).toString('base64') } : {}) };
  } finally {
    fs.closeSync(fd);
  }
}

export interface DescribeOptions {
  /** keep block signatures of files of at least DELTA_MIN bytes */
  sigs: boolean;
  /** a file's hash when it is known without reading it (the quick check against a manifest), else undefined */
  known?: (e: ManifestEntry) => string | undefined;
  warn: (w: ScanWarning) => void;
}

/** Every entry under the sources, in the scanner's order, with the absolute path of each. */
export async function describeTree(sources: readonly Source[], filter: Filter, o: DescribeOptions): Promise<Array<{ entry: ManifestEntry; abs: string }>> {
  const scanner = new Scanner(filter, o.warn);
  const out: Array<{ entry: ManifestEntry; abs: string }> = [];
  for (const batch of scanner.scan(sources)) {
    for (const { entry, abs } of batch) {
      const e: ManifestEntry = { ...entry };
      if (e.type === 'f') {
        const hash = o.known?.(e);
        if (hash && !o.sigs) e.hash = hash;
        else Object.assign(e, await digestFile(abs, e.size, o.sigs && e.size >= DELTA_MIN));
      }
      out.push({ entry: e, abs });
    }
  }
  return out;
}
