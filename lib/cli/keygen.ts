// `tsync keygen [--force] [FILE]`: make a pre-shared key for keyed pipes
// (its options and help: lib/cli/commands.ts and the option table).
// The code goes to stdout (for copying to the other machine), what was done
// to stderr. See lib/link/key-file.ts for the code and file formats.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { TsyncError } from '../errors.js';
import { defaultKeyPath, writeNewKey } from '../link/key-file.js';
import type { Handler } from './commands.js';

export const keygen: Handler = ({ values, positional: files }, out) => {
  const force = Boolean(values.force);
  if (files.length > 1) throw new TsyncError('E_USAGE', 'tsync keygen takes at most one FILE');
  const file = files[0] ?? defaultKeyPath();
  if (file === '-') throw new TsyncError('E_USAGE', 'tsync keygen writes to a file, not to standard output; name a FILE');
  if (files.length === 0) fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const code = writeNewKey(file, force);
  out.stdout(`${code}\n`);
  out.stderr(
    `tsync: wrote a new key to ${file} (mode 0600).\n` +
      'tsync: on the other side, put the code above in a file (chmod 600) and use it with --key FILE.\n',
  );
  return 0;
};
