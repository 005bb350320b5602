// The glob compiler the filter's two rule dialects share: rsync patterns and
// gitignore patterns turned into a RegExp source (or a cheaper string
// comparison), and the compiled pattern's test. Pure. The dialects' rules
// are listed at the top of lib/tree/filter.ts.


/**
 * How a compiled pattern tests its subject (the path, or its last component):
 * 'eq' subject === str; 'suffix' subject ends with str; 'tail' subject is
 * str or ends with '/' + str; 're' re matches; 'all' always.
 */
export type How = 'eq' | 'suffix' | 'tail' | 're' | 'all';

/** A compiled pattern. */
export interface Matcher {
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
export type Check = { how: 're'; src: string } | { how: 'eq' | 'suffix' | 'tail'; str: string } | { how: 'all' } | null;

export const re = (src: string | null, before = '^', after = '$'): Check => (src === null ? null : { how: 're', src: `${before}${src}${after}` });

export const NON_ASCII = /[^\x00-\x7f]/;

export function toBytes(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

export function matches(m: Matcher, path: string, base: string, isDir: boolean): boolean {
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

export function matcher(check: Check, fields: Pick<Matcher, 'dirOnly' | 'onBase' | 'dirSlash' | 'bytes'>): Matcher | null {
  if (check === null) return null;
  return {
    ...fields,
    how: check.how,
    str: check.how === 'eq' || check.how === 'suffix' || check.how === 'tail' ? check.str : '',
    re: check.how === 're' ? new RegExp(check.src, 's') : null,
  };
}

/** '*' + a literal (no '*?[\\'): the last component ends with the literal. */
export const STAR_LITERAL = /^\*[^*?[\\]*$/;


/** Index of the first '*', '?', '[' or '\' (git's simple_length), or s.length. */
export function firstGlobSpecial(s: string): number {
  const i = s.search(/[*?[\\]/);
  return i < 0 ? s.length : i;
}

// ---------------------------------------------------------------------------
// glob -> RegExp source

export type Dialect = 'rsync' | 'git-base' | 'git-path';

/**
 * The RegExp source (flag 's', no 'u') for a wildmatch pattern, or null when
 * the pattern can never match (an unclosed '[', a bad [:class:], a trailing
 * '\'). In 'git-path' a star run is "**" only when it stands alone between
 * slashes or at either end (git's wildmatch with WM_PATHNAME); git hands
 * wildmatch the pattern after its literal prefix, so a run right after that
 * prefix counts as standing at the start.
 */
export function globToRegex(p: string, dialect: Dialect): string | null {
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

export function literalRegex(s: string): string {
  let out = '';
  for (const c of s) out += escapeRegex(c);
  return out;
}

export function escapeRegex(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if ((code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95) out += s[i];
    else if (code <= 0xff) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += `\\u${code.toString(16).padStart(4, '0')}`;
  }
  return out;
}

export const range = (set: Uint8Array, lo: number, hi: number): void => {
  for (let c = lo; c <= hi && c < 256; c++) set[c] = 1;
};

/** POSIX classes as the C locale defines them (rsync and git both use ASCII ctype). */
export const POSIX: Readonly<Record<string, (set: Uint8Array) => void>> = Object.freeze({
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
export function classToRegex(p: string, start: number): { re: string; end: number } | null {
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

export function hex(c: number): string {
  return `\\x${c.toString(16).padStart(2, '0')}`;
}
