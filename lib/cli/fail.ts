// The one-line error every failure ends with, and its exit code.

import { ERROR_TABLE, type TsyncError } from '../errors.js';
import type { Out } from './report.js';
import { printable } from '../text.js';

export function fail(out: Out, err: TsyncError): number {
  const row = ERROR_TABLE[err.code];
  const who = err.remote ? 'remote: ' : '';
  const hint = row.hint && err.code !== 'E_INTERNAL' ? ` (${row.hint})` : '';
  out.stderr(`tsync: error: ${who}${printable(err.message)}${hint}\n`);
  if (err.code === 'E_INTERNAL' && process.env.TSYNC_DEBUG) out.stderr(`${(err.cause as Error)?.stack ?? err.stack}\n`);
  return err.exitCode;
}

