// `tsync manifest`, `tsync bundle`, `tsync apply`: offline transfers for a
// receiver with no link back (PRODUCT.md §10; formats in docs/design.md,
// "Offline bundles"). The work is in lib/bundle/; here the command lines.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { TsyncError } from '../errors.js';
import { tempName } from '../fs/apply.js';
import { Filter } from '../tree/filter.js';
import { toSources } from '../oneway/sender.js';
import { describeTree } from '../bundle/describe.js';
import { decodeManifest, encodeManifest, newManifestId } from '../bundle/manifest-file.js';
import { planBundle } from '../bundle/plan.js';
import { sealKeyFrom } from '../bundle/seal.js';
import { writeBundle } from '../bundle/write.js';
import { checkBundle, spoolBundle } from '../bundle/read.js';
import { applyBundle } from '../bundle/apply.js';
import { acquireLock, type Lock } from '../fs/lock.js';
import { Reporter, type Out } from './report.js';
import { rulesFrom } from './run.js';
import { showPath } from '../text.js';
import type { Handler } from './commands.js';
import type { ScanWarning } from '../tree/scan.js';

/** -o FILE: written under a temporary name beside it and renamed when complete; -o -: standard output */
async function toOutput(file: unknown, what: string, write: (w: Writable) => Promise<void>): Promise<void> {
  if (typeof file !== 'string' || file === '') throw new TsyncError('E_USAGE', `tsync ${what} needs -o FILE (or -o - for standard output)`);
  if (file === '-') {
    if (process.stdout.isTTY) throw new TsyncError('E_USAGE', `tsync ${what} will not write binary data to a terminal; redirect it or use -o FILE`);
    await write(process.stdout);
    return;
  }
  const dir = path.dirname(file);
  const tmp = path.join(dir, tempName(path.basename(file)));
  try {
    const ws = fs.createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
    await write(ws);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

function warner(out: Out): { warn: (w: ScanWarning) => void; count: () => number } {
  let n = 0;
  return {
    warn: (w) => {
      if (w.code !== 'SKIP_SPECIAL') n++;
      out.stderr(`tsync: ${w.code === 'SKIP_SPECIAL' ? 'skipping' : 'warning'}: ${showPath(w.path)}: ${w.message}\n`);
    },
    count: () => n,
  };
}

function oneDir(p: string | undefined, what: string): string {
  if (!p) throw new TsyncError('E_USAGE', `tsync ${what} needs a directory`);
  const st = fs.statSync(p, { throwIfNoEntry: false });
  if (!st) throw new TsyncError('E_SOURCE_MISSING', `${p} does not exist`);
  if (!st.isDirectory()) throw new TsyncError('E_USAGE', `${p} is not a directory`);
  return p.replace(/\/+$/, '') || '/';
}

export const manifestCommand: Handler = async ({ values, positional }, out) => {
  if (positional.length !== 1) throw new TsyncError('E_USAGE', 'usage: tsync manifest DIR -o FILE');
  const dir = oneDir(positional[0], 'manifest');
  const key = sealKeyFrom(values.key);
  const w = warner(out);
  // the receiver's own files, all of them: its .tsyncignore files do not hide anything here
  const tree = await describeTree([{ abs: dir, contents: true }], Filter.create([], { ignoreFiles: false }), { sigs: true, warn: w.warn });
  const bytes = encodeManifest({ id: newManifestId(), entries: tree.map((x) => x.entry) }, key);
  await toOutput(values.output, 'manifest', (ws) => new Promise((resolve, reject) => {
    ws.once('error', reject);
    if (ws === process.stdout) ws.write(bytes, (e) => (e ? reject(e) : resolve()));
    else ws.end(bytes, () => resolve());
  }));
  if (w.count()) throw new TsyncError('E_PARTIAL', `${w.count()} entries could not be read and are not in the manifest`);
  return 0;
};

export const bundleCommand: Handler = async ({ values, positional, ordered }, out) => {
  if (positional.length === 0) throw new TsyncError('E_USAGE', 'usage: tsync bundle SRC... --against MANIFEST -o OUT');
  if (typeof values.against !== 'string') throw new TsyncError('E_USAGE', 'tsync bundle needs --against MANIFEST (made on the receiver with tsync manifest)');
  const key = sealKeyFrom(values.key);
  let raw: Buffer;
  try {
    raw = fs.readFileSync(values.against);
  } catch (e) {
    throw new TsyncError('E_USAGE', `cannot read manifest ${values.against}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const against = decodeManifest(raw, key, `manifest ${values.against}`);
  for (const s of positional) if (!fs.existsSync(s)) throw new TsyncError('E_SOURCE_MISSING', `${s} does not exist`);
  const filter = Filter.create(rulesFrom(ordered), { ignoreFiles: !values['no-tsyncignore'] });
  const old = new Map(against.entries.map((e) => [e.path, e]));
  const w = warner(out);
  const tree = await describeTree(toSources(positional), filter, {
    sigs: false,
    warn: w.warn,
    // the quick check: same size and mtime as the receiver's file, same content (unless -c)
    known: values.checksum ? undefined : (e) => {
      const a = old.get(e.path);
      return a?.type === 'f' && a.size === e.size && a.mtime === e.mtime ? a.hash : undefined;
    },
  });
  const result = tree.map((x) => x.entry);
  const plan = planBundle(against.entries, result, { delete: Boolean(values.delete), excluded: (p, d) => filter.excluded(p, d) });
  // without --delete the receiver keeps what SRC lacks: its manifest afterwards says so
  const listed = new Set(result.map((e) => e.path));
  const kept = values.delete ? [] : against.entries.filter((e) => !listed.has(e.path));
  const after = mergeKept(result, kept);
  let stats;
  await toOutput(values.output, 'bundle', async (ws) => {
    stats = await writeBundle({ plan, result: after, absOf: new Map(tree.map((x) => [x.entry.path, x.abs])), againstId: against.id, delete: Boolean(values.delete), key, gzip: Boolean(values.compress) }, ws);
  });
  if (values.verbose) {
    const s = stats!;
    out.stderr(`tsync: bundle: ${s.files} files sent (${s.literal} bytes whole, ${s.deltas} as deltas), ${s.copies} copied or moved from what the receiver has, ${s.deletes} deletions\n`);
  }
  if (w.count()) throw new TsyncError('E_PARTIAL', `${w.count()} entries could not be read and are not in the bundle`);
  return 0;
};

/** the sender's entries plus the receiver's that stay, in tree order (each directory before its contents) */
function mergeKept<T extends { path: string; type: string }>(result: T[], kept: T[]): T[] {
  if (!kept.length) return result;
  const all = [...result, ...kept];
  const depth = (p: string) => (p === '.' ? 0 : p.split('/').length);
  // parents before children: shorter paths first, then by name
  all.sort((a, b) => depth(a.path) - depth(b.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // what stood under a directory that the new tree replaced with a file or link is not there any more
  const dirs = new Set<string>();
  return all.filter((e) => {
    const slash = e.path.lastIndexOf('/');
    if (e.path !== '.' && slash >= 0 && !dirs.has(e.path.slice(0, slash))) return false;
    if (e.type === 'd') dirs.add(e.path);
    return true;
  });
}

export const applyCommand: Handler = async ({ values, positional }, out) => {
  if (positional.length !== 2) throw new TsyncError('E_USAGE', 'usage: tsync apply BUNDLE DIR (BUNDLE - reads standard input)');
  const key = sealKeyFrom(values.key);
  const root = oneDir(positional[1], 'apply');
  const spool = await spoolBundle(positional[0], process.stdin);
  let lockHeld = null as Lock | null; // set by the lock callback
  try {
    const checked = await checkBundle(spool.tar, key);
    const rep = new Reporter({ itemize: Boolean(values.itemize), verbose: Number(values.verbose ?? 0), quiet: Boolean(values.quiet), json: false, stats: false, dryRun: Boolean(values['dry-run']) }, out);
    await applyBundle(root, checked, spool.tar, {
      dryRun: Boolean(values['dry-run']),
      events: rep,
      conflict: (p, why) => out.stderr(`tsync: conflict: ${showPath(p)}: ${why}; kept\n`),
      // one run at a time on a directory, as for a sync into it (lib/fs/lock.ts)
      lock: async () => {
        lockHeld = await acquireLock(root, { waitSeconds: 0, note: (s) => out.stderr(`tsync: note: ${s}\n`) });
      },
    });
    if (rep.errors.length) throw new TsyncError('E_PARTIAL', `${rep.errors.length} path${rep.errors.length === 1 ? '' : 's'} could not be applied; the rest was (apply the bundle again after fixing them)`);
    return 0;
  } finally {
    lockHeld?.release();
    spool.cleanup();
  }
};
