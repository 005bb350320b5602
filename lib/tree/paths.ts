// Path rules for everything a peer names. A relative path is '/'-separated,
// not empty, has no '', '.' or '..' component and no NUL; '.' alone names
// the transfer root. Checked before any use.

import { LIMITS } from '../wire/schema.js';

/** anything checkRelPath could object to: a leading, doubled or trailing '/', a '.' or '..' component, NUL */
const SUSPECT = /^\/|\/\/|\/$|(?:^|\/)\.\.?(?:\/|$)|\0/;

export function checkRelPath(p: string): string | null {
  if (p === '.') return null;
  // the common case, on every manifest entry: no UTF-16 unit takes more than 3 UTF-8 bytes
  if (p.length > 0 && p.length * 3 <= LIMITS.path && !SUSPECT.test(p)) return null;
  if (p.length === 0) return 'empty path';
  if (Buffer.byteLength(p) > LIMITS.path) return 'path too long';
  if (p.includes('\0')) return 'path contains NUL';
  if (p.startsWith('/')) return 'absolute path';
  for (const part of p.split('/')) {
    if (part === '') return 'empty path component';
    if (part === '.' || part === '..') return `"${part}" component`;
  }
  return null;
}

export function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '.' : p.slice(0, i);
}

export function baseOf(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** join a checked relative path onto a root without normalising it away */
export function under(root: string, rel: string): string {
  if (rel === '.') return root;
  return root.endsWith('/') ? root + rel : `${root}/${rel}`;
}
