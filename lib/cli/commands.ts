// The commands: one entry each. An entry names the command, its arguments in
// cac's syntax, the line `tsync --help` shows, and how to load its handler;
// its options are the rows of the option table (lib/cli/options.ts) whose
// `in` names it. Adding a subcommand is one entry here, its options' rows,
// and the handler (test/cli/commands.test.ts adds one to show it).

import type { CommandName } from './options.js';
import type { Parsed } from './parse.js';
import type { Out } from './report.js';

/** runs a parsed command line; returns the exit code */
export type Handler = (p: Parsed, out: Out, profile: string) => number | Promise<number>;

export interface CommandSpec {
  name: CommandName;
  /** the arguments, in cac's syntax: <required> [optional] [...many] */
  args: string;
  /** the line in `tsync --help`'s list of commands */
  summary: string;
  /** more words for `tsync CMD --help`, after its options */
  more?: string;
  /** `@PROFILE` expands for this command (lib/cli/profile.ts) */
  profiles?: boolean;
  load(): Promise<Handler>;
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'sync',
    args: '[...ENDPOINTS]',
    summary: 'make DEST like SRC (or, with --two-way, A and B like each other)',
    profiles: true,
    more: [
      'Make DEST like SRC, locally or over SSH or any stdio command:',
      '  tsync [options] SRC... DEST      tsync [options] @PROFILE [SRC... DEST]',
      'Endpoints: a local path, [user@]host:path, or ssh://[user@]host[:port]/path.',
      'A trailing slash on SRC copies its contents; without one the directory itself.',
    ].join('\n'),
    load: async () => (await import('./sync-command.js')).syncCommand,
  },
  {
    name: 'keygen',
    args: '[...FILES]',
    summary: 'make a pre-shared key for --key, or a vault key (--vault FILE, --read-only KEY OUT)',
    more: [
      'Write a new random 256-bit key to FILE (default: ~/.config/tsync/key, or',
      '$XDG_CONFIG_HOME/tsync/key), readable only by you, and print it as a code',
      '(tsync-key:...) to copy to the other side. An existing FILE is kept unless --force is given.',
      'Use the key with --key FILE (or TSYNC_KEY_FILE) on the client and',
      'tsync --server --key FILE on the peer; see tsync(1), KEYS.',
      'tsync keygen --vault FILE [--passphrase] writes a new read-write vault key;',
      'tsync keygen --read-only KEY OUT writes the read-only key of KEY\'s vault (restore, log, check).',
    ].join('\n'),
    load: async () => (await import('./keygen.js')).keygen,
  },
  {
    name: 'vault',
    args: '<ACTION> [...VAULT]',
    summary: 'list a vault\'s snapshots (log), verify it (check), or let old ones go (forget)',
    more: [
      'tsync vault log   --vault KEY [host:]VAULT      snapshots: number, time, writer, files, bytes',
      'tsync vault check --vault KEY [host:]VAULT [--read-data]   verify heads, indexes and trees (and every pack)',
      'tsync vault forget --vault KEY [host:]VAULT --keep-last N [--keep-hourly|daily|weekly|monthly N] [-n]',
      '                  forget what no rule keeps; packs unreferenced a day (host clock) after a forget marked them are deleted',
      'Pushing and restoring are runs: tsync --vault KEY SRC/ VAULT, tsync --vault KEY VAULT DEST/ [--at N|TIME];',
      'so is two-way through a vault: tsync --vault KEY --two-way DIR VAULT.',
    ].join('\n'),
    load: async () => (await import('../vault/command.js')).vaultCommand,
  },
  {
    name: 'doctor',
    args: '[...ENDPOINTS]',
    summary: 'check one or two endpoints and say what to fix',
    profiles: true,
    more: 'Probe each ENDPOINT (or a profile\'s two) and print every check with what to fix; exit non-zero when one failed.',
    load: async () => (await import('../doctor/run.js')).runDoctor,
  },
  {
    name: 'manifest',
    args: '<DIR>',
    summary: 'write the signed manifest of DIR, for making an offline bundle',
    more: [
      'Write the manifest of what DIR holds (every entry, each file\'s SHA-256, block',
      'signatures of large files) to -o FILE (- for standard output), MACed under',
      '--key when given, else with a SHA-256 checksum. Carry it to the sender for',
      'tsync bundle --against FILE.',
    ].join('\n'),
    load: async () => (await import('./bundle-commands.js')).manifestCommand,
  },
  {
    name: 'bundle',
    args: '<...SRC>',
    summary: 'write a tar of what turns a manifest\'s tree into SRC, for tsync apply',
    more: [
      'Write to -o OUT (- for standard output) a tar holding the new files, deltas',
      'against the manifest\'s files, moves of content the receiver has, deletions',
      '(--delete), and the manifest of the result; MACed under --key, else a',
      'checksum; gzipped with -z. SRC follows the trailing-slash rule.',
    ].join('\n'),
    load: async () => (await import('./bundle-commands.js')).bundleCommand,
  },
  {
    name: 'apply',
    args: '<BUNDLE> <DIR>',
    summary: 'check a bundle and DIR, then apply the bundle to DIR',
    more: [
      'Check the whole bundle (- reads standard input), then that DIR still holds what',
      'the manifest said wherever the bundle acts (else: conflicts, nothing changed,',
      'exit 40), then apply it: temporary, verify, rename. Applying again after an',
      'interruption finishes the job.',
    ].join('\n'),
    load: async () => (await import('./bundle-commands.js')).applyCommand,
  },
];
