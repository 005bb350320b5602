// `tsync keygen [--force] [FILE]`: make a pre-shared key for keyed pipes.
// The code goes to stdout (for copying to the other machine), what was done
// to stderr. See lib/link/key-file.ts for the code and file formats.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { TsyncError } from '../errors.js';
import { defaultKeyPath, writeNewKey } from '../link/key-file.js';
import type { Out } from './report.js';

export const KEYGEN_USAGE = `usage: tsync keygen [--force] [FILE]

Write a new random 256-bit key to FILE (default: ~/.config/tsync/key, or
$XDG_CONFIG_HOME/tsync/key), readable only by you, and print it as a code
(tsync-key:...) to copy to the other side. An existing FILE is kept unless --force is given.
Use the key with --key FILE (or TSYNC_KEY_FILE) on the client and
tsync --server --key FILE on the peer; see tsync(1), KEYS.
`;

export function keygen(args: readonly string[], out: Out): number {
  let force = false;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') files.push(...args.slice(i + 1));
    else if (a === '-h' || a === '--help') {
      out.stdout(KEYGEN_USAGE);
      return 0;
    } else if (a === '-f' || a === '--force') force = true;
    else if (a.startsWith('-') && a !== '-') throw new TsyncError('E_USAGE', `unknown keygen option ${a} (tsync keygen [--force] [FILE])`);
    else files.push(a);
    if (a === '--') break;
  }
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
}
