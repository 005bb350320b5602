// The command table is the one place a subcommand is added: cac matches
// each entry's name, its --help lists it, main() dispatches to its handler
// with its own options parsed and others refused. A new entry (vault,
// bundle, ...) is covered by these loops without a line here.

import t from 'tap';
import { COMMANDS } from '../../lib/cli/commands.js';
import { optionsOf, OPTIONS } from '../../lib/cli/options.js';
import { matchCommand, helpText } from '../../lib/cli/program.js';
import { parseArgs } from '../../lib/cli/parse.js';
import { main } from '../../lib/main.js';

const names = COMMANDS.map((c) => c.name);

t.test('every option belongs to known commands', async (t) => {
  for (const o of OPTIONS) for (const c of o.in ?? ['sync']) t.ok(names.includes(c), `--${o.long}: ${c} is a command`);
  t.same(new Set(names).size, names.length, 'command names are unique');
});

t.test('cac matches each command word; anything else is a sync', async (t) => {
  for (const spec of COMMANDS.filter((c) => c.name !== 'sync')) {
    const m = matchCommand([spec.name, '--x', 'y']);
    t.equal(m.spec.name, spec.name);
    t.same(m.rest, ['--x', 'y'], 'the words after the name');
  }
  t.equal(matchCommand(['src/', 'dst']).spec.name, 'sync');
  t.same(matchCommand(['-av', 'src/', 'dst']).rest, ['-av', 'src/', 'dst']);
  t.equal(matchCommand([]).spec.name, 'sync');
  // a command word later on the line is an endpoint, not a command
  t.equal(matchCommand(['-n', 'keygen', 'dst']).spec.name, 'sync');
});

t.test("each command's help names it and lists its commands", async (t) => {
  const top = helpText();
  for (const spec of COMMANDS) {
    if (spec.name !== 'sync') t.match(top, new RegExp(`^  ${spec.name} .*${spec.summary.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'), `--help lists ${spec.name}`);
    const own = helpText(spec.name);
    t.match(own, spec.name === 'sync' ? /\$ tsync \[options\] SRC\.\.\. DEST/ : new RegExp(`\\$ tsync ${spec.name} `), `${spec.name} --help shows its usage`);
    t.notMatch(own, / +$/m, 'no trailing blanks');
  }
});

t.test("a command parses its own options and refuses another's", async (t) => {
  t.equal(parseArgs(['-f', 'k'], 'keygen').values.force, true);
  t.throws(() => parseArgs(['--force'], 'sync'), /unknown option --force$/);
  t.throws(() => parseArgs(['--delete'], 'keygen'), /unknown option --delete for tsync keygen/);
  t.throws(() => parseArgs(['-z'], 'doctor'), /unknown option -z for tsync doctor/);
  for (const spec of COMMANDS) t.ok(optionsOf(spec.name).some((o) => o.long === 'help'), `${spec.name} takes --help`);
});

t.test('main() dispatches --help per command, through the table', async (t) => {
  for (const spec of COMMANDS) {
    let stdout = '';
    let stderr = '';
    const argv = spec.name === 'sync' ? ['--help'] : [spec.name, '--help'];
    const code = await main(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
    t.equal(code, 0, `${argv.join(' ')}: exit 0`);
    t.equal(stdout, helpText(spec.name));
    t.equal(stderr, '');
  }
});
