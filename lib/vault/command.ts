// `tsync vault log|check [--vault KEY] [host:]VAULT`: what a vault holds,
// and whether all of it is intact. Neither writes to the vault.

import type { Handler } from '../cli/commands.js';
import { TsyncError } from '../errors.js';
import { parseEndpoint } from '../link/endpoint.js';
import { rshCommand } from '../link/spawn.js';
import type { StartOptions } from '../wire/schema.js';
import { printable } from '../text.js';
import { loadVaultKey } from './keys.js';
import { vaultCheck, vaultLog, withStore } from './run.js';

const QUIET: StartOptions = { delete: false, dryRun: false, checksum: false, update: false, ignoreFiles: false, rules: [], backupDir: '', modifyWindow: 0, timeout: 0, compress: false, compressLevel: 6, partial: false };

export const vaultCommand: Handler = async ({ values, positional }, out) => {
  const [action, where, ...extra] = positional;
  if (action !== 'log' && action !== 'check') throw new TsyncError('E_USAGE', `tsync vault takes log or check${action ? `, not ${JSON.stringify(action)}` : ''} (push and restore are runs: tsync --vault KEY SRC/ VAULT)`);
  if (!where || extra.length) throw new TsyncError('E_USAGE', `tsync vault ${action} takes one VAULT`);
  if (values['read-data'] && action !== 'check') throw new TsyncError('E_USAGE', '--read-data goes with tsync vault check');
  const keys = await loadVaultKey(values.vault);
  const reach = { rsh: rshCommand(values.rsh as string | undefined), tsyncPath: (values['tsync-path'] as string) ?? '', timeout: 0, keyFile: null, psk: null, extraCaps: [] };
  const note = (s: string) => out.stderr(`tsync: note: ${s}\n`);
  const json = Boolean(values.json);
  if (action === 'log') {
    const { result: rows } = await withStore(parseEndpoint(where), reach, QUIET, (store) => vaultLog(store, keys, note));
    if (json) out.stdout(`${JSON.stringify({ snapshots: rows })}\n`);
    else {
      out.stdout(`${'snapshot'.padStart(8)}  ${'time (writer\'s clock)'.padEnd(24)}  ${'host'.padEnd(16)}  ${'files'.padStart(9)}  ${'bytes'.padStart(14)}\n`);
      for (const r of rows) out.stdout(`${String(r.snapshot).padStart(8)}  ${r.time.padEnd(24)}  ${printable(r.host).padEnd(16)}  ${String(r.files).padStart(9)}  ${String(r.bytes).padStart(14)}\n`);
    }
    return 0;
  }
  const { result: report } = await withStore(parseEndpoint(where), reach, QUIET, (store) => vaultCheck(store, keys, Boolean(values['read-data']), note));
  for (const p of report.problems) out.stderr(`tsync: ${printable(p)}\n`);
  if (json) out.stdout(`${JSON.stringify({ ok: report.problems.length === 0, ...report })}\n`);
  else if (report.problems.length === 0) out.stdout(`vault ok: ${report.snapshots} snapshots, ${report.packs} packs, ${report.blobs} blobs${values['read-data'] ? ', every blob read and verified' : ''}\n`);
  if (report.problems.length) throw new TsyncError('E_VAULT_DAMAGED', `vault check found ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} (listed above)`);
  return 0;
};
