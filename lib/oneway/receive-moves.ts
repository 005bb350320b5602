// Moves and renames (capability 'moves'): a file whose content the
// receiver already has under another name is made from that copy instead
// of crossing the wire. For a file to be fetched whose size matches a file
// the receiver holds (move-index.ts), the receiver asks the sender for the
// file's hash only; the pipeline goes on meanwhile. A candidate whose hash
// matches is hard-linked to a temporary beside the target (or copied there,
// hashed on the way), checked to be the very file that was hashed, and
// kept until the end of the run. Then, after --delete (and a two-way
// run's deletions), each temporary that no other name holds any more is
// renamed into place: the move; one that another name still holds is
// copied, verified, and that copy installed. No candidate matched: the
// file is fetched, as a delta against a similar file when it has no copy
// of its own (rsync's --fuzzy, tree-wide).

import { createHash } from 'node:crypto';
import { ReqFlag } from '../wire/schema.js';
import { baseOf } from '../tree/paths.js';
import { dropTemp, hashFile, openTemp, tempName } from '../fs/apply.js';
import { DELTA_MIN, NOFOLLOW, readFull } from './source.js';
import { TsyncError, describeFsError } from '../errors.js';
import { MoveIndex, MOVE_MIN, type Candidate } from './move-index.js';
import { parentAbs, type Pending } from './receive-core.js';
import { ReceiveFinish } from './receive-finish.js';

export abstract class ReceiveMoves extends ReceiveFinish {
  private index: MoveIndex | null = null;

  /** moves are on: negotiated, a real run, a tree (not one file under a new name) */
  private get moving(): boolean {
    return this.cfg.moves === true && !this.cfg.options.dryRun && this.rename === null;
  }

  /** what the receiver holds, walked once, on first need */
  private moveIndex(): MoveIndex {
    if (!this.index) {
      const b = this.backupAbs;
      const protect = b && b.startsWith(`${this.root}/`) ? b.slice(this.root.length + 1) : null;
      const skip = (rel: string) => protect !== null && (rel === protect || rel.startsWith(`${protect}/`));
      this.index = MoveIndex.build(this.root, this.fs, skip, this.cfg.setAside ?? []);
    }
    return this.index;
  }

  /** Ask for p's hash before its data: some file here has its size. */
  protected askHash(p: Pending): boolean {
    if (!this.moving || p.entry.size < MOVE_MIN) return false;
    return this.moveIndex().hasSameSize(p.entry.size, p.rel);
  }

  /** a file here to send p as a delta against, when p has no copy of its own */
  protected fuzzyBasis(p: Pending): string | null {
    if (!this.moving || p.entry.size < DELTA_MIN) return null;
    return this.moveIndex().fuzzy(p.rel, p.entry.size, DELTA_MIN)?.abs ?? null;
  }

  /** Ask for p's content: whole, or as a delta against our copy or a similar file. */
  protected fetch(p: Pending): Promise<void> | void {
    const local = p.local;
    if (local && local.type === 'f' && local.size >= DELTA_MIN) return this.askDelta(p, p.abs);
    const basis = local && local.type === 'f' ? null : this.fuzzyBasis(p);
    if (basis) return this.askDelta(p, basis);
    this.conn.send({ t: 'req', index: p.index, flags: 0, check: Buffer.alloc(0), sig: Buffer.alloc(0) });
  }

  protected askByHash(p: Pending, check: Buffer): void {
    p.hashAsked = true;
    this.conn.send({ t: 'req', index: p.index, flags: ReqFlag.Hash, check, sig: Buffer.alloc(0) });
  }

  protected hashed(p: Pending, hash: Buffer): void {
    if (!this.moving) throw new TsyncError('E_PROTOCOL', `a hash for file ${p.index} where none was asked for`);
    this.fromLocal(p, hash).then(
      (done) => {
        if (!done) void this.fetch(p);
      },
      (err) => {
        if (err instanceof TsyncError) return this.conn.abort(err);
        this.problem(p.rel, 'E_PARTIAL', describeFsError(err));
        this.pending.delete(p.index);
        this.maybeDone();
      },
    );
  }

  /** A candidate with p's hash, staged beside p's target; false if none. */
  private async fromLocal(p: Pending, hash: Buffer): Promise<boolean> {
    for (const c of this.moveIndex().sameSize(p.entry.size, p.rel)) {
      const h = await this.candidateHash(c);
      if (!h || !h.equals(hash)) continue;
      // the session may have ended while we hashed
      if (this.conn.error || !this.pending.has(p.index)) return true;
      const tmp = this.stage(p, c, hash);
      if (!tmp) continue;
      this.staged.set(p.index, { p, tmp, hash, setAside: c.gone ? c.abs : null });
      this.maybeDone();
      return true;
    }
    return false;
  }

  /** c's SHA-256, once; null when it cannot be read or changed while it was read */
  private candidateHash(c: Candidate): Promise<Buffer | null> {
    c.hash ??= (async () => {
      try {
        const before = this.fs.lstatSync(c.abs, { bigint: true });
        if (!before.isFile() || Number(before.ino) !== c.ino || before.mtimeNs !== c.mtimeNs || Number(before.size) !== c.size) return null;
        const h = await hashFile(c.abs, this.fs);
        const after = this.fs.lstatSync(c.abs, { bigint: true });
        return after.ino === before.ino && after.mtimeNs === before.mtimeNs && after.size === before.size ? h : null;
      } catch {
        return null;
      }
    })();
    return c.hash;
  }

  /**
   * A temporary beside p's target with c's content: a hard link to c that
   * is checked to be the inode that was hashed, unchanged; where links
   * fail, a copy hashed on the way. Null if neither holds p's content.
   */
  private stage(p: Pending, c: Candidate, hash: Buffer): string | null {
    const dir = parentAbs(p.abs);
    this.sweepOnce(dir);
    const tmp = `${dir}/${tempName(baseOf(p.abs))}`;
    try {
      this.fs.linkSync(c.abs, tmp);
    } catch {
      const copy = this.copyVerified(c.abs, p, hash);
      if (copy) this.fs.closeSync(copy.fd);
      return copy?.path ?? null;
    }
    const st = this.fs.lstatSync(tmp, { bigint: true, throwIfNoEntry: false });
    if (!st || !st.isFile() || Number(st.ino) !== c.ino || st.mtimeNs !== c.mtimeNs || Number(st.size) !== p.entry.size) {
      dropTemp(this.fs, tmp);
      return null;
    }
    return tmp;
  }

  /** Copy from (opened without following links) to a new temporary beside p's target; kept only if its hash is p's. */
  private copyVerified(from: string, p: Pending, hash: Buffer): { fd: number; path: string } | null {
    const src = this.fs.openSync(from, NOFOLLOW);
    let out: { fd: number; path: string } | null = null;
    try {
      out = openTemp(parentAbs(p.abs), baseOf(p.abs), p.entry.mode, undefined, this.fs);
      const h = createHash('sha256');
      let at = 0;
      for (;;) {
        const n = readFull(src, this.copyBuf, at);
        if (n === 0) break;
        const chunk = this.copyBuf.subarray(0, n);
        h.update(chunk);
        for (let off = 0; off < n; ) off += this.fs.writeSync(out.fd, chunk, off, n - off);
        at += n;
        if (at > p.entry.size) break;
      }
      if (at === p.entry.size && h.digest().equals(hash)) return out;
    } catch {
      // a copy that cannot be made is no copy: the file is fetched
    } finally {
      this.fs.closeSync(src);
    }
    if (out) {
      this.fs.closeSync(out.fd);
      dropTemp(this.fs, out.path);
    }
    return null;
  }

  /**
   * The end of the run, after deletions: every staged file into place.
   * Returns true when some had to be asked for again (the caller drains).
   */
  protected installMoves(): boolean {
    let asked = false;
    const all = [...this.staged.values()].sort((a, b) => a.p.index - b.p.index);
    // set-aside deletions go now: the links made from them are what keeps their content
    for (const s of all) if (s.setAside) this.fs.rmSync(s.setAside, { force: true });
    for (const s of all) {
      const p = s.p;
      this.staged.delete(p.index);
      let made: { fd: number; path: string } | null = null;
      try {
        const st = this.fs.lstatSync(s.tmp, { throwIfNoEntry: false });
        if (st && st.isFile() && st.nlink === 1) {
          // nothing else holds this inode now: installing it is the move
          made = { fd: this.fs.openSync(s.tmp, NOFOLLOW), path: s.tmp };
        } else if (st) {
          // another name still has it (kept, or in --backup-dir): a copy of its own, verified
          made = this.copyVerified(s.tmp, p, s.hash);
          dropTemp(this.fs, s.tmp);
        }
      } catch {
        made = null;
      }
      if (!made) {
        dropTemp(this.fs, s.tmp);
        this.conn.send({ t: 'req', index: p.index, flags: 0, check: Buffer.alloc(0), sig: Buffer.alloc(0) });
        asked = true;
        continue;
      }
      try {
        this.install(p, { fd: made.fd, tmp: made.path }, p.rel);
        this.stats.bytesMatched += p.entry.size;
      } catch (err) {
        if (err instanceof TsyncError) throw err;
        this.problem(p.rel, 'E_PARTIAL', describeFsError(err));
      }
      this.pending.delete(p.index);
    }
    this.cfg.progress?.();
    return asked;
  }

  override abandon(): void {
    for (const s of this.staged.values()) dropTemp(this.fs, s.tmp);
    this.staged.clear();
    super.abandon();
  }
}
