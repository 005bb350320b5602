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
//   parseRuleArg(arg, kind): CliRule | null   one --include/--exclude argument (tree/rsync-rules.ts)
//   parseRuleFile(text, kind): CliRule[]      an --exclude-from file's text
//   isReserved(relPath): boolean         tsync's own state and temp files (tree/reserved.ts)
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

import { NON_ASCII, toBytes, matches } from './glob.js';
import { reserved } from './reserved.js';
import { compileCliRule, type CliMatcher, type CliRule } from './rsync-rules.js';
import { compileIgnoreLine, ignoreLines, type IgnoreLayer, type IgnoreMatcher } from './gitignore-rules.js';

export const IGNORE_FILE = '.tsyncignore';

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
