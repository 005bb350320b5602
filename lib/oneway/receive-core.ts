// The receiver's shared state and the helpers every part of it uses: what
// was asked for (pending), what is arriving, the destination root, the
// counts and the warnings. The receiver is built in layers, one file each,
// each class extending the one before: receive-core (this), receive-data
// (whole and delta data), receive-rounds (multi-round deltas),
// receive-finish (--delete, directory times), receive-entries (directories,
// links, metadata, asking for files), receiver (manifest intake, the run).

import { realFs, type FileSystem } from '../fs/seam.js';
import { dryRunFs } from '../fs/dry-run.js';
import type { Hash } from 'node:crypto';
import type { Connection } from '../link/connection.js';
import type { Entry, FileStatus, StartOptions } from '../wire/schema.js';
import { parentOf } from '../tree/paths.js';
import { itemize, type Action, type Local, type PlanOptions } from '../plan/oneway.js';
import { cleanStaleTemps, moveAside } from '../fs/apply.js';
import { backupRoot } from '../fs/root.js';
import { backupTarget, inBackup, reachDir, type BackupPlace } from '../fs/nofollow.js';
import type { OpsDecoder, Patcher } from '../delta/index.js';
import type { Events } from '../cli/report.js';
import { emptyStats, type Stats } from '../cli/stats.js';
import type { Lock } from '../fs/lock.js';
import type { ProgressSnapshot } from '../cli/progress.js';
import type { FillFile } from './fill-receive.js';
import { ManifestIntake } from './manifest-intake.js';
import { InOrder } from './item-order.js';

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
  /** asked for its hash only (moves): the answer is Hashed or Same, never data */
  hashAsked?: boolean;
}

/** a file made from the receiver's own copy (receive-moves.ts), installed at the end of the run */
export interface Staged {
  p: Pending;
  /** a link to the candidate's inode (or a verified copy of it) beside the target */
  tmp: string;
  hash: Buffer;
  /** the candidate is a two-way deletion set aside: removed before the install */
  setAside: string | null;
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
  /** the destination's file system (lib/fs/seam.ts): the real one unless a test stands in */
  fs?: FileSystem;
  /** the peer answers hash-only requests (capability 'moves'): files are made from local copies where they match */
  moves?: boolean;
  /** files a two-way run's deletions set aside (lib/twoway/ops.ts): candidates that nothing keeps */
  setAside?: readonly { rel: string; abs: string }[];
}

/**
 * The requested files, with the sum of their sizes (for progress). A file
 * asked for opens its index in the itemized order; settling it (every path
 * out of pending says its line first) lets the lines behind it follow.
 */
export class PendingMap extends Map<number, Pending> {
  bytes = 0;
  constructor(private readonly order: InOrder) {
    super();
  }
  override set(k: number, v: Pending): this {
    if (!this.has(k)) {
      this.bytes += v.entry.size;
      this.order.begin(k);
    }
    return super.set(k, v);
  }
  override delete(k: number): boolean {
    const v = this.get(k);
    if (v) {
      this.bytes -= v.entry.size;
      this.order.end(k);
    }
    return super.delete(k);
  }
}

export abstract class ReceiverCore {
  /** itemized lines in manifest order, in a real run as in a dry run */
  private readonly order = new InOrder();
  protected readonly pending = new PendingMap(this.order);
  protected held: Lock | null = null;
  protected incoming: Incoming | null = null;
  /** requested files made from a local copy, waiting in pending for the end of the run */
  protected readonly staged = new Map<number, Staged>();
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
  /** where backups go, reached without following a link (known once the root is) */
  protected backup: BackupPlace | null = null;
  /** directories tsync makes for itself (the root, backups): the kernel applies the user's umask */
  protected readonly dirMode = 0o777;
  /** directories (relative to the root) found to be real directories, not links, on the way down */
  protected readonly realDirs = new Set<string>();

  /** the manifest as it arrives, checked */
  protected readonly intake: ManifestIntake;
  /** every call on the destination goes through this */
  protected readonly fs: FileSystem;

  constructor(
    protected readonly conn: Connection,
    protected readonly cfg: ReceiverConfig,
    protected readonly events: Events,
  ) {
    // a dry run reads the destination and changes nothing of it: one wrapper, not a guard before each write
    this.fs = cfg.options.dryRun ? dryRunFs(cfg.fs ?? realFs) : (cfg.fs ?? realFs);
    this.intake = new ManifestIntake(cfg.key);
    this.windowUs = Math.round(cfg.options.modifyWindow * 1e6);
    this.planOpts = { checksum: cfg.options.checksum, update: cfg.options.update, windowUs: this.windowUs };
    // modes are set exactly as the sender has them, through the descriptor (fchmod): the process umask is left alone
    this.backupAbs = backupRoot(cfg.dest, cfg.options.backupDir);
  }

  // ---- provided by the layers above ---------------------------------------
  protected abstract askFill(p: Pending, basisPath: string): Promise<void>;
  protected abstract fillBegin(p: Pending, fill: FillFile, isDelta: boolean): void;
  protected abstract fillEnd(p: Pending, status: FileStatus, hash: Buffer, message: string): void;
  /** the sender's hash of a file asked for by hash (moves) */
  protected abstract hashed(p: Pending, hash: Buffer): void;

  protected destRel(rel: string): string {
    if (this.rename === null) return rel;
    return rel === '.' ? rel : this.rename + rel.slice(rel.indexOf('/') < 0 ? rel.length : rel.indexOf('/'));
  }

  /** Remove what stands where an entry of another type must go; false if it must stay. */
  protected makeWay(rel: string, abs: string, local: Local): boolean {
    if (local.type === 'd' && !this.cfg.options.delete) {
      const empty = this.cfg.options.dryRun || this.fs.readdirSync(abs).length === 0;
      if (!empty) {
        this.problem(rel, 'E_PARTIAL', 'a non-empty directory is in the way (use --delete to replace it)');
        return false;
      }
    }
    if (this.backup) moveAside(abs, this.backupPath(rel), this.fs);
    else this.fs.rmSync(abs, { recursive: true, force: true });
    // what was a directory here is no longer known to be one
    for (const d of this.realDirs) if (d === rel || d.startsWith(`${rel}/`)) this.realDirs.delete(d);
    return true;
  }

  /** where rel's backup goes: its directories made on a walk that follows no link */
  protected backupPath(rel: string): string {
    // a dry run makes no backup directory: the path is named, and the move to it is dropped
    if (this.cfg.options.dryRun) return [this.backup!.anchor, ...this.backup!.prefix, rel].join('/');
    return backupTarget(this.backup!, rel, this.dirMode, this.fs);
  }

  /**
   * Why an entry must not be written at rel, or null: it is the backup
   * directory or inside it (a link listed there would carry the backups
   * anywhere), it is the same file on a folding destination as an entry
   * listed before it, or a directory above it is not a real directory.
   */
  protected refusedName(rel: string): string | null {
    const fold = (p: string) => this.intake.fold(p);
    if (this.backup && this.backup.insideRel !== null && inBackup({ ...this.backup, insideRel: fold(this.backup.insideRel) }, fold(rel))) {
      return 'at or under the backup directory: not written (it holds the backups of this run)';
    }
    const folded = this.intake.collide(rel);
    if (!folded.ok) return folded.why;
    if (!this.parentsReal(rel)) return 'a directory above it is a symbolic link or not a directory: not written through it';
    return null;
  }

  /** Every directory above rel is a real directory (an lstat walk from the root, each directory once). */
  private parentsReal(rel: string): boolean {
    const parent = parentOf(rel);
    if (parent === '.' || this.realDirs.has(parent)) return true;
    // a dry run has not made what it would make
    if (this.cfg.options.dryRun) return true;
    try {
      reachDir(this.root, parent.split('/'), undefined, this.fs);
    } catch (err) {
      // not there yet is for the act to find out; a link or a file in the way is refused
      return (err as NodeJS.ErrnoException).code === 'ENOENT';
    }
    for (let d = parent; d !== '.'; d = parentOf(d)) this.realDirs.add(d);
    return true;
  }

  /** Before the first write into a directory this run did not make: remove an interrupted earlier run's temporaries there. */
  protected sweepOnce(dir: string): void {
    if (this.cleaned.has(dir) || this.fresh.has(dir)) return;
    this.cleaned.add(dir);
    cleanStaleTemps(dir, this.fs);
  }

  protected touch(rel: string): void {
    this.touched.add(parentOf(rel));
  }

  protected drain(): Promise<void> {
    if (this.pending.size === this.staged.size) return Promise.resolve();
    return new Promise((resolve) => {
      this.allDone = resolve;
    });
  }

  protected maybeDone(): void {
    if (this.listDone && this.pending.size === this.staged.size && this.allDone) {
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

  /**
   * The itemized line of manifest entry index, said in manifest order. A
   * file copied under another name is named as the source names it, as
   * rsync does (`tsync a.txt b.txt` says `a.txt`).
   */
  protected item(index: number, e: Entry, local: Local | null, how: 'new' | 'data' | 'meta', rel: string): void {
    const shown = this.rename === null ? rel : e.path;
    this.order.say(index, () => this.events.item(itemize(e, local, how, this.planOpts), shown, e.type, e.target ?? '', e.size));
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
