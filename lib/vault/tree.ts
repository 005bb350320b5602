// A snapshot's listing: one JSON line per entry, in the scanner's order (the
// order the one-way manifest uses), chunked like file data so that the
// unchanged parts of a big tree are stored once across snapshots.

import type { Entry } from '../wire/schema.js';
import { VaultDamage } from './format.js';

export interface SnapEntry extends Entry {
  /** SHA-256 of the content (files) */
  hash?: string;
  /** chunk ids, in order (files) */
  chunks?: string[];
}

interface Line {
  p: string;
  t: Entry['type'];
  m: number;
  u: number;
  s?: number;
  l?: string;
  h?: string;
  c?: string[];
}

export function encodeLine(e: SnapEntry): string {
  const l: Line = { p: e.path, t: e.type, m: e.mode, u: e.mtime };
  if (e.type === 'f') Object.assign(l, { s: e.size, h: e.hash, c: e.chunks });
  if (e.type === 'l') l.l = e.target ?? '';
  return `${JSON.stringify(l)}\n`;
}

export function decodeTree(bytes: Buffer, where: string): SnapEntry[] {
  const out: SnapEntry[] = [];
  const text = bytes.toString('utf8');
  let at = 0;
  while (at < text.length) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) throw new VaultDamage(where, 'tree is cut short');
    let l: Line;
    try {
      l = JSON.parse(text.slice(at, nl)) as Line;
    } catch {
      throw new VaultDamage(where, 'tree holds a line that is not an entry');
    }
    at = nl + 1;
    if (typeof l.p !== 'string' || !['f', 'd', 'l'].includes(l.t)) throw new VaultDamage(where, 'tree holds a line that is not an entry');
    out.push({ path: l.p, type: l.t, mode: l.m, mtime: l.u, size: l.s ?? 0, target: l.l, hash: l.h, chunks: l.c });
  }
  return out;
}
