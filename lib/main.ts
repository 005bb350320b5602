// The command line's entry point: parse it, then load only what the mode
// needs (a server, a client run, doctor, keygen), so a peer started over
// ssh does not pay for the client's modules. Returns the exit code;
// bin/tsync is the only place that exits.

import { parseArgs, helpText, type OptionValues, type Parsed } from './cli/parse.js';
import { TsyncError, toTsyncError } from './errors.js';
import { fail } from './cli/fail.js';
import type { Out } from './cli/report.js';
import { VERSION } from './version.js';
import { PROTOCOL_MIN, PROTOCOL_VERSION } from './wire/schema.js';

export const stdio: Out = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
};

/** only a run that names a profile (`@name`) loads the profile reader */
async function expand(argv: readonly string[]): Promise<{ argv: string[]; profile: string }> {
  if (!argv.some((a) => a.startsWith('@'))) return { argv: [...argv], profile: '' };
  const { expandProfile } = await import('./cli/profile.js');
  return expandProfile(argv);
}

export async function main(argv: readonly string[], out: Out = stdio): Promise<number> {
  if (argv[0] === 'doctor') {
    try {
      const { runDoctor } = await import('./doctor/run.js');
      return await runDoctor((await expand(argv.slice(1))).argv, out);
    } catch (e) {
      return fail(out, toTsyncError(e));
    }
  }
  let values: OptionValues;
  let positional: string[];
  let ordered: Parsed['ordered'];
  let profile = '';
  try {
    if (argv[0] === 'keygen') return (await import('./cli/keygen.js')).keygen(argv.slice(1), out);
    const expanded = await expand(argv);
    profile = expanded.profile;
    ({ values, positional, ordered } = parseArgs(expanded.argv));
  } catch (e) {
    return fail(out, toTsyncError(e));
  }
  if (values.server) return (await import('./server/serve.js')).runServer({ root: values.root as string | undefined, readOnly: Boolean(values['read-only']), key: values.key });
  if (values.root !== undefined || values['read-only']) return fail(out, new TsyncError('E_USAGE', '--root and --read-only limit a server: give them with --server (the command an SSH forced command runs)'));
  if (values.help) {
    out.stdout(helpText());
    return 0;
  }
  if (values.version) {
    out.stdout(`tsync ${VERSION} (protocol ${PROTOCOL_MIN}-${PROTOCOL_VERSION})\n`);
    return 0;
  }
  const { runClient } = await import('./cli/run.js');
  return runClient(values, positional, ordered, profile, out);
}
