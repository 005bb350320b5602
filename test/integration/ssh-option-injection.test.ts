// ssh-option-injection (git's CVE-2017-1000117): a host or user that
// starts with "-" must never reach the rsh command, where ssh takes it as
// an option (-oProxyCommand=... runs a command on the client). Refused as a
// usage error, for every -e command and every endpoint syntax, before
// anything is spawned.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { runTsync } from '../helpers/run.js';
import { fatal, toolbox, writeTree } from '../helpers/standin.js';
import { parseEndpoint } from '../../lib/link/endpoint.js';
import { remoteArgv } from '../../lib/link/spawn.js';

const EVIL = [
  'ssh://[-oProxyCommand=touch PWNED]/p',
  'ssh://-oProxyCommand=x/p',
  'ssh://-oProxyCommand=x@host/p',
  '-oProxyCommand=x:p',
  '[-oProxyCommand=x]:p',
  '-l@host:p',
  'user@-oProxyCommand=x:p',
];

t.test('the real binary refuses them before running the -e command', async (t) => {
  const sb = t.testdir();
  await writeTree(path.join(sb, 'src'), { 'a.txt': 'alpha\n' });
  const log = path.join(sb, 'rsh.log');
  const tool = toolbox(t);
  // named ssh, so tsync treats it as ssh; it records that it ran at all
  const ssh = tool('ssh', `echo "$*" >> '${log}'\nexit 255`);
  const other = tool('rsh-other', `echo "$*" >> '${log}'\nexit 255`);
  for (const spec of EVIL) {
    // one that starts with "-" is already an unknown option on tsync's own command line
    const why = spec.startsWith('-') ? /starts with "-"|unknown option/ : /starts with "-"/;
    for (const rsh of [ssh, other]) {
      const push = await runTsync(['-e', rsh, `${sb}/src/`, spec.replace('PWNED', path.join(sb, 'pwned'))], { cwd: sb });
      fatal(t, push, 1, why);
      const pull = await runTsync(['-e', rsh, spec.replace('PWNED', path.join(sb, 'pwned')), `${sb}/dst/`], { cwd: sb });
      fatal(t, pull, 1, why);
    }
  }
  t.notOk(fs.existsSync(log), `no -e command ran: ${fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : ''}`);
  t.notOk(fs.existsSync(path.join(sb, 'pwned')), 'nothing was run on our side');
  t.notOk(fs.existsSync(path.join(sb, 'dst')), 'nothing was pulled');
});

t.test('parseEndpoint and remoteArgv refuse them each on their own', async (t) => {
  for (const spec of EVIL) t.throws(() => parseEndpoint(spec), { code: 'E_USAGE' }, spec);
  // a caller that builds an endpoint by hand still never puts an option where the host goes
  t.throws(() => remoteArgv({ kind: 'remote', host: '-oProxyCommand=x', path: 'p' }, 'ssh', 'tsync', false), { code: 'E_USAGE' });
  t.throws(() => remoteArgv({ kind: 'remote', user: '-x', host: 'h', path: 'p' }, 'rsh', 'tsync', false), { code: 'E_USAGE' });
  // and what is allowed stays allowed
  t.same(parseEndpoint('user-name@host-1:p'), { kind: 'remote', user: 'user-name', host: 'host-1', path: 'p' });
  t.same(parseEndpoint('ssh://u@h-2:22/x'), { kind: 'remote', user: 'u', host: 'h-2', port: 22, path: '/x' });
  t.same(parseEndpoint('./-oProxyCommand=x:p'), { kind: 'local', path: './-oProxyCommand=x:p' });
});
