// --partial's files: where what arrived of a file is kept (a reserved name:
// never synced), and the leftovers of a killed run, adopted as the partial
// file. Either is only a delta basis: the whole-file hash decides what is
// installed.

import { realFs, type FileSystem } from '../fs/seam.js';
import { baseOf } from '../tree/paths.js';
import { TMP_PREFIX } from '../tree/reserved.js';
import { partialName, staleTemps, tempStem } from '../fs/apply.js';
import { parentAbs } from './receive-core.js';

/** where --partial keeps what arrived of a file (a reserved name: never synced) */
export function partialOf(abs: string): string {
  const i = abs.lastIndexOf('/');
  return `${abs.slice(0, i + 1)}${partialName(abs.slice(i + 1))}`;
}

/**
 * --partial's leftover for a file: the .tsync-partial- file a cut-off run
 * kept, or else the biggest temporary a killed run (SIGKILL, power loss)
 * left for it, adopted as the partial file. listed caches, per
 * directory, the temporaries that were there before this run wrote any.
 */
export function partialFor(abs: string, dryRun: boolean, listed: Map<string, string[]>, fsys: FileSystem = realFs): string {
  const kept = partialOf(abs);
  if (dryRun || fsys.lstatSync(kept, { throwIfNoEntry: false })) return kept;
  const dir = parentAbs(abs);
  let temps = listed.get(dir);
  if (!temps) {
    // the temporaries there before this run wrote any: a killed run's leftovers
    temps = staleTemps(dir, fsys);
    listed.set(dir, temps);
  }
  const mine = `${TMP_PREFIX}${tempStem(baseOf(abs))}-`;
  let best: { name: string; size: number } | null = null;
  for (const name of temps) {
    if (!name.startsWith(mine) || !/^[0-9a-f]{12}$/.test(name.slice(mine.length))) continue;
    const st = fsys.lstatSync(`${dir}/${name}`, { throwIfNoEntry: false });
    if (st?.isFile() && (!best || st.size > best.size)) best = { name, size: st.size };
  }
  if (best) {
    fsys.renameSync(`${dir}/${best.name}`, kept);
    temps.splice(temps.indexOf(best.name), 1);
  }
  return kept;
}
