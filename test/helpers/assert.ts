// Assertions shared by the unit tests.

import type { Test } from 'tap';
import { TsyncError } from '../../lib/errors.js';

export const isProto = (e: unknown): boolean => e instanceof TsyncError && e.code === 'E_PROTOCOL';

/** fn must throw a TsyncError with code E_PROTOCOL (what a decoder owes a lying peer) */
export function throwsProto(t: Test, fn: () => unknown, msg: string): void {
  try {
    fn();
    t.fail(`${msg}: did not throw`);
  } catch (e) {
    t.ok(isProto(e), `${msg}: ${(e as Error).message}`);
  }
}
