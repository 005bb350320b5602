// ~/.ssh/config as the built-in client reads it: first value wins, Host
// patterns with * ? and !, several IdentityFiles, tokens, ProxyJump hops.

import t from 'tap';
import { globMatch, parseJump, parseSshConfig, patternsMatch, resolveHost } from '../../lib/link/ssh-config.js';

const CONFIG = `
# a comment
User everyone
Host web* !webtest
  HostName %h.example.net
  Port 2222
  IdentityFile ~/.ssh/web_key
Host web1 db
  User deploy
  Port 3333
  IdentityFile=/keys/%r-%h
  ProxyJump admin@bastion:2200,inner
Match host foo
  User ignored
Host *
  StrictHostKeyChecking accept-new
  UserKnownHostsFile ~/.ssh/kh /etc/kh
`;

const blocks = parseSshConfig(CONFIG);
const at = (host: string, extra = {}) => resolveHost(blocks, { host, home: '/h', localUser: 'me', ...extra });

t.test('glob patterns', async (t) => {
  t.ok(globMatch('web*', 'web1'));
  t.ok(globMatch('w?b1', 'web1'));
  t.notOk(globMatch('web', 'web1'), 'the whole name must match');
  t.notOk(globMatch('a.b', 'axb'), 'a dot is a dot');
  t.ok(patternsMatch(['web*', '!webtest'], 'web2'));
  t.notOk(patternsMatch(['web*', '!webtest'], 'webtest'), 'a negated pattern wins');
});

t.test('first value wins, identity files add up, tokens expand', async (t) => {
  const w = at('web1');
  t.equal(w.hostName, 'web1.example.net');
  t.equal(w.port, 2222, 'the first block that names Port wins');
  t.equal(w.user, 'everyone', 'lines before the first Host apply to all');
  t.same(w.identityFiles, ['/h/.ssh/web_key', '/keys/everyone-web1.example.net']);
  t.same(w.proxyJump, ['admin@bastion:2200', 'inner']);
  t.equal(w.strictHostKeyChecking, 'accept-new');
  t.same(w.userKnownHostsFiles, ['/h/.ssh/kh', '/etc/kh']);
  const d = at('db', { user: 'cli', port: 99 });
  t.equal(d.user, 'cli', 'the command line wins over the config');
  t.equal(d.port, 99);
  t.equal(d.hostName, 'db');
  const test = at('webtest');
  t.equal(test.port, 22, 'negated host gets no Port from that block');
  t.same(test.identityFiles, ['/h/.ssh/id_ed25519', '/h/.ssh/id_ecdsa', '/h/.ssh/id_rsa'], 'defaults when none is named');
  t.equal(at('foo').user, 'everyone', 'Match blocks are skipped');
  t.equal(resolveHost(parseSshConfig(''), { host: 'x', home: '/h', localUser: 'me' }).strictHostKeyChecking, 'yes', 'unknown hosts are refused by default');
});

t.test('jump hops', async (t) => {
  t.same(parseJump('admin@bastion:2200'), { user: 'admin', host: 'bastion', port: 2200 });
  t.same(parseJump('inner'), { user: undefined, host: 'inner', port: undefined });
  t.same(parseJump('[::1]:22'), { user: undefined, host: '::1', port: 22 });
});

t.test('SetEnv: NAME=VALUE pairs from every matching block, the first value of each name winning', async (t) => {
  const b = parseSshConfig(`
Host box
  SetEnv XDG_CACHE_HOME=/srv/cache LANG=C
Host *
  SetEnv LANG=en_US.UTF-8 TZ=UTC
  SetEnv =broken
`);
  t.same(resolveHost(b, { host: 'box', home: '/h', localUser: 'me' }).setEnv, { XDG_CACHE_HOME: '/srv/cache', LANG: 'C', TZ: 'UTC' });
  t.same(resolveHost(b, { host: 'other', home: '/h', localUser: 'me' }).setEnv, { LANG: 'en_US.UTF-8', TZ: 'UTC' });
  t.same(resolveHost(parseSshConfig(''), { host: 'x', home: '/h', localUser: 'me' }).setEnv, {}, 'none by default');
});
