import t from 'tap';
import { ERROR_TABLE, TsyncError, toTsyncError } from '../../lib/errors.js';

t.test('every error code maps to a distinct-per-meaning exit code', async (t) => {
  for (const [code, row] of Object.entries(ERROR_TABLE)) {
    t.ok(row.exit > 0 && row.exit < 256, `${code} has exit ${row.exit}`);
  }
  t.equal(new TsyncError('E_PARTIAL', 'x').exitCode, 23);
  t.equal(toTsyncError(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', syscall: 'open', path: '/x' })).code, 'E_IO');
  t.equal(toTsyncError(new Error('boom')).code, 'E_INTERNAL');
});
