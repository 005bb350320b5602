// The receiver after the whole manifest arrived and every file settled:
// --delete (what the sender does not have, found by tree/prune.ts) and the
// directories' modes and mtimes, deepest first.

import { Filter } from '../tree/filter.js';
import { findExtraneous } from '../tree/prune.js';
import { moveAside, setPathMeta } from '../fs/apply.js';
import { DELETE_CODE } from '../cli/report.js';
import { describeFsError } from '../errors.js';
import { ReceiveRounds } from './receive-rounds.js';

export abstract class ReceiveFinish extends ReceiveRounds {
  // ---- after the list -----------------------------------------------------

  protected deleteExtraneous(): void {
    if (this.rename !== null) return;
    const backup = this.backupAbs;
    findExtraneous({
      root: this.root,
      filter: Filter.create(this.cfg.options.rules, { ignoreFiles: this.cfg.options.ignoreFiles }),
      listed: (rel) => this.intake.listed(rel),
      protect: backup && backup.startsWith(`${this.root}/`) ? backup.slice(this.root.length + 1) : null,
      dryRun: this.cfg.options.dryRun,
      extraneous: (rel, abs, isDir) => this.deleteTree(rel, abs, isDir),
      problem: (rel, message) => this.problem(rel, 'E_PARTIAL', message),
    }, this.fs);
  }

  protected deleteTree(rel: string, abs: string, isDir: boolean): void {
    if (isDir) {
      for (const name of this.fs.readdirSync(abs).sort()) {
        const st = this.fs.lstatSync(`${abs}/${name}`);
        this.deleteTree(`${rel}/${name}`, `${abs}/${name}`, st.isDirectory());
      }
    }
    const type = isDir ? 'd' : 'f';
    this.events.item(DELETE_CODE, rel, type, '', 0);
    this.stats.deleted++;
    try {
      // a directory is empty by now (its contents went first): only files are kept in --backup-dir
      if (isDir) this.fs.rmdirSync(abs);
      else if (this.backup) moveAside(abs, this.backupPath(rel), this.fs);
      else this.fs.unlinkSync(abs);
      this.touch(rel);
    } catch (err) {
      this.problem(rel, 'E_PARTIAL', describeFsError(err));
    }
  }

  /** Directory modes and mtimes, deepest first, after everything inside them. */
  protected finishDirs(): void {
    // a dry run made and changed no directory: nothing to settle (and the ones it would make are not there to open)
    if (this.cfg.options.dryRun) return;
    const all = [...this.dirs.entries()].reverse();
    for (const [srcRel, d] of all) {
      const rel = this.destRel(srcRel);
      if (!d.fix && !this.touched.has(rel)) continue;
      try {
        setPathMeta(d.abs, d.entry, true, true, this.fs);
      } catch (err) {
        this.problem(rel, 'E_PARTIAL', describeFsError(err));
      }
    }
  }
}
