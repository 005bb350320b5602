// One-way decisions as a pure function: the sender's entry and what the
// receiver has at that path in, one action out. No fs, no clock.

import type { Entry, EntryType } from '../wire/schema.js';

export interface Local {
  type: EntryType | 'other';
  mode: number;
  size: number;
  mtime: number; // microseconds
  target?: string;
}

export interface PlanOptions {
  checksum: boolean;
  update: boolean;
  /** microseconds inside which two mtimes count as equal */
  windowUs: number;
}

export type Action =
  /** nothing to do */
  | { do: 'none' }
  /** -u: the receiver's copy is newer */
  | { do: 'skip-newer' }
  /** create (a file is fetched); `replace` when something of another type is in the way */
  | { do: 'create'; replace: boolean }
  /** fetch whole content; the receiver's file differs in size */
  | { do: 'fetch' }
  /** same size, other mtime (or -c): compare hashes; fetch only if they differ */
  | { do: 'check' }
  /** content equal: fix mode and/or mtime only */
  | { do: 'meta'; mode: boolean; mtime: boolean };

export function sameTime(a: number, b: number, windowUs: number): boolean {
  return Math.abs(a - b) <= Math.max(windowUs, 1);
}

export function decide(src: Entry, dst: Local | null, o: PlanOptions): Action {
  if (!dst) return { do: 'create', replace: false };
  if (dst.type !== src.type) return { do: 'create', replace: true };
  const mode = (dst.mode & 0o7777) !== (src.mode & 0o7777);
  const mtime = !sameTime(dst.mtime, src.mtime, o.windowUs);
  switch (src.type) {
    case 'd':
      return mode || mtime ? { do: 'meta', mode, mtime } : { do: 'none' };
    case 'l':
      if (dst.target !== src.target) return { do: 'create', replace: true };
      return mtime ? { do: 'meta', mode: false, mtime } : { do: 'none' };
    case 'f':
      if (o.update && dst.mtime > src.mtime && mtime) return { do: 'skip-newer' };
      if (dst.size !== src.size) return { do: 'fetch' };
      if (o.checksum || mtime) return { do: 'check' };
      return mode ? { do: 'meta', mode, mtime: false } : { do: 'none' };
  }
}

/**
 * rsync's itemize code, YXcstpoguax, for a change a receiver made (or would
 * make). As in rsync, 'c' marks a regular file only under --checksum, and a
 * symlink whose target changed.
 */
export function itemize(src: Entry, dst: Local | null, how: 'new' | 'data' | 'meta' | 'none', o: Pick<PlanOptions, 'checksum' | 'windowUs'>): string {
  const X = src.type === 'f' ? 'f' : src.type === 'd' ? 'd' : 'L';
  if (how === 'new' || !dst || dst.type !== src.type) return `${src.type === 'f' ? '>' : 'c'}${X}+++++++++`;
  const Y = how === 'data' ? (src.type === 'f' ? '>' : 'c') : '.';
  const c = how === 'data' && ((src.type === 'f' && o.checksum) || (src.type === 'l' && dst.target !== src.target)) ? 'c' : '.';
  const s = src.type === 'f' && dst.size !== src.size ? 's' : '.';
  const t = sameTime(dst.mtime, src.mtime, o.windowUs) ? '.' : 't';
  const p = src.type !== 'l' && (dst.mode & 0o7777) !== (src.mode & 0o7777) ? 'p' : '.';
  return `${Y}${X}${c}${s}${t}${p}.....`;
}
