// The receiving role: reads the sender's manifest, decides per entry (pure
// planner), asks for what it needs, writes it under temporary names,
// verifies, renames; then deletions and directory metadata. Never follows a
// symlink inside the destination, never writes outside it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, type Hash } from 'node:crypto';
import type { Connection } from './connection.js';
import { decodeEntries, FileStatus, ReqFlag, type Entry, type Message, type StartOptions } from './wire/schema.js';
import { DecodeError } from './wire/codec.js';
import { MacChain, macEqual } from './tree/manifest.js';
import { checkRelPath, parentOf, baseOf, under } from './tree/paths.js';
import { Filter, isReserved, TMP_PREFIX } from './tree/filter.js';
import { findExtraneous } from './prune.js';
import { decide, itemize, sameTime, type Action, type Local, type PlanOptions } from './plan/oneway.js';
import { cleanStaleTemps, hashFile, keepCopy, moveAside, openTemp, partialName, placeSymlink, readLocal, setFileMeta, setPathMeta, tempStem } from './apply.js';
import { backupPlace, backupTarget, inBackup, reachDir, type BackupPlace } from './fs/nofollow.js';
import { NameGuard } from './fs/names.js';
import { destinationFolding } from './fs/probe.js';
import { AsyncQueue } from './queue.js';
import { OpsDecoder, Patcher } from './delta/index.js';
import { basisBlockSize, DELTA_MIN, readFull, signFile } from './source.js';
import { DELETE_CODE, type Events } from './report.js';
import { emptyStats, type Stats } from './stats.js';
import { describeFsError, TsyncError } from './errors.js';
import type { Lock } from './lock.js';
import type { ProgressSnapshot } from './progress.js';
import { FillFile } from './fill-receive.js';
import { ROUNDS_MIN } from './delta/index.js';

interface Pending {
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

interface Incoming {
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
interface Basis {
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
class PendingMap extends Map<number, Pending> {
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

export class Receiver {
  private readonly list = new AsyncQueue<Message>();
  private readonly pending = new PendingMap();
  private held: Lock | null = null;
  private incoming: Incoming | null = null;
  /** the file whose round's ops are arriving (multi-round deltas) */
  private filling: Pending | null = null;
  /** every multi-round delta with a temporary or basis open */
  private readonly fills = new Set<FillFile>();
  private readonly stats: Stats = emptyStats();
  private readonly dirs = new Map<string, { entry: Entry; abs: string; fix: boolean }>();
  private readonly touched = new Set<string>();
  /** directories made by this run: no stale temporaries to look for there */
  private readonly fresh = new Set<string>();
  private readonly cleaned = new Set<string>();
  private readonly mac: MacChain;
  private readonly copyBuf = Buffer.alloc(COPY_CHUNK);
  private root = '';
  private rename: string | null = null;
  private createdRoot = false;
  private singleFile = false;
  /** every path in the manifest so far: duplicates are refused */
  private readonly seen = new Set<string>();
  /** directories passed by (select): their contents may follow, nothing is done to them */
  private readonly passed = new Set<string>();
  /** directories that could not be made: nothing beneath them is touched */
  private readonly failedDirs = new Set<string>();
  private listDone = false;
  private allDone: (() => void) | null = null;
  private readonly windowUs: number;
  private readonly planOpts: PlanOptions;
  private readonly backupAbs: string | null;
  /** where backups go, reached without following a link (known once the root is) */
  private backup: BackupPlace | null = null;
  /** directories tsync makes for itself (the root, backups): the kernel applies the user's umask */
  private readonly dirMode = 0o777;
  /** the manifest's order, and names that are one file on a folding destination (made at the first entry) */
  private names: NameGuard | null = null;
  /** directories (relative to the root) found to be real directories, not links, on the way down */
  private readonly realDirs = new Set<string>();

  constructor(
    private readonly conn: Connection,
    private readonly cfg: ReceiverConfig,
    private readonly events: Events,
  ) {
    this.mac = new MacChain(cfg.key);
    this.windowUs = Math.round(cfg.options.modifyWindow * 1e6);
    this.planOpts = { checksum: cfg.options.checksum, update: cfg.options.update, windowUs: this.windowUs };
    this.backupAbs = null;
    // modes are set exactly as the sender has them, through the descriptor (fchmod): the process umask is left alone
    if (cfg.options.backupDir) {
      const destDir = cfg.dest.replace(/\/+$/, '') || '/';
      this.backupAbs = path.resolve(destDir, cfg.options.backupDir);
    }
  }

  /** Messages that arrived before this receiver ran (a two-way client reads the manifest first, to plan). */
  preload(messages: readonly Message[]): void {
    for (const m of messages) this.list.push(m);
  }

  async run(): Promise<Stats> {
    this.conn.onMessage((m) => this.onMessage(m));
    const head = await this.list.shift();
    if (head.t !== 'flist_head') throw new TsyncError('E_PROTOCOL', `expected the manifest header, got ${head.t}`);
    this.singleFile = head.singleFile;
    this.setupRoot(head.singleFile);
    if (this.backupAbs) this.backup = backupPlace(this.root, this.backupAbs);
    if (this.cfg.lock && this.rename === null) this.held = await this.cfg.lock(this.root);
    let count = 0;
    for (;;) {
      const m = await this.list.shift();
      if (m.t === 'flist') {
        const mac = this.mac.next(m.data);
        if (!macEqual(mac, m.mac)) throw new TsyncError('E_PROTOCOL', 'manifest batch failed verification (MAC mismatch)');
        let entries: Entry[];
        try {
          entries = decodeEntries(m.data);
        } catch (e) {
          throw new TsyncError('E_PROTOCOL', `bad manifest batch: ${(e as DecodeError).message}`);
        }
        for (const e of entries) {
          // once the session has failed, nothing more is done to the destination
          if (this.conn.error) throw this.conn.error;
          const slow = this.entry(count++, e);
          if (slow) await slow;
        }
        this.cfg.progress?.();
      } else if (m.t === 'flist_end') {
        if (this.conn.error) throw this.conn.error;
        if (m.count !== count || !macEqual(this.mac.final(count, m.ioErrors, this.singleFile), m.mac)) throw new TsyncError('E_PROTOCOL', 'manifest failed verification at its end (count or MAC mismatch)');
        this.listDone = true;
        await this.drain();
        if (this.cfg.options.delete) {
          if (m.ioErrors > 0) this.problem('', 'E_PARTIAL', 'the sender had I/O errors: not deleting anything');
          else this.deleteExtraneous();
        }
        this.finishDirs();
        this.held?.release();
        return this.stats;
      } else throw new TsyncError('E_PROTOCOL', `unexpected ${m.t} in the manifest`);
    }
  }

  private onMessage(m: Message): void {
    switch (m.t) {
      case 'flist_head':
      case 'flist':
      case 'flist_end':
        this.list.push(m);
        return;
      case 'file_begin':
        return this.fileBegin(m.index, m.size, m.delta);
      case 'data':
        return this.fileData(m.data);
      case 'file_end':
        return this.fileEnd(m.index, m.status, m.hash, m.message);
      case 'warn':
        this.events.warn({ path: m.path, code: m.code, message: m.message });
        return;
      default:
        throw new TsyncError('E_PROTOCOL', `unexpected ${m.t} message from the sender`);
    }
  }

  private setupRoot(singleFile: boolean): void {
    const dest = this.cfg.dest;
    const trailing = dest.endsWith('/');
    const clean = dest.replace(/\/+$/, '') || '/';
    const st = fs.statSync(clean, { throwIfNoEntry: false });
    if (singleFile && !trailing && !st?.isDirectory()) {
      // one file to a name that is not a directory: write it as that name
      this.root = path.dirname(clean);
      this.rename = path.basename(clean);
      if (!fs.statSync(this.root, { throwIfNoEntry: false })?.isDirectory()) throw new TsyncError('E_DEST_PARENT', `destination directory ${this.root} does not exist`);
      return;
    }
    this.root = clean;
    if (st && !st.isDirectory()) throw new TsyncError('E_DEST_PARENT', `destination ${clean} exists and is not a directory`);
    if (!st) {
      const parent = path.dirname(clean);
      if (!fs.statSync(parent, { throwIfNoEntry: false })?.isDirectory()) throw new TsyncError('E_DEST_PARENT', `destination's parent directory ${parent} does not exist`);
      if (!this.cfg.options.dryRun) fs.mkdirSync(clean, { mode: this.dirMode });
      this.createdRoot = true;
    }
  }

  private destRel(rel: string): string {
    if (this.rename === null) return rel;
    return rel === '.' ? rel : this.rename + rel.slice(rel.indexOf('/') < 0 ? rel.length : rel.indexOf('/'));
  }

  /** One manifest entry: validate, decide, act or ask. Synchronous unless it must hash a big file. */
  private entry(index: number, e: Entry): Promise<void> | void {
    const bad = checkRelPath(e.path);
    if (bad) throw new TsyncError('E_PROTOCOL', `the sender named an unsafe path (${bad}): ${JSON.stringify(e.path)}`);
    if (isReserved(e.path)) throw new TsyncError('E_PROTOCOL', `the sender named a reserved path: ${JSON.stringify(e.path)}`);
    if (this.seen.has(e.path)) throw new TsyncError('E_PROTOCOL', `duplicate path in manifest: ${JSON.stringify(e.path)}`);
    // several sources listed without a root entry come in command-line order at the top
    this.names ??= new NameGuard(destinationFolding(this.root, { dryRun: this.cfg.options.dryRun }), e.path !== '.');
    // a two-way pull replays the replica's manifest, which as a diff (twoway:diff) lists a changed file's directories when it reaches the file: parents first, siblings in any order
    const order = this.cfg.select ? { ok: true as const } : this.names.order(e.path);
    if (!order.ok) throw new TsyncError('E_PROTOCOL', order.why);
    this.seen.add(e.path);
    if (e.path !== '.') {
      const parent = parentOf(e.path);
      // a directory refused or not made still counts as listed: what is inside it is skipped below
      if (parent !== '.' && !this.dirs.has(parent) && !this.passed.has(parent) && !this.failedDirs.has(parent)) throw new TsyncError('E_PROTOCOL', `${JSON.stringify(e.path)} arrived before its directory (or under a non-directory)`);
    } else if (this.stats.entries > 0) {
      throw new TsyncError('E_PROTOCOL', 'the root entry must come first');
    } else if (e.type !== 'd') {
      // a root listed as a symlink would replace the destination with a link, and what follows would be written through it
      throw new TsyncError('E_PROTOCOL', 'the sender listed the transfer root as something other than a directory');
    }
    let rel = this.destRel(e.path);
    if (this.cfg.select) {
      const to = this.cfg.select(e);
      if (to === null) {
        if (e.type === 'd') this.passed.add(e.path);
        return;
      }
      rel = to;
    }
    this.stats.entries++;
    if (e.path !== '.' && this.failedDirs.has(parentOf(e.path))) {
      // its directory could not be made: never resolve a path through whatever stands there
      if (e.type === 'd') this.failedDirs.add(e.path);
      this.stats.skipped++;
      return;
    }
    const refused = this.refusedName(rel);
    if (refused) {
      if (e.type === 'd') this.failedDirs.add(e.path);
      this.stats.skipped++;
      return this.problem(rel, 'E_PARTIAL', refused);
    }
    if (e.type === 'f') {
      this.stats.files++;
      this.stats.totalSize += e.size;
    }
    const abs = under(this.root, rel);
    if (e.type === 'd') this.dirs.set(e.path, { entry: e, abs, fix: false });
    let local: Local | null;
    try {
      local = this.missingParent(e.path) ? null : readLocal(abs);
    } catch (err) {
      return this.problem(rel, 'E_PARTIAL', describeFsError(err));
    }
    if (rel === '.' && local && local.type !== 'd') throw new TsyncError('E_DEST_PARENT', `destination ${this.root} is not a directory`);
    const action = decide(e, local, this.planOpts);
    const onError = (err: unknown) => {
      if (err instanceof TsyncError) throw err;
      if (e.type === 'd') this.failedDirs.add(e.path);
      this.problem(rel, 'E_PARTIAL', describeFsError(err));
    };
    try {
      const slow = this.act(index, e, rel, abs, local, action);
      if (slow) return slow.catch(onError);
    } catch (err) {
      onError(err);
    }
  }

  /**
   * Why an entry must not be written at rel, or null: it is the backup
   * directory or inside it (a link listed there would carry the backups
   * anywhere), it is the same file on a folding destination as an entry
   * listed before it, or a directory above it is not a real directory.
   */
  private refusedName(rel: string): string | null {
    const fold = (p: string) => this.names!.fold(p);
    if (this.backup && this.backup.insideRel !== null && inBackup({ ...this.backup, insideRel: fold(this.backup.insideRel) }, fold(rel))) {
      return 'at or under the backup directory: not written (it holds the backups of this run)';
    }
    const folded = this.names!.collide(rel);
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
      reachDir(this.root, parent.split('/'));
    } catch (err) {
      // not there yet is for the act to find out; a link or a file in the way is refused
      return (err as NodeJS.ErrnoException).code === 'ENOENT';
    }
    for (let d = parent; d !== '.'; d = parentOf(d)) this.realDirs.add(d);
    return true;
  }

  /** in a dry run, directories that would be created do not exist yet */
  private missingParent(p: string): boolean {
    if (!this.cfg.options.dryRun || p === '.') return false;
    const parent = parentOf(p);
    return parent !== '.' && this.wouldCreate.has(parent);
  }
  private readonly wouldCreate = new Set<string>();

  private act(index: number, e: Entry, rel: string, abs: string, local: Local | null, a: Action): Promise<void> | void {
    const dry = this.cfg.options.dryRun;
    const item = (how: 'new' | 'data' | 'meta') => this.events.item(itemize(e, local, how, this.planOpts), rel, e.type, e.target ?? '', e.size);
    switch (a.do) {
      case 'none':
        if (e.type === 'f') this.stats.unchanged++;
        return;
      case 'skip-newer':
        this.stats.skipped++;
        return;
      case 'meta':
        if (e.type === 'd') {
          // directories get their metadata after their contents
          this.dirs.get(e.path)!.fix = true;
          if (rel === '.' && this.createdRoot) {
            this.stats.created++;
            item('new');
          } else item('meta');
          return;
        }
        if (!dry) setPathMeta(abs, e, a.mode, a.mtime);
        this.stats.metaOnly++;
        item('meta');
        return;
      case 'create':
      case 'fetch':
      case 'check':
        break;
    }
    if (e.type === 'd') {
      // a === create
      if (a.do === 'create' && a.replace && local) {
        if (!this.makeWay(rel, abs, local)) {
          this.failedDirs.add(e.path);
          return;
        }
      }
      if (dry) this.wouldCreate.add(e.path);
      else {
        fs.mkdirSync(abs, { mode: e.mode | 0o700 });
        this.fresh.add(abs);
      }
      this.dirs.get(e.path)!.fix = true;
      this.touch(rel);
      this.stats.created++;
      item('new');
      return;
    }
    if (e.type === 'l') {
      if (local && local.type === 'd') {
        if (!this.makeWay(rel, abs, local)) return;
      }
      if (!dry) {
        if (local && local.type === 'f' && this.backup) keepCopy(abs, this.backupPath(rel));
        placeSymlink(parentAbs(abs), abs, baseOf(abs), e.target ?? '', e.mtime);
      }
      this.touch(rel);
      if (local && local.type === 'l') this.stats.updated++;
      else this.stats.created++;
      item(local && local.type === 'l' ? 'data' : 'new');
      return;
    }
    // regular file
    const p: Pending = { index, entry: e, rel, abs, local, action: a, retried: false, basis: null };
    if (a.do === 'check') {
      const ask = (hash: Buffer) => {
        this.pending.set(index, p);
        this.conn.send({ t: 'req', index, flags: dry ? ReqFlag.Dry : 0, check: hash, sig: Buffer.alloc(0) });
      };
      const hash = hashFile(abs);
      if (Buffer.isBuffer(hash)) return ask(hash);
      return hash.then(ask);
    }
    if (dry) {
      if (local) this.stats.updated++;
      else this.stats.created++;
      item(local && local.type === 'f' ? 'data' : 'new');
      return;
    }
    this.pending.set(index, p);
    const partial = this.cfg.options.partial ? this.partialFor(abs) : null;
    if (partial && (fs.lstatSync(partial, { throwIfNoEntry: false })?.size ?? 0) >= DELTA_MIN) return this.askDelta(p, partial);
    if (local && local.type === 'f' && local.size >= DELTA_MIN) return this.askDelta(p, abs);
    this.conn.send({ t: 'req', index, flags: 0, check: Buffer.alloc(0), sig: Buffer.alloc(0) });
  }

  /**
   * --partial's leftover for a file: the .tsync-partial- file a cut-off run
   * kept, or else the biggest temporary a killed run (SIGKILL, power loss)
   * left for it, adopted as the partial file. Either is only a delta basis:
   * the whole-file hash decides what is installed.
   */
  private partialFor(abs: string): string {
    const kept = partialOf(abs);
    if (this.cfg.options.dryRun || fs.lstatSync(kept, { throwIfNoEntry: false })) return kept;
    const dir = parentAbs(abs);
    let temps = this.staleTemps.get(dir);
    if (!temps) {
      temps = staleTempsIn(dir);
      this.staleTemps.set(dir, temps);
    }
    const mine = `${TMP_PREFIX}${tempStem(baseOf(abs))}-`;
    let best: { name: string; size: number } | null = null;
    for (const name of temps) {
      if (!name.startsWith(mine) || !/^[0-9a-f]{12}$/.test(name.slice(mine.length))) continue;
      const st = fs.lstatSync(`${dir}/${name}`, { throwIfNoEntry: false });
      if (st?.isFile() && (!best || st.size > best.size)) best = { name, size: st.size };
    }
    if (best) {
      fs.renameSync(`${dir}/${best.name}`, kept);
      temps.splice(temps.indexOf(best.name), 1);
    }
    return kept;
  }
  private readonly staleTemps = new Map<string, string[]>();

  /** Ask for a delta against a basis (our copy, or --partial's leftover): sign it, then request. */
  private askDelta(p: Pending, basisPath: string): Promise<void> {
    if (this.cfg.rounds && (fs.lstatSync(basisPath, { throwIfNoEntry: false })?.size ?? 0) >= ROUNDS_MIN) return this.askFill(p, basisPath);
    return signFile(basisPath).then(
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

  /** A multi-round delta: sign the basis for round 1 and ask. */
  private askFill(p: Pending, basisPath: string): Promise<void> {
    let fill: FillFile;
    try {
      fill = FillFile.open(basisPath, p.entry.size);
    } catch (err) {
      return Promise.resolve(this.fillFailed(p, null, err));
    }
    this.fills.add(fill);
    p.fill = fill;
    p.basis = { path: basisPath, size: fill.basisSize, blockSize: 0 };
    return this.nextRound(p, fill);
  }

  private nextRound(p: Pending, fill: FillFile): Promise<void> {
    return fill.sign().then(
      ({ sig, holeMin }) => void this.conn.send({ t: 'req_fill', index: p.index, holeMin, sig }),
      (err) => this.fillFailed(p, fill, err),
    );
  }

  /** a multi-round delta failed here (I/O): the file is not done */
  private fillFailed(p: Pending, fill: FillFile | null, err: unknown): void {
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
  private finishFill(p: Pending, fill: FillFile, hash: Buffer): void {
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
          fs.rmSync(fill.tmp, { force: true });
          this.problem(p.rel, 'E_PARTIAL', describeFsError(err));
        }
        this.fillDone(p);
      },
      (err) => this.fillFailed(p, fill, err),
    );
  }

  private fillDone(p: Pending): void {
    this.pending.delete(p.index);
    this.maybeDone();
  }

  /** after a failed verification: once more, whole (true), or give up (false) */
  private retryWhole(p: Pending, rel: string): boolean {
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

  /** Remove what stands where an entry of another type must go; false if it must stay. */
  private makeWay(rel: string, abs: string, local: Local): boolean {
    if (local.type === 'd' && !this.cfg.options.delete) {
      const empty = this.cfg.options.dryRun || fs.readdirSync(abs).length === 0;
      if (!empty) {
        this.problem(rel, 'E_PARTIAL', 'a non-empty directory is in the way (use --delete to replace it)');
        return false;
      }
    }
    if (this.cfg.options.dryRun) return true;
    if (this.backup) moveAside(abs, this.backupPath(rel));
    else fs.rmSync(abs, { recursive: true, force: true });
    // what was a directory here is no longer known to be one
    for (const d of this.realDirs) if (d === rel || d.startsWith(`${rel}/`)) this.realDirs.delete(d);
    return true;
  }

  /** where rel's backup goes: its directories made on a walk that follows no link */
  private backupPath(rel: string): string {
    return backupTarget(this.backup!, rel, this.dirMode);
  }

  private touch(rel: string): void {
    this.touched.add(parentOf(rel));
  }

  // ---- file data (synchronous: backpressure comes from not reading) -------

  private fileBegin(index: number, size: number, isDelta: boolean): void {
    const p = this.pending.get(index);
    if (!p || this.incoming || this.filling) throw new TsyncError('E_PROTOCOL', `file data for ${index} that was not requested`);
    if (size !== p.entry.size) throw new TsyncError('E_PROTOCOL', `file ${index} announced with ${size} bytes, listed with ${p.entry.size}`);
    if (p.fill) return this.fillBegin(p, p.fill, isDelta);
    if (isDelta && !p.basis) throw new TsyncError('E_PROTOCOL', `a delta for file ${index}, for which no signature was sent`);
    const dir = parentAbs(p.abs);
    if (!this.cleaned.has(dir) && !this.fresh.has(dir)) {
      // leftovers of an interrupted earlier run, in a directory we write to
      this.cleaned.add(dir);
      cleanStaleTemps(dir);
    }
    let delta: Incoming['delta'] = null;
    if (isDelta) {
      const { size: basisSize, blockSize } = p.basis!;
      // the basis is read through a descriptor opened without following links
      const basisFd = fs.openSync(p.basis!.path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      delta = { basisFd, decoder: new OpsDecoder({ blockCount: Math.ceil(basisSize / blockSize) }), patcher: new Patcher({ blockSize, basisSize, maxRange: COPY_CHUNK }) };
    }
    const { fd, path: tmp } = openTemp(dir, baseOf(p.abs), p.entry.mode);
    this.incoming = { p, fd, tmp, hash: createHash('sha256'), written: 0, size, delta };
  }

  private fillBegin(p: Pending, fill: FillFile, isDelta: boolean): void {
    if (!isDelta) throw new TsyncError('E_PROTOCOL', `whole data for file ${p.index}, for which a delta round was asked`);
    if (fill.fd < 0) {
      const dir = parentAbs(p.abs);
      if (!this.cleaned.has(dir) && !this.fresh.has(dir)) {
        this.cleaned.add(dir);
        cleanStaleTemps(dir);
      }
      const { fd, path: tmp } = openTemp(dir, baseOf(p.abs), p.entry.mode, fs.constants.O_RDWR);
      fill.fd = fd;
      fill.tmp = tmp;
    }
    fill.begin();
    this.filling = p;
  }

  /** one piece of the new file: written to the temporary and hashed; false if it overruns the size */
  private put(inc: Incoming, data: Buffer): void {
    if (inc.written + data.length > inc.size) {
      const path = inc.p.entry.path;
      this.discard();
      throw new TsyncError('E_PROTOCOL', `the sender sent more data than the size it announced for ${JSON.stringify(path)}`);
    }
    let off = 0;
    while (off < data.length) off += fs.writeSync(inc.fd, data, off, data.length - off);
    inc.hash.update(data);
    inc.written += data.length;
  }

  private applyOps(inc: Incoming, data: Buffer): void {
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

  private fileData(data: Buffer): void {
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

  private fileEnd(index: number, status: FileStatus, hash: Buffer, message: string): void {
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
          if (!this.cfg.options.dryRun && (mode || mtime)) setPathMeta(p.abs, p.entry, mode, mtime);
          if (mode || mtime) {
            this.stats.metaOnly++;
            this.events.item(itemize(p.entry, p.local, 'meta', this.planOpts), rel, 'f', '', p.entry.size);
          } else this.stats.unchanged++;
          break;
        case FileStatus.Differs:
          this.stats.updated++;
          this.events.item(itemize(p.entry, p.local, 'data', this.planOpts), rel, 'f', '', p.entry.size);
          break;
        case FileStatus.Failed:
          if (inc) this.discard();
          this.problem(rel, 'E_PARTIAL', `not sent: ${message}`);
          break;
        case FileStatus.NeedSig:
          if (inc || p.basis || !p.local || p.local.type !== 'f') throw new TsyncError('E_PROTOCOL', `a signature asked for file ${index} where none fits`);
          void this.askDelta(p, p.abs);
          return;
        case FileStatus.Sent: {
          if (!inc) {
            // a zero-length file still has a begin; anything else is a lie
            throw new TsyncError('E_PROTOCOL', `file ${index} ended without data`);
          }
          this.incoming = null;
          if (inc.delta) {
            inc.delta.decoder.end();
            fs.closeSync(inc.delta.basisFd);
          }
          const digest = inc.hash.digest();
          if (inc.written !== inc.size || !digest.equals(hash)) {
            fs.closeSync(inc.fd);
            fs.rmSync(inc.tmp, { force: true });
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

  /** FILE_END of a round of a multi-round delta */
  private fillEnd(p: Pending, status: FileStatus, hash: Buffer, message: string): void {
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

  private install(p: Pending, inc: { fd: number; tmp: string }, rel: string): void {
    try {
      setFileMeta(inc.fd, p.entry);
    } finally {
      fs.closeSync(inc.fd);
    }
    if (!p.local && !this.backupAbs && this.fastRename(inc.tmp, p.abs)) {
      this.installed(p, rel);
      return;
    }
    // re-read what is in the way now: never act on a stale view
    const now = readLocal(p.abs);
    if (now && now.type !== 'f') {
      if (!this.makeWay(rel, p.abs, now)) {
        fs.rmSync(inc.tmp, { force: true });
        return;
      }
    } else if (now && this.backup) keepCopy(p.abs, this.backupPath(rel));
    fs.renameSync(inc.tmp, p.abs);
    this.installed(p, rel);
  }

  /** Nothing was there when we looked: rename, unless something of another type appeared. */
  private fastRename(tmp: string, abs: string): boolean {
    try {
      fs.renameSync(tmp, abs);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') return false;
      throw err;
    }
  }

  private installed(p: Pending, rel: string): void {
    if (this.cfg.options.partial) fs.rmSync(partialOf(p.abs), { force: true });
    this.touch(rel);
    if (p.local && p.local.type === 'f') this.stats.updated++;
    else this.stats.created++;
    this.events.item(itemize(p.entry, p.local, p.local && p.local.type === 'f' ? 'data' : 'new', this.planOpts), rel, 'f', '', p.entry.size);
  }

  private discard(): void {
    const inc = this.incoming;
    if (!inc) return;
    this.incoming = null;
    for (const fd of [inc.fd, inc.delta?.basisFd]) {
      try {
        if (fd !== undefined) fs.closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    fs.rmSync(inc.tmp, { force: true });
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
        fs.closeSync(fill.fd);
        fs.renameSync(fill.tmp, partialOf(filling.abs));
      } else fill.discard();
    }
    this.fills.clear();
    const inc = this.incoming;
    if (inc && this.cfg.options.partial && inc.written > 0) {
      this.incoming = null;
      for (const fd of [inc.fd, inc.delta?.basisFd]) if (fd !== undefined) fs.closeSync(fd);
      fs.renameSync(inc.tmp, partialOf(inc.p.abs));
      return;
    }
    this.discard();
  }

  private drain(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.allDone = resolve;
    });
  }

  private maybeDone(): void {
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

  // ---- after the list -----------------------------------------------------

  private deleteExtraneous(): void {
    if (this.rename !== null) return;
    const backup = this.backupAbs;
    findExtraneous({
      root: this.root,
      filter: Filter.create(this.cfg.options.rules, { ignoreFiles: this.cfg.options.ignoreFiles }),
      listed: (rel) => this.seen.has(rel),
      protect: backup && backup.startsWith(`${this.root}/`) ? backup.slice(this.root.length + 1) : null,
      dryRun: this.cfg.options.dryRun,
      extraneous: (rel, abs, isDir) => this.deleteTree(rel, abs, isDir),
      problem: (rel, message) => this.problem(rel, 'E_PARTIAL', message),
    });
  }

  private deleteTree(rel: string, abs: string, isDir: boolean): void {
    if (isDir) {
      for (const name of fs.readdirSync(abs).sort()) {
        const st = fs.lstatSync(`${abs}/${name}`);
        this.deleteTree(`${rel}/${name}`, `${abs}/${name}`, st.isDirectory());
      }
    }
    const type = isDir ? 'd' : 'f';
    this.events.item(DELETE_CODE, rel, type, '', 0);
    this.stats.deleted++;
    if (this.cfg.options.dryRun) return;
    try {
      if (this.backup) {
        if (isDir) fs.rmdirSync(abs);
        else moveAside(abs, this.backupPath(rel));
      } else if (isDir) fs.rmdirSync(abs);
      else fs.unlinkSync(abs);
      this.touch(rel);
    } catch (err) {
      this.problem(rel, 'E_PARTIAL', describeFsError(err));
    }
  }

  /** Directory modes and mtimes, deepest first, after everything inside them. */
  private finishDirs(): void {
    if (this.cfg.options.dryRun) return;
    const all = [...this.dirs.entries()].reverse();
    for (const [srcRel, d] of all) {
      const rel = this.destRel(srcRel);
      if (!d.fix && !this.touched.has(rel)) continue;
      try {
        setPathMeta(d.abs, d.entry, true, true);
      } catch (err) {
        this.problem(rel, 'E_PARTIAL', describeFsError(err));
      }
    }
  }

  private problem(rel: string, code: string, message: string): void {
    this.events.warn({ path: rel, code, message });
  }
}

/** basis bytes are copied in pieces of at most this size */
const COPY_CHUNK = 1 << 20;

/** where --partial keeps what arrived of a file (a reserved name: never synced) */
function partialOf(abs: string): string {
  const i = abs.lastIndexOf('/');
  return `${abs.slice(0, i + 1)}${partialName(abs.slice(i + 1))}`;
}

/** temporaries in a directory before this run wrote any there: a killed run's leftovers */
function staleTempsIn(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((n) => n.startsWith(TMP_PREFIX));
  } catch {
    return [];
  }
}

function parentAbs(abs: string): string {
  return abs.slice(0, abs.lastIndexOf('/')) || '/';
}
