// The command line's entry point: cac matches the command (lib/cli/program.ts),
// the option table parses its words, and only the command's own modules are
// loaded. Returns the exit code; bin/tsync is the only place that exits.

import { matchCommand } from './cli/program.js';
import { parseArgs } from './cli/parse.js';
import { toTsyncError } from './errors.js';
import { fail } from './cli/fail.js';
import type { Out } from './cli/report.js';
import type { CommandName } from './cli/options.js';
import * as os from 'node:os';

export const stdio: Out = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
};

/** only a run that names a profile (`@name`) loads the profile reader */
async function expand(argv: readonly string[], command: CommandName): Promise<{ argv: string[]; profile: string }> {
  if (!argv.some((a) => a.startsWith('@'))) return { argv: [...argv], profile: '' };
  const { expandProfile } = await import('./cli/profile.js');
  return expandProfile(argv, process.env, os.homedir(), command);
}

export async function main(argv: readonly string[], out: Out = stdio): Promise<number> {
  try {
    const { spec, rest } = matchCommand(argv);
    const expanded = spec.profiles ? await expand(rest, spec.name) : { argv: rest, profile: '' };
    const parsed = parseArgs(expanded.argv, spec.name);
    if (parsed.values.help) {
      out.stdout((await import('./cli/program.js')).helpText(spec.name));
      return 0;
    }
    return await (await spec.load())(parsed, out, expanded.profile);
  } catch (e) {
    return fail(out, toTsyncError(e));
  }
}
