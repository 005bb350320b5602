// The offline manifest file (`tsync manifest DIR -o FILE`): what a receiver
// holds, for a sender to make a bundle against. Three parts, in text:
//
//   tsync-manifest 1 KIND KEYID\n     KIND sha256 | hmac-sha256; KEYID hex or '-'
//   {"id": "...", "entries": [...]}\n  one JSON line (lib/bundle/entries.ts)
//   seal HEX\n                          SHA-256 or HMAC of the two lines above
//
// Pure: bytes in, values out (docs/design.md, "Offline bundles").

import { randomBytes } from 'node:crypto';
import { TsyncError } from '../errors.js';
import { checkEntries, type ManifestEntry } from './entries.js';
import { checkSeal, keyFor, Sealer, type SealKey } from './seal.js';

export const MANIFEST_VERSION = 1;
const MAGIC = 'tsync-manifest';

export interface Manifest {
  /** random, names this manifest (a bundle records the one it was made against) */
  id: string;
  entries: ManifestEntry[];
}

export const newManifestId = (): string => randomBytes(16).toString('hex');

export function encodeManifest(m: Manifest, key: SealKey | null): Buffer {
  const s = new Sealer(key);
  const head = `${MAGIC} ${MANIFEST_VERSION} ${s.kind} ${key ? key.id : '-'}\n`;
  const body = `${JSON.stringify({ id: m.id, entries: m.entries })}\n`;
  const seal = s.update(head).update(body).digest().toString('hex');
  return Buffer.from(`${head}${body}seal ${seal}\n`);
}

/** Parse and check a manifest file: E_BUNDLE when damaged, E_AUTH for a key problem. */
export function decodeManifest(buf: Buffer, key: SealKey | null, what = 'the manifest'): Manifest {
  const bad = (msg: string): never => {
    throw new TsyncError('E_BUNDLE', `${what} ${msg}`);
  };
  const nl1 = buf.indexOf(10);
  const head = nl1 < 0 ? '' : buf.subarray(0, nl1).toString('utf8');
  const h = head.split(' ');
  if (h[0] !== MAGIC) bad('is not a tsync manifest');
  if (h[1] !== String(MANIFEST_VERSION)) bad(`has format version ${h[1]}; this tsync reads version ${MANIFEST_VERSION}`);
  const nl2 = buf.indexOf(10, nl1 + 1);
  const last = buf.subarray(nl2 + 1).toString('latin1');
  const m = /^seal ([0-9a-f]{64})\n$/.exec(last);
  if (nl2 < 0 || !m) bad('is truncated or damaged (no seal at its end)');
  const k = keyFor(what, h[2], h[3], key);
  const s = new Sealer(k);
  checkSeal(what, s.kind, Buffer.from(m![1], 'hex'), s.update(buf.subarray(0, nl2 + 1)).digest());
  let json: unknown;
  try {
    json = JSON.parse(buf.subarray(nl1 + 1, nl2).toString('utf8'));
  } catch {
    bad('has a damaged body');
  }
  const o = json as { id?: unknown; entries?: unknown };
  if (typeof o.id !== 'string' || !/^[0-9a-f]{32}$/.test(o.id)) bad('has no id');
  return { id: o.id as string, entries: checkEntries(what, o.entries, { sig: true }) };
}
