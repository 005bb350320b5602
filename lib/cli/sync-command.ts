// `tsync [options] SRC... DEST`: the run itself, or, with --server, the peer
// side of one. Loads only what the mode needs, so a peer started over ssh
// does not pay for the client's modules.

import type { Handler } from './commands.js';
import { TsyncError } from '../errors.js';
import { fail } from './fail.js';
import { VERSION } from '../version.js';
import { PROTOCOL_MIN, PROTOCOL_VERSION } from '../wire/schema.js';

export const syncCommand: Handler = async ({ values, positional, ordered }, out, profile) => {
  if (values.server) return (await import('../server/serve.js')).runServer({ root: values.root as string | undefined, readOnly: Boolean(values['read-only']), key: values.key });
  if (values.root !== undefined || values['read-only']) return fail(out, new TsyncError('E_USAGE', '--root and --read-only limit a server: give them with --server (the command an SSH forced command runs)'));
  if (values.version) {
    out.stdout(`tsync ${VERSION} (protocol ${PROTOCOL_MIN}-${PROTOCOL_VERSION})\n`);
    return 0;
  }
  const { runClient } = await import('./run.js');
  return runClient(values, positional, ordered, profile, out);
};
