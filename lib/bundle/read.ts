// Reading a bundle: spooled to a plain tar file first when it comes from a
// pipe or is gzipped (the whole bundle is checked before anything is
// changed, so it is read twice), then checked whole (seal, names, order,
// plan), then its data entries handed out one at a time.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { TsyncError } from '../errors.js';
import { MAX_BLOCK_SIZE } from '../delta/index.js';
import { checkEntry, checkPath, isHash, type ManifestEntry } from './entries.js';
import { decodeManifest } from './manifest-file.js';
import { checkSeal, keyFor, Sealer, type SealKey } from './seal.js';
import { BUNDLE_FORMAT, BUNDLE_VERSION, dataName, entryHead, HEADER_NAME, MANIFEST_NAME, PLAN_NAME, SEAL_NAME, type BundleHeader } from './format.js';
import type { Op } from './plan.js';

const WHAT = 'the bundle';
/** header, plan and manifest are read into memory: at most this big */
const MAX_META = 1 << 30;

function bad(msg: string): never {
  throw new TsyncError('E_BUNDLE', `${WHAT} ${msg}`);
}

export interface Spool {
  /** a plain tar file */
  tar: string;
  cleanup(): void;
}

const isGzip = (file: string): boolean => {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(2);
    return fs.readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
};

/** The bundle as a plain tar file: FILE itself, or a private copy of stdin, gunzipped when it is gzip. */
export async function spoolBundle(source: string, stdin: Readable): Promise<Spool> {
  if (source !== '-') {
    try {
      if (!fs.statSync(source).isFile()) throw new TsyncError('E_USAGE', `bundle ${source} is not a file`);
    } catch (e) {
      if (e instanceof TsyncError) throw e;
      throw new TsyncError('E_USAGE', `cannot read bundle ${source}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    if (!isGzip(source)) return { tar: source, cleanup: () => {} };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsync-apply-'));
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    let raw = source;
    if (source === '-') {
      raw = path.join(dir, 'stdin');
      await pipeline(stdin, fs.createWriteStream(raw, { mode: 0o600 }));
      if (!isGzip(raw)) return { tar: raw, cleanup };
    }
    const tarPath = path.join(dir, 'bundle.tar');
    try {
      await pipeline(fs.createReadStream(raw), createGunzip(), fs.createWriteStream(tarPath, { mode: 0o600 }));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code?.startsWith('Z_') || /unexpected end/i.test((e as Error).message)) bad('is damaged or truncated (its gzip stream does not decode)');
      throw e;
    }
    if (raw !== source) fs.rmSync(raw);
    return { tar: tarPath, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

/** Each tar entry of a plain tar file in turn; a damaged or truncated tar is E_BUNDLE. */
async function* entries(tarPath: string): AsyncGenerator<{ name: string; size: number; body: AsyncIterable<Buffer> }> {
  const ex = tar.extract();
  const feeding = pipeline(fs.createReadStream(tarPath), ex);
  feeding.catch(() => {});
  try {
    for await (const e of ex) {
      if (e.header.type !== 'file') bad(`holds an unexpected tar entry ${JSON.stringify(e.header.name)} (${e.header.type})`);
      yield { name: e.header.name, size: e.header.size ?? 0, body: e as AsyncIterable<Buffer> };
      e.resume();
    }
    await feeding;
  } catch (e) {
    if (e instanceof TsyncError) throw e;
    bad(`is damaged or truncated (${(e as Error).message})`);
  }
}

async function readAll(body: AsyncIterable<Buffer>, size: number, name: string): Promise<Buffer> {
  if (size > MAX_META) bad(`entry ${name} is too big`);
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c);
  return Buffer.concat(parts);
}

function json(buf: Buffer, name: string): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    bad(`is damaged (its entry ${name} is not valid JSON)`);
  }
}

export interface Checked {
  header: BundleHeader;
  ops: Op[];
  was: Map<string, ManifestEntry | null>;
  /** the receiver's tree afterwards */
  result: ManifestEntry[];
}

/** Read the whole bundle and check it: seal (E_AUTH for a key problem, E_BUNDLE for damage), entry names and order, every op. */
export async function checkBundle(tarPath: string, key: SealKey | null): Promise<Checked> {
  try {
    return await check(tarPath, key);
  } catch (e) {
    // an entry's bytes that stop short fail while they are read, here
    if (e instanceof TsyncError) throw e;
    bad(`is damaged or truncated (${(e as Error).message})`);
  }
}

async function check(tarPath: string, key: SealKey | null): Promise<Checked> {
  let sealer: Sealer | null = null;
  let k: SealKey | null = null;
  let header: BundleHeader | null = null;
  let planJson: unknown = null;
  let manifestBuf: Buffer | null = null;
  let sealHex: string | null = null;
  let nData = 0;
  const sizes: number[] = [];
  let i = 0;
  for await (const { name, size, body } of entries(tarPath)) {
    if (sealHex !== null) bad(`has entry ${JSON.stringify(name)} after its seal`);
    const expect = i === 0 ? HEADER_NAME : i === 1 ? PLAN_NAME : i === 2 ? MANIFEST_NAME : null;
    if (expect && name !== expect) bad(`${i === 0 ? 'is not a tsync bundle' : `is damaged`} (entry ${i + 1} is ${JSON.stringify(name)}, not ${expect})`);
    if (i === 0) {
      const buf = await readAll(body, size, name);
      const h = json(buf, name) as BundleHeader;
      if (h?.format !== BUNDLE_FORMAT) bad('is not a tsync bundle');
      if (h.version !== BUNDLE_VERSION) bad(`has format version ${String(h.version)}; this tsync reads version ${BUNDLE_VERSION}`);
      if (typeof h.against?.id !== 'string' || typeof h.delete !== 'boolean') bad('has a damaged header');
      k = keyFor(WHAT, h.seal, h.keyId ?? undefined, key);
      sealer = new Sealer(k);
      sealer.update(entryHead(name, buf.length)).update(buf);
      header = h;
    } else if (name === SEAL_NAME) {
      sealHex = (await readAll(body, size, name)).toString('latin1');
    } else {
      sealer!.update(entryHead(name, size));
      if (i === 1 || i === 2) {
        const buf = await readAll(body, size, name);
        sealer!.update(buf);
        if (i === 1) planJson = json(buf, name);
        else manifestBuf = buf;
      } else {
        if (name !== dataName(nData)) bad(`is damaged (entry ${JSON.stringify(name)} where ${dataName(nData)} belongs)`);
        let got = 0;
        for await (const c of body) {
          sealer!.update(c);
          got += c.length;
        }
        if (got !== size) bad('is truncated');
        sizes.push(size);
        nData++;
      }
    }
    i++;
  }
  if (!header) bad('is empty or not a tar file');
  if (sealHex === null) bad('is truncated (no seal at its end)');
  if (!/^[0-9a-f]{64}$/.test(sealHex!)) bad('has a damaged seal');
  checkSeal(WHAT, sealer!.kind, Buffer.from(sealHex!, 'hex'), sealer!.digest());
  const result = decodeManifest(manifestBuf!, k, `${WHAT}'s manifest`).entries;
  const { ops, was } = checkPlan(planJson, sizes, new Map(result.map((e) => [e.path, e])));
  return { header: header!, ops, was, result };
}

/** every op and every `was` entry checked, each op's entry the result's; each data entry used by exactly one op of the right size */
function checkPlan(x: unknown, sizes: readonly number[], result: ReadonlyMap<string, ManifestEntry>): { ops: Op[]; was: Map<string, ManifestEntry | null> } {
  const o = x as { ops?: unknown; was?: unknown };
  if (!o || !Array.isArray(o.ops) || typeof o.was !== 'object' || o.was === null) bad('has a damaged plan');
  const where = `${WHAT}'s plan`;
  const was = new Map<string, ManifestEntry | null>();
  for (const [p, e] of Object.entries(o.was as Record<string, unknown>)) {
    checkPath(where, p);
    if (e === null) was.set(p, null);
    else {
      const c = checkEntry(where, e);
      if (c.path !== p) bad('has a damaged plan (was)');
      was.set(p, c);
    }
  }
  const used = new Set<number>();
  const paths = new Set<string>();
  const ops: Op[] = [];
  const int = (v: unknown) => Number.isSafeInteger(v);
  for (const raw of o.ops as unknown[]) {
    const r = raw as Record<string, unknown>;
    const p = checkPath(where, r?.path);
    let op: Op;
    if (r.do === 'delete') {
      if (r.type !== 'f' && r.type !== 'd' && r.type !== 'l') bad('has a damaged plan (delete of unknown type)');
      op = { do: 'delete', path: p, type: r.type };
    } else {
      const entry = result.get(p);
      const want = r.do === 'dir' ? 'd' : r.do === 'link' ? 'l' : r.do === 'file' || r.do === 'meta' ? 'f' : null;
      if (!want) bad('has a damaged plan (unknown op)');
      if (!entry || entry.type !== want) bad(`has a damaged plan (${String(r.do)} op for ${JSON.stringify(p)}, which its manifest does not list as that)`);
      if (r.do === 'dir' || r.do === 'link') op = { do: r.do, entry };
      else if (r.do === 'meta') {
        if (!int(r.mode) || (r.mode as number) < 0 || (r.mode as number) > 0o7777 || !int(r.mtime) || was.has(p)) bad(`has a damaged plan (meta op for ${JSON.stringify(p)})`);
        was.set(p, { ...entry, mode: r.mode as number, mtime: r.mtime as number });
        op = { do: 'file', entry, from: { how: 'meta' } };
      } else {
        const f = r.from as Record<string, unknown>;
        const n = f?.data as number;
        const dataOk = () => Number.isSafeInteger(n) && n >= 0 && n < sizes.length && !used.has(n) && (used.add(n), true);
        if (f?.how === 'copy' && isHash(f.source)) op = { do: 'file', entry, from: { how: 'copy', source: f.source } };
        else if (f?.how === 'data' && dataOk() && sizes[n] === entry.size) op = { do: 'file', entry, from: { how: 'data', data: n } };
        else if (f?.how === 'delta' && dataOk() && isHash(f.basis) && int(f.blockSize) && (f.blockSize as number) >= 1 && (f.blockSize as number) <= MAX_BLOCK_SIZE) {
          op = { do: 'file', entry, from: { how: 'delta', data: n, basis: f.basis, blockSize: f.blockSize as number } };
        } else bad(`has a damaged plan (file ${JSON.stringify(p)})`);
      }
    }
    if (paths.has(p)) bad(`has a damaged plan (${JSON.stringify(p)} twice)`);
    paths.add(p);
    ops.push(op!);
  }
  if (used.size !== sizes.length) bad('has data entries no op uses');
  for (const p of paths) if (!was.has(p)) bad(`has a damaged plan (no earlier state for ${JSON.stringify(p)})`);
  return { ops, was };
}

/** Pass 2: hand each data entry's bytes to fn, in order (the seal was checked by checkBundle). */
export async function forEachData(tarPath: string, fn: (n: number, body: AsyncIterable<Buffer>) => Promise<void>): Promise<void> {
  let n = 0;
  for await (const { name, body } of entries(tarPath)) {
    if (name === dataName(n)) await fn(n++, body);
  }
}

