// The built-in SSH client (`-e builtin`, or when no `ssh` is on the PATH):
// ssh2 with the user's ~/.ssh/config, agent, key files and known_hosts.
// It gives the same Peer as a spawned `ssh`: the remote command's stdout in,
// its stdin out, its stderr kept until the handshake. A failure to connect
// (refused host key, no accepted key, no route) is kept as the peer's
// failure() and the input ends, so the caller reports it instead of a lost
// connection.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import type { Client, ClientChannel, ConnectConfig, AnyAuthMethod, AuthenticationType, ParsedKey } from 'ssh2';
import { TsyncError } from '../errors.js';
import { parseJump, parseSshConfig, resolveHost, type ConfigBlock, type HostConfig } from './ssh-config.js';
import { appendKnownHost, blobType, checkHostKey, fingerprint, knownHostsLine, knownHostsName, knownTypes, loadKnownHosts } from './known-hosts.js';
import { askSecret } from './tty-prompt.js';
import type { Peer } from './spawn.js';
import { PeerStderr } from './peer-stderr.js';

type Ssh2 = typeof import('ssh2');

export interface BuiltinTarget {
  host: string;
  user?: string;
  port?: number;
}

const HOST_KEY_ALGOS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

function loadConfig(home: string): ConfigBlock[] {
  try {
    return parseSshConfig(fs.readFileSync(path.join(home, '.ssh', 'config'), 'utf8'));
  } catch {
    return parseSshConfig('');
  }
}

/** Host key algorithms with the types known_hosts holds for this host first (as OpenSSH orders them). */
function hostKeyOrder(known: string[]): string[] {
  const first = known.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t])).filter((t) => HOST_KEY_ALGOS.includes(t));
  return [...new Set([...first, ...HOST_KEY_ALGOS])];
}

const tilde = (p: string): string => (p.startsWith(os.homedir() + path.sep) ? `~${p.slice(os.homedir().length)}` : p);

interface Hop {
  label: string;
  cfg: HostConfig;
}

/** Authentication candidates in ssh's order: the agent, then each identity file that exists. */
function authMethods(ssh2: Ssh2, hop: Hop): { next: () => Promise<AnyAuthMethod | false>; tried: string[]; skipped: string[] } {
  const tried: string[] = [];
  const skipped: string[] = [];
  const queue: Array<() => Promise<AnyAuthMethod | null>> = [];
  const username = hop.cfg.user;
  const sock = process.env.SSH_AUTH_SOCK;
  if (sock && !hop.cfg.identitiesOnly) {
    queue.push(async () => {
      tried.push('agent');
      return { type: 'agent', username, agent: sock };
    });
  }
  for (const file of hop.cfg.identityFiles) {
    queue.push(async () => {
      let data: Buffer;
      try {
        data = fs.readFileSync(file);
      } catch {
        return null;
      }
      let key = ssh2.utils.parseKey(data);
      if (key instanceof Error && /passphrase/i.test(key.message)) {
        const pass = await askSecret(`Enter passphrase for key '${tilde(file)}': `);
        if (pass === null) {
          skipped.push(`${tilde(file)} needs a passphrase and there is no terminal to ask on`);
          return null;
        }
        key = ssh2.utils.parseKey(data, pass);
      }
      if (key instanceof Error) {
        skipped.push(`${tilde(file)}: ${key.message}`);
        return null;
      }
      tried.push(tilde(file));
      return { type: 'publickey', username, key: (Array.isArray(key) ? key[0] : key) as ParsedKey };
    });
  }
  return {
    tried,
    skipped,
    next: async () => {
      for (let step = queue.shift(); step; step = queue.shift()) {
        const m = await step();
        if (m) return m;
      }
      return false;
    },
  };
}

/** Open one SSH connection (over `sock` when it is a jump's forwarded channel). */
function connectHop(ssh2: Ssh2, hop: Hop, sock: Duplex | undefined, note: (s: string) => void): Promise<Client> {
  const { cfg } = hop;
  const name = knownHostsName(cfg.hostName, cfg.port);
  const keys = loadKnownHosts([...cfg.userKnownHostsFiles, ...cfg.globalKnownHostsFiles]);
  let refusal: TsyncError | null = null;
  const auth = authMethods(ssh2, hop);
  return new Promise<Client>((resolve, reject) => {
    const client = new ssh2.Client();
    const verify = (blob: Buffer): boolean => {
      const verdict = checkHostKey(keys, name, blob);
      const what = `${blobType(blob)} key ${fingerprint(blob)}`;
      if (verdict.status === 'known') return true;
      if (verdict.status === 'unknown') {
        if (cfg.strictHostKeyChecking !== 'yes') {
          const file = cfg.userKnownHostsFiles[0];
          try {
            appendKnownHost(file, knownHostsLine(name, blob, cfg.hashKnownHosts));
            note(`added ${name} (${what}) to ${tilde(file)}`);
          } catch (e) {
            note(`could not add ${name} to ${tilde(file)}: ${(e as Error).message}`);
          }
          return true;
        }
        refusal = new TsyncError('E_CONNECT', `host key of ${name} is not known (${what}); if that fingerprint is right, run: ssh-keyscan -p ${cfg.port} ${cfg.hostName} >> ~/.ssh/known_hosts (or set StrictHostKeyChecking accept-new for ${hop.label} in ~/.ssh/config)`);
        return false;
      }
      if (verdict.status === 'changed' && cfg.strictHostKeyChecking === 'no') {
        note(`WARNING: the host key of ${name} has changed (${what}); going on because StrictHostKeyChecking is no`);
        return true;
      }
      const where = `${tilde(verdict.file)}:${verdict.line}`;
      refusal = verdict.status === 'revoked'
        ? new TsyncError('E_CONNECT', `host key of ${name} (${what}) is marked @revoked in ${where}`)
        : new TsyncError('E_CONNECT', `host key of ${name} has CHANGED (now ${what}; ${where} holds another): someone may be intercepting the connection; if the change is expected, run: ssh-keygen -R '${name}'`);
      return false;
    };
    client.on('ready', () => resolve(client));
    client.on('error', (err: Error & { level?: string }) => {
      if (refusal) return reject(refusal);
      if (err.level === 'client-authentication') {
        const tried = auth.tried.length > 0 ? auth.tried.join(', ') : 'no agent and no key file';
        const skipped = auth.skipped.length > 0 ? `; ${auth.skipped.join('; ')}` : '';
        return reject(new TsyncError('E_CONNECT', `${cfg.user}@${hop.label}: permission denied (tried ${tried}${skipped})`));
      }
      reject(new TsyncError('E_CONNECT', `could not connect to ${hop.label} (${cfg.hostName} port ${cfg.port}): ${err.message}`));
    });
    const config: ConnectConfig = {
      host: cfg.hostName,
      port: cfg.port,
      username: cfg.user,
      sock,
      readyTimeout: 30_000,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 3,
      hostVerifier: verify,
      algorithms: { serverHostKey: hostKeyOrder(knownTypes(keys, name)) as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] },
      authHandler: (_left: AuthenticationType[], _partial: boolean, next: (m: AnyAuthMethod | false) => void) => {
        auth.next().then(next, () => next(false));
      },
    } as ConnectConfig;
    client.connect(config);
  });
}

function forward(client: Client, host: string, port: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    client.forwardOut('127.0.0.1', 0, host, port, (err, ch) => (err ? reject(new TsyncError('E_CONNECT', `the jump host could not reach ${host} port ${port}: ${err.message}`)) : resolve(ch)));
  });
}

/** Connect through every ProxyJump hop to the target; returns all clients, the target's last, and the target's SetEnv. */
async function connectChain(ssh2: Ssh2, target: BuiltinTarget, note: (s: string) => void): Promise<{ clients: Client[]; env: Record<string, string> }> {
  const home = os.homedir();
  const blocks = loadConfig(home);
  const final: Hop = { label: target.host, cfg: resolveHost(blocks, { host: target.host, user: target.user, port: target.port, home }) };
  const hops: Hop[] = final.cfg.proxyJump.map((j) => {
    const p = parseJump(j);
    return { label: p.host, cfg: resolveHost(blocks, { ...p, home }) };
  });
  const clients: Client[] = [];
  try {
    let sock: Duplex | undefined;
    for (const hop of [...hops, final]) {
      const prev = clients[clients.length - 1];
      if (prev) sock = await forward(prev, hop.cfg.hostName, hop.cfg.port);
      clients.push(await connectHop(ssh2, hop, sock, note));
    }
    return { clients, env: final.cfg.setEnv };
  } catch (e) {
    for (const c of clients) c.end();
    throw e;
  }
}

/** Run `command` on the target over ssh2; the Peer exists at once, the connection follows. */
export function spawnBuiltin(target: BuiltinTarget, command: string): Peer {
  const input = new PassThrough();
  const output = new PassThrough();
  const stderr = new PeerStderr();
  let failure: TsyncError | null = null;
  let clients: Client[] = [];
  let channel: ClientChannel | null = null;
  let killed = false;
  const say = (s: string) => stderr.say(s);
  const note = (s: string) => say(`tsync: ssh: ${s}\n`);
  let settle: (v: { code: number | null; signal: NodeJS.Signals | null }) => void = () => {};
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => (settle = r));
  const end = () => {
    for (const c of clients) c.end();
  };

  (async () => {
    const ssh2 = (await import('ssh2')) as unknown as Ssh2 & { default?: Ssh2 };
    const chain = await connectChain(ssh2.default ?? ssh2, target, note);
    clients = chain.clients;
    if (killed) throw new TsyncError('E_INTERRUPTED', 'stopped before the remote command started');
    const ch = await new Promise<ClientChannel>((resolve, reject) => {
      // SetEnv from ~/.ssh/config, as ssh sends it (the server keeps what its AcceptEnv names)
      clients[clients.length - 1].exec(command, { env: chain.env }, (err, c) => (err ? reject(new TsyncError('E_CONNECT', `the server refused to run a command: ${err.message}`)) : resolve(c)));
    });
    channel = ch;
    let status: { code: number | null; signal: NodeJS.Signals | null } = { code: null, signal: null };
    ch.on('exit', (code: number | null, signal?: string) => {
      status = { code: code ?? null, signal: (signal ? `SIG${signal}` : null) as NodeJS.Signals | null };
    });
    ch.stderr.setEncoding('utf8');
    ch.stderr.on('data', (s: string) => say(s));
    ch.on('close', () => {
      input.end();
      end();
      settle(status);
    });
    ch.pipe(input);
    output.pipe(ch);
  })().catch((e: unknown) => {
    failure = e instanceof TsyncError ? e : new TsyncError('E_CONNECT', `ssh: ${(e as Error).message}`);
    say(`${failure.message}\n`);
    input.end();
    end();
    settle({ code: 255, signal: null });
  });

  output.on('error', () => {});
  return {
    input,
    output,
    takeStderr: () => stderr.take(),
    passStderr: () => stderr.pass(),
    exited,
    kill() {
      killed = true;
      const ch = channel as ClientChannel | null;
      if (ch) {
        try {
          ch.signal('TERM');
        } catch {
          // the channel may be closing already
        }
        ch.close();
      }
      end();
    },
    failure: () => failure,
    describe: `builtin ssh ${target.user ? `${target.user}@` : ''}${target.host} ${command}`,
  };
}
