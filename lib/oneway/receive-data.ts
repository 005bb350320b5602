// The receiver's incoming file data, whole or as a delta against its basis:
// FILE_BEGIN opens a temporary beside the target, DATA is written and
// hashed (synchronously: backpressure comes from not reading), FILE_END
// verifies the whole-file hash and installs by rename, or asks once more
// for the whole file.

import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { FileStatus } from '../wire/schema.js';
import { baseOf } from '../tree/paths.js';
import { sameTime } from '../plan/oneway.js';
import { dropTemp, keepCopy, openTemp, readLocal, setFileMeta, setPathMeta } from '../fs/apply.js';
import { OpsDecoder, Patcher, ROUNDS_MIN } from '../delta/index.js';
import { basisBlockSize, readFull, signFile } from './source.js';
import { describeFsError, TsyncError } from '../errors.js';
import { partialOf } from './receive-partial.js';
import { COPY_CHUNK, parentAbs, ReceiverCore, type Incoming, type Pending } from './receive-core.js';

export abstract class ReceiveData extends ReceiverCore {
  /** Ask for a delta against a basis (our copy, or --partial's leftover): sign it, then request. */
  protected askDelta(p: Pending, basisPath: string): Promise<void> {
    if (this.cfg.rounds && (this.fs.lstatSync(basisPath, { throwIfNoEntry: false })?.size ?? 0) >= ROUNDS_MIN) return this.askFill(p, basisPath);
    return signFile(basisPath, this.fs).then(
      ({ sig, size }) => {
        p.basis = { path: basisPath, size, blockSize: basisBlockSize(size).blockSize };
        this.conn.send({ t: 'req', index: p.index, flags: 0, check: Buffer.alloc(0), sig });
      },
      (err) => {
        this.pending.delete(p.index);
        this.problem(p.rel, 'E_PARTIAL', describeFsError(err));
        this.maybeDone();
      },
    );
  }

  /** after a failed verification: once more, whole (true), or give up (false) */
  protected retryWhole(p: Pending, rel: string): boolean {
    if (!p.retried) {
      // never a wrong file, never a silent skip
      p.retried = true;
      p.basis = null;
      this.conn.send({ t: 'req', index: p.index, flags: 0, check: Buffer.alloc(0), sig: Buffer.alloc(0) });
      return true;
    }
    this.problem(rel, 'E_PARTIAL', 'received data failed verification twice');
    return false;
  }

  protected fileBegin(index: number, size: number, isDelta: boolean): void {
    const p = this.pending.get(index);
    if (!p || this.incoming || this.filling) throw new TsyncError('E_PROTOCOL', `file data for ${index} that was not requested`);
    if (size !== p.entry.size) throw new TsyncError('E_PROTOCOL', `file ${index} announced with ${size} bytes, listed with ${p.entry.size}`);
    if (p.fill) return this.fillBegin(p, p.fill, isDelta);
    if (p.hashAsked) throw new TsyncError('E_PROTOCOL', `data for file ${index}, of which only the hash was asked for`);
    if (isDelta && !p.basis) throw new TsyncError('E_PROTOCOL', `a delta for file ${index}, for which no signature was sent`);
    const dir = parentAbs(p.abs);
    this.sweepOnce(dir);
    let delta: Incoming['delta'] = null;
    if (isDelta) {
      const { size: basisSize, blockSize } = p.basis!;
      // the basis is read through a descriptor opened without following links
      const basisFd = this.fs.openSync(p.basis!.path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      delta = { basisFd, decoder: new OpsDecoder({ blockCount: Math.ceil(basisSize / blockSize) }), patcher: new Patcher({ blockSize, basisSize, maxRange: COPY_CHUNK }) };
    }
    const { fd, path: tmp } = openTemp(dir, baseOf(p.abs), p.entry.mode, undefined, this.fs);
    this.incoming = { p, fd, tmp, hash: createHash('sha256'), written: 0, size, delta };
  }

  /** one piece of the new file: written to the temporary and hashed; false if it overruns the size */
  protected put(inc: Incoming, data: Buffer): void {
    if (inc.written + data.length > inc.size) {
      const path = inc.p.entry.path;
      this.discard();
      throw new TsyncError('E_PROTOCOL', `the sender sent more data than the size it announced for ${JSON.stringify(path)}`);
    }
    let off = 0;
    while (off < data.length) off += this.fs.writeSync(inc.fd, data, off, data.length - off);
    inc.hash.update(data);
    inc.written += data.length;
  }

  protected applyOps(inc: Incoming, data: Buffer): void {
    const d = inc.delta!;
    for (const op of d.decoder.push(data)) {
      for (const step of d.patcher.plan(op)) {
        if (step.kind === 'literal') {
          this.put(inc, step.data);
          this.stats.bytesLiteral += step.data.length;
          continue;
        }
        const buf = this.copyBuf.subarray(0, step.length);
        const n = readFull(d.basisFd, buf, step.offset);
        // a basis that shrank since it was signed: the hash check catches the rest
        this.put(inc, buf.subarray(0, n));
        this.stats.bytesMatched += n;
      }
    }
  }

  protected fileData(data: Buffer): void {
    if (this.filling) return this.filling.fill!.data(data, this.stats);
    const inc = this.incoming;
    if (!inc) throw new TsyncError('E_PROTOCOL', 'file data outside a file');
    if (inc.delta) {
      this.applyOps(inc, data);
      this.cfg.progress?.();
      return;
    }
    this.put(inc, data);
    this.stats.bytesLiteral += data.length;
    this.cfg.progress?.();
  }

  protected fileEnd(index: number, status: FileStatus, hash: Buffer, message: string): void {
    const p = this.pending.get(index);
    if (!p) throw new TsyncError('E_PROTOCOL', `end of file ${index} that was not requested`);
    const rel = p.rel;
    const inc = this.incoming;
    if (inc && inc.p !== p) throw new TsyncError('E_PROTOCOL', `end of file ${index} while receiving another`);
    if (p.fill || this.filling) return this.fillEnd(p, status, hash, message);
    try {
      switch (status) {
        case FileStatus.Same:
          if (inc) throw new TsyncError('E_PROTOCOL', 'a file was sent and declared unchanged');
          const mode = p.local !== null && p.local.mode !== p.entry.mode;
          const mtime = p.local !== null && !sameTime(p.local.mtime, p.entry.mtime, this.windowUs);
          if (mode || mtime) {
            setPathMeta(p.abs, p.entry, mode, mtime, this.fs);
            this.stats.metaOnly++;
            this.item(p.index, p.entry, p.local, 'meta', rel);
          } else this.stats.unchanged++;
          break;
        case FileStatus.Differs:
          if (p.hashAsked) throw new TsyncError('E_PROTOCOL', `a dry-run answer for file ${index}, of which the hash was asked for`);
          this.stats.updated++;
          this.item(p.index, p.entry, p.local, 'data', rel);
          break;
        case FileStatus.Failed:
          if (inc) this.discard();
          this.problem(rel, 'E_PARTIAL', `not sent: ${message}`);
          break;
        case FileStatus.Hashed:
          if (inc || !p.hashAsked || hash.length !== 32) throw new TsyncError('E_PROTOCOL', `a hash for file ${index} where none was asked for`);
          p.hashAsked = false;
          this.hashed(p, hash);
          return;
        case FileStatus.NeedSig:
          if (inc || p.basis || p.hashAsked || !p.local || p.local.type !== 'f') throw new TsyncError('E_PROTOCOL', `a signature asked for file ${index} where none fits`);
          void this.askDelta(p, p.abs);
          return;
        case FileStatus.Sent: {
          if (!inc) {
            // a zero-length file still has a begin; anything else is a lie
            throw new TsyncError('E_PROTOCOL', `file ${index} ended without data`);
          }
          if (inc.delta) {
            // still incoming: a failure here is discarded below with its temporary
            inc.delta.decoder.end();
            this.fs.closeSync(inc.delta.basisFd);
          }
          this.incoming = null;
          const digest = inc.hash.digest();
          if (inc.written !== inc.size || !digest.equals(hash)) {
            this.fs.closeSync(inc.fd);
            this.fs.rmSync(inc.tmp, { force: true });
            if (this.retryWhole(p, rel)) return;
            break;
          }
          this.install(p, inc, rel);
          break;
        }
      }
    } catch (err) {
      if (err instanceof TsyncError) throw err;
      if (this.incoming) this.discard();
      this.problem(rel, 'E_PARTIAL', describeFsError(err));
    }
    this.pending.delete(index);
    this.cfg.progress?.();
    this.maybeDone();
  }

  /**
   * A verified temporary to its final name, with the sender's mode and
   * mtime. Whatever fails before the rename (the metadata, the close, a
   * backup) takes the temporary with it: nothing is left half-installed.
   */
  protected install(p: Pending, inc: { fd: number; tmp: string }, rel: string): void {
    try {
      try {
        setFileMeta(inc.fd, p.entry, this.fs);
      } finally {
        this.fs.closeSync(inc.fd);
      }
      if (!p.local && !this.backupAbs && this.fastRename(inc.tmp, p.abs)) {
        this.installed(p, rel);
        return;
      }
      // re-read what is in the way now: never act on a stale view
      const now = readLocal(p.abs, this.fs);
      if (now && now.type !== 'f') {
        if (!this.makeWay(rel, p.abs, now)) {
          this.fs.rmSync(inc.tmp, { force: true });
          return;
        }
      } else if (now && this.backup) keepCopy(p.abs, this.backupPath(rel), this.fs);
      this.fs.renameSync(inc.tmp, p.abs);
    } catch (err) {
      dropTemp(this.fs, inc.tmp);
      throw err;
    }
    this.installed(p, rel);
  }

  /** Nothing was there when we looked: rename, unless something of another type appeared. */
  protected fastRename(tmp: string, abs: string): boolean {
    try {
      this.fs.renameSync(tmp, abs);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') return false;
      throw err;
    }
  }

  protected installed(p: Pending, rel: string): void {
    if (this.cfg.options.partial) this.fs.rmSync(partialOf(p.abs), { force: true });
    this.touch(rel);
    if (p.local && p.local.type === 'f') this.stats.updated++;
    else this.stats.created++;
    this.item(p.index, p.entry, p.local, p.local && p.local.type === 'f' ? 'data' : 'new', rel);
  }

  protected discard(): void {
    const inc = this.incoming;
    if (!inc) return;
    this.incoming = null;
    for (const fd of [inc.fd, inc.delta?.basisFd]) {
      try {
        if (fd !== undefined) this.fs.closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    dropTemp(this.fs, inc.tmp);
  }

  /**
   * Called on a fatal error: leave no temporary file behind. With --partial
   * what arrived of the current file is kept aside as its partial file.
   */
  abandon(): void {
    this.held?.release();
    const filling = this.filling;
    this.filling = null;
    for (const fill of this.fills) {
      if (filling?.fill === fill && this.cfg.options.partial && fill.written > 0) {
        // holes read as zeros: still a good basis for the next run
        fill.closeBasis();
        this.fs.closeSync(fill.fd);
        this.fs.renameSync(fill.tmp, partialOf(filling.abs));
      } else fill.discard();
    }
    this.fills.clear();
    const inc = this.incoming;
    if (inc && this.cfg.options.partial && inc.written > 0) {
      this.incoming = null;
      for (const fd of [inc.fd, inc.delta?.basisFd]) if (fd !== undefined) this.fs.closeSync(fd);
      this.fs.renameSync(inc.tmp, partialOf(inc.p.abs));
      return;
    }
    this.discard();
  }
}
