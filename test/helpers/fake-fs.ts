// File systems that stand in front of the real one (lib/fs/seam.ts), for
// conditions this machine cannot make: a destination that folds names as
// APFS or an ext4 casefold directory does, and one that fails on the Nth
// call. Everything else is the kernel's: the fakes rewrite paths or throw,
// and pass the call on.

import * as fs from 'node:fs';
import { realFs, type FileSystem } from '../../lib/fs/seam.js';

type Method = keyof FileSystem;
type AnyFn = (...args: unknown[]) => unknown;

/** the methods whose first argument is a path (symlinkSync's first is the link's target, its second the path) */
const PATH_FIRST: Method[] = ['lstatSync', 'statSync', 'readdirSync', 'readlinkSync', 'realpathSync', 'openSync', 'writeFileSync', 'mkdirSync', 'lutimesSync', 'utimesSync', 'unlinkSync', 'rmdirSync', 'rmSync'];
const TWO_PATHS: Method[] = ['linkSync', 'copyFileSync', 'cpSync', 'renameSync'];

export interface Folds {
  /** README and readme are one name (APFS, NTFS, ext4 casefold) */
  case: boolean;
  /** é as one code point and as e + U+0301 are one name (APFS, HFS+) */
  unicode: boolean;
}

/**
 * A case-preserving, folding file system under `mount`: each component of
 * a path below it is looked up among the names its directory holds, and
 * one that folds to the same key stands for it. Lookups go through what is
 * there, links included, as the kernel's do: a/x with A -> /elsewhere
 * present is /elsewhere/x, which is the hazard the receiver must refuse.
 */
export function foldingFs(mount: string, folds: Folds, base: FileSystem = realFs): FileSystem {
  const key = (name: string) => {
    let k = folds.unicode ? name.normalize('NFC') : name;
    if (folds.case) k = k.toLowerCase();
    return k;
  };
  const resolve = (p: unknown): unknown => {
    if (typeof p !== 'string' || !p.startsWith(`${mount}/`)) return p;
    let at = mount;
    for (const part of p.slice(mount.length + 1).split('/')) {
      let names: string[] = [];
      try {
        names = fs.readdirSync(at);
      } catch {
        // not a directory (yet): the name stays as given
      }
      const hit = names.includes(part) ? part : names.find((n) => key(n) === key(part));
      at = `${at}/${hit ?? part}`;
    }
    return at;
  };
  const out: Record<string, unknown> = { ...base };
  for (const m of PATH_FIRST) out[m] = (p: unknown, ...rest: unknown[]) => (base[m] as AnyFn)(resolve(p), ...rest);
  for (const m of TWO_PATHS) out[m] = (a: unknown, b: unknown, ...rest: unknown[]) => (base[m] as AnyFn)(resolve(a), resolve(b), ...rest);
  out.symlinkSync = (target: unknown, p: unknown, ...rest: unknown[]) => (base.symlinkSync as AnyFn)(target, resolve(p), ...rest);
  return out as unknown as FileSystem;
}

export interface Faults {
  /** the calls that count (and fail) */
  ops: readonly Method[];
  /** the 1-based count at which the call fails; Infinity never */
  failAt: number;
  /** errno code of the failure */
  code?: 'EIO' | 'ENOSPC' | 'EACCES';
}

/** A file system whose failAt-th call among `ops` throws, as a full or failing disk would. `calls` counts them. */
export function faultyFs(f: Faults, base: FileSystem = realFs): FileSystem & { calls: number; failed: string } {
  const code = f.code ?? 'EIO';
  const out: Record<string, unknown> = { ...base, calls: 0, failed: '' };
  for (const m of f.ops) {
    out[m] = (...args: unknown[]) => {
      const n = (out.calls as number) + 1;
      out.calls = n;
      if (n === f.failAt) {
        out.failed = `${m}(${typeof args[0] === 'string' ? args[0] : ''})`;
        throw Object.assign(new Error(`${code}: injected failure, ${m}`), { code, syscall: m });
      }
      return (base[m] as AnyFn)(...args);
    };
  }
  return out as unknown as FileSystem & { calls: number; failed: string };
}
