// The receiver's side of multi-round deltas over the wire (capability
// 'delta:rounds'): sign the basis for each round, take each round's ops
// into the file's holes (FillFile, lib/oneway/fill-receive.ts), and after
// the last round check the whole file and install it.

import * as fs from 'node:fs';
import { FileStatus } from '../wire/schema.js';
import { baseOf } from '../tree/paths.js';
import { openTemp } from '../fs/apply.js';
import { describeFsError, TsyncError } from '../errors.js';
import { FillFile } from './fill-receive.js';
import { parentAbs, type Pending } from './receive-core.js';
import { ReceiveData } from './receive-data.js';

export abstract class ReceiveRounds extends ReceiveData {
  /** A multi-round delta: sign the basis for round 1 and ask. */
  protected askFill(p: Pending, basisPath: string): Promise<void> {
    let fill: FillFile;
    try {
      fill = FillFile.open(basisPath, p.entry.size, this.fs);
    } catch (err) {
      return Promise.resolve(this.fillFailed(p, null, err));
    }
    this.fills.add(fill);
    p.fill = fill;
    p.basis = { path: basisPath, size: fill.basisSize, blockSize: 0 };
    return this.nextRound(p, fill);
  }

  protected nextRound(p: Pending, fill: FillFile): Promise<void> {
    return fill.sign().then(
      ({ sig, holeMin }) => void this.conn.send({ t: 'req_fill', index: p.index, holeMin, sig }),
      (err) => this.fillFailed(p, fill, err),
    );
  }

  /** a multi-round delta failed here (I/O): the file is not done */
  protected fillFailed(p: Pending, fill: FillFile | null, err: unknown): void {
    const message = typeof err === 'string' ? err : err instanceof Error && !(err as NodeJS.ErrnoException).code ? err.message : describeFsError(err);
    if (fill) {
      fill.discard();
      this.fills.delete(fill);
    }
    p.fill = null;
    this.pending.delete(p.index);
    this.problem(p.rel, 'E_PARTIAL', message);
    this.maybeDone();
  }

  /** the last round ended: check the whole-file hash (re-read), then install or retry whole */
  protected finishFill(p: Pending, fill: FillFile, hash: Buffer): void {
    fill.closeBasis();
    fill.digest().then(
      (digest) => {
        this.fills.delete(fill);
        p.fill = null;
        if (!digest.equals(hash)) {
          fill.discard();
          return this.retryWhole(p, p.rel) ? undefined : this.fillDone(p);
        }
        try {
          this.install(p, { fd: fill.fd, tmp: fill.tmp }, p.rel);
        } catch (err) {
          this.fs.rmSync(fill.tmp, { force: true });
          this.problem(p.rel, 'E_PARTIAL', describeFsError(err));
        }
        this.fillDone(p);
      },
      (err) => this.fillFailed(p, fill, err),
    );
  }

  protected fillDone(p: Pending): void {
    this.pending.delete(p.index);
    this.maybeDone();
  }

  protected fillBegin(p: Pending, fill: FillFile, isDelta: boolean): void {
    if (!isDelta) throw new TsyncError('E_PROTOCOL', `whole data for file ${p.index}, for which a delta round was asked`);
    if (fill.fd < 0) {
      const dir = parentAbs(p.abs);
      this.sweepOnce(dir);
      const { fd, path: tmp } = openTemp(dir, baseOf(p.abs), p.entry.mode, fs.constants.O_RDWR, this.fs);
      fill.fd = fd;
      fill.tmp = tmp;
    }
    fill.begin();
    this.filling = p;
  }

  /** FILE_END of a round of a multi-round delta */
  protected fillEnd(p: Pending, status: FileStatus, hash: Buffer, message: string): void {
    const fill = p.fill;
    if (!fill || (this.filling && this.filling !== p)) throw new TsyncError('E_PROTOCOL', `end of file ${p.index} while receiving another`);
    const begun = this.filling === p;
    this.filling = null;
    if (status === FileStatus.Failed) return this.fillFailed(p, fill, `not sent: ${message}`);
    if (!begun || (status !== FileStatus.Sent && status !== FileStatus.Holes)) throw new TsyncError('E_PROTOCOL', `file ${p.index} ended with status ${status} in a delta round`);
    if (status === FileStatus.Sent && hash.length !== 32) throw new TsyncError('E_PROTOCOL', `file ${p.index} ended without its hash`);
    if (fill.end(status === FileStatus.Holes)) void this.nextRound(p, fill);
    else this.finishFill(p, fill, hash);
  }
}
