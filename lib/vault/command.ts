// `tsync vault log|check [--vault KEY] [host:]VAULT`: what a vault holds,
// and whether all of it is intact. Neither writes to the vault.

import type { Handler } from '../cli/commands.js';
import { TsyncError } from '../errors.js';
import { parseEndpoint } from '../link/endpoint.js';
import { rshCommand } from '../link/spawn.js';
import type { StartOptions } from '../wire/schema.js';
import { printable } from '../text.js';
import { loadVaultKey } from './keys.js';
import { vaultCheck, vaultLog, withStore, type Reach } from './run.js';
import { clientDirs, Vault } from './repo.js';
import { forget, GRACE_MS, type Policy } from './forget.js';
import type { VaultKeys } from './keys.js';
import type { OptionValues } from '../cli/parse.js';
import { num } from '../cli/parse.js';
import type { Out } from '../cli/report.js';

const QUIET: StartOptions = { delete: false, dryRun: false, checksum: false, update: false, ignoreFiles: false, rules: [], backupDir: '', modifyWindow: 0, timeout: 0, compress: false, compressLevel: 6, partial: false };

export const vaultCommand: Handler = async ({ values, positional }, out) => {
  const [action, where, ...extra] = positional;
  if (action !== 'log' && action !== 'check' && action !== 'forget') throw new TsyncError('E_USAGE', `tsync vault takes log, check or forget${action ? `, not ${JSON.stringify(action)}` : ''} (push and restore are runs: tsync --vault KEY SRC/ VAULT)`);
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
  if (action === 'forget') return forgetCommand(values, keys, where, reach, note, out);
  const { result: report } = await withStore(parseEndpoint(where), reach, QUIET, (store) => vaultCheck(store, keys, Boolean(values['read-data']), note));
  for (const p of report.problems) out.stderr(`tsync: ${printable(p)}\n`);
  if (json) out.stdout(`${JSON.stringify({ ok: report.problems.length === 0, ...report })}\n`);
  else if (report.problems.length === 0) out.stdout(`vault ok: ${report.snapshots} snapshots, ${report.packs} packs, ${report.blobs} blobs${values['read-data'] ? ', every blob read and verified' : ''}\n`);
  if (report.problems.length) throw new TsyncError('E_VAULT_DAMAGED', `vault check found ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} (listed above)`);
  return 0;
};

async function forgetCommand(values: OptionValues, keys: VaultKeys, where: string, reach: Reach, note: (s: string) => void, out: Out): Promise<number> {
  const n = (k: string) => num(values, `keep-${k}`, 0, { integer: true, max: 1e9 });
  const policy: Policy = { last: n('last'), hourly: n('hourly'), daily: n('daily'), weekly: n('weekly'), monthly: n('monthly') };
  if (Object.values(policy).every((v) => v === 0)) throw new TsyncError('E_USAGE', 'tsync vault forget needs a rule: --keep-last N, --keep-hourly N, --keep-daily N, --keep-weekly N or --keep-monthly N');
  const dryRun = Boolean(values['dry-run']);
  const { result: r } = await withStore(parseEndpoint(where), reach, QUIET, async (store) => forget(await Vault.open(store, keys, clientDirs(), { create: false, write: true, note }), policy, { dryRun, graceMs: GRACE_MS }));
  if (values.json) out.stdout(`${JSON.stringify({ dryRun, ...r })}\n`);
  else {
    const would = dryRun ? 'would ' : '';
    out.stdout(`${would}keep ${r.kept.length} snapshot${r.kept.length === 1 ? '' : 's'}: ${r.kept.join(' ') || '-'}\n`);
    out.stdout(`${would}forget ${r.forgotten.length}: ${r.forgotten.join(' ') || '-'}\n`);
    out.stdout(`${would}delete ${r.deleted} pack${r.deleted === 1 ? '' : 's'} (${r.freed} bytes) marked at least a day ago; ${would}mark ${r.marked} (${r.rewritten} rewritten first)${r.sweepAfter ? `, to go after ${new Date(r.sweepAfter).toISOString()} (host clock)` : ''}\n`);
  }
  return 0;
}
