// Whether a directory folds names: case (APFS, NTFS, an ext4 casefold
// directory) and Unicode spellings (HFS+ rewrites to NFD; APFS looks both
// up as one). tsync doctor reports it; the receiver refuses names that
// would become one file (lib/fs/names.ts). probeNames writes two reserved
// temporaries and removes them; lookNames only looks (a read-only server,
// a dry run).

import { realFs, type FileSystem } from './seam.js';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describeFsError } from '../errors.js';
import { TMP_PREFIX } from '../tree/reserved.js';
import { NO_FOLDING, type Folding } from './names.js';
import { dropTemp, secondsOfNs } from './apply.js';

export type UnicodeBehaviour = 'keeps' | 'nfd' | 'nfc' | 'insensitive';

interface NameProbe {
  probedIn: string | null;
  writable: boolean;
  writeError: string;
  caseInsensitive: boolean | null;
  unicode: UnicodeBehaviour | null;
}

/** Create a reserved temporary name, look at it under other spellings, remove it. */
export function probeNames(dir: string, fsys: FileSystem = realFs): NameProbe {
  const stem = `${TMP_PREFIX}doctor-${randomBytes(4).toString('hex')}`;
  const made: string[] = [];
  const create = (name: string) => {
    fsys.writeFileSync(path.join(dir, name), '', { flag: 'wx', mode: 0o600 });
    made.push(name);
  };
  try {
    create(`${stem}-case`);
    const caseInsensitive = exists(path.join(dir, `${stem}-case`.toUpperCase()), fsys);
    const nfc = `${stem}-\u00e9`; // é, one code point
    const nfd = `${stem}-e\u0301`; // e + combining acute
    create(nfc);
    const listed = fsys.readdirSync(dir).filter((n) => n.startsWith(`${stem}-`) && n !== `${stem}-case`);
    made.push(...listed.filter((n) => n !== nfc));
    let unicode: UnicodeBehaviour = 'keeps';
    if (listed.length === 1 && listed[0] === nfd) unicode = 'nfd';
    else if (exists(path.join(dir, nfd), fsys)) unicode = 'insensitive';
    return { probedIn: dir, writable: true, writeError: '', caseInsensitive, unicode };
  } catch (e) {
    return { probedIn: dir, writable: false, writeError: describeFsError(e), caseInsensitive: null, unicode: null };
  } finally {
    // each one, whatever happens to the others: what stays is a reserved name the next run sweeps
    for (const n of made) dropTemp(fsys, path.join(dir, n));
  }
}

function exists(p: string, fsys: FileSystem): boolean {
  return fsys.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
}

/** the case of every letter swapped: README.md -> readme.MD */
function swapCase(s: string): string {
  return [...s].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join('');
}

/**
 * What can be learnt about names without writing: an existing name looked
 * up under its case-swapped and its other Unicode spelling (when no such
 * name is listed itself). null where the directory holds no name to try.
 */
export function lookNames(dir: string, fsys: FileSystem = realFs): NameProbe {
  const out = { probedIn: dir, writable: false, writeError: 'this server is read-only: nothing was written to probe it', caseInsensitive: null as boolean | null, unicode: null as UnicodeBehaviour | null };
  let names: string[];
  try {
    names = fsys.readdirSync(dir);
  } catch {
    return out;
  }
  const listed = new Set(names);
  const other = names.map((n) => swapCase(n)).find((o, i) => o !== names[i] && !listed.has(o));
  if (other !== undefined) out.caseInsensitive = exists(path.join(dir, other), fsys);
  for (const n of names) {
    const nfc = n.normalize('NFC');
    const nfd = n.normalize('NFD');
    if (nfc === nfd) continue;
    const alt = n === nfc ? nfd : nfc;
    if (listed.has(alt)) continue;
    out.unicode = exists(path.join(dir, alt), fsys) ? 'insensitive' : 'keeps';
    break;
  }
  return out;
}


/**
 * How the receiver's destination folds names, probed once at the start
 * (writing two reserved temporaries; only looking in a dry run) through the
 * receiver's file system. A directory that is not there folds nothing we
 * can tell.
 */
export function destinationFolding(dir: string, opts: { dryRun: boolean }, fsys: FileSystem = realFs): Folding {
  const st = fsys.statSync(dir, { throwIfNoEntry: false, bigint: true });
  if (!st?.isDirectory()) return NO_FOLDING;
  const p = opts.dryRun ? lookNames(dir, fsys) : probeNames(dir, fsys);
  if (!opts.dryRun) {
    // the two probe files came and went: the directory's times stay as they were
    try {
      fsys.utimesSync(dir, secondsOfNs(st.atimeNs), secondsOfNs(st.mtimeNs));
    } catch {
      // not ours to change (another owner): the probe's trace is a changed mtime
    }
  }
  return { caseInsensitive: p.caseInsensitive === true, unicode: p.unicode !== null && p.unicode !== 'keeps' };
}
