// `tsync doctor ENDPOINT [ENDPOINT]`: probe each endpoint (a local path in
// this process; a remote one through its tsync server, START role doctor),
// print every check with what to fix, and end non-zero when one failed.

import { parseArgs, num } from '../cli/parse.js';
import { parseEndpoint, describeEndpoint, type Endpoint } from '../link/endpoint.js';
import { ERROR_TABLE, TsyncError, toTsyncError } from '../errors.js';
import { Connection } from '../link/connection.js';
import { explainEarlyExit, rshCommand, spawnRemote } from '../link/spawn.js';
import { handshake, ourRange } from '../link/handshake.js';
import { LIMITS, type StartOptions } from '../wire/schema.js';
import { DOCTOR_CAP } from '../wire/caps.js';
import { probeRoot, type DiagReport, type RootProbe } from './probe.js';
import { clockCheck, clockOffset, pairChecks, rootChecks, type Check } from './checks.js';
import type { Out } from '../cli/report.js';
import { printable } from '../text.js';
import { VERSION } from '../version.js';

/** a doctor that cannot reach its peer gives up after this long without --timeout */
const DEFAULT_TIMEOUT = 30;

const DOCTOR_START: StartOptions = { delete: false, dryRun: true, checksum: false, update: false, ignoreFiles: true, rules: [], backupDir: '', modifyWindow: 0, timeout: 0, compress: false, compressLevel: 6, partial: false };

interface Examined {
  label: string;
  checks: Check[];
  probe: RootProbe | null;
}

export async function runDoctor(argv: readonly string[], out: Out): Promise<number> {
  const { values, positional } = parseArgs(argv);
  if (positional.length < 1 || positional.length > 2) throw new TsyncError('E_USAGE', 'usage: tsync doctor [-e CMD] [--tsync-path PROG] [--timeout S] [--json] ENDPOINT [ENDPOINT]');
  const eps = positional.map(parseEndpoint);
  const rsh = rshCommand(values.rsh as string | undefined);
  const tsyncPath = (values['tsync-path'] as string) ?? 'tsync';
  const timeout = num(values, 'timeout', DEFAULT_TIMEOUT, { integer: true, max: LIMITS.timeout });
  const examined: Examined[] = [];
  for (const ep of eps) examined.push(ep.kind === 'local' ? examineLocal(ep.path) : await examineRemote(ep, rsh, tsyncPath, timeout));
  const pair = examined.length === 2 && examined[0].probe && examined[1].probe ? pairChecks({ label: examined[0].label, p: examined[0].probe }, { label: examined[1].label, p: examined[1].probe }) : [];
  const all = [...examined.flatMap((e) => e.checks), ...pair];
  const failed = all.find((c) => c.status === 'fail');
  const code = failed ? ERROR_TABLE[failed.code ?? 'E_DOCTOR'].exit : 0;
  if (values.json) {
    const json = { ok: code === 0, exitCode: code, endpoints: examined.map((e) => ({ endpoint: e.label, checks: e.checks, probe: e.probe })), pair };
    out.stdout(`${JSON.stringify(json)}\n`);
    return code;
  }
  const lines: string[] = [];
  const show = (c: Check) => {
    lines.push(`  ${c.status.padEnd(5)} ${c.name.padEnd(8)} ${printable(c.detail)}`);
    if (c.fix && c.status !== 'ok' && c.status !== 'info') lines.push(`  ${''.padEnd(5)} ${''.padEnd(8)} fix: ${printable(c.fix)}`);
  };
  for (const e of examined) {
    lines.push(printable(e.label));
    e.checks.forEach(show);
  }
  if (pair.length) {
    lines.push('between the two');
    pair.forEach(show);
  }
  const fails = all.filter((c) => c.status === 'fail').length;
  const warns = all.filter((c) => c.status === 'warn').length;
  const tally = [fails ? `${fails} problem${fails === 1 ? '' : 's'}` : '', warns ? `${warns} warning${warns === 1 ? '' : 's'}` : ''].filter(Boolean).join(', ');
  lines.push(`tsync doctor: ${tally || 'nothing to fix'}${code ? ` (exit ${code})` : ''}`);
  out.stdout(`${lines.join('\n')}\n`);
  return code;
}

function examineLocal(p: string): Examined {
  const probe = probeRoot(p);
  return { label: p, probe, checks: [{ name: 'connect', status: 'ok', detail: `local path; tsync ${VERSION}` }, ...rootChecks(probe)] };
}

async function examineRemote(ep: Endpoint & { kind: 'remote' }, rsh: string, tsyncPath: string, timeout: number): Promise<Examined> {
  const label = describeEndpoint(ep);
  const checks: Check[] = [];
  const failed = (err: TsyncError): Examined => {
    checks.push({ name: 'connect', status: 'fail', detail: `${err.remote ? 'remote: ' : ''}${err.message}`, fix: ERROR_TABLE[err.code].hint ?? 'see the message', code: err.code });
    return { label, checks, probe: null };
  };
  let peer;
  try {
    peer = spawnRemote(ep, rsh, tsyncPath);
  } catch (e) {
    return failed(toTsyncError(e));
  }
  const conn = new Connection(peer.input, peer.output, { timeout, expectJunk: true });
  try {
    let neg;
    try {
      neg = await Promise.race([handshake(conn, 'client'), conn.failed()]);
    } catch (e) {
      return failed(await explainEarlyExit(peer, ep, tsyncPath, toTsyncError(e)));
    }
    const them = neg.peer;
    const mine = ourRange();
    checks.push({ name: 'connect', status: 'ok', detail: `tsync ${them.software} (protocol ${them.minVersion}-${them.version}) on ${ep.host}; this tsync ${VERSION} speaks ${mine.min}-${mine.max}; using protocol ${neg.version}` });
    if (!them.caps.includes(DOCTOR_CAP)) {
      const rough = clockOffset(neg.sentAt, them.clock, them.clock, neg.receivedAt);
      checks.push(clockCheck(rough.offset, rough.error, ep.host));
      checks.push({ name: 'probe', status: 'warn', detail: `the remote tsync ${them.software} cannot probe its side (it predates tsync doctor)`, fix: 'upgrade tsync on the remote host' });
      conn.close();
      return { label, checks, probe: null };
    }
    const t0 = Date.now();
    conn.send({ t: 'start', role: 'doctor', paths: [ep.path], options: DOCTOR_START });
    const m = await Promise.race([conn.next(), conn.failed()]);
    const t3 = Date.now();
    if (m.t !== 'diag') throw new TsyncError('E_PROTOCOL', `expected DIAG, got ${m.t}`);
    const report = parseDiag(m.report);
    const { offset, error } = clockOffset(t0, report.received, report.sent, t3);
    checks.push(clockCheck(offset, error, ep.host));
    checks.push(...rootChecks(report.root));
    conn.close();
    await Promise.race([peer.exited, new Promise((r) => setTimeout(r, 2000).unref())]);
    return { label, checks, probe: report.root };
  } catch (e) {
    conn.abort(toTsyncError(e));
    return failed(toTsyncError(e));
  } finally {
    peer.kill();
  }
}

/** A DIAG's JSON, checked field by field: it comes from the peer. */
export function parseDiag(json: string): DiagReport {
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch {
    throw new TsyncError('E_PROTOCOL', 'the peer sent a DIAG that is not JSON');
  }
  const bad = (what: string) => new TsyncError('E_PROTOCOL', `the peer's DIAG has a bad ${what}`);
  const r = o as Record<string, unknown>;
  if (!r || typeof r !== 'object') throw bad('report');
  for (const k of ['tsync', 'host', 'platform', 'node'] as const) if (typeof r[k] !== 'string') throw bad(k);
  for (const k of ['received', 'sent'] as const) if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) throw bad(k);
  const p = r.root as Record<string, unknown>;
  if (!p || typeof p !== 'object') throw bad('root');
  const bools = ['exists', 'isDir', 'parentExists', 'readable', 'writable'] as const;
  for (const k of bools) if (typeof p[k] !== 'boolean') throw bad(`root.${k}`);
  if (typeof p.path !== 'string' || typeof p.writeError !== 'string') throw bad('root.path');
  for (const k of ['free', 'size'] as const) if (p[k] !== null && typeof p[k] !== 'number') throw bad(`root.${k}`);
  if (p.caseInsensitive !== null && typeof p.caseInsensitive !== 'boolean') throw bad('root.caseInsensitive');
  if (p.unicode !== null && !['keeps', 'nfd', 'nfc', 'insensitive'].includes(p.unicode as string)) throw bad('root.unicode');
  const lock = p.lock as Record<string, unknown> | null;
  if (lock !== null && (typeof lock !== 'object' || typeof lock.holder !== 'string' || typeof lock.stale !== 'boolean' || typeof lock.why !== 'string')) throw bad('root.lock');
  if (p.probedIn !== null && typeof p.probedIn !== 'string') throw bad('root.probedIn');
  return r as unknown as DiagReport;
}
