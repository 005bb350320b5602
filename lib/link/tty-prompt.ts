// Asking the user for a secret (a key's passphrase) on the controlling
// terminal, without echo, the way ssh does: /dev/tty, never stdin or stdout
// (they may be pipes carrying data). No terminal: null, and the caller goes
// on without the secret.

import * as fs from 'node:fs';
import * as tty from 'node:tty';

export function hasTerminal(): boolean {
  try {
    const fd = fs.openSync('/dev/tty', 'r+');
    fs.closeSync(fd);
    return Boolean(process.stdin.isTTY || process.stderr.isTTY);
  } catch {
    return false;
  }
}

/** Ask `question` on /dev/tty with echo off; null when there is no terminal. */
export async function askSecret(question: string): Promise<string | null> {
  if (!hasTerminal()) return null;
  const fd = fs.openSync('/dev/tty', 'r+');
  const input = new tty.ReadStream(fd);
  fs.writeSync(fd, question);
  input.setRawMode(true);
  try {
    return await new Promise<string | null>((resolve) => {
      let answer = '';
      input.on('data', (chunk: Buffer) => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') return resolve(answer);
          if (ch === '\u0003' || ch === '\u0004') return resolve(null); // ^C, ^D: no answer
          if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
          else answer += ch;
        }
      });
    });
  } finally {
    input.setRawMode(false);
    fs.writeSync(fd, '\n');
    input.destroy();
  }
}
