// What a run did, counted by the receiver and reported by the client.

import { TsyncError } from '../errors.js';

export interface ErrorRecord {
  path: string;
  code: string;
  message: string;
}

export interface Stats {
  entries: number;
  files: number;
  created: number;
  updated: number;
  metaOnly: number;
  deleted: number;
  unchanged: number;
  skipped: number;
  bytesLiteral: number;
  bytesMatched: number;
  totalSize: number;
}

export function emptyStats(): Stats {
  return { entries: 0, files: 0, created: 0, updated: 0, metaOnly: 0, deleted: 0, unchanged: 0, skipped: 0, bytesLiteral: 0, bytesMatched: 0, totalSize: 0 };
}

/** The peer's DONE statistics: anything but a JSON object is a protocol error, unknown or odd fields are ignored. */
export function parseStats(json: string): Stats {
  let s: Partial<Stats>;
  try {
    s = JSON.parse(json) as Partial<Stats>;
  } catch {
    s = null as unknown as Partial<Stats>;
  }
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new TsyncError('E_PROTOCOL', 'the peer ended with statistics that are not a JSON object');
  const out = emptyStats();
  for (const k of Object.keys(out) as Array<keyof Stats>) {
    if (typeof s[k] === 'number' && Number.isFinite(s[k])) out[k] = s[k] as number;
  }
  return out;
}

/** add b's counts into a (a two-way run sums its phases) */
export function addStats(a: Stats, b: Stats): Stats {
  for (const k of Object.keys(a) as Array<keyof Stats>) a[k] += b[k];
  return a;
}
