// `tsync bundle`: the sender's side. Plans against the manifest, turns the
// files to send into whole-file or delta tar entries, and writes the tar
// (gzipped with -z) to a file, under a temporary name until it is complete,
// or to standard output.

import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { decodeSignature, DeltaGenerator, encodeOps, MAX_BLOCK_SIZE } from '../delta/index.js';
import { TsyncError } from '../errors.js';
import { NOFOLLOW, readAt } from '../oneway/source.js';
import { encodeManifest, newManifestId } from './manifest-file.js';
import { plain, type ManifestEntry } from './entries.js';
import { Sealer, type SealKey } from './seal.js';
import { BUNDLE_FORMAT, BUNDLE_VERSION, dataName, entryHead, HEADER_NAME, MANIFEST_NAME, PLAN_NAME, SEAL_NAME, type BundleHeader } from './format.js';
import { toWire, type Op, type Plan } from './plan.js';

const CHUNK = 1 << 20;

/** a tar entry's bytes: in memory, or a file read as it is packed */
type Body = { kind: 'buffer'; data: Buffer } | { kind: 'file'; abs: string; entry: ManifestEntry };

async function* fileChunks(abs: string, e: ManifestEntry): AsyncGenerator<Buffer> {
  const fd = fs.openSync(abs, NOFOLLOW);
  try {
    const h = createHash('sha256');
    let off = 0;
    while (off < e.size) {
      const buf = Buffer.alloc(Math.min(CHUNK, e.size - off));
      const { bytesRead } = await readAt(fd, buf, 0, buf.length, off);
      if (bytesRead === 0) break;
      off += bytesRead;
      h.update(buf.subarray(0, bytesRead));
      yield buf.subarray(0, bytesRead);
    }
    if (off !== e.size || h.digest('hex') !== e.hash) throw new TsyncError('E_PARTIAL', `${e.path}: changed while the bundle was written; run tsync bundle again`);
  } finally {
    fs.closeSync(fd);
  }
}

/** the delta of the file at abs against a basis signature (base64), encoded; null when it is no smaller than the file */
async function deltaOf(abs: string, e: ManifestEntry, sigB64: string): Promise<{ data: Buffer; blockSize: number } | null> {
  const sig = decodeSignature(Buffer.from(sigB64, 'base64'), { maxBlocks: 1 << 24, maxBlockSize: MAX_BLOCK_SIZE });
  const g = new DeltaGenerator(sig);
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of fileChunks(abs, e)) {
    const enc = encodeOps(g.push(chunk));
    parts.push(enc);
    total += enc.length;
    if (total >= e.size) return null;
  }
  const enc = encodeOps(g.finish());
  parts.push(enc);
  total += enc.length;
  return total < e.size ? { data: Buffer.concat(parts, total), blockSize: sig.blockSize } : null;
}

export interface BundleInput {
  plan: Plan;
  /** the receiver's tree afterwards */
  result: ManifestEntry[];
  /** absolute path of every sender file, by relative path */
  absOf: Map<string, string>;
  againstId: string;
  delete: boolean;
  key: SealKey | null;
  gzip: boolean;
}

export interface BundleStats {
  files: number;
  literal: number;
  deltas: number;
  copies: number;
  deletes: number;
}

/** Write the bundle to `out` (a file's temporary, or stdout); returns what went in. */
export async function writeBundle(i: BundleInput, out: Writable): Promise<BundleStats> {
  const stats: BundleStats = { files: 0, literal: 0, deltas: 0, copies: 0, deletes: 0 };
  const bodies: Body[] = [];
  const ops: Op[] = [];
  for (const p of i.plan.ops) {
    if (p.do !== 'file' || p.from.how !== 'send') {
      if (p.do === 'delete') stats.deletes++;
      if (p.do === 'file' && p.from.how === 'copy') stats.copies++;
      ops.push(p as Op);
      continue;
    }
    stats.files++;
    const abs = i.absOf.get(p.entry.path)!;
    const d = p.from.basis?.sig ? await deltaOf(abs, p.entry, p.from.basis.sig) : null;
    if (d) {
      stats.deltas++;
      bodies.push({ kind: 'buffer', data: d.data });
      ops.push({ do: 'file', entry: p.entry, from: { how: 'delta', data: bodies.length - 1, basis: p.from.basis!.hash!, blockSize: d.blockSize } });
    } else {
      stats.literal += p.entry.size;
      bodies.push({ kind: 'file', abs, entry: p.entry });
      ops.push({ do: 'file', entry: p.entry, from: { how: 'data', data: bodies.length - 1 } });
    }
  }
  const sealer = new Sealer(i.key);
  const header: BundleHeader = { format: BUNDLE_FORMAT, version: BUNDLE_VERSION, seal: sealer.kind, keyId: i.key?.id ?? null, against: { id: i.againstId }, delete: i.delete };
  const pack = tar.pack();
  const done = i.gzip ? pipeline(Readable.from(pack), createGzip(), out) : pipeline(Readable.from(pack), out);
  done.catch(() => {}); // awaited below; a failure there is reported once
  const put = (name: string, data: Buffer) => {
    sealer.update(entryHead(name, data.length)).update(data);
    return new Promise<void>((resolve, reject) => pack.entry({ name, size: data.length, mode: 0o644, mtime: new Date(0) }, data, (e) => (e ? reject(e) : resolve())));
  };
  const putFile = async (name: string, abs: string, e: ManifestEntry) => {
    sealer.update(entryHead(name, e.size));
    let ws!: NodeJS.WritableStream;
    // the executor runs at once: ws is set before the loop
    const finished = new Promise<void>((resolve, reject) => {
      ws = pack.entry({ name, size: e.size, mode: 0o644, mtime: new Date(0) }, (err) => (err ? reject(err) : resolve()));
    });
    finished.catch(() => {});
    for await (const c of fileChunks(abs, e)) {
      sealer.update(c);
      if (!ws.write(c)) await new Promise((r) => ws.once('drain', r));
    }
    ws.end();
    await finished;
  };
  try {
    await put(HEADER_NAME, Buffer.from(JSON.stringify(header)));
    await put(PLAN_NAME, Buffer.from(JSON.stringify(toWire(ops, i.plan.was))));
    await put(MANIFEST_NAME, encodeManifest({ id: newManifestId(), entries: i.result.map(plain) }, i.key));
    for (const [n, b] of bodies.entries()) {
      if (b.kind === 'buffer') await put(dataName(n), b.data);
      else await putFile(dataName(n), b.abs, b.entry);
    }
    const seal = Buffer.from(sealer.digest().toString('hex'));
    await new Promise<void>((resolve, reject) => pack.entry({ name: SEAL_NAME, size: seal.length, mode: 0o644, mtime: new Date(0) }, seal, (e) => (e ? reject(e) : resolve())));
    pack.finalize();
  } catch (e) {
    pack.destroy(e as Error);
    await done.catch(() => {});
    throw e;
  }
  await done;
  return stats;
}
