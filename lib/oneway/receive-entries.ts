// The receiver's decision acted on, one manifest entry at a time:
// directories and symbolic links are made here, metadata is set, and a
// regular file is asked for (whole, or as a delta against our copy or
// --partial's leftover).

import { ReqFlag, type Entry } from '../wire/schema.js';
import { baseOf, parentOf } from '../tree/paths.js';
import { type Action, type Local } from '../plan/oneway.js';
import { hashFile, keepCopy, placeSymlink, setPathMeta } from '../fs/apply.js';
import { DELTA_MIN } from './source.js';
import { partialFor } from './receive-partial.js';
import { parentAbs, type Pending } from './receive-core.js';
import { ReceiveMoves } from './receive-moves.js';

export abstract class ReceiveEntries extends ReceiveMoves {
  protected readonly wouldCreate = new Set<string>();
  private readonly staleTemps = new Map<string, string[]>();

  /** in a dry run, directories that would be created do not exist yet */
  protected missingParent(p: string): boolean {
    if (!this.cfg.options.dryRun || p === '.') return false;
    const parent = parentOf(p);
    return parent !== '.' && this.wouldCreate.has(parent);
  }

  protected act(index: number, e: Entry, rel: string, abs: string, local: Local | null, a: Action): Promise<void> | void {
    const dry = this.cfg.options.dryRun;
    const item = (how: 'new' | 'data' | 'meta') => this.item(index, e, local, how, rel);
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
        setPathMeta(abs, e, a.mode, a.mtime, this.fs);
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
      this.fs.mkdirSync(abs, { mode: e.mode | 0o700 });
      this.fresh.add(abs);
      if (dry) this.wouldCreate.add(e.path);
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
      if (local && local.type === 'f' && this.backup) keepCopy(abs, this.backupPath(rel), this.fs);
      placeSymlink(parentAbs(abs), abs, baseOf(abs), e.target ?? '', e.mtime, this.fs);
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
        // moves: if it differs, its content may be here under another name (a swap)
        if (!dry && this.askHash(p)) return this.askByHash(p, hash);
        this.conn.send({ t: 'req', index, flags: dry ? ReqFlag.Dry : 0, check: hash, sig: Buffer.alloc(0) });
      };
      const hash = hashFile(abs, this.fs);
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
    const partial = this.cfg.options.partial ? partialFor(abs, this.cfg.options.dryRun, this.staleTemps, this.fs) : null;
    if (partial && (this.fs.lstatSync(partial, { throwIfNoEntry: false })?.size ?? 0) >= DELTA_MIN) return this.askDelta(p, partial);
    // moves: some file here has its size; its hash first, the content only if none matches
    if (this.askHash(p)) return this.askByHash(p, Buffer.alloc(0));
    return this.fetch(p);
  }
}
