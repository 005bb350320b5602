// --retries N: a run whose link was lost is started again (a new -e process
// or ssh2 session) after a pause that doubles each time. Each attempt is a
// whole session, so what the previous one installed is found up to date and
// not sent again, and the file that was in flight resumes from what arrived
// of it: attempts keep it as --partial does and use it as the delta basis.

import { TsyncError, toTsyncError } from '../errors.js';

/** the most --retries takes */
export const MAX_RETRIES = 1000;

/** seconds a reconnect waits for the destination's lock, held until the lost session's server has let go */
export const RECONNECT_LOCK_WAIT = 30;

/** the pause before reconnect k (1-based): 1 s, 2 s, 4 s ... at most 30 s */
export function backoffMs(k: number): number {
  return Math.min(30_000, 1000 * 2 ** (k - 1));
}

/** A lost link is worth another attempt; anything the peer or the data said is not. */
export function retriable(e: unknown): boolean {
  return e instanceof TsyncError && e.code === 'E_CONNECTION_LOST';
}

/**
 * Run attempt() up to retries + 1 times while it fails with a lost link.
 * note: says on stderr that the link is opened again; the count of
 * reconnects is what the caller reports.
 */
export async function withRetries<T>(retries: number, attempt: (reconnects: number) => Promise<T>, note: (s: string) => void, sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))): Promise<{ result: T; reconnects: number }> {
  for (let reconnects = 0; ; reconnects++) {
    try {
      return { result: await attempt(reconnects), reconnects };
    } catch (e) {
      if (reconnects >= retries || !retriable(e)) throw e;
      const wait = backoffMs(reconnects + 1);
      note(`${toTsyncError(e).message}; connecting again in ${wait / 1000} s (retry ${reconnects + 1} of ${retries})`);
      await sleep(wait);
    }
  }
}
