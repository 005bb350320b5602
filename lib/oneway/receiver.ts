// The receiving role: reads the sender's manifest, decides per entry (pure
// planner), asks for what it needs, writes it under temporary names,
// verifies, renames; then deletions and directory metadata. Never follows a
// symlink inside the destination, never writes outside it.

import type { FileSystem } from '../fs/seam.js';
import * as path from 'node:path';
import type { Connection } from '../link/connection.js';
import type { Entry, Message } from '../wire/schema.js';
import { parentOf, under } from '../tree/paths.js';
import { decide, type Local } from '../plan/oneway.js';
import { readLocal } from '../fs/apply.js';
import { AsyncQueue } from '../queue.js';
import type { Events } from '../cli/report.js';
import type { Stats } from '../cli/stats.js';
import { describeFsError, TsyncError } from '../errors.js';
import type { ReceiverConfig } from './receive-core.js';
import { ReceiveEntries } from './receive-entries.js';
import { ensureRootDir } from '../fs/root.js';
import { backupPlace } from '../fs/nofollow.js';
import { destinationFolding } from '../fs/probe.js';

export type { ReceiverConfig } from './receive-core.js';

export class Receiver extends ReceiveEntries {
  private readonly list = new AsyncQueue<Message>();

  constructor(conn: Connection, cfg: ReceiverConfig, events: Events) {
    super(conn, cfg, events);
  }

  /** Messages that arrived before this receiver ran (a two-way client reads the manifest first, to plan). */
  preload(messages: readonly Message[]): void {
    for (const m of messages) this.list.push(m);
  }

  async run(): Promise<Stats> {
    this.conn.onMessage((m) => this.onMessage(m));
    const head = await this.list.shift();
    if (head.t !== 'flist_head') throw new TsyncError('E_PROTOCOL', `expected the manifest header, got ${head.t}`);
    this.intake.head(head);
    this.setupRoot(head.singleFile);
    if (this.backupAbs) this.backup = backupPlace(this.root, this.backupAbs, this.fs);
    // names that are one file on a folding destination are refused (probed once, here)
    this.intake.foldWith(destinationFolding(this.root, { dryRun: this.cfg.options.dryRun }, this.fs));
    if (this.cfg.lock && this.rename === null) this.held = await this.cfg.lock(this.root);
    let count = 0;
    for (;;) {
      const m = await this.list.shift();
      if (m.t === 'flist') {
        const entries = this.intake.batch(m);
        for (const e of entries) {
          // once the session has failed, nothing more is done to the destination
          if (this.conn.error) throw this.conn.error;
          const slow = this.entry(count++, e);
          if (slow) await slow;
        }
        this.cfg.progress?.();
      } else if (m.t === 'flist_end') {
        if (this.conn.error) throw this.conn.error;
        this.intake.end(m, count);
        this.listDone = true;
        await this.drain();
        if (this.cfg.options.delete) {
          if (m.ioErrors > 0) this.problem('', 'E_PARTIAL', 'the sender had I/O errors: not deleting anything');
          else this.deleteExtraneous();
        }
        // files made from local copies go in after deletions: one whose candidate was deleted is a rename
        if (this.installMoves()) await this.drain();
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
    const clean = followDestLink(dest.replace(/\/+$/, '') || '/', this.fs);
    const st = this.fs.statSync(clean, { throwIfNoEntry: false });
    if (singleFile && !trailing && !st?.isDirectory()) {
      // one file to a name that is not a directory: write it as that name
      this.root = path.dirname(clean);
      this.rename = path.basename(clean);
      if (!this.fs.statSync(this.root, { throwIfNoEntry: false })?.isDirectory()) throw new TsyncError('E_DEST_PARENT', `destination directory ${this.root} does not exist`);
      return;
    }
    ({ root: this.root, created: this.createdRoot } = ensureRootDir(clean, this.cfg.options.dryRun, this.dirMode, this.fs));
  }

  /** One manifest entry: validate, decide, act or ask. Synchronous unless it must hash a big file. */
  private entry(index: number, e: Entry): Promise<void> | void {
    this.intake.check(e);
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
      local = this.missingParent(e.path) ? null : readLocal(abs, this.fs);
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
}

/**
 * The destination the user named, when it is itself a symbolic link to a
 * directory: its real path, resolved once, here, as rsync follows it
 * (`~/backup -> /mnt/disk/backup`). Only this path is resolved; nothing
 * below it is ever followed (entries are read with lstat and written with
 * O_NOFOLLOW). A link to nothing is refused rather than made.
 */
function followDestLink(dest: string, fsys: FileSystem): string {
  if (!fsys.lstatSync(dest, { throwIfNoEntry: false })?.isSymbolicLink()) return dest;
  const st = fsys.statSync(dest, { throwIfNoEntry: false });
  if (!st) throw new TsyncError('E_DEST_PARENT', `destination ${dest} is a symbolic link to nothing`);
  return st.isDirectory() ? fsys.realpathSync(dest) : dest;
}
