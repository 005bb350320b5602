// What a receiver already holds, for moves: every regular file under the
// destination root (and, in a two-way run, the files its deletions set
// aside), by size, by base name and by directory. A new file whose size
// matches one of them is asked for by hash first (receive-moves.ts); a
// file that matches none may still go as a delta against the most similar
// one (rsync's --fuzzy, tree-wide). Built once, on first need, by a walk
// that follows no link and skips tsync's own names. Candidates are only
// read here: whoever uses one checks its content against a hash.

import type { FileSystem } from '../fs/seam.js';
import { isReserved } from '../tree/reserved.js';
import { baseOf, parentOf } from '../tree/paths.js';

/** files smaller than this are sent as they are: a hash round trip would save next to nothing */
export const MOVE_MIN = 256;
/** at most this many same-size candidates are hashed for one file */
export const MAX_HASHED = 16;
/** a fuzzy basis within this factor of the new file's size */
const FUZZY_RATIO = 2;
/** at most this many names of one directory are compared for a fuzzy basis */
const FUZZY_SCAN = 1000;

export interface Candidate {
  /** the name it is scored by: its path relative to the root (a set-aside file: the path it had) */
  rel: string;
  abs: string;
  size: number;
  /** what it was when listed; a use checks it still is (ino, mtime in ns) */
  ino: number;
  mtimeNs: bigint;
  /** being deleted by this run (a two-way deletion set aside): nothing keeps it */
  gone: boolean;
  /** its SHA-256, once computed (null: unreadable) */
  hash?: Promise<Buffer | null>;
}

export interface SetAside {
  rel: string;
  abs: string;
}

export class MoveIndex {
  private readonly bySize = new Map<number, Candidate[]>();
  private readonly byBase = new Map<string, Candidate[]>();
  private readonly byDir = new Map<string, Candidate[]>();

  /**
   * Walk root: skip tsync's own names, the backup directory (skip(rel)),
   * links and anything not a regular file; add the set-aside files.
   */
  static build(root: string, fsys: FileSystem, skip: (rel: string) => boolean, setAside: readonly SetAside[]): MoveIndex {
    const ix = new MoveIndex();
    const stack: string[] = ['.'];
    while (stack.length) {
      const dir = stack.pop()!;
      const dirAbs = dir === '.' ? root : `${root}/${dir}`;
      let names: string[];
      try {
        names = fsys.readdirSync(dirAbs);
      } catch {
        continue;
      }
      for (const name of names) {
        const rel = dir === '.' ? name : `${dir}/${name}`;
        if (isReserved(rel) || skip(rel)) continue;
        const abs = `${dirAbs}/${name}`;
        const st = fsys.lstatSync(abs, { bigint: true, throwIfNoEntry: false });
        if (!st) continue;
        if (st.isDirectory()) stack.push(rel);
        else if (st.isFile() && st.size >= MOVE_MIN) ix.add({ rel, abs, size: Number(st.size), ino: Number(st.ino), mtimeNs: st.mtimeNs, gone: false });
      }
    }
    for (const s of setAside) {
      const st = fsys.lstatSync(s.abs, { bigint: true, throwIfNoEntry: false });
      if (st?.isFile() && st.size >= MOVE_MIN) ix.add({ rel: s.rel, abs: s.abs, size: Number(st.size), ino: Number(st.ino), mtimeNs: st.mtimeNs, gone: true });
    }
    return ix;
  }

  private add(c: Candidate): void {
    push(this.bySize, c.size, c);
    push(this.byBase, baseOf(c.rel), c);
    push(this.byDir, parentOf(c.rel), c);
  }

  /** Files of this size other than rel itself, most similar name first, at most MAX_HASHED. */
  sameSize(size: number, rel: string): Candidate[] {
    const all = (this.bySize.get(size) ?? []).filter((c) => c.gone || c.rel !== rel);
    if (all.length <= 1) return all;
    return all
      .map((c) => ({ c, s: similarity(rel, c.rel) }))
      .sort((a, b) => b.s - a.s)
      .slice(0, MAX_HASHED)
      .map((x) => x.c);
  }

  hasSameSize(size: number, rel: string): boolean {
    const all = this.bySize.get(size);
    return all !== undefined && all.some((c) => c.gone || c.rel !== rel);
  }

  /**
   * A basis for a delta when rel has none of its own: a file of the same
   * base name elsewhere (a move), else the most similar name in rel's
   * directory; within FUZZY_RATIO of size, at least minSize bytes.
   */
  fuzzy(rel: string, size: number, minSize: number): Candidate | null {
    const fits = (c: Candidate) => c.size >= minSize && c.size * FUZZY_RATIO >= size && c.size <= size * FUZZY_RATIO && (c.gone || c.rel !== rel);
    let best: Candidate | null = null;
    let bestScore = -1;
    const consider = (c: Candidate) => {
      if (!fits(c)) return;
      const s = similarity(rel, c.rel) * 1e6 - Math.abs(c.size - size) / Math.max(size, 1);
      if (s > bestScore) [best, bestScore] = [c, s];
    };
    for (const c of this.byBase.get(baseOf(rel)) ?? []) consider(c);
    if (best) return best;
    const inDir = this.byDir.get(parentOf(rel)) ?? [];
    for (let i = 0; i < inDir.length && i < FUZZY_SCAN; i++) consider(inDir[i]);
    // a name with nothing in common is no better a basis than any other file
    return best && similarity(rel, (best as Candidate).rel) >= 3 ? best : null;
  }
}

function push<K>(m: Map<K, Candidate[]>, k: K, c: Candidate): void {
  const l = m.get(k);
  if (l) l.push(c);
  else m.set(k, [c]);
}

/** How alike two paths' names are: same base name first, then shared leading and trailing characters, then the same directory. */
export function similarity(a: string, b: string): number {
  const ba = baseOf(a);
  const bb = baseOf(b);
  if (ba === bb) return 1000 + (parentOf(a) === parentOf(b) ? 1 : 0);
  let pre = 0;
  while (pre < ba.length && pre < bb.length && ba[pre] === bb[pre]) pre++;
  let suf = 0;
  while (suf < ba.length - pre && suf < bb.length - pre && ba[ba.length - 1 - suf] === bb[bb.length - 1 - suf]) suf++;
  return pre + suf + (parentOf(a) === parentOf(b) ? 0.5 : 0);
}
