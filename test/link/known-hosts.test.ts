// known_hosts lookups: plain, hashed (checked against ssh-keygen -H's
// format), [host]:port, patterns, a changed key, @revoked.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { blobType, checkHostKey, fingerprint, hostFieldMatches, knownHostsLine, knownHostsName, parseKnownHosts } from '../../lib/link/known-hosts.js';

function keypair(dir: string, name: string): { line: string; blob: Buffer } {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, name)]);
  const line = fs.readFileSync(path.join(dir, `${name}.pub`), 'utf8').trim();
  return { line, blob: Buffer.from(line.split(' ')[1], 'base64') };
}

t.test('lookups', async (t) => {
  const dir = t.testdir();
  const a = keypair(dir, 'a');
  const b = keypair(dir, 'b');
  const kh = path.join(dir, 'kh');
  const keyPart = (k: { line: string }) => k.line.split(' ').slice(0, 2).join(' ');
  fs.writeFileSync(kh, `[host.one]:2222 ${keyPart(a)}\nplain ${keyPart(a)}\n`);
  execFileSync('ssh-keygen', ['-H', '-f', kh], { stdio: 'ignore' });
  fs.appendFileSync(kh, `*.wild,!bad.wild ${keyPart(b)}\n@revoked * ${keyPart(b).replace(/^/, '')}\n`.replace('@revoked * ', '@revoked gone '));
  const keys = parseKnownHosts(fs.readFileSync(kh, 'utf8'), kh);
  t.equal(keys.length, 4);
  t.equal(knownHostsName('host.one', 2222), '[host.one]:2222');
  t.equal(knownHostsName('plain', 22), 'plain');
  t.same(checkHostKey(keys, '[host.one]:2222', a.blob), { status: 'known' }, 'hashed with a port');
  t.same(checkHostKey(keys, 'plain', a.blob), { status: 'known' }, 'hashed without a port');
  t.equal(checkHostKey(keys, 'plain', b.blob).status, 'revoked', 'a revoked key is refused everywhere');
  t.equal(checkHostKey(keys, 'host.one', a.blob).status, 'unknown', 'port 22 is another name');
  t.same(checkHostKey(keys, 'x.wild', b.blob).status, 'revoked');
  t.ok(hostFieldMatches('*.wild,!bad.wild', 'x.wild'));
  t.notOk(hostFieldMatches('*.wild,!bad.wild', 'bad.wild'));
  const c = keypair(dir, 'c');
  const changed = checkHostKey(keys, '[host.one]:2222', c.blob);
  t.equal(changed.status, 'changed', 'another key of the same type');
  t.equal(blobType(a.blob), 'ssh-ed25519');
  const fp = execFileSync('ssh-keygen', ['-lf', path.join(dir, 'a.pub')], { encoding: 'utf8' }).split(' ')[1];
  t.equal(fingerprint(a.blob), fp, 'the fingerprint is the one ssh-keygen -l prints');
  const hashed = knownHostsLine('[new]:2', a.blob, true);
  t.match(hashed, /^\|1\|[^|]+\|[^ ]+ ssh-ed25519 /);
  t.same(checkHostKey(parseKnownHosts(hashed, 'x'), '[new]:2', a.blob), { status: 'known' }, 'a line we hash reads back');
});
