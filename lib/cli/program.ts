// The command line as cac sees it: every command of lib/cli/commands.ts with
// its rows of the option table. cac matches the command word and writes each
// command's --help; lib/cli/parse.ts reads the words (rsync's habits, which
// cac's parser does not have).

import { cac, type CAC, type Command } from 'cac';
import { COMMANDS, type CommandSpec } from './commands.js';
import { optionsOf, type OptionSpec } from './options.js';
import { ERROR_TABLE } from '../errors.js';
import { VERSION } from '../version.js';

/** '-e, --rsh <CMD>', or '    --delete' lined up under the short ones */
const rawName = (o: OptionSpec): string => `${o.short ? `-${o.short}, ` : '    '}--${o.long}${o.arg ? ` <${o.arg}>` : ''}`;

export function program(): CAC {
  const cli = cac('tsync');
  cli.globalCommand.versionNumber = VERSION;
  for (const spec of COMMANDS) {
    const cmd = cli.command(spec.name === 'sync' ? spec.args : `${spec.name} ${spec.args}`, spec.summary);
    if (spec.name === 'sync') cmd.usage('[options] SRC... DEST');
    else cmd.usage(`${spec.name} [options] ${spec.args}`);
    for (const o of optionsOf(spec.name)) {
      if (o.hidden) continue;
      cmd.option(rawName(o), o.help);
      // a --no-x flag is not "x, default true" here: the table says what it does
      cmd.options[cmd.options.length - 1].config.default = undefined;
    }
  }
  return cli;
}

/** The command argv names, and the words after its name. */
export function matchCommand(argv: readonly string[]): { spec: CommandSpec; rest: string[] } {
  const cli = program();
  const word = argv[0];
  const cmd = cli.commands.find((c) => !c.isDefaultCommand && word !== undefined && c.isMatched(word));
  const spec = COMMANDS.find((s) => s.name === (cmd ? cmd.name : 'sync'))!;
  return { spec, rest: argv.slice(cmd ? 1 : 0) };
}

const EXIT_HELP: string = (() => {
  const seen = new Map<number, string[]>();
  for (const row of Object.values(ERROR_TABLE)) seen.set(row.exit, [...(seen.get(row.exit) ?? []), row.what]);
  const rows = [[0, ['success']] as const, ...[...seen.entries()].sort((a, b) => a[0] - b[0])];
  return rows.map(([code, whats]) => `  ${String(code).padStart(3)}  ${whats.join('; ')}`).join('\n');
})();

/** cac's help for one command, with its `more` words (and, for a sync, the exit codes) */
export function helpText(name: CommandSpec['name'] = 'sync'): string {
  const cli = program();
  const spec = COMMANDS.find((s) => s.name === name)!;
  const cmd: Command = cli.commands.find((c) => (name === 'sync' ? c.isDefaultCommand : c.name === name))!;
  cli.globalCommand.helpCallback = (sections) => [
    ...sections.slice(0, 2),
    ...(spec.more ? [{ body: spec.more }] : []),
    ...sections.slice(2),
    ...(name === 'sync' ? [{ title: 'Exit codes', body: EXIT_HELP }] : []),
    { body: 'See tsync(1) for details.' },
  ];
  let text = '';
  const info = console.info;
  console.info = (s: unknown) => void (text += `${String(s)}\n`);
  try {
    cmd.outputHelp();
  } finally {
    console.info = info;
  }
  return text.replace(/ +$/gm, ''); // cac pads each option row with a space
}
