// One error taxonomy for tsync: every expected failure is a TsyncError with a
// stable code; one table maps each code to an exit status and a hint.
// Only bin/ turns these into process.exit; nothing else reads the table.

import { DecodeError } from './wire/codec.js';

export const EXIT = {
  OK: 0,
  USAGE: 1,
  PROTOCOL_VERSION: 2,
  FILE_SELECTION: 3,
  REFUSED: 4,
  REMOTE_START: 5,
  CONNECTION: 10,
  FILE_IO: 11,
  PROTOCOL_STREAM: 12,
  BUNDLE: 13,
  AUTH: 15,
  VAULT_DAMAGED: 16,
  VAULT_ROLLBACK: 17,
  INTERRUPTED: 20,
  PARTIAL: 23,
  TIMEOUT: 30,
  CONFLICTS: 40,
  LOCKED: 41,
  PRE_HOOK: 42,
  POST_HOOK: 43,
  DOCTOR: 44,
  INTERNAL: 70,
} as const;

export type ErrorCode =
  | 'E_USAGE'
  | 'E_VERSION'
  | 'E_SOURCE_MISSING'
  | 'E_DEST_PARENT'
  | 'E_REFUSED'
  | 'E_READ_ONLY'
  | 'E_REMOTE_START'
  | 'E_REMOTE_JUNK'
  | 'E_CONNECT'
  | 'E_CONNECTION_LOST'
  | 'E_IO'
  | 'E_PROTOCOL'
  | 'E_BUNDLE'
  | 'E_AUTH'
  | 'E_VAULT_KEY'
  | 'E_VAULT_DAMAGED'
  | 'E_VAULT_ROLLBACK'
  | 'E_INTERRUPTED'
  | 'E_PARTIAL'
  | 'E_TIMEOUT'
  | 'E_CONFLICTS'
  | 'E_LOCKED'
  | 'E_PRE_HOOK'
  | 'E_POST_HOOK'
  | 'E_DOCTOR'
  | 'E_INTERNAL';

interface Row { exit: number; what: string; hint?: string }

// The exit-code table. man/tsync.1 documents the same numbers (a test checks).
export const ERROR_TABLE: Record<ErrorCode, Row> = {
  E_USAGE: { exit: EXIT.USAGE, what: 'usage error', hint: "see 'tsync --help'" },
  E_VERSION: { exit: EXIT.PROTOCOL_VERSION, what: 'peer speaks an incompatible protocol version', hint: 'install matching tsync versions, or point --tsync-path at a compatible one' },
  E_SOURCE_MISSING: { exit: EXIT.FILE_SELECTION, what: 'source does not exist' },
  E_DEST_PARENT: { exit: EXIT.FILE_SELECTION, what: 'destination parent directory does not exist' },
  E_REFUSED: { exit: EXIT.REFUSED, what: 'the server refused the request' },
  E_READ_ONLY: { exit: EXIT.REFUSED, what: 'the server is read-only' },
  E_REMOTE_START: { exit: EXIT.REMOTE_START, what: 'could not start tsync on the remote side', hint: 'install tsync there or name it with --tsync-path' },
  E_REMOTE_JUNK: { exit: EXIT.REMOTE_START, what: 'the remote shell printed text before tsync started', hint: 'make the remote shell startup files (.bashrc, .profile) silent for non-interactive shells' },
  E_CONNECT: { exit: EXIT.CONNECTION, what: 'could not connect to the remote host' },
  E_CONNECTION_LOST: { exit: EXIT.CONNECTION, what: 'connection to the peer was lost' },
  E_IO: { exit: EXIT.FILE_IO, what: 'file I/O error' },
  E_PROTOCOL: { exit: EXIT.PROTOCOL_STREAM, what: 'protocol error: the peer sent invalid data' },
  E_BUNDLE: { exit: EXIT.BUNDLE, what: 'a manifest or bundle is damaged, truncated, or not made by tsync', hint: 'make it again; nothing was changed' },
  E_AUTH: { exit: EXIT.AUTH, what: 'authentication failed' },
  E_VAULT_KEY: { exit: EXIT.AUTH, what: 'the vault key does not open this vault, or a read-only key was asked to write' },
  E_VAULT_DAMAGED: { exit: EXIT.VAULT_DAMAGED, what: 'vault data fails verification (tampered or corrupt)', hint: "run 'tsync vault check --read-data' to list what is damaged" },
  E_VAULT_ROLLBACK: { exit: EXIT.VAULT_ROLLBACK, what: "the vault's history does not continue what this client saw before (rolled back or forked)" },
  E_INTERRUPTED: { exit: EXIT.INTERRUPTED, what: 'interrupted' },
  E_PARTIAL: { exit: EXIT.PARTIAL, what: 'some files could not be transferred' },
  E_TIMEOUT: { exit: EXIT.TIMEOUT, what: 'timed out: no data moved', hint: 'raise --timeout or check the link' },
  E_CONFLICTS: { exit: EXIT.CONFLICTS, what: 'conflicts were left for you to resolve' },
  E_LOCKED: { exit: EXIT.LOCKED, what: 'another tsync run holds the lock', hint: 'wait for it, or use --wait-lock SECONDS' },
  E_PRE_HOOK: { exit: EXIT.PRE_HOOK, what: 'the --pre hook failed; nothing was synced' },
  E_POST_HOOK: { exit: EXIT.POST_HOOK, what: 'the --post hook failed (the sync itself succeeded)' },
  E_DOCTOR: { exit: EXIT.DOCTOR, what: 'tsync doctor found a problem' },
  E_INTERNAL: { exit: EXIT.INTERNAL, what: 'internal error (a bug in tsync)' },
};

export class TsyncError extends Error {
  readonly code: ErrorCode;
  readonly remote: boolean;
  constructor(code: ErrorCode, message: string, opts: { remote?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TsyncError';
    this.code = code;
    this.remote = opts.remote ?? false;
  }
  get exitCode(): number {
    return ERROR_TABLE[this.code].exit;
  }
}

export function isErrorCode(x: unknown): x is ErrorCode {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(ERROR_TABLE, x);
}

/**
 * Wrap anything thrown into a TsyncError: expected ones pass through, others
 * are internal. The one place a decode failure becomes an exit status: only
 * the wire decoders throw DecodeError, and what they decode came from the
 * peer (frames, messages, manifests, gone lists, baselines, ops), so it is
 * the peer's error, exit 12, never tsync's own bug.
 */
export function toTsyncError(err: unknown): TsyncError {
  if (err instanceof TsyncError) return err;
  if (err instanceof DecodeError) return new TsyncError('E_PROTOCOL', err.message, { cause: err });
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && typeof e.syscall === 'string') {
    return new TsyncError('E_IO', `${e.syscall} ${e.path ?? ''}: ${e.code}`.replace(/\s+:/, ':'), { cause: err });
  }
  return new TsyncError('E_INTERNAL', e instanceof Error ? e.message : String(err), { cause: err });
}

/** errno-style message for a failed fs call, without Node's stack. */
export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string') {
    const m = /^[A-Z]+: ([^,]+)/.exec(e.message);
    return m ? m[1] : e.code;
  }
  return String(err);
}
