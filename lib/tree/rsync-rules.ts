// rsync's rules (--include, --exclude, --exclude-from): parsing an argument
// or a file's lines, and compiling one pattern (rsync(1) "PATTERN MATCHING
// RULES"; the rules are listed at the top of lib/tree/filter.ts). Pure.

import { TsyncError } from '../errors.js';
import { literalRegex, globToRegex, matcher, re, STAR_LITERAL, toBytes, type Check, type Matcher } from './glob.js';

/** One command-line rule; 'clear' drops every rule before it (rsync's '!'). */
export interface CliRule {
  readonly kind: 'include' | 'exclude' | 'clear';
  readonly pattern: string;
}

/**
 * One --include/--exclude argument, as rsync reads it: '+ PAT' and '- PAT'
 * override `defaultKind`, a lone '!' clears the list. Returns null for an
 * empty argument (rsync ignores it). Throws E_USAGE for '+ ' / '- ' without
 * a pattern.
 */
export function parseRuleArg(arg: string, defaultKind: 'include' | 'exclude'): CliRule | null {
  if (arg === '') return null;
  let kind: CliRule['kind'] = defaultKind;
  let pattern = arg;
  if ((arg[0] === '+' || arg[0] === '-') && arg[1] === ' ') {
    kind = arg[0] === '+' ? 'include' : 'exclude';
    pattern = arg.slice(2);
    if (pattern === '') throw new TsyncError('E_USAGE', `unexpected end of filter rule: ${arg}`);
  } else if (arg === '!') {
    return Object.freeze({ kind: 'clear', pattern: '' });
  }
  return Object.freeze({ kind, pattern });
}

/**
 * The rules of an --exclude-from (or --include-from) file: one per line
 * ('\n', '\r' or '\r\n' ends a line), blank lines and lines starting with
 * ';' or '#' skipped, each line parsed like parseRuleArg. Spaces are part of
 * the pattern, as in rsync.
 */
export function parseRuleFile(text: string, defaultKind: 'include' | 'exclude'): CliRule[] {
  const rules: CliRule[] = [];
  for (const line of text.split(/\r\n?|\n/)) {
    if (line === '' || line[0] === ';' || line[0] === '#') continue;
    const rule = parseRuleArg(line, defaultKind);
    if (rule) rules.push(rule);
  }
  return rules;
}

export interface CliMatcher extends Matcher {
  readonly include: boolean;
}


export function compileCliRule(rule: CliRule): CliMatcher | null {
  const include = rule.kind === 'include';
  let pat = rule.pattern;
  if (pat === '') return null;
  let dirOnly = false;
  if (pat.length > 1 && pat.endsWith('/')) {
    pat = pat.slice(0, -1);
    dirOnly = true;
  }
  let slashes = 0;
  for (let i = 0; i < pat.length; i++) if (pat.charCodeAt(i) === 47) slashes++;
  const wild = /[*?[]/.test(pat);
  const wild2 = wild && pat.includes('**');
  const wild2Prefix = wild2 && pat.startsWith('**');
  const dirSlash = wild2 && pat.length >= 3 && pat.endsWith('***');
  const anchored = pat.startsWith('/');
  const body = anchored ? pat.slice(1) : pat;
  // '?' and '[...]' count bytes: such a rule sees non-ASCII paths as UTF-8 bytes
  const bytes = wild && /[?[]/.test(pat);
  const src = (p: string): string | null => (wild ? globToRegex(bytes ? toBytes(p) : p, 'rsync') : literalRegex(p));
  const make = (onBase: boolean, check: Check): CliMatcher | null => {
    const m = matcher(check, { dirOnly, onBase, dirSlash, bytes });
    return m && Object.freeze({ ...m, include });
  };

  if (slashes === 0 && !wild2) {
    // the last component only
    if (!wild) return make(true, { how: 'eq', str: body });
    if (STAR_LITERAL.test(body)) return make(true, { how: 'suffix', str: body.slice(1) });
    return make(true, re(src(body)));
  }
  if (anchored) return make(false, wild ? re(src(body)) : { how: 'eq', str: body });
  if (!wild2) {
    // the last slashes+1 components (a pattern can never match a '/' its
    // slash count does not account for: '[!/]' matches no '/')
    if (!wild) return make(false, { how: 'tail', str: body });
    return make(false, re(src(body), `(?:^|/)(?=(?:[^/]*/){${slashes}}[^/]*$)`));
  }
  // at the start or after any '/'
  if (!wild2Prefix) return make(false, re(src(body), '(?:^|/)'));
  // a leading '**': rsync matches against '/' + path; the star run absorbs
  // any prefix, so what follows it must match a suffix of '/' + path
  let rest = body.replace(/^\*+/, '');
  if (rest === '') return make(false, { how: 'all' });
  let lead = '';
  if (rest.startsWith('/')) {
    rest = rest.slice(1);
    lead = '(?:^|/)';
  } else if (rest.startsWith('\\/')) {
    rest = rest.slice(2);
    lead = '(?:^|/)';
  }
  return make(false, re(src(rest), lead));
}
