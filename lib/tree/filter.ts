// Which paths of the transfer are excluded. Pure: no fs; the caller reads
// --exclude-from files and .tsyncignore files and hands over their text.
//
// Paths are relative to the transfer root, '/'-separated, no leading or
// trailing slash ('a/b/c.txt'). The caller asks about a directory before
// descending into it and never descends into an excluded one (rsync and git
// both work this way: nothing below an excluded directory can come back).
//
// API
//   IGNORE_FILE                          '.tsyncignore'
//   parseRuleArg(arg, kind): CliRule | null   one --include/--exclude argument
//   parseRuleFile(text, kind): CliRule[]      an --exclude-from file's text
//   isReserved(relPath): boolean         tsync's own state and temp files
//   Filter.create(cliRules, { ignoreFiles = true }): Filter
//   filter.withIgnoreFile(dirRel, text): Filter   the filter for dirRel and below
//   filter.excluded(relPath, isDir): boolean
//   filter.usesIgnoreFiles: boolean
// A Filter is immutable; withIgnoreFile returns a new one sharing the parent's
// compiled rules (or the same one when the file adds no rule).
//
// Decision order for a path:
//   1. reserved names (isReserved) are always excluded;
//   2. the command-line rules, in order: the FIRST one that matches decides
//      (rsync's --include/--exclude/--exclude-from, old-style rules);
//   3. the .tsyncignore rules (gitignore syntax): the deepest file first,
//      and within a file the LAST matching line decides ('!' re-includes);
//   4. otherwise the path is included.
//
// Command-line pattern rules (rsync(1) "PATTERN MATCHING RULES", exclude.c):
//   - a trailing '/' matches directories only (and is then removed);
//   - a leading '/' anchors the pattern at the transfer root;
//   - no '/' and no '**': matched against the last path component;
//   - a '/' but no '**' and no leading '/': matched against the LAST n+1
//     components, n being the number of slashes (so 'foo/bar' matches
//     'x/foo/bar' too: rsync is unanchored here, unlike gitignore);
//   - '**' but not leading: tried at the start and after every '/';
//     leading '**': matched against '/' + the whole path;
//   - a trailing '/***' also matches the directory itself;
//   - '*' any run without '/', '**' any run, '?' one byte but '/', '[...]'
//     one byte but '/' ('!' or '^' negates, ranges, [:alpha:] etc.);
//   - a backslash escapes only if the pattern holds '*', '?' or '['; a
//     pattern without them is compared literally, backslashes and all;
//   - an argument '+ PAT' / '- PAT' is an include / exclude whatever the
//     option; an argument '!' clears the rules given before it.
// .tsyncignore rules (gitignore(5), git's dir.c and wildmatch.c):
//   - '#' starts a comment line, '\#' and '\!' escape; trailing spaces are
//     dropped unless escaped with '\'; '!' negates; a trailing '/' matches
//     directories only;
//   - no '/' (but a trailing one): matches the last component at any depth
//     below the file's directory; otherwise the pattern is anchored at the
//     file's directory (a leading '/' only marks that);
//   - '**/' leading, '/**/' inner (zero or more directories) and '/**'
//     trailing (everything inside); any other '**' is a '*'.
// Matching is on UTF-8 bytes like rsync and git ('?' is one byte), and case
// sensitive. Patterns compile to RegExps once; excluded() is on the hot path.

import { TsyncError } from '../errors.js';

export const IGNORE_FILE = '.tsyncignore';

/** tsync's state directory at the root of a tree. */
export const STATE_DIR = '.tsync';
/** Basename prefixes of tsync's temporary files. */
/** a file being received, and (--partial) what arrived of an interrupted one */
export const TMP_PREFIX = '.tsync-tmp-';
export const PARTIAL_PREFIX = '.tsync-partial-';
export const TEMP_PREFIXES: readonly string[] = Object.freeze([TMP_PREFIX, PARTIAL_PREFIX]);

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

/** True for tsync's own state ('.tsync' at the root and below) and temp files. */
export function isReserved(relPath: string): boolean {
  const slash = relPath.lastIndexOf('/');
  return reserved(relPath, slash < 0 ? relPath : relPath.slice(slash + 1));
}

function reserved(path: string, base: string): boolean {
  if (base.charCodeAt(0) !== 46 /* . */ && path.charCodeAt(0) !== 46) return false;
  for (const p of TEMP_PREFIXES) if (base.startsWith(p)) return true;
  return path === STATE_DIR || (path.startsWith(STATE_DIR) && path.charCodeAt(STATE_DIR.length) === 47 /* / */);
}

// ---------------------------------------------------------------------------
// Compiled rules

/**
 * How a compiled pattern tests its subject (the path, or its last component):
 * 'eq' subject === str; 'suffix' subject ends with str; 'tail' subject is
 * str or ends with '/' + str; 're' re matches; 'all' always.
 */
type How = 'eq' | 'suffix' | 'tail' | 're' | 'all';

/** A compiled pattern. */
interface Matcher {
  /** matches directories only */
  readonly dirOnly: boolean;
  /** the subject is the last component, not the whole path */
  readonly onBase: boolean;
  /** rsync's '/***': a directory's subject gets a '/' appended */
  readonly dirSlash: boolean;
  /** compiled over UTF-8 bytes held in a latin1 string ('?' and '[...]' count bytes) */
  readonly bytes: boolean;
  readonly how: How;
  readonly str: string;
  readonly re: RegExp | null;
}

/** A pattern's test: a RegExp source, or a cheaper string comparison. null: matches nothing. */
type Check = { how: 're'; src: string } | { how: 'eq' | 'suffix' | 'tail'; str: string } | { how: 'all' } | null;

const re = (src: string | null, before = '^', after = '$'): Check => (src === null ? null : { how: 're', src: `${before}${src}${after}` });

interface CliMatcher extends Matcher {
  readonly include: boolean;
}

interface IgnoreMatcher extends Matcher {
  readonly negate: boolean;
}

/** The rules of one .tsyncignore, and the shallower ones through `parent`. */
interface IgnoreLayer {
  /** the directory holding the file, with a trailing '/' ('' = root) */
  readonly prefix: string;
  /** newest line first: the first match decides */
  readonly rules: readonly IgnoreMatcher[];
  readonly parent: IgnoreLayer | null;
  readonly bytes: boolean;
}

const NON_ASCII = /[^\x00-\x7f]/;

function toBytes(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

function matches(m: Matcher, path: string, base: string, isDir: boolean): boolean {
  let s = m.onBase ? base : path;
  if (m.dirSlash && isDir) s += '/';
  switch (m.how) {
    case 'eq':
      return s === m.str;
    case 'suffix':
      return s.endsWith(m.str);
    case 'tail':
      return s.endsWith(m.str) && (s.length === m.str.length || s.charCodeAt(s.length - m.str.length - 1) === 47);
    case 're':
      return (m.re as RegExp).test(s);
    default:
      return true;
  }
}

function matcher(check: Check, fields: Pick<Matcher, 'dirOnly' | 'onBase' | 'dirSlash' | 'bytes'>): Matcher | null {
  if (check === null) return null;
  return {
    ...fields,
    how: check.how,
    str: check.how === 'eq' || check.how === 'suffix' || check.how === 'tail' ? check.str : '',
    re: check.how === 're' ? new RegExp(check.src, 's') : null,
  };
}

/** '*' + a literal (no '*?[\\'): the last component ends with the literal. */
const STAR_LITERAL = /^\*[^*?[\\]*$/;

export class Filter {
  /** whether .tsyncignore files are read (withIgnoreFile adds rules) */
  readonly usesIgnoreFiles: boolean;
  private readonly cli: readonly CliMatcher[];
  private readonly layer: IgnoreLayer | null;
  /** some rule here needs the byte form of a non-ASCII path */
  private readonly bytes: boolean;

  private constructor(usesIgnoreFiles: boolean, cli: readonly CliMatcher[], layer: IgnoreLayer | null) {
    this.usesIgnoreFiles = usesIgnoreFiles;
    this.cli = cli;
    this.layer = layer;
    let bytes = cli.some((m) => m.bytes);
    for (let l = layer; l && !bytes; l = l.parent) bytes = l.bytes;
    this.bytes = bytes;
    Object.freeze(this);
  }

  /** A filter from command-line rules (in command-line order); .tsyncignore files are honoured unless ignoreFiles is false. */
  static create(cliRules: readonly CliRule[], opts: { ignoreFiles?: boolean } = {}): Filter {
    let compiled: CliMatcher[] = [];
    for (const r of cliRules) {
      if (r.kind === 'clear') compiled = [];
      else {
        const m = compileCliRule(r);
        if (m) compiled.push(m);
      }
    }
    return new Filter(opts.ignoreFiles ?? true, Object.freeze(compiled), null);
  }

  /**
   * The filter for directory `dirRel` ('' = the root) and everything below
   * it, given the text of the .tsyncignore it holds. Returns this when the
   * file has no rules or ignore files are off.
   */
  withIgnoreFile(dirRel: string, text: string): Filter {
    if (!this.usesIgnoreFiles) return this;
    if (dirRel.startsWith('/') || dirRel.endsWith('/') || dirRel === '.') {
      throw new TsyncError('E_INTERNAL', `filter: expected a relative directory without leading or trailing '/', got '${dirRel}'`);
    }
    const prefix = dirRel === '' ? '' : `${dirRel}/`;
    const rules: IgnoreMatcher[] = [];
    for (const line of ignoreLines(text)) {
      const m = compileIgnoreLine(line, prefix);
      if (m) rules.push(m);
    }
    if (rules.length === 0) return this;
    rules.reverse();
    const layer: IgnoreLayer = Object.freeze({
      prefix,
      rules: Object.freeze(rules),
      parent: this.layer,
      bytes: rules.some((m) => m.bytes),
    });
    return new Filter(true, this.cli, layer);
  }

  /** Whether `relPath` (a directory when isDir) is left out of the transfer. */
  excluded(relPath: string, isDir: boolean): boolean {
    const slash = relPath.lastIndexOf('/');
    const base = slash < 0 ? relPath : relPath.slice(slash + 1);
    if (reserved(relPath, base)) return true;
    let bPath = relPath;
    let bBase = base;
    if (this.bytes && NON_ASCII.test(relPath)) {
      bPath = toBytes(relPath);
      bBase = toBytes(base);
    }
    for (const m of this.cli) {
      if (m.dirOnly && !isDir) continue;
      if (m.bytes ? matches(m, bPath, bBase, isDir) : matches(m, relPath, base, isDir)) return !m.include;
    }
    for (let l = this.layer; l; l = l.parent) {
      if (l.prefix !== '' && !(relPath.length > l.prefix.length && relPath.startsWith(l.prefix))) continue;
      for (const m of l.rules) {
        if (m.dirOnly && !isDir) continue;
        if (m.bytes ? matches(m, bPath, bBase, isDir) : matches(m, relPath, base, isDir)) return !m.negate;
      }
    }
    return false;
  }
}

// ---------------------------------------------------------------------------
// rsync rules

function compileCliRule(rule: CliRule): CliMatcher | null {
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

// ---------------------------------------------------------------------------
// gitignore rules

/** The pattern lines of a gitignore file: BOM, comments, blank lines and unescaped trailing spaces removed. */
function ignoreLines(text: string): string[] {
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
function trimTrailingSpaces(s: string): string {
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

function compileIgnoreLine(line: string, prefix: string): IgnoreMatcher | null {
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

/** Index of the first '*', '?', '[' or '\' (git's simple_length), or s.length. */
function firstGlobSpecial(s: string): number {
  const i = s.search(/[*?[\\]/);
  return i < 0 ? s.length : i;
}

// ---------------------------------------------------------------------------
// glob -> RegExp source

type Dialect = 'rsync' | 'git-base' | 'git-path';

/**
 * The RegExp source (flag 's', no 'u') for a wildmatch pattern, or null when
 * the pattern can never match (an unclosed '[', a bad [:class:], a trailing
 * '\'). In 'git-path' a star run is "**" only when it stands alone between
 * slashes or at either end (git's wildmatch with WM_PATHNAME); git hands
 * wildmatch the pattern after its literal prefix, so a run right after that
 * prefix counts as standing at the start.
 */
function globToRegex(p: string, dialect: Dialect): string | null {
  const wmStart = dialect === 'git-path' ? firstGlobSpecial(p) : 0;
  let out = '';
  let i = 0;
  while (i < p.length) {
    const c = p[i];
    if (c === '\\') {
      if (i + 1 >= p.length) return null;
      out += escapeRegex(p[i + 1]);
      i += 2;
    } else if (c === '?') {
      out += '[^/]';
      i++;
    } else if (c === '*') {
      let j = i;
      while (j < p.length && p[j] === '*') j++;
      const run = j - i;
      if (dialect === 'rsync') out += run >= 2 ? '.*' : '[^/]*';
      else if (dialect === 'git-base' || run < 2) out += '[^/]*';
      else {
        const before = i === wmStart || p[i - 1] === '/';
        const next = p[j];
        if (before && next === '/') {
          out += '(?:.*/)?';
          j++;
        } else if (before && (next === undefined || (next === '\\' && p[j + 1] === '/'))) out += '.*';
        else out += '[^/]*';
      }
      i = j;
    } else if (c === '[') {
      const cls = classToRegex(p, i);
      if (cls === null) return null;
      out += cls.re;
      i = cls.end;
    } else {
      out += escapeRegex(c);
      i++;
    }
  }
  return out;
}

function literalRegex(s: string): string {
  let out = '';
  for (const c of s) out += escapeRegex(c);
  return out;
}

function escapeRegex(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if ((code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95) out += s[i];
    else if (code <= 0xff) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += `\\u${code.toString(16).padStart(4, '0')}`;
  }
  return out;
}

const range = (set: Uint8Array, lo: number, hi: number): void => {
  for (let c = lo; c <= hi && c < 256; c++) set[c] = 1;
};

/** POSIX classes as the C locale defines them (rsync and git both use ASCII ctype). */
const POSIX: Readonly<Record<string, (set: Uint8Array) => void>> = Object.freeze({
  alnum: (s: Uint8Array) => (range(s, 48, 57), range(s, 65, 90), range(s, 97, 122)),
  alpha: (s: Uint8Array) => (range(s, 65, 90), range(s, 97, 122)),
  blank: (s: Uint8Array) => ((s[32] = 1), (s[9] = 1)),
  cntrl: (s: Uint8Array) => (range(s, 0, 31), (s[127] = 1)),
  digit: (s: Uint8Array) => range(s, 48, 57),
  graph: (s: Uint8Array) => range(s, 33, 126),
  lower: (s: Uint8Array) => range(s, 97, 122),
  print: (s: Uint8Array) => range(s, 32, 126),
  punct: (s: Uint8Array) => (range(s, 33, 47), range(s, 58, 64), range(s, 91, 96), range(s, 123, 126)),
  space: (s: Uint8Array) => (range(s, 9, 13), (s[32] = 1)),
  upper: (s: Uint8Array) => range(s, 65, 90),
  xdigit: (s: Uint8Array) => (range(s, 48, 57), range(s, 65, 70), range(s, 97, 102)),
});

/**
 * A bracket expression starting at p[start] === '[', read exactly as
 * wildmatch's dowild() reads it. The class never matches '/'. Returns null
 * when malformed (wildmatch then aborts: the pattern matches nothing).
 * Characters are bytes here: a pattern with a class is compiled over bytes.
 */
function classToRegex(p: string, start: number): { re: string; end: number } | null {
  const set = new Uint8Array(256);
  const code = (ch: string): number => ch.charCodeAt(0) & 0xff;
  let k = start + 1;
  let ch: string | undefined = p[k];
  if (ch === '^') ch = '!';
  const negated = ch === '!';
  if (negated) ch = p[++k];
  // prev: the previous element's character, or undefined (C's 0) after a range or class
  let prev: string | undefined;
  let cur: string | undefined;
  do {
    cur = ch;
    if (ch === undefined) return null;
    if (ch === '\\') {
      ch = p[++k];
      if (ch === undefined) return null;
      cur = ch;
      set[code(ch)] = 1;
    } else if (ch === '-' && prev !== undefined && p[k + 1] !== undefined && p[k + 1] !== ']') {
      ch = p[++k];
      if (ch === '\\') {
        ch = p[++k];
        if (ch === undefined) return null;
      }
      range(set, code(prev), code(ch));
      cur = undefined;
    } else if (ch === '[' && p[k + 1] === ':') {
      const s = k + 2;
      let q = s;
      while (q < p.length && p[q] !== ']') q++;
      if (q >= p.length) return null;
      const len = q - s - 1;
      if (len < 0 || p[q - 1] !== ':') {
        // no ":]": an ordinary '['
        k = s - 2;
        set[91] = 1;
        cur = '[';
        continue;
      }
      const fill = POSIX[p.slice(s, s + len)];
      if (!fill) return null;
      fill(set);
      k = q;
      cur = undefined;
    } else set[code(ch)] = 1;
  } while (((prev = cur), (ch = p[++k]) !== ']'));
  if (negated) for (let c = 0; c < 256; c++) set[c] ^= 1;
  set[47] = 0;
  let re = '';
  for (let c = 0; c < 256; c++) {
    if (!set[c]) continue;
    let e = c;
    while (e + 1 < 256 && set[e + 1]) e++;
    re += e === c ? hex(c) : e === c + 1 ? hex(c) + hex(e) : `${hex(c)}-${hex(e)}`;
    c = e;
  }
  return { re: re === '' ? '(?!)' : `[${re}]`, end: k + 1 };
}

function hex(c: number): string {
  return `\\x${c.toString(16).padStart(2, '0')}`;
}
