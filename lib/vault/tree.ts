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
  /** the host's clock minus the clock of the client that read this mtime, ms (absent: 0) */
  o?: number;
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
  o?: number;
}

export function encodeLine(e: SnapEntry): string {
  const l: Line = { p: e.path, t: e.type, m: e.mode, u: e.mtime };
  if (e.type === 'f') Object.assign(l, { s: e.size, h: e.hash, c: e.chunks });
  if (e.type === 'l') l.l = e.target ?? '';
  if (e.o) l.o = e.o;
  return `${JSON.stringify(l)}\n`;
}

/** one line of a listing (without its newline) as an entry */
export function decodeLine(raw: string, where: string): SnapEntry {
  let l: Line;
  try {
    l = JSON.parse(raw) as Line;
  } catch {
    throw new VaultDamage(where, 'tree holds a line that is not an entry');
  }
  if (typeof l !== 'object' || l === null || typeof l.p !== 'string' || !['f', 'd', 'l'].includes(l.t)) throw new VaultDamage(where, 'tree holds a line that is not an entry');
  return { path: l.p, type: l.t, mode: l.m, mtime: l.u, size: l.s ?? 0, target: l.l, hash: l.h, chunks: l.c, ...(typeof l.o === 'number' && Number.isFinite(l.o) ? { o: l.o } : {}) };
}

/** the listing's lines, each as it is stored */
export function* treeLines(bytes: Buffer, where: string): Generator<string> {
  const text = bytes.toString('utf8');
  let at = 0;
  while (at < text.length) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) throw new VaultDamage(where, 'tree is cut short');
    yield text.slice(at, nl);
    at = nl + 1;
  }
}

export function decodeTree(bytes: Buffer, where: string): SnapEntry[] {
  return [...treeLines(bytes, where)].map((raw) => decodeLine(raw, where));
}

/** the path of a stored line, read without parsing the rest of it */
export function pathOfLine(raw: string, where: string): string {
  if (!raw.startsWith('{"p":"')) throw new VaultDamage(where, 'tree holds a line that is not an entry');
  let i = 6;
  while (i < raw.length && raw[i] !== '"') i += raw[i] === '\\' ? 2 : 1;
  try {
    return JSON.parse(raw.slice(5, i + 1)) as string;
  } catch {
    throw new VaultDamage(where, 'tree holds a line that is not an entry');
  }
}

/**
 * A listing held as its text, with each path's line found through an
 * offset: a few dozen bytes per entry besides the text itself, where parsed
 * entries would cost a kilobyte each.
 */
export class Listing {
  private readonly at = new Map<string, number>();
  private readonly text: string;
  constructor(
    bytes: Buffer,
    private readonly where: string,
  ) {
    this.text = bytes.toString('utf8');
    let off = 0;
    while (off < this.text.length) {
      const nl = this.text.indexOf('\n', off);
      if (nl < 0) throw new VaultDamage(where, 'tree is cut short');
      this.at.set(pathOfLine(this.text.slice(off, nl), where), off);
      off = nl + 1;
    }
  }
  /** the stored line of path (without its newline), or undefined */
  raw(path: string): string | undefined {
    const off = this.at.get(path);
    return off === undefined ? undefined : this.text.slice(off, this.text.indexOf('\n', off));
  }
  /** forget path: what is left at the end was deleted */
  take(path: string): string | undefined {
    const r = this.raw(path);
    this.at.delete(path);
    return r;
  }
  *rest(): Generator<SnapEntry> {
    for (const path of this.at.keys()) yield decodeLine(this.raw(path)!, this.where);
  }
}
