// The receiver's shared state and the helpers every part of it uses: what
// was asked for (pending), what is arriving, the destination root, the
// counts and the warnings. The receiver is built in layers, one file each,
// each class extending the one before: receive-core (this), receive-data
// (whole and delta data), receive-rounds (multi-round deltas),
// receive-finish (--delete, directory times), receive-entries (directories,
// links, metadata, asking for files), receiver (manifest intake, the run).

import * as fs from 'node:fs';
import type { Hash } from 'node:crypto';
import type { Connection } from '../link/connection.js';
import type { Entry, FileStatus, StartOptions } from '../wire/schema.js';
import { parentOf } from '../tree/paths.js';
import type { Action, Local, PlanOptions } from '../plan/oneway.js';
import { cleanStaleTemps, moveAside } from '../fs/apply.js';
import { backupPath, backupRoot } from '../fs/root.js';
import type { OpsDecoder, Patcher } from '../delta/index.js';
import type { Events } from '../cli/report.js';
import { emptyStats, type Stats } from '../cli/stats.js';
import type { Lock } from '../fs/lock.js';
import type { ProgressSnapshot } from '../cli/progress.js';
import type { FillFile } from './fill-receive.js';
import { ManifestIntake } from './manifest-intake.js';

export interface Pending {
  index: number;
  entry: Entry;
  /** where it goes, relative to the destination root */
  rel: string;
  abs: string;
  local: Local | null;
  action: Action;
  retried: boolean;
  basis: Basis | null;
  /** a multi-round delta in progress */
  fill?: FillFile | null;
}

export interface Incoming {
  p: Pending;
  fd: number;
  tmp: string;
  hash: Hash;
  written: number;
  size: number;
  /** when the data is a delta against the receiver's copy */
  delta: { basisFd: number; decoder: OpsDecoder; patcher: Patcher } | null;
}

/** the basis a signature was made from, as it was signed */
export interface Basis {
  path: string;
  size: number;
  blockSize: number;
}

export interface ReceiverConfig {
  /** the destination as the user named it (already ~-expanded), trailing slash kept */
  dest: string;
  options: StartOptions;
  key: Buffer;
  /**
   * Two-way pulls: which entries to take and under which relative name
   * (a conflict copy is pulled under another name); null passes an entry by.
   */
  select?: (e: Entry) => string | null;
  /** take the destination's lock, once its directory is known (not for a single file written under a new name) */
  lock?: (root: string) => Promise<Lock>;
  /** called as work is done, for --progress (it keeps its own pace) */
  progress?: () => void;
  /** the peer speaks multi-round deltas (capability 'delta:rounds') */
  rounds?: boolean;
}

/** the requested files, with the sum of their sizes (for progress) */
export class PendingMap extends Map<number, Pending> {
  bytes = 0;
  override set(k: number, v: Pending): this {
    if (!this.has(k)) this.bytes += v.entry.size;
    return super.set(k, v);
  }
  override delete(k: number): boolean {
    const v = this.get(k);
    if (v) this.bytes -= v.entry.size;
    return super.delete(k);
  }
}

export abstract class ReceiverCore {
  protected readonly pending = new PendingMap();
  protected held: Lock | null = null;
  protected incoming: Incoming | null = null;
  /** the file whose round's ops are arriving (multi-round deltas) */
  protected filling: Pending | null = null;
  /** every multi-round delta with a temporary or basis open */
  protected readonly fills = new Set<FillFile>();
  protected readonly stats: Stats = emptyStats();
  protected readonly dirs = new Map<string, { entry: Entry; abs: string; fix: boolean }>();
  protected readonly touched = new Set<string>();
  /** directories made by this run: no stale temporaries to look for there */
  protected readonly fresh = new Set<string>();
  protected readonly cleaned = new Set<string>();
  protected readonly copyBuf = Buffer.alloc(COPY_CHUNK);
  protected root = '';
  protected rename: string | null = null;
  protected createdRoot = false;
  /** directories passed by (select): their contents may follow, nothing is done to them */
  protected readonly passed = new Set<string>();
  /** directories that could not be made: nothing beneath them is touched */
  protected readonly failedDirs = new Set<string>();
  protected listDone = false;
  protected allDone: (() => void) | null = null;
  protected readonly windowUs: number;
  protected readonly planOpts: PlanOptions;
  protected readonly backupAbs: string | null;
  /** for directories tsync makes for itself: the user's umask */
  protected readonly dirMode: number;

  /** the manifest as it arrives, checked */
  protected readonly intake: ManifestIntake;

  constructor(
    protected readonly conn: Connection,
    protected readonly cfg: ReceiverConfig,
    protected readonly events: Events,
  ) {
    this.intake = new ManifestIntake(cfg.key);
    this.windowUs = Math.round(cfg.options.modifyWindow * 1e6);
    this.planOpts = { checksum: cfg.options.checksum, update: cfg.options.update, windowUs: this.windowUs };
    // modes are set exactly as the sender has them (files are created with their final mode)
    this.dirMode = 0o777 & ~process.umask(0);
    this.backupAbs = backupRoot(cfg.dest, cfg.options.backupDir);
  }

  // ---- provided by the layers above ---------------------------------------
  protected abstract askFill(p: Pending, basisPath: string): Promise<void>;
  protected abstract fillBegin(p: Pending, fill: FillFile, isDelta: boolean): void;
  protected abstract fillEnd(p: Pending, status: FileStatus, hash: Buffer, message: string): void;

  protected destRel(rel: string): string {
    if (this.rename === null) return rel;
    return rel === '.' ? rel : this.rename + rel.slice(rel.indexOf('/') < 0 ? rel.length : rel.indexOf('/'));
  }

  /** Remove what stands where an entry of another type must go; false if it must stay. */
  protected makeWay(rel: string, abs: string, local: Local): boolean {
    if (local.type === 'd' && !this.cfg.options.delete) {
      const empty = this.cfg.options.dryRun || fs.readdirSync(abs).length === 0;
      if (!empty) {
        this.problem(rel, 'E_PARTIAL', 'a non-empty directory is in the way (use --delete to replace it)');
        return false;
      }
    }
    if (this.cfg.options.dryRun) return true;
    if (this.backupAbs) moveAside(abs, this.backupPath(rel), this.dirMode);
    else fs.rmSync(abs, { recursive: true, force: true });
    return true;
  }

  protected backupPath(rel: string): string {
    return backupPath(this.backupAbs!, rel);
  }

  /** Before the first write into a directory this run did not make: remove an interrupted earlier run's temporaries there. */
  protected sweepOnce(dir: string): void {
    if (this.cleaned.has(dir) || this.fresh.has(dir)) return;
    this.cleaned.add(dir);
    cleanStaleTemps(dir);
  }

  protected touch(rel: string): void {
    this.touched.add(parentOf(rel));
  }

  protected drain(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.allDone = resolve;
    });
  }

  protected maybeDone(): void {
    if (this.listDone && this.pending.size === 0 && this.allDone) {
      const f = this.allDone;
      this.allDone = null;
      f();
    }
  }

  /** How far the run is: files and bytes settled of those listed so far, and the file arriving now. */
  progress(): ProgressSnapshot {
    const inc = this.incoming;
    return {
      files: this.stats.files - this.pending.size,
      totalFiles: this.stats.files,
      bytes: this.stats.totalSize - this.pending.bytes + (inc ? inc.written : 0),
      totalBytes: this.stats.totalSize,
      moved: this.stats.bytesLiteral + this.stats.bytesMatched,
      listing: !this.listDone,
      path: inc ? this.destRel(inc.p.entry.path) : '',
      size: inc ? inc.size : 0,
      done: inc ? inc.written : 0,
    };
  }

  protected problem(rel: string, code: string, message: string): void {
    this.events.warn({ path: rel, code, message });
  }
}

/** basis bytes are copied in pieces of at most this size */
export const COPY_CHUNK = 1 << 20;

export function parentAbs(abs: string): string {
  return abs.slice(0, abs.lastIndexOf('/')) || '/';
}
