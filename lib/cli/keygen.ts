// `tsync keygen [--force] [FILE]`: make a pre-shared key for keyed pipes;
// `tsync keygen --vault FILE [--passphrase]`: a read-write vault key;
// `tsync keygen --read-only KEY OUT`: the read-only key of KEY's vault
// (its options and help: lib/cli/commands.ts and the option table).
// The code goes to stdout (for copying to the other machine), what was done
// to stderr. See lib/link/key-file.ts and lib/vault/keys.ts for the formats.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { TsyncError } from '../errors.js';
import { defaultKeyPath, writeNewKey } from '../link/key-file.js';
import type { Handler } from './commands.js';

export const keygen: Handler = async ({ values, positional: files }, out) => {
  const force = Boolean(values.force);
  if (values.vault !== undefined || values['read-only']) return vaultKeygen(values, files, out, force);
  if (values.passphrase) throw new TsyncError('E_USAGE', '--passphrase protects a vault key: tsync keygen --vault FILE --passphrase');
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

const vaultKeygen = async (values: Record<string, unknown>, files: string[], out: Parameters<Handler>[1], force: boolean): Promise<number> => {
  const k = await import('../vault/keys.js');
  let keys;
  let file: string;
  if (values['read-only']) {
    if (files.length !== 2 || values.vault !== undefined) throw new TsyncError('E_USAGE', 'tsync keygen --read-only KEY OUT: the vault key to derive from, and the file to write');
    keys = await k.loadVaultKey(files[0]);
    if (!keys.master) throw new TsyncError('E_USAGE', `${files[0]} is a read-only key already`);
    file = files[1];
    keys = k.parseCode(k.readOnlyCode(keys), 'the new key');
  } else {
    if (files.length > 0 || typeof values.vault !== 'string' || values.vault === '') throw new TsyncError('E_USAGE', 'tsync keygen --vault FILE: name the new vault key file after --vault');
    file = values.vault;
    keys = k.newMaster();
  }
  const code = k.codeOf(keys);
  const text = values.passphrase ? k.lockCode(code, await passphraseTwice(k.passphrase)) : `${code}\n`;
  k.writeSecret(file, text, force);
  out.stdout(`${code}\n`);
  const what = keys.master ? 'read-write vault key' : 'read-only vault key (restore, log and check; it cannot write)';
  out.stderr(`tsync: wrote a new ${what} to ${file} (mode 0600${values.passphrase ? ', protected by the passphrase' : ''}).\ntsync: keep a copy of the code above somewhere safe: without the key the vault cannot be read.\n`);
  return 0;
};

async function passphraseTwice(ask: (env: NodeJS.ProcessEnv, prompt: string) => Promise<string>): Promise<string> {
  const first = await ask(process.env, 'New passphrase: ');
  if (first === '') throw new TsyncError('E_USAGE', 'an empty passphrase protects nothing');
  if (!process.env.TSYNC_PASSPHRASE_FILE && (await ask(process.env, 'Again: ')) !== first) throw new TsyncError('E_USAGE', 'the passphrases differ');
  return first;
}
