// A two-way run's deletions of regular files, held back until the run's
// transfers are over: the file is renamed into a directory of its own under
// .tsync/ instead of being unlinked, so that a file the peer renamed is made
// here from it (a move, lib/oneway/receive-moves.ts) rather than sent again.
// Whatever is left there is removed when the run's transfers end; a run
// killed before that leaves it for the next run to remove (nothing is lost
// meanwhile).

import * as fs from 'node:fs';
import { STATE_DIR } from '../tree/reserved.js';

const PREFIX = 'moves-';

export class SetAside {
  /** each file set aside: the path it had, and where it is now */
  readonly files: { rel: string; abs: string }[] = [];
  private dir: string | null = null;

  constructor(private readonly root: string) {}

  /** Move a file that is being deleted here; false if it cannot be (the caller unlinks it). */
  take(rel: string, abs: string): boolean {
    try {
      if (!this.dir) {
        const state = `${this.root}/${STATE_DIR}`;
        fs.mkdirSync(state, { recursive: true, mode: 0o700 });
        if (!fs.lstatSync(state).isDirectory()) return false;
        this.dir = fs.mkdtempSync(`${state}/${PREFIX}`);
      }
      const to = `${this.dir}/${this.files.length}`;
      fs.renameSync(abs, to);
      this.files.push({ rel, abs: to });
      return true;
    } catch {
      return false;
    }
  }

  /** The run's transfers are over: what is still set aside goes. */
  clear(): void {
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
    this.files.length = 0;
  }

  /** Remove what an earlier, interrupted run set aside. */
  static sweep(root: string): void {
    const state = `${root}/${STATE_DIR}`;
    let names: string[];
    try {
      if (!fs.lstatSync(state).isDirectory()) return;
      names = fs.readdirSync(state);
    } catch {
      return;
    }
    for (const n of names) if (n.startsWith(PREFIX)) fs.rmSync(`${state}/${n}`, { recursive: true, force: true });
  }
}
