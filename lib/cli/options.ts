// The option table: the single source of every command's options, for cac's
// `--help` (lib/cli/program.ts), the parser (lib/cli/parse.ts), profiles, and
// the check that man/tsync.1 documents every option (test/cli/manpage.test.ts).

export type OptionKind = 'flag' | 'value' | 'list' | 'count';

/** the subcommands; 'sync' is the run itself (`tsync SRC... DEST`) */
export type CommandName = 'sync' | 'keygen' | 'doctor' | 'vault' | 'manifest' | 'bundle' | 'apply';

export interface OptionSpec {
  /** long name without dashes; also the key in ParsedOptions (camelCased) */
  long: string;
  short?: string;
  kind: OptionKind;
  /** placeholder for the value, shown in help */
  arg?: string;
  help: string;
  /** not shown in --help (the peer's side) */
  hidden?: boolean;
  /** the commands that take it (default: sync only) */
  in?: readonly CommandName[];
}

export const OPTIONS: readonly OptionSpec[] = [
  { long: 'archive', short: 'a', kind: 'flag', help: "archive mode, rsync's -a; always on (recursive, times, permissions, symlinks), accepted for rsync habits" },
  { long: 'rsh', short: 'e', kind: 'value', arg: 'CMD', help: "how to reach a remote host (default: ssh); run as CMD [user@]host tsync --server ...", in: ['sync', 'doctor', 'vault'] },
  { long: 'tsync-path', kind: 'value', arg: 'PROG', help: 'the tsync command on the remote side (default: tsync)', in: ['sync', 'doctor', 'vault'] },
  { long: 'dry-run', short: 'n', kind: 'flag', help: 'decide and report everything, change nothing anywhere', in: ['sync', 'vault', 'apply'] },
  { long: 'delete', kind: 'flag', help: 'remove receiver files that SRC does not have (excluded files are kept)', in: ['sync', 'bundle'] },
  { long: 'itemize', short: 'i', kind: 'flag', help: 'one line per change, rsync-like codes', in: ['sync', 'apply'] },
  { long: 'verbose', short: 'v', kind: 'count', help: 'more output; repeat for more', in: ['sync', 'bundle', 'apply'] },
  { long: 'quiet', short: 'q', kind: 'flag', help: 'print only errors', in: ['sync', 'apply'] },
  { long: 'stats', kind: 'flag', help: 'print totals at the end: files, bytes, time' },
  { long: 'json', kind: 'flag', help: 'print one JSON summary object on stdout at the end', in: ['sync', 'doctor', 'vault'] },
  { long: 'checksum', short: 'c', kind: 'flag', help: 'compare files by content hash, not size and mtime', in: ['sync', 'bundle'] },
  { long: 'update', short: 'u', kind: 'flag', help: 'never overwrite a receiver file that is newer than the sender\'s' },
  { long: 'exclude', kind: 'list', arg: 'PATTERN', help: 'exclude files matching PATTERN (rsync rules; repeatable)', in: ['sync', 'bundle'] },
  { long: 'include', kind: 'list', arg: 'PATTERN', help: 'do not exclude files matching PATTERN (first matching rule wins)', in: ['sync', 'bundle'] },
  { long: 'exclude-from', kind: 'list', arg: 'FILE', help: 'read exclude patterns from FILE, one per line', in: ['sync', 'bundle'] },
  { long: 'no-tsyncignore', kind: 'flag', help: 'do not honour .tsyncignore files', in: ['sync', 'bundle'] },
  { long: 'backup-dir', kind: 'value', arg: 'DIR', help: 'keep every overwritten or deleted receiver file under DIR (relative to the destination unless absolute)' },
  { long: 'partial', kind: 'flag', help: 'keep a partly received file aside (.tsync-partial-NAME) and resume from it next run' },
  { long: 'retries', kind: 'value', arg: 'N', help: 'when the link drops, connect again up to N times and go on where the run was (default: 0)' },
  { long: 'timeout', kind: 'value', arg: 'SECONDS', help: 'give up when no data moves for SECONDS (default: 0, never)', in: ['sync', 'doctor'] },
  { long: 'modify-window', kind: 'value', arg: 'SECONDS', help: 'treat mtimes this close as equal (default: 0)' },
  { long: 'compress', short: 'z', kind: 'flag', help: 'compress what crosses the wire (brotli when both sides have it, else deflate); tsync bundle: gzip the bundle', in: ['sync', 'bundle'] },
  { long: 'compress-level', kind: 'value', arg: 'N', help: 'compression level 1 (fastest) to 9 (smallest), default 6' },
  { long: 'two-way', kind: 'flag', help: 'two-way: merge replicas A and B so both end equal (newest wins, conflicts kept as copies)' },
  { long: 'key', kind: 'value', arg: 'FILE', help: 'pre-shared key (from tsync keygen) for a raw pipe: mutual authentication and encryption; the peer needs the same key (default: $TSYNC_KEY_FILE). manifest, bundle, apply: MAC the file under it, and check it', in: ['sync', 'manifest', 'bundle', 'apply'] },
  { long: 'progress', kind: 'flag', help: 'show live progress (files, bytes, rate, ETA) when standard output is a terminal' },
  { long: 'config', kind: 'value', arg: 'FILE', help: 'the profile file for @NAME (default: $TSYNC_CONFIG, else ~/.config/tsync/config.json)', in: ['sync', 'doctor'] },
  { long: 'pre', kind: 'value', arg: 'CMD', help: 'run CMD with /bin/sh before syncing; if it fails nothing is synced' },
  { long: 'post', kind: 'value', arg: 'CMD', help: 'run CMD with /bin/sh after syncing, with the results in its environment' },
  { long: 'wait-lock', kind: 'value', arg: 'SECONDS', help: 'wait up to SECONDS for another run on the same destination to finish (default: 0, fail at once)' },
  { long: 'vault', kind: 'value', arg: 'KEYFILE', help: 'SRC or DEST is a vault, opened with this key (tsync keygen --vault): DEST a vault pushes a snapshot, SRC a vault restores one, with --two-way DIR VAULT syncs both ways (default key: $TSYNC_VAULT_KEY); with keygen, the new vault key file to write', in: ['sync', 'vault', 'keygen'] },
  { long: 'at', kind: 'value', arg: 'N|TIME', help: 'restore snapshot N, or the last one at or before TIME, instead of the newest' },
  { long: 'keep-last', kind: 'value', arg: 'N', help: 'vault forget: keep the N newest snapshots', in: ['vault'] },
  { long: 'keep-hourly', kind: 'value', arg: 'N', help: 'vault forget: keep the newest snapshot of each of the N newest hours that have one', in: ['vault'] },
  { long: 'keep-daily', kind: 'value', arg: 'N', help: 'vault forget: ... of each of the N newest days (UTC)', in: ['vault'] },
  { long: 'keep-weekly', kind: 'value', arg: 'N', help: 'vault forget: ... of each of the N newest ISO weeks', in: ['vault'] },
  { long: 'keep-monthly', kind: 'value', arg: 'N', help: 'vault forget: ... of each of the N newest months', in: ['vault'] },
  { long: 'read-data', kind: 'flag', help: 'vault check: also read every pack and verify every blob in it', in: ['vault'] },
  { long: 'passphrase', kind: 'flag', help: 'protect the new vault key file with a passphrase (argon2id; asked on the terminal or read from $TSYNC_PASSPHRASE_FILE)', in: ['keygen'] },
  { long: 'read-only', kind: 'flag', help: 'keygen --read-only KEY OUT: write a read-only key for KEY\'s vault (restore, log, check; never write)', in: ['keygen'] },
  { long: 'help', short: 'h', kind: 'flag', help: 'show this help', in: ['sync', 'keygen', 'doctor', 'vault', 'manifest', 'bundle', 'apply'] },
  { long: 'output', short: 'o', kind: 'value', arg: 'FILE', help: 'write the manifest or bundle to FILE (- for standard output)', in: ['manifest', 'bundle'] },
  { long: 'against', kind: 'value', arg: 'FILE', help: 'the manifest (from tsync manifest) of the tree the bundle is for', in: ['bundle'] },
  { long: 'force', short: 'f', kind: 'flag', help: 'replace an existing key file', in: ['keygen'] },
  { long: 'version', short: 'V', kind: 'flag', help: 'print the version and protocol versions' },
  { long: 'server', kind: 'flag', hidden: true, help: 'run as the peer side, spoken to over stdin/stdout by a tsync client' },
  { long: 'root', kind: 'value', arg: 'DIR', hidden: true, help: 'with --server: every path a client names is inside DIR (an SSH forced command)' },
  { long: 'read-only', kind: 'flag', hidden: true, help: 'with --server: refuse every write; clients can only pull' },
];

export const optionsOf = (command: CommandName): readonly OptionSpec[] => OPTIONS.filter((o) => (o.in ?? ['sync']).includes(command));
