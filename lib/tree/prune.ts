// --delete: after the whole manifest arrived, walk the destination and name
// what the sender does not have. Reserved names (tsync's state, temporaries),
// excluded paths and the backup directory are never candidates. No writes
// here: the receiver removes what this finds.

import { realFs, type FileSystem } from '../fs/seam.js';
import type { Filter } from './filter.js';
import { isReserved } from './reserved.js';
import { dirFilter } from './scan.js';
import { under } from './paths.js';
import { describeFsError } from '../errors.js';

export interface PruneWalk {
  root: string;
  filter: Filter;
  /** a path the manifest named: kept (and, for a directory, looked into) */
  listed(rel: string): boolean;
  /** a path relative to root never to touch (the backup directory) */
  protect: string | null;
  /** in a dry run, directories that would have been made do not exist: not an error */
  dryRun: boolean;
  extraneous(rel: string, abs: string, isDir: boolean): void;
  problem(rel: string, message: string): void;
}

export function findExtraneous(w: PruneWalk, fsys: FileSystem = realFs): void {
  const walk = (dirRel: string, parentFilter: Filter) => {
    const dirAbs = under(w.root, dirRel);
    let names: string[];
    try {
      names = fsys.readdirSync(dirAbs).sort();
    } catch (err) {
      if (!(w.dryRun && (err as NodeJS.ErrnoException).code === 'ENOENT')) w.problem(dirRel, describeFsError(err));
      return;
    }
    // an unreadable ignore file protects nothing extra
    const f = dirFilter(parentFilter, dirAbs, dirRel === '.' ? '' : dirRel, names, () => {});
    for (const name of names) {
      const rel = dirRel === '.' ? name : `${dirRel}/${name}`;
      if (isReserved(rel) || rel === w.protect) continue;
      const abs = `${dirAbs}/${name}`;
      const st = fsys.lstatSync(abs, { throwIfNoEntry: false });
      if (!st || f.excluded(rel, st.isDirectory())) continue;
      if (!w.listed(rel)) w.extraneous(rel, abs, st.isDirectory());
      else if (st.isDirectory()) walk(rel, f);
    }
  };
  walk('.', w.filter);
}
