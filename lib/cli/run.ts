// A client run from a parsed command line: reach the peer, run our role
// (one-way sender or receiver, or the two-way client), hooks and progress
// around it, then report. Returns the exit code.

import * as fs from 'node:fs';
import { num, type OptionValues, type Parsed } from './parse.js';
import { parseEndpoint, sameRemote, type Endpoint } from '../link/endpoint.js';
import { ERROR_TABLE, TsyncError, toTsyncError, EXIT } from '../errors.js';
import { withPeer, type PeerSpec } from '../link/peer.js';
import { rshCommand } from '../link/spawn.js';
import type { TwoWayResult } from '../twoway/client.js';
import { Sender, toSources } from '../oneway/sender.js';
import { Receiver } from '../oneway/receiver.js';
import { Reporter, type Events, type Out } from './report.js';
import { emptyStats, type Stats } from './stats.js';
import type { Role, Rule, StartOptions } from '../wire/schema.js';
import { parseRuleArg, parseRuleFile, type CliRule } from '../tree/rsync-rules.js';
import { DEFAULT_LEVEL } from '../link/compress.js';
import { LIMITS } from '../wire/schema.js';
import { printable } from '../text.js';
import { keyFileFrom, loadKey } from '../link/key-file.js';
import { ChangeLog, runPost, runPre, type HookContext, type Mode } from './hooks.js';
import { destLock, withLockWait } from '../fs/lock.js';
import { ProgressDisplay } from './progress.js';
import { PROGRESS_CAP } from '../wire/caps.js';
import { fail } from './fail.js';
import { MAX_RETRIES, RECONNECT_LOCK_WAIT, withRetries } from './retry.js';

export async function runClient(values: OptionValues, positional: string[], ordered: Parsed['ordered'], profile: string, out: Out): Promise<number> {
  const started = performance.now();
  const o = {
    itemize: Boolean(values.itemize),
    verbose: (values.verbose as number) ?? 0,
    quiet: Boolean(values.quiet),
    json: Boolean(values.json),
    stats: Boolean(values.stats),
    dryRun: Boolean(values['dry-run']),
  };
  // --progress: on a terminal only, and not with output meant for programs
  const display = values.progress && process.stdout.isTTY && !o.json && !o.quiet ? new ProgressDisplay(out.stdout, { columns: () => process.stdout.columns || 80 }) : null;
  const shown = display ? display.wrap(out) : out;
  const reporter = new Reporter(o, shown);
  const changes = values.post ? new ChangeLog() : null;
  const base: Events = { item: (code, p, type, target) => reporter.item(code, p, type, target), warn: (w) => reporter.warn(w), progress: display ? (s) => display.update(s) : undefined };
  const events = changes ? changes.tee(base) : base;
  let stats: Stats = emptyStats();
  let wire = { sent: 0, received: 0 };
  // --retries: reconnects made, and the bytes of the sessions that were lost
  const tally = { reconnects: 0, sent: 0, received: 0 };
  // set once the pre hook succeeded: from then on the post hook runs, whatever happens
  let ctx: HookContext | null = null;
  const before = async (mode: Mode) => {
    const c: HookContext = { sources: positional.slice(0, -1), dest: positional[positional.length - 1], mode, dryRun: o.dryRun, profile, quietStdout: o.json };
    if (values.pre) await runPre(values.pre as string, c);
    ctx = c;
    display?.start();
  };
  const post = async (code: number): Promise<string> => {
    if (!ctx || !changes) return '';
    const r = { exitCode: code, stats, errors: reporter.errors, conflicts: reporter.conflicts.length, bytesSent: wire.sent, bytesReceived: wire.received, durationMs: performance.now() - started };
    const complaint = await runPost(values.post as string, ctx, r, changes);
    if (complaint && !o.json) out.stderr(`tsync: warning: ${printable(complaint)}\n`);
    return complaint;
  };
  try {
    const run = await client(values, positional, ordered, events, { before, display, note: (s) => shown.stderr(`tsync: note: ${s}\n`), reporter, tally });
    display?.finish();
    stats = run.stats;
    wire = { sent: run.wire.sent + tally.sent, received: run.wire.received + tally.received };
    let code = reporter.errors.length > 0 ? ERROR_TABLE.E_PARTIAL.exit : reporter.conflicts.length > 0 ? ERROR_TABLE.E_CONFLICTS.exit : EXIT.OK;
    if (reporter.errors.length > 0 && !o.json) out.stderr(`tsync: ${ERROR_TABLE.E_PARTIAL.what} (${plural(reporter.errors.length, 'problem')}, listed above); exit code ${code}\n`);
    else if (code !== 0 && !o.json) out.stderr(`tsync: ${plural(reporter.conflicts.length, 'conflict')}: both sides changed; the newer version won and the other was kept as a conflict copy${o.dryRun ? ' (dry run: nothing changed)' : ''}; exit code ${code}\n`);
    const complaint = await post(code);
    if (complaint && code === EXIT.OK) code = ERROR_TABLE.E_POST_HOOK.exit;
    reporter.summary(stats, wire, performance.now() - started, code, complaint ? { path: '', code: 'E_POST_HOOK', message: complaint } : undefined, tally.reconnects);
    return code;
  } catch (e) {
    display?.finish();
    const err = toTsyncError(e);
    await post(err.exitCode);
    wire = { sent: tally.sent, received: tally.received };
    if (o.json) reporter.summary(stats, wire, performance.now() - started, err.exitCode, { path: '', code: err.code, message: err.message }, tally.reconnects);
    return fail(out, err);
  } finally {
    changes?.remove();
  }
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** `--two-way A B` (one replica here, the other local or remote, served by the peer): checked now, run when called (after the pre hook) */
function twoWay(eps: Endpoint[], options: StartOptions, reach: Omit<PeerSpec, 'remote' | 'named'>, reporter: Reporter): (lockWait: number) => Promise<TwoWayResult> {
  twoWayOptions(options);
  const [first, second] = eps;
  if (first.kind === 'remote' && second.kind === 'remote') throw new TsyncError('E_USAGE', 'at most one replica can be remote');
  if (first.kind === 'local' && second.kind === 'local' && sameDir(first.path, second.path)) throw new TsyncError('E_USAGE', 'both replicas are the same directory');
  const localFirst = first.kind === 'local';
  const [local, other] = localFirst ? [first, second] : [second, first];
  const backup = options.backupDir;
  // a backup directory inside the replicas is theirs alone, never synced
  if (backup && !backup.startsWith('/') && !backup.split('/').includes('..')) options.rules.unshift({ kind: 'exclude', pattern: `/${backup.replace(/\/+$/, '')}/` });
  const peer = { ...reach, remote: other.kind === 'remote' ? other : null, named: other };
  return async (lockWait) => (await import('../twoway/client.js')).runTwoWay({ peer, localPath: local.path, remotePath: other.path, localFirst, options, lockWait }, reporter);
}

/** what a two-way run (live or through a vault) cannot take */
function twoWayOptions(options: StartOptions): void {
  if (options.delete) throw new TsyncError('E_USAGE', '--delete does not apply to --two-way: deletions follow what changed since the last run');
  if (options.update) throw new TsyncError('E_USAGE', '--update does not apply to --two-way: the newer version always wins');
}

function sameDir(x: string, y: string): boolean {
  try {
    return fs.realpathSync(x) === fs.realpathSync(y);
  } catch {
    return false;
  }
}

/** --include/--exclude/--exclude-from in command-line order: rsync's first match wins. */
export function rulesFrom(ordered: Parsed['ordered']): Rule[] {
  const rules: Rule[] = [];
  const add = (r: CliRule | null) => {
    if (!r) return;
    if (r.kind === 'clear') rules.length = 0;
    else rules.push({ kind: r.kind, pattern: r.pattern });
  };
  for (const { name, value } of ordered) {
    if (name === 'exclude-from') {
      let text: string;
      try {
        text = value === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(value, 'utf8');
      } catch (e) {
        throw new TsyncError('E_USAGE', `cannot read --exclude-from file ${value}: ${(e as NodeJS.ErrnoException).code ?? e}`);
      }
      parseRuleFile(text, 'exclude').forEach(add);
    } else if (name === 'exclude' || name === 'include') add(parseRuleArg(value, name));
  }
  return rules;
}

interface RunHooks {
  /** after the command line is checked, before the peer is started: the pre hook */
  before(mode: Mode): Promise<void>;
  display: ProgressDisplay | null;
  note(s: string): void;
  /** where two-way decisions and conflicts go */
  reporter: Reporter;
  /** --retries: counted here, so a run that fails in the end still reports them */
  tally: { reconnects: number; sent: number; received: number };
}

async function client(values: OptionValues, positional: string[], ordered: Parsed['ordered'], reporter: Events, hooks: RunHooks): Promise<{ stats: Stats; wire: { sent: number; received: number } }> {
  if (values['two-way'] && positional.length !== 2) throw new TsyncError('E_USAGE', '--two-way takes exactly two replicas: A B');
  if (positional.length < 2) throw new TsyncError('E_USAGE', positional.length === 0 ? 'missing SRC and DEST' : 'missing DEST');
  const eps = positional.map(parseEndpoint);
  const retries = num(values, 'retries', 0, { integer: true, max: MAX_RETRIES });
  const options: StartOptions = {
    delete: Boolean(values.delete),
    dryRun: Boolean(values['dry-run']),
    checksum: Boolean(values.checksum),
    update: Boolean(values.update),
    ignoreFiles: !values['no-tsyncignore'],
    rules: rulesFrom(ordered),
    backupDir: (values['backup-dir'] as string) ?? '',
    modifyWindow: num(values, 'modify-window', 0, { max: LIMITS.modifyWindow }),
    timeout: num(values, 'timeout', 0, { integer: true, max: LIMITS.timeout }),
    compress: Boolean(values.compress),
    // with --retries, what arrived of a file survives a lost link: the next attempt resumes from it
    partial: Boolean(values.partial) || retries > 0,
    compressLevel: num(values, 'compress-level', DEFAULT_LEVEL, { integer: true, max: 9 }),
  };
  const lockWait = num(values, 'wait-lock', 0, { integer: true, max: LIMITS.timeout });
  const rsh = rshCommand(values.rsh as string | undefined);
  const tsyncPath = (values['tsync-path'] as string) ?? ''; // none: tsync starts itself remotely (lib/link/bootstrap.ts)
  // the key file's name may travel (to a local peer, in its environment); the key never does
  const keyFile = keyFileFrom(values.key);
  const reach = { rsh, tsyncPath, timeout: options.timeout, keyFile, psk: keyFile ? loadKey(keyFile) : null, extraCaps: hooks.display ? [PROGRESS_CAP] : [] };
  // an attempt after a lost link may find the lost session's server still letting go of the destination's lock
  const again = async <T>(attempt: (lockWait: number) => Promise<T>): Promise<T> => {
    const { result, reconnects } = await withRetries(retries, (n) => ((hooks.tally.reconnects = n), attempt(n ? Math.max(lockWait, RECONNECT_LOCK_WAIT) : lockWait)), hooks.note);
    hooks.tally.reconnects = reconnects;
    return result;
  };
  const failedWire = (sent: number, received: number) => {
    hooks.tally.sent += sent;
    hooks.tally.received += received;
  };
  // TSYNC_VAULT_KEY alone: a run whose SRC or DEST is a local vault (a remote one needs --vault, as nothing there is looked at before the run)
  const envVault = !!process.env.TSYNC_VAULT_KEY && (await import('../vault/run.js')).holdsLocalVault(eps);
  if (values.vault !== undefined || values.at !== undefined || envVault) {
    if (values.vault === undefined && !process.env.TSYNC_VAULT_KEY) throw new TsyncError('E_USAGE', '--at reads a vault: give its key with --vault KEYFILE');
    const { runVault, runVaultTwoWay } = await import('../vault/run.js');
    if (values['two-way']) {
      if (values.at !== undefined) throw new TsyncError('E_USAGE', '--at chooses the snapshot a restore reads; a two-way run works with the newest');
      twoWayOptions(options);
      return runVaultTwoWay(values.vault, eps, options, reach, hooks.reporter, { before: hooks.before, note: hooks.note, lockWait });
    }
    return runVault(values.vault, values.at as string | undefined, eps, options, reach, reporter, { before: hooks.before, note: hooks.note, lockWait, progress: hooks.display?.tick });
  }
  if (values['two-way']) {
    // an attempt after a lost link is a whole new two-way run: what the lost one moved is now the same on both sides
    // (both changed, same hash: in step), its baseline was not written, and the file in flight resumes from its partial
    const run = twoWay(eps, options, { ...reach, failedWire }, hooks.reporter);
    await hooks.before('two-way');
    return again(run);
  }
  const dest = eps[eps.length - 1];
  const srcs = eps.slice(0, -1);
  const remoteSrcs = srcs.filter((e) => e.kind === 'remote');
  if (remoteSrcs.length && dest.kind === 'remote') throw new TsyncError('E_USAGE', 'the source and destination cannot both be remote');
  if (remoteSrcs.length && remoteSrcs.length !== srcs.length) throw new TsyncError('E_USAGE', 'sources must be all local or all on the same remote host');
  if (remoteSrcs.length > 1 && !remoteSrcs.every((e) => sameRemote(e, remoteSrcs[0]))) throw new TsyncError('E_USAGE', 'remote sources must all be on the same host');

  // Which side am I? The side holding the source sends.
  const pull = remoteSrcs.length > 0;
  const remote: Endpoint | null = pull ? srcs[0] : dest.kind === 'remote' ? dest : null;
  const myRole: Role = pull ? 'receiver' : 'sender';
  const theirRole: Role = pull ? 'sender' : 'receiver';
  // the pre hook may make the source (mount it, dump a database into it): it runs before the source is looked at
  await hooks.before(values['two-way'] ? 'two-way' : pull ? 'pull' : remote ? 'push' : 'local');
  if (!pull) {
    const sources = toSources(srcs.map((s) => s.path));
    if (!sources.some((s) => fs.lstatSync(s.abs, { throwIfNoEntry: false }))) {
      throw new TsyncError('E_SOURCE_MISSING', `source ${srcs.map((s) => s.path).join(', ')} does not exist`);
    }
  }
  const spec = { ...reach, failedWire, remote, named: remote ?? dest };
  // each attempt is a whole session: what an earlier one installed is up to date by now
  return again((lockWait) => {
    let receiver: Receiver | null = null;
    // pushing: scan ahead while the peer starts
    const sender = myRole === 'sender' ? new Sender({ sources: toSources(srcs.map((s) => s.path)), options }, reporter) : null;
    return withPeer(
      spec,
      async ({ conn, neg }) => {
        const theirPaths = pull ? srcs.map((s) => s.path) : [dest.path];
        conn.send({ t: 'start', role: theirRole, paths: theirPaths, options: withLockWait(options, lockWait, neg.peer.caps) });
        if (options.compress) {
          // the server answers nothing between its HELLO and our START, so both directions switch here
          conn.startCompress(neg.codec, options.compressLevel);
          conn.startInflate(neg.codec);
        }
        let stats: Stats;
        if (sender) {
          stats = await Promise.race([sender.run(conn, neg.key), conn.failed()]);
        } else {
          const r = new Receiver(conn, { dest: dest.path, options, key: neg.key, rounds: neg.rounds, moves: neg.moves, lock: destLock({ dryRun: options.dryRun, lockWait }, hooks.note), progress: hooks.display?.tick }, reporter);
          receiver = r;
          hooks.display?.source(() => r.progress());
          stats = await Promise.race([r.run(), conn.failed()]);
          conn.send({ t: 'done', stats: JSON.stringify(stats) });
        }
        return { stats, wire: { sent: conn.bytesOut, received: conn.bytesIn } };
      },
      { meanwhile: sender ? (shake) => sender.prefetch(shake) : undefined, abandon: () => receiver?.abandon() },
    );
  });
}

