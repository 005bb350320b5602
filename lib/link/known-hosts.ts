// known_hosts for the built-in SSH client: parse (pure), look a host key up,
// and append a new one (accept-new). Understood: plain and `|1|salt|hmac`
// hashed host fields, comma-separated patterns with `*`/`?` and `!`,
// `[host]:port` for ports other than 22, and the `@revoked` marker
// (`@cert-authority` lines are skipped: certificates are not supported).

import { createHash, createHmac, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { globMatch } from './ssh-config.js';

export interface KnownKey {
  /** the host field as written (hashed or patterns) */
  hosts: string;
  type: string;
  /** the key blob (base64-decoded) */
  blob: Buffer;
  revoked: boolean;
  file: string;
  line: number;
}

/** How known_hosts names a host: `name`, or `[name]:port` off port 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** OpenSSH's fingerprint: `SHA256:` and the unpadded base64 of the blob's SHA-256. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside a key blob (its first SSH string). */
export function blobType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const n = blob.readUInt32BE(0);
  return n > 0 && n < 64 && 4 + n <= blob.length ? blob.subarray(4, 4 + n).toString('latin1') : 'unknown';
}

export function parseKnownHosts(text: string, file: string): KnownKey[] {
  const out: KnownKey[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const fields = lines[i].trim().split(/\s+/);
    if (fields[0] === '' || fields[0].startsWith('#')) continue;
    let revoked = false;
    if (fields[0].startsWith('@')) {
      if (fields[0] !== '@revoked') continue;
      revoked = true;
      fields.shift();
    }
    if (fields.length < 3) continue;
    const blob = Buffer.from(fields[2], 'base64');
    if (blob.length === 0) continue;
    out.push({ hosts: fields[0], type: fields[1], blob, revoked, file, line: i + 1 });
  }
  return out;
}

/** Does a known_hosts host field name this host (hashed or patterns)? */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  let hit = false;
  for (const p of field.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) hit = true;
  }
  return hit;
}

export type HostKeyVerdict =
  | { status: 'known' }
  | { status: 'unknown' }
  | { status: 'changed'; file: string; line: number }
  | { status: 'revoked'; file: string; line: number };

/** Compare the key a host offered with what the files say about `name`. */
export function checkHostKey(keys: readonly KnownKey[], name: string, blob: Buffer): HostKeyVerdict {
  const mine = keys.filter((k) => hostFieldMatches(k.hosts, name));
  const revoked = keys.find((k) => k.revoked && k.blob.equals(blob));
  if (revoked) return { status: 'revoked', file: revoked.file, line: revoked.line };
  if (mine.some((k) => !k.revoked && k.blob.equals(blob))) return { status: 'known' };
  const type = blobType(blob);
  const sameType = mine.find((k) => !k.revoked && k.type === type);
  if (sameType) return { status: 'changed', file: sameType.file, line: sameType.line };
  return { status: 'unknown' };
}

/** Key types the files hold for `name`, to offer them first (as OpenSSH does). */
export function knownTypes(keys: readonly KnownKey[], name: string): string[] {
  return [...new Set(keys.filter((k) => !k.revoked && hostFieldMatches(k.hosts, name)).map((k) => k.type))];
}

/** Read every file that exists; unreadable ones count as empty. */
export function loadKnownHosts(files: readonly string[]): KnownKey[] {
  const out: KnownKey[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    out.push(...parseKnownHosts(text, f));
  }
  return out;
}

/** The known_hosts line for a key (hashed like `ssh-keygen -H` when asked). */
export function knownHostsLine(name: string, blob: Buffer, hashed: boolean): string {
  let field = name;
  if (hashed) {
    const salt = randomBytes(20);
    field = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
  }
  return `${field} ${blobType(blob)} ${blob.toString('base64')}\n`;
}

/** Append a line to the user's known_hosts file, creating ~/.ssh (0700) as ssh does. */
export function appendKnownHost(file: string, line: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.appendFileSync(file, line, { mode: 0o600 });
}
