// `tsync apply`: the receiver's side of a bundle that checkBundle accepted.
// Nothing changes while anything is in doubt: the tree is checked against
// the manifest first (a conflict anywhere: report, change nothing, exit 40).
// Then, with the receiver's discipline:
//   1. stage: every new content is written to a temporary (O_EXCL,
//      O_NOFOLLOW) beside its target (or at the root while its directory does
//      not exist yet), from a copy of content the tree holds, a delta
//      against it, or the bundle's bytes; verified against its SHA-256; mode
//      and mtime set through the descriptor;
//   2. place, in tree order: directories made, things of another type moved
//      out of the way, each temporary renamed over its target, links placed;
//   3. delete (children first), sweep temporaries, set directory times.
// Until step 2 every path is as it was; after a kill -9 each file is old or
// new, and a second apply finds the rest (and reuses the verified
// temporaries an interrupted one left, by hash).

import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { decodeOps, Patcher } from '../delta/index.js';
import { TsyncError, describeFsError } from '../errors.js';
import { cleanStaleTemps, dropTemp, openTemp, placeSymlink, setFileMeta, setPathMeta } from '../fs/apply.js';
import { reachDir } from '../fs/nofollow.js';
import { itemize, type Local } from '../plan/oneway.js';
import { NOFOLLOW, readAt, readFull } from '../oneway/source.js';
import { baseOf, parentOf } from '../tree/paths.js';
import { DELETE_CODE, type Events } from '../cli/report.js';
import { checkTree, contentPool, partsOf, Tree } from './check.js';
import { forEachData, type Checked } from './read.js';
import type { ManifestEntry } from './entries.js';
import type { Op } from './plan.js';

const CHUNK = 1 << 20;
const ITEM = { checksum: false, windowUs: 0 };

export interface ApplyOptions {
  dryRun: boolean;
  events: Events;
  /** a conflict, reported before the run stops */
  conflict: (path: string, why: string) => void;
  /** take the directory's lock: after the checks (a refused bundle leaves the directory exactly as it was), before the first change */
  lock?: () => Promise<void>;
}

type FileOp = Extract<Op, { do: 'file' }>;

/** the itemize code of an op, from what stands there now; null when it changes nothing */
function codeOf(op: Op, l: Local | null | 'blocked', done: boolean): string | null {
  const local = l === 'blocked' ? null : l;
  if (op.do === 'delete') return local ? DELETE_CODE : null;
  const e = op.entry;
  const content = op.do === 'file' ? (done || op.from.how === 'meta' ? 'meta' : 'data') : op.do === 'link' && local?.type === 'l' && local.target !== e.target ? 'data' : 'meta';
  if (!local || local.type !== e.type) return itemize(e, null, 'new', ITEM);
  const code = itemize(e, local, content, ITEM);
  return /^\.[fdL]\.+$/.test(code) ? null : code;
}

export async function applyBundle(root: string, b: Checked, tarPath: string, o: ApplyOptions): Promise<void> {
  const t = new Tree(root, b.was);
  const { conflicts, done } = await checkTree(t, b.ops, b.was);
  const pool = await contentPool(t, b.ops, b.was);
  for (const op of b.ops) {
    if (op.do !== 'file' || done.has(op.entry.path)) continue;
    const need = op.from.how === 'copy' ? op.from.source : op.from.how === 'delta' ? op.from.basis : null;
    if (need && !pool.has(need)) conflicts.push({ path: op.entry.path, why: `the content it is ${op.from.how === 'copy' ? 'copied' : 'patched'} from is no longer in the tree` });
  }
  if (conflicts.length) {
    for (const c of conflicts) o.conflict(c.path, c.why);
    throw new TsyncError('E_CONFLICTS', `${conflicts.length} path${conflicts.length === 1 ? '' : 's'} in ${root} changed since the manifest this bundle was made against; nothing was changed`);
  }
  const before = new Map(b.ops.map((op) => [op.do === 'delete' ? op.path : op.entry.path, t.local(op.do === 'delete' ? op.path : op.entry.path)]));
  for (const op of b.ops) {
    const p = op.do === 'delete' ? op.path : op.entry.path;
    const code = codeOf(op, before.get(p)!, done.has(p));
    if (code) o.events.item(code, p, op.do === 'delete' ? op.type : op.entry.type, op.do === 'link' ? op.entry.target! : '', op.do === 'delete' ? 0 : op.entry.size);
  }
  if (o.dryRun) return;
  await o.lock?.();

  // 1. stage
  const staged = new Map<string, string>();
  const tempDir = (rel: string): string => {
    try {
      return reachDir(root, partsOf(parentOf(rel)));
    } catch {
      return reachDir(root, []);
    }
  };
  const fail = (path: string, e: unknown) => o.events.warn({ path, code: 'E_PARTIAL', message: e instanceof TsyncError ? e.message : describeFsError(e) });
  const byData = new Map<number, FileOp>();
  for (const op of b.ops) {
    if (op.do !== 'file' || done.has(op.entry.path) || op.from.how === 'meta') continue;
    if (op.from.how !== 'copy') {
      byData.set(op.from.data, op);
      continue;
    }
    const src = pool.get(op.from.source)!;
    await stage(op, tempDir(op.entry.path), staged, fail, async (write) => {
      const fd = fs.openSync(src, NOFOLLOW);
      try {
        const buf = Buffer.alloc(CHUNK);
        for (let off = 0; ; ) {
          const { bytesRead } = await readAt(fd, buf, 0, CHUNK, off);
          if (bytesRead === 0) break;
          write(buf.subarray(0, bytesRead));
          off += bytesRead;
        }
      } finally {
        fs.closeSync(fd);
      }
    });
  }
  await forEachData(tarPath, async (n, body) => {
    const op = byData.get(n);
    if (!op) return;
    if (op.from.how === 'data') {
      await stage(op, tempDir(op.entry.path), staged, fail, async (write) => {
        for await (const c of body) write(c);
      });
      return;
    }
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(c);
    const { basis, blockSize } = op.from as Extract<FileOp['from'], { how: 'delta' }>;
    await stage(op, tempDir(op.entry.path), staged, fail, async (write) => {
      const fd = fs.openSync(pool.get(basis)!, NOFOLLOW);
      try {
        const basisSize = fs.fstatSync(fd).size;
        const patcher = new Patcher({ blockSize, basisSize });
        for (const d of decodeOps(Buffer.concat(parts), { blockCount: patcher.blockCount })) {
          for (const s of patcher.plan(d)) {
            if (s.kind === 'literal') write(s.data);
            else {
              const buf = Buffer.alloc(s.length);
              if (readFull(fd, buf, s.offset) !== s.length) throw new TsyncError('E_PARTIAL', 'the delta basis changed while it was read');
              write(buf);
            }
          }
        }
      } finally {
        fs.closeSync(fd);
      }
    });
  });

  // 2. place
  const del = b.header.delete;
  const clearWay = (rel: string, want: ManifestEntry['type']) => {
    const abs = t.abs(rel);
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (!st || (st.isDirectory() && want === 'd')) return;
    if (st.isDirectory()) {
      if (del) fs.rmSync(abs, { recursive: true, force: true });
      else {
        try {
          fs.rmdirSync(abs);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw e;
          throw new TsyncError('E_PARTIAL', `a directory with files in it stands where the bundle puts a ${want === 'l' ? 'link' : 'file'}; only a bundle made with --delete replaces it`);
        }
      }
    } else if (want === 'd') fs.rmSync(abs, { force: true });
  };
  for (const op of b.ops) {
    if (op.do === 'delete') continue;
    const p = op.entry.path;
    try {
      if (op.do === 'dir') {
        if (p !== '.') {
          reachDir(root, partsOf(parentOf(p)));
          clearWay(p, 'd');
          reachDir(root, partsOf(p), 0o700);
        }
      } else if (op.do === 'link') {
        if (done.has(p)) {
          setPathMeta(t.abs(p), op.entry, false, true);
          continue;
        }
        const dirAbs = reachDir(root, partsOf(parentOf(p)));
        clearWay(p, 'l');
        placeSymlink(dirAbs, t.abs(p), baseOf(p), op.entry.target!, op.entry.mtime);
      } else {
        const tmp = staged.get(p);
        if (!tmp) {
          if (done.has(p) || op.from.how === 'meta') setPathMeta(`${reachDir(root, partsOf(parentOf(p)))}/${baseOf(p)}`, op.entry, true, true);
          continue;
        }
        const dirAbs = reachDir(root, partsOf(parentOf(p)));
        clearWay(p, 'f');
        fs.renameSync(tmp, `${dirAbs}/${baseOf(p)}`);
        staged.delete(p);
      }
    } catch (e) {
      fail(p, e);
    }
  }

  // 3. delete, sweep, directory times
  for (const op of b.ops) {
    if (op.do !== 'delete' || done.has(op.path)) continue;
    try {
      let dirAbs: string;
      try {
        dirAbs = reachDir(root, partsOf(parentOf(op.path)));
      } catch (e) {
        // its directory went (replaced by a file or link of the new tree): so did it (a link is never followed)
        if (['ENOTDIR', 'ENOENT', 'ELOOP'].includes((e as NodeJS.ErrnoException).code ?? '')) continue;
        throw e;
      }
      const abs = `${dirAbs}/${baseOf(op.path)}`;
      const st = fs.lstatSync(abs, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) fs.rmdirSync(abs);
      else fs.rmSync(abs);
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOTEMPTY' ? 'kept: it holds files the manifest did not list' : null;
      fail(op.path, why ? new TsyncError('E_PARTIAL', why) : e);
    }
  }
  for (const tmp of staged.values()) dropTemp(fs, tmp);
  const swept = new Set<string>();
  for (const op of b.ops) {
    if (op.do !== 'file') continue;
    const d = parentOf(op.entry.path);
    if (swept.has(d)) continue;
    swept.add(d);
    try {
      cleanStaleTemps(reachDir(root, partsOf(d)));
    } catch {
      // gone or not a real directory: nothing of ours is there
    }
  }
  if (!swept.has('.')) cleanStaleTemps(root);
  for (const op of [...b.ops].reverse()) {
    if (op.do !== 'dir') continue;
    try {
      setPathMeta(op.entry.path === '.' ? root : `${reachDir(root, partsOf(parentOf(op.entry.path)))}/${baseOf(op.entry.path)}`, op.entry, true, true);
    } catch (e) {
      fail(op.entry.path, e);
    }
  }
}

/** one file's new content into a verified temporary in dirAbs (its mode and mtime set), recorded in staged */
async function stage(op: FileOp, dirAbs: string, staged: Map<string, string>, fail: (path: string, e: unknown) => void, fill: (write: (b: Uint8Array) => void) => Promise<void>): Promise<void> {
  const e = op.entry;
  let tmp: { fd: number; path: string } | null = null;
  try {
    tmp = openTemp(dirAbs, baseOf(e.path));
    const h = createHash('sha256');
    let size = 0;
    const fd = tmp.fd;
    await fill((b) => {
      h.update(b);
      size += b.length;
      for (let off = 0; off < b.length; ) off += fs.writeSync(fd, b, off, b.length - off);
    });
    if (size !== e.size || h.digest('hex') !== e.hash) throw new TsyncError('E_PARTIAL', `what the bundle built does not match the file's SHA-256 (${op.from.how}); kept the old file`);
    setFileMeta(fd, e);
    fs.closeSync(fd);
    tmp.fd = -1;
    staged.set(e.path, tmp.path);
  } catch (err) {
    if (tmp) {
      if (tmp.fd >= 0) fs.closeSync(tmp.fd);
      dropTemp(fs, tmp.path);
    }
    fail(e.path, err);
  }
}

