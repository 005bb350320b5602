// Profiles: `tsync @docs` runs a named pair from the config file. This is an
// argv expansion before the normal parser, so every option works in a
// profile and is checked the same way:
//
//   [profile's single-valued options and flags] [the command line]
//   [profile's list options] -- [the profile's endpoints]
//
// Single-valued options on the command line therefore override the
// profile's (the last one wins); list options (--exclude, --include,
// --exclude-from) are appended after the command line's, so a command-line
// rule is tried first (first match wins). Endpoints on the command line
// replace the profile's.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OPTIONS, optionsOf, type CommandName, type OptionSpec } from './options.js';
import { TsyncError } from '../errors.js';

export interface Expanded {
  argv: string[];
  /** the profile's name, '' when none was named */
  profile: string;
}

/** keys a profile may have besides its options */
const PROFILE_KEYS = new Set(['source', 'dest', 'two-way', 'a', 'b', 'options', 'pre', 'post', 'description']);
/** options that make no sense inside a profile */
const NOT_IN_PROFILE = new Set(['help', 'version', 'server', 'config']);

const byLong = new Map(OPTIONS.map((o) => [o.long, o]));
const byShort = new Map(OPTIONS.filter((o) => o.short).map((o) => [o.short!, o]));
const takesValue = (o: OptionSpec | undefined) => o !== undefined && (o.kind === 'value' || o.kind === 'list');

/** The config file: --config, else $TSYNC_CONFIG, else $XDG_CONFIG_HOME/tsync/config.json (~/.config by default). */
export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv, home: string): string {
  if (flag) return flag;
  if (env.TSYNC_CONFIG) return env.TSYNC_CONFIG;
  return path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'tsync', 'config.json');
}

interface Scan {
  /** index of each positional word before `--` */
  positionals: number[];
  /** index of `--`, or -1 */
  dashdash: number;
  config: string | undefined;
}

/** Which words of argv are positionals, knowing which options take a value. */
function scan(argv: readonly string[]): Scan {
  const s: Scan = { positionals: [], dashdash: -1, config: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      s.dashdash = i;
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const value = eq >= 0 ? a.slice(eq + 1) : takesValue(byLong.get(name)) ? argv[++i] : undefined;
      if (name === 'config') s.config = value;
    } else if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        if (takesValue(byShort.get(a[j]))) {
          if (j + 1 === a.length) i++;
          break;
        }
      }
    } else s.positionals.push(i);
  }
  return s;
}

export function expandProfile(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, home: string = os.homedir(), command: CommandName = 'sync'): Expanded {
  const sc = scan(argv);
  const named = sc.positionals.filter((i) => argv[i].startsWith('@'));
  if (named.length === 0) return { argv: [...argv], profile: '' };
  if (named.length > 1) throw new TsyncError('E_USAGE', `one @PROFILE per run, got ${named.map((i) => argv[i]).join(' ')}`);
  const name = argv[named[0]].slice(1);
  if (!name) throw new TsyncError('E_USAGE', "'@' needs a profile name");
  const file = configPath(sc.config, env, home);
  const profile = loadProfile(file, name);
  const where = `profile "${name}" in ${file}`;
  const words = profileArgs(profile, where, home);
  // a profile is written for the sync; another command (doctor) takes the options it has and leaves the rest
  const own = new Set(optionsOf(command).map((o) => o.long));
  const mine = (w: string) => own.has(w.slice(2).split('=')[0]);
  const [scalars, lists, endpoints] = [words.scalars.filter(mine), words.lists.filter(mine), words.endpoints];
  const cli = argv.filter((_, i) => i !== named[0]);
  const dd = sc.dashdash < 0 ? -1 : sc.dashdash - 1;
  const before = dd < 0 ? cli : cli.slice(0, dd);
  const after = dd < 0 ? [] : cli.slice(dd + 1);
  const cliHasEndpoints = sc.positionals.length > 1 || after.length > 0;
  return { argv: [...scalars, ...before, ...lists, '--', ...after, ...(cliHasEndpoints ? [] : endpoints)], profile: name };
}

function loadProfile(file: string, name: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TsyncError('E_USAGE', code === 'ENOENT' ? `no config file ${file} (needed for @${name}; see --config)` : `cannot read the config file ${file}: ${code ?? e}`);
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new TsyncError('E_USAGE', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  const profiles = isObject(config) ? config.profiles : undefined;
  if (!isObject(profiles)) throw new TsyncError('E_USAGE', `${file} has no "profiles" object`);
  const p = Object.prototype.hasOwnProperty.call(profiles, name) ? profiles[name] : undefined;
  if (p === undefined) {
    const known = Object.keys(profiles).sort();
    throw new TsyncError('E_USAGE', `unknown profile "${name}" in ${file}${known.length ? ` (it has: ${known.join(', ')})` : ' (it has none)'}`);
  }
  if (!isObject(p)) throw new TsyncError('E_USAGE', `profile "${name}" in ${file} is not an object`);
  return p;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The profile as command-line words. */
export function profileArgs(p: Record<string, unknown>, where: string, home: string): { scalars: string[]; lists: string[]; endpoints: string[] } {
  const bad = (what: string) => new TsyncError('E_USAGE', `${where}: ${what}`);
  for (const k of Object.keys(p)) if (!PROFILE_KEYS.has(k)) throw bad(`unknown key "${k}" (a profile has ${[...PROFILE_KEYS].join(', ')})`);
  const scalars: string[] = [];
  const lists: string[] = [];
  const str = (k: string): string => {
    if (typeof p[k] !== 'string' || p[k] === '') throw bad(`"${k}" must be a non-empty string`);
    return p[k] as string;
  };
  let endpoints: string[];
  if (p['two-way'] !== undefined && typeof p['two-way'] !== 'boolean') throw bad('"two-way" must be true or false');
  if (p['two-way'] === true) {
    if (p.source !== undefined || p.dest !== undefined) throw bad('a two-way profile names "a" and "b", not "source" and "dest"');
    scalars.push('--two-way');
    endpoints = p.a === undefined && p.b === undefined ? [] : [str('a'), str('b')];
  } else {
    if (p.a !== undefined || p.b !== undefined) throw bad('"a" and "b" belong to a two-way profile ("two-way": true); a one-way profile has "source" and "dest"');
    const sources = p.source === undefined ? [] : Array.isArray(p.source) ? p.source : [p.source];
    if (sources.some((s) => typeof s !== 'string' || s === '')) throw bad('"source" must be a path or a list of paths');
    endpoints = p.dest === undefined ? [] : [...(sources as string[]), str('dest')];
    if (p.dest === undefined && sources.length) throw bad('it has a "source" but no "dest"');
  }
  for (const hook of ['pre', 'post']) if (p[hook] !== undefined) scalars.push(`--${hook}=${str(hook)}`);
  if (p.options !== undefined) {
    if (!isObject(p.options)) throw bad('"options" must be an object');
    for (const [k, v] of Object.entries(p.options)) {
      const o = byLong.get(k);
      if (!o || o.hidden || NOT_IN_PROFILE.has(k)) throw bad(`unknown option "${k}" in "options" (use long option names without the dashes, as in --help)`);
      optionWords(o, v, (m) => bad(`option "${k}" ${m}`), o.kind === 'list' ? lists : scalars);
    }
  }
  return { scalars, lists, endpoints: endpoints.map((e) => expandTilde(e, home)) };
}

function optionWords(o: OptionSpec, v: unknown, bad: (m: string) => TsyncError, into: string[]): void {
  switch (o.kind) {
    case 'flag':
      if (typeof v !== 'boolean') throw bad('must be true or false');
      if (v) into.push(`--${o.long}`);
      return;
    case 'count':
      if (typeof v === 'boolean') v = v ? 1 : 0;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 10) throw bad('must be a count from 0 to 10, or true or false');
      for (let i = 0; i < (v as number); i++) into.push(`--${o.long}`);
      return;
    case 'value':
      if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) throw bad('must be a string or a number');
      into.push(`--${o.long}=${v}`);
      return;
    case 'list': {
      const vs = Array.isArray(v) ? v : [v];
      if (vs.some((x) => typeof x !== 'string')) throw bad('must be a string or a list of strings');
      for (const x of vs as string[]) into.push(`--${o.long}=${x}`);
      return;
    }
  }
}

/** ~ and ~/... name the local home directory (JSON has no shell to do it); host:~/x is the remote's business. */
function expandTilde(p: string, home: string): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return home.replace(/\/+$/, '') + p.slice(1);
  return p;
}
