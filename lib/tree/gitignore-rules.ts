// .tsyncignore rules in gitignore syntax (gitignore(5), git's dir.c and
// wildmatch.c): a file's lines, and compiling one line for the directory
// that holds the file. Pure; the rules are listed at the top of
// lib/tree/filter.ts.

import { escapeRegex, firstGlobSpecial, globToRegex, matcher, re, STAR_LITERAL, toBytes, type Check, type Matcher } from './glob.js';

export interface IgnoreMatcher extends Matcher {
  readonly negate: boolean;
}

/** The rules of one .tsyncignore, and the shallower ones through `parent`. */
export interface IgnoreLayer {
  /** the directory holding the file, with a trailing '/' ('' = root) */
  readonly prefix: string;
  /** newest line first: the first match decides */
  readonly rules: readonly IgnoreMatcher[];
  readonly parent: IgnoreLayer | null;
  readonly bytes: boolean;
}

/** The pattern lines of a gitignore file: BOM, comments, blank lines and unescaped trailing spaces removed. */
export function ignoreLines(text: string): string[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const out: string[] = [];
  for (let line of text.split('\n')) {
    if (line === '' || line[0] === '#') continue;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    line = trimTrailingSpaces(line);
    if (line !== '') out.push(line);
  }
  return out;
}

/** git's trim_trailing_spaces: drop trailing ' ' not escaped by '\'. */
export function trimTrailingSpaces(s: string): string {
  let lastSpace = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === ' ') {
      if (lastSpace < 0) lastSpace = i;
    } else if (c === '\\') {
      i++;
      if (i >= s.length) return s;
      lastSpace = -1;
    } else lastSpace = -1;
  }
  return lastSpace < 0 ? s : s.slice(0, lastSpace);
}

export function compileIgnoreLine(line: string, prefix: string): IgnoreMatcher | null {
  let p = line;
  let negate = false;
  if (p[0] === '!') {
    negate = true;
    p = p.slice(1);
  }
  let dirOnly = false;
  if (p.endsWith('/')) {
    p = p.slice(0, -1);
    dirOnly = true;
  }
  if (p === '') return null;
  const bytes = /[?[]/.test(p);
  const make = (onBase: boolean, check: Check): IgnoreMatcher | null => {
    const m = matcher(check, { dirOnly, onBase, dirSlash: false, bytes });
    return m && Object.freeze({ ...m, negate });
  };
  const special = firstGlobSpecial(p);
  if (!p.includes('/')) {
    if (special === p.length) return make(true, { how: 'eq', str: p });
    if (STAR_LITERAL.test(p)) return make(true, { how: 'suffix', str: p.slice(1) });
    return make(true, re(globToRegex(bytes ? toBytes(p) : p, 'git-base')));
  }
  // anchored at the file's directory; a leading '/' only says so
  const s = p.startsWith('/') ? p.slice(1) : p;
  if (special === p.length) return make(false, { how: 'eq', str: prefix + s });
  return make(false, re(globToRegex(bytes ? toBytes(s) : s, 'git-path'), `^${escapeRegex(bytes ? toBytes(prefix) : prefix)}`));
}
