// A dry run's file system: every read goes to the real one, every change is
// dropped. The receiver runs its one code path over it, so "a dry run
// changes nothing" holds in this one place rather than in a guard before
// each write (restic wraps its backend the same way). What a dry run must
// do differently, rather than merely not write, stays in the receiver: it
// asks the sender to compare instead of send (REQ DRY), treats directories
// it would have made as empty, and looks at names instead of probing them.

import type { FileSystem } from './seam.js';

/** the calls that change something: each becomes a no-op */
const CHANGES = ['writeSync', 'fchmodSync', 'chmodSync', 'futimesSync', 'lutimesSync', 'utimesSync', 'writeFileSync', 'mkdirSync', 'symlinkSync', 'linkSync', 'copyFileSync', 'cpSync', 'renameSync', 'unlinkSync', 'rmdirSync', 'rmSync'] as const;

export function dryRunFs(base: FileSystem): FileSystem {
  const out: Record<string, unknown> = { ...base };
  for (const m of CHANGES) out[m] = () => undefined;
  // opening for writing would create or truncate: only reading opens pass (a mode change opens read-only, then fchmod)
  out.openSync = (...args: Parameters<FileSystem['openSync']>) => {
    const flags = args[1];
    const writes = typeof flags === 'number' ? (flags & 3) !== 0 : typeof flags === 'string' && /[wa+]/.test(flags);
    if (writes) throw Object.assign(new Error(`EROFS: a dry run opened ${String(args[0])} for writing`), { code: 'EROFS' });
    return base.openSync(...args);
  };
  return out as unknown as FileSystem;
}
