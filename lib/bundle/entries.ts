// The entries of an offline manifest and bundle, as JSON values, and the one
// check every entry read from a file passes before anything uses it. No I/O.

import { TsyncError } from '../errors.js';
import { checkRelPath } from '../tree/paths.js';
import { isReserved } from '../tree/reserved.js';
import { LIMITS, type Entry } from '../wire/schema.js';

/** A manifest entry: the usual fields, a file's SHA-256 (hex), and for a large file its block signature (base64, lib/delta/signature.ts format). */
export interface ManifestEntry extends Entry {
  hash?: string;
  sig?: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

export const isHash = (x: unknown): x is string => typeof x === 'string' && HEX64.test(x);

function bad(what: string, msg: string): never {
  throw new TsyncError('E_BUNDLE', `${what}: ${msg}`);
}

/** a relative path a file may name: checked like a peer's, and none of tsync's own names */
export function checkPath(what: string, p: unknown): string {
  if (typeof p !== 'string') bad(what, 'a path is not a string');
  const why = checkRelPath(p);
  if (why) bad(what, `bad path ${JSON.stringify(p.slice(0, 200))}: ${why}`);
  if (p !== '.' && isReserved(p)) bad(what, `path ${JSON.stringify(p)} is one of tsync's reserved names`);
  return p;
}

const int = (x: unknown, lo: number, hi: number): boolean => Number.isSafeInteger(x) && (x as number) >= lo && (x as number) <= hi;

/** One entry as read from JSON: every field checked, unknown fields dropped. */
export function checkEntry(what: string, x: unknown, opts: { sig?: boolean } = {}): ManifestEntry {
  if (typeof x !== 'object' || x === null) bad(what, 'an entry is not an object');
  const o = x as Record<string, unknown>;
  const path = checkPath(what, o.path);
  const where = `${what}: entry ${JSON.stringify(path)}`;
  if (o.type !== 'f' && o.type !== 'd' && o.type !== 'l') bad(where, 'bad type');
  if (!int(o.mode, 0, 0o7777)) bad(where, 'bad mode');
  if (!int(o.size, 0, Number.MAX_SAFE_INTEGER)) bad(where, 'bad size');
  if (!int(o.mtime, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)) bad(where, 'bad mtime');
  const e: ManifestEntry = { path, type: o.type, mode: o.mode as number, size: o.size as number, mtime: o.mtime as number };
  if (o.type === 'l') {
    if (typeof o.target !== 'string' || o.target === '' || Buffer.byteLength(o.target) > LIMITS.target || o.target.includes('\0')) bad(where, 'bad link target');
    e.target = o.target;
  }
  if (o.type === 'f') {
    if (!isHash(o.hash)) bad(where, 'a file without a SHA-256');
    e.hash = o.hash;
    if (opts.sig && o.sig !== undefined) {
      if (typeof o.sig !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(o.sig)) bad(where, 'bad block signature');
      e.sig = o.sig;
    }
  }
  return e;
}

/** The entries of a file, in order: checked, no path twice, each parent listed before its children. */
export function checkEntries(what: string, xs: unknown, opts: { sig?: boolean } = {}): ManifestEntry[] {
  if (!Array.isArray(xs)) bad(what, 'no list of entries');
  const seen = new Map<string, ManifestEntry['type']>();
  const out: ManifestEntry[] = [];
  for (const x of xs) {
    const e = checkEntry(what, x, opts);
    if (seen.has(e.path)) bad(what, `path ${JSON.stringify(e.path)} listed twice`);
    const slash = e.path.lastIndexOf('/');
    if (slash >= 0 && seen.get(e.path.slice(0, slash)) !== 'd') bad(what, `path ${JSON.stringify(e.path)} comes before (or without) its directory`);
    seen.set(e.path, e.type);
    out.push(e);
  }
  return out;
}

/** An entry without what only a manifest needs (its block signature). */
export function plain(e: ManifestEntry): ManifestEntry {
  const { sig: _sig, ...rest } = e;
  return rest;
}
