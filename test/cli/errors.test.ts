import t from 'tap';
import { ERROR_TABLE, EXIT, TsyncError, toTsyncError, type ErrorCode } from '../../lib/errors.js';

/**
 * Codes that share an exit status on purpose: one meaning to a script,
 * told apart by the message. Every other code has an exit status of its own.
 */
const SHARED: ErrorCode[][] = [
  ['E_SOURCE_MISSING', 'E_DEST_PARENT'],
  ['E_REFUSED', 'E_READ_ONLY'],
  ['E_REMOTE_START', 'E_REMOTE_JUNK'],
  ['E_CONNECT', 'E_CONNECTION_LOST'],
  // exit 15: the key is wrong, whether a pipe's pre-shared key or a vault's
  ['E_AUTH', 'E_VAULT_KEY'],
];

t.test('every error code maps to a distinct-per-meaning exit code', async (t) => {
  const byExit = new Map<number, ErrorCode[]>();
  for (const [code, row] of Object.entries(ERROR_TABLE) as Array<[ErrorCode, (typeof ERROR_TABLE)[ErrorCode]]>) {
    t.ok(Number.isInteger(row.exit) && row.exit > 0 && row.exit < 256, `${code} has exit ${row.exit}`);
    byExit.set(row.exit, [...(byExit.get(row.exit) ?? []), code]);
  }
  const groups = [...byExit.values()].filter((g) => g.length > 1).map((g) => [...g].sort());
  t.same(groups.sort(), SHARED.map((g) => [...g].sort()).sort(), 'only the codes meant to share an exit status share one');
  for (const g of SHARED) t.equal(new Set(g.map((c) => ERROR_TABLE[c].exit)).size, 1, `${g.join(' and ')} share one status`);
  const whats = Object.values(ERROR_TABLE).map((r) => r.what);
  t.equal(new Set(whats).size, whats.length, 'each code says something different');
  t.same([...new Set(Object.values(ERROR_TABLE).map((r) => r.exit))].sort((a, b) => a - b), [...new Set(Object.values(EXIT).filter((x) => x !== 0))].sort((a, b) => a - b), 'every EXIT status is used, and nothing outside EXIT');
  t.equal(new TsyncError('E_PARTIAL', 'x').exitCode, 23);
  t.equal(toTsyncError(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', syscall: 'open', path: '/x' })).code, 'E_IO');
  t.equal(toTsyncError(new Error('boom')).code, 'E_INTERNAL');
});
