// lib/cli/profile.ts: @NAME expanded into command-line words before the
// parser; what overrides what; every way a config file can be wrong. The
// expansion is checked by parsing its result with the real parser, plus a
// few runs of the real binary.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { configPath, expandProfile } from '../../lib/cli/profile.js';
import { parseArgs } from '../../lib/cli/parse.js';
import { TsyncError } from '../../lib/errors.js';
import { runTsync } from '../helpers/run.js';

const HOME = '/home/ann';

function withConfig(t: Test, config: unknown): { file: string; env: NodeJS.ProcessEnv } {
  const file = path.join(t.testdir(), 'config.json');
  fs.writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
  return { file, env: { TSYNC_CONFIG: file } };
}

const DOCS = {
  profiles: {
    docs: {
      source: '~/docs/',
      dest: 'nas:docs',
      options: { delete: true, exclude: ['*.tmp', 'cache/'], rsh: 'ssh -p 2222', timeout: 60, verbose: 2, 'dry-run': false },
      pre: 'mountpoint -q /home',
      post: 'echo done',
    },
    many: { source: ['a/', 'b/'], dest: '/backup/' },
    notes: { 'two-way': true, a: '~/notes/', b: 'laptop:notes/' },
    bare: { options: { checksum: true } },
  },
};

function parsed(argv: string[], env: NodeJS.ProcessEnv) {
  const x = expandProfile(argv, env, HOME);
  return { ...parseArgs(x.argv), profile: x.profile, argv: x.argv };
}

function usage(t: Test, fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
    t.fail(`no error (wanted ${pattern})`);
  } catch (e) {
    t.ok(e instanceof TsyncError && e.code === 'E_USAGE', `a usage error: ${(e as Error).message}`);
    t.match((e as Error).message, pattern);
    t.notMatch((e as Error).message, /\n/, 'one line');
  }
}

t.test('no @NAME: argv untouched, no file read', async (t) => {
  const argv = ['-av', '--config', '/nonexistent', 'src/', 'dst/'];
  t.same(expandProfile(argv, {}, HOME), { argv, profile: '' });
  t.same(expandProfile(['-e', '@notaprofile', 'a', 'b'], {}, HOME).profile, '', 'a value of -e is not an operand');
  t.same(expandProfile(['--', '@file', 'dst'], {}, HOME).profile, '', 'after -- it is a path');
});

t.test('a one-way profile: options, hooks, endpoints with ~ expanded', async (t) => {
  const { env } = withConfig(t, DOCS);
  const p = parsed(['@docs'], env);
  t.equal(p.profile, 'docs');
  t.same(p.positional, [`${HOME}/docs/`, 'nas:docs'], 'endpoints; the local ~ expanded, the remote left alone');
  t.match(p.values, { delete: true, rsh: 'ssh -p 2222', timeout: '60', verbose: 2, pre: 'mountpoint -q /home', post: 'echo done' });
  t.notOk('dry-run' in p.values, 'a flag set to false adds nothing');
  t.same(p.ordered, [{ name: 'exclude', value: '*.tmp' }, { name: 'exclude', value: 'cache/' }]);
  t.same(parsed(['@many'], env).positional, ['a/', 'b/', '/backup/'], 'several sources');
  t.same(parsed(['@bare', 'x/', 'y/'], env).positional, ['x/', 'y/'], 'a profile of options only, endpoints from the command line');
});

t.test('the command line wins: single values replaced, rules tried first, endpoints replaced', async (t) => {
  const { env } = withConfig(t, DOCS);
  const p = parsed(['--timeout', '5', '-e', 'ssh', '--include', 'keep.tmp', '@docs', '-q'], env);
  t.equal(p.values.timeout, '5', '--timeout from the command line');
  t.equal(p.values.rsh, 'ssh', '-e from the command line');
  t.equal(p.values.quiet, true, 'and flags add');
  t.same(p.ordered.map((o) => `${o.name}=${o.value}`), ['include=keep.tmp', 'exclude=*.tmp', 'exclude=cache/'], "the command line's rules first: first match wins");
  t.same(parsed(['@docs', 'here/', 'there/'], env).positional, ['here/', 'there/'], "operands on the command line replace the profile's");
  t.same(parsed(['@docs', '--', '-odd/', 'there/'], env).positional, ['-odd/', 'there/'], 'also after --');
  t.same(parsed(['@docs', '-n'], env).values['dry-run'], true, 'a dry run of a profile');
});

t.test('a two-way profile becomes --two-way A B', async (t) => {
  const { env } = withConfig(t, DOCS);
  const x = expandProfile(['@notes'], env, HOME);
  t.same(x.argv, ['--two-way', '--', `${HOME}/notes/`, 'laptop:notes/']);
});

t.test('where the file is: --config, $TSYNC_CONFIG, $XDG_CONFIG_HOME, ~/.config', async (t) => {
  t.equal(configPath('/x.json', { TSYNC_CONFIG: '/y.json' }, HOME), '/x.json');
  t.equal(configPath(undefined, { TSYNC_CONFIG: '/y.json', XDG_CONFIG_HOME: '/xdg' }, HOME), '/y.json');
  t.equal(configPath(undefined, { XDG_CONFIG_HOME: '/xdg' }, HOME), '/xdg/tsync/config.json');
  t.equal(configPath(undefined, {}, HOME), `${HOME}/.config/tsync/config.json`);
  const { file } = withConfig(t, DOCS);
  t.equal(expandProfile(['--config', file, '@docs'], {}, HOME).profile, 'docs', '--config FILE');
  t.equal(expandProfile([`--config=${file}`, '@docs'], {}, HOME).profile, 'docs', '--config=FILE');
});

t.test('every way to get it wrong: one line, a usage error', async (t) => {
  const dir = t.testdir();
  const cfg = (name: string, config: unknown) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, typeof config === 'string' ? config : JSON.stringify(config));
    return { TSYNC_CONFIG: f };
  };
  const p = (profile: unknown) => cfg(`p${Math.random()}.json`, { profiles: { x: profile } });
  const cases: Array<[string, string[], NodeJS.ProcessEnv, RegExp]> = [
    ['no config file', ['@docs'], { TSYNC_CONFIG: path.join(dir, 'missing.json') }, /no config file .*missing\.json \(needed for @docs; see --config\)/],
    ['not JSON', ['@docs'], cfg('bad.json', '{"profiles": {'), /bad\.json is not valid JSON: /],
    ['no profiles object', ['@docs'], cfg('np.json', { docs: {} }), /has no "profiles" object/],
    ['unknown profile', ['@nope'], cfg('u.json', DOCS), /unknown profile "nope" in .*u\.json \(it has: bare, docs, many, notes\)/],
    ['two profiles', ['@docs', '@many'], cfg('two.json', DOCS), /one @PROFILE per run/],
    ['an empty name', ['@'], cfg('e.json', DOCS), /'@' needs a profile name/],
    ['not an object', ['@x'], p('docs'), /profile "x" in .* is not an object/],
    ['unknown key', ['@x'], p({ source: 'a', dest: 'b', delete: true }), /profile "x" in .*: unknown key "delete"/],
    ['unknown option', ['@x'], p({ options: { frobnicate: true } }), /unknown option "frobnicate" in "options"/],
    ['a short name', ['@x'], p({ options: { n: true } }), /unknown option "n"/],
    ['help is not an option here', ['@x'], p({ options: { help: true } }), /unknown option "help"/],
    ['config inside a profile', ['@x'], p({ options: { config: '/x' } }), /unknown option "config"/],
    ['the hidden server option', ['@x'], p({ options: { server: true } }), /unknown option "server"/],
    ['a flag that is a string', ['@x'], p({ options: { delete: 'yes' } }), /option "delete" must be true or false/],
    ['a value that is a list', ['@x'], p({ options: { rsh: ['ssh'] } }), /option "rsh" must be a string or a number/],
    ['a list of numbers', ['@x'], p({ options: { exclude: [1] } }), /option "exclude" must be a string or a list of strings/],
    ['a bad count', ['@x'], p({ options: { verbose: 'lots' } }), /option "verbose" must be a count/],
    ['a source without a dest', ['@x'], p({ source: 'a/' }), /has a "source" but no "dest"/],
    ['a numeric dest', ['@x'], p({ source: 'a/', dest: 7 }), /"dest" must be a non-empty string/],
    ['a and b without two-way', ['@x'], p({ a: 'x', b: 'y' }), /belong to a two-way profile/],
    ['two-way with source', ['@x'], p({ 'two-way': true, source: 'x', dest: 'y' }), /names "a" and "b"/],
    ['two-way not a boolean', ['@x'], p({ 'two-way': 'yes' }), /"two-way" must be true or false/],
    ['an empty pre', ['@x'], p({ pre: '' }), /"pre" must be a non-empty string/],
  ];
  for (const [what, argv, env, pattern] of cases) t.test(what, async (t) => usage(t, () => expandProfile(argv, env, HOME), pattern));
});

t.test('through the binary', async (t) => {
  const sb = t.testdir();
  const src = path.join(sb, 'src');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'keep.txt'), 'k\n');
  fs.writeFileSync(path.join(src, 'skip.tmp'), 's\n');
  fs.writeFileSync(path.join(src, 'sub', 'also.tmp'), 'a\n');
  const cfg = path.join(sb, 'tsync.json');
  const hookOut = path.join(sb, 'hook');
  fs.writeFileSync(cfg, JSON.stringify({ profiles: { mine: { source: `${src}/`, dest: `${sb}/dst/`, options: { exclude: ['*.tmp'], itemize: true }, post: `echo "$TSYNC_PROFILE $TSYNC_EXIT" > '${hookOut}'` } } }));
  const r = await runTsync(['@mine', '--include', 'also.tmp'], { env: { TSYNC_CONFIG: cfg } });
  t.equal(r.code, 0, `${r.code} ${r.stderr}`);
  t.match(r.stdout, /^>f\+{9} keep\.txt$/m, 'itemized, from the profile');
  t.same(fs.readdirSync(path.join(sb, 'dst')).sort(), ['keep.txt', 'sub'], 'the profile excludes *.tmp');
  t.same(fs.readdirSync(path.join(sb, 'dst', 'sub')), ['also.tmp'], 'a command-line --include goes first');
  t.equal(fs.readFileSync(hookOut, 'utf8'), 'mine 0\n', 'its post hook ran and was told the profile');
  const bad = await runTsync(['--config', cfg, '@other']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^tsync: error: unknown profile "other" in .*tsync\.json \(it has: mine\) \(see 'tsync --help'\)\n$/);
  const junk = path.join(sb, 'junk.json');
  fs.writeFileSync(junk, 'profiles: yes');
  const r2 = await runTsync(['--config', junk, '@mine']);
  t.equal(r2.code, 1);
  t.match(r2.stderr, /^tsync: error: .*junk\.json is not valid JSON: [^\n]+\n$/);
  const doc = await runTsync(['doctor', '--config', cfg, '@mine']);
  t.equal(doc.code, 0, `tsync doctor @mine: ${doc.stderr}`);
  t.match(doc.stdout, new RegExp(`^${src.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\n(.*\n)+${sb.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/dst/\n`), 'tsync doctor @PROFILE checks both of its endpoints');
  // a value is checked exactly as if it had been typed
  const level = path.join(sb, 'level.json');
  fs.writeFileSync(level, JSON.stringify({ profiles: { z: { source: `${src}/`, dest: `${sb}/z/`, options: { 'compress-level': 'max' } } } }));
  const r3 = await runTsync(['--config', level, '@z']);
  t.equal(r3.code, 1);
  t.match(r3.stderr, /^tsync: error: --compress-level needs a whole number from 0 to 9, got "max"/);
  t.notOk(fs.existsSync(path.join(sb, 'z')), 'and nothing ran');
});
