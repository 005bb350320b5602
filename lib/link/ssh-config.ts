// ~/.ssh/config for the built-in SSH client: parse the text (pure), then
// resolve one host the way OpenSSH does: every `Host` block whose patterns
// match contributes, and for each keyword the first value found wins.
// Understood: Host (patterns, `*`, `?`, `!negation`), HostName, User, Port,
// IdentityFile (several), ProxyJump, StrictHostKeyChecking,
// UserKnownHostsFile, GlobalKnownHostsFile, HashKnownHosts, IdentitiesOnly.
// `Match` blocks are skipped (their lines apply to nothing); other keywords
// are ignored.

import * as os from 'node:os';
import * as path from 'node:path';

export interface ConfigBlock {
  patterns: string[];
  /** keyword (lower case) -> values in file order */
  values: Map<string, string[]>;
}

export interface HostConfig {
  /** the name to connect to (HostName, %h expanded) */
  hostName: string;
  user: string;
  port: number;
  identityFiles: string[];
  identitiesOnly: boolean;
  /** jumps in order, each `[user@]host[:port]`; empty for none */
  proxyJump: string[];
  strictHostKeyChecking: 'yes' | 'accept-new' | 'no';
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  hashKnownHosts: boolean;
  /** SetEnv: variables sent to the server (it takes those its AcceptEnv names); for each name the first value wins */
  setEnv: Record<string, string>;
}

/** Split one config line into keyword and arguments (`Key value`, `Key=value`, quoted args). */
function splitLine(line: string): { key: string; args: string[] } | null {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return null;
  const m = /^([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+)(.*)$/.exec(trimmed);
  if (!m) return { key: trimmed.toLowerCase(), args: [] };
  const args: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let a = re.exec(m[2]); a; a = re.exec(m[2])) args.push(a[1] ?? a[2]);
  return { key: m[1].toLowerCase(), args };
}

/** Parse the config text into Host blocks; lines before the first Host form a block matching every host. */
export function parseSshConfig(text: string): ConfigBlock[] {
  const blocks: ConfigBlock[] = [{ patterns: ['*'], values: new Map() }];
  let current: ConfigBlock | null = blocks[0];
  for (const line of text.split(/\r?\n/)) {
    const parsed = splitLine(line);
    if (!parsed) continue;
    if (parsed.key === 'host') {
      current = { patterns: parsed.args, values: new Map() };
      blocks.push(current);
    } else if (parsed.key === 'match') {
      current = null;
    } else if (current && parsed.args.length > 0) {
      const list = current.values.get(parsed.key) ?? [];
      list.push(parsed.args.join(' '));
      current.values.set(parsed.key, list);
    }
  }
  return blocks;
}

/** ssh's glob: `*` any run, `?` one character; the whole name must match. */
export function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

/** A pattern list matches when some pattern matches and no negated one does. */
export function patternsMatch(patterns: readonly string[], name: string): boolean {
  let hit = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) hit = true;
  }
  return hit;
}

function expandTokens(s: string, vars: { h: string; p: number; r: string; u: string; d: string }): string {
  let out = s.replace(/%([%hprud])/g, (_, c: string) => (c === '%' ? '%' : String(vars[c as 'h'])));
  if (out === '~' || out.startsWith('~/')) out = vars.d + out.slice(1);
  return out;
}

export interface ResolveInput {
  /** the host as the user wrote it */
  host: string;
  /** user and port from the command line (win over the config) */
  user?: string;
  port?: number;
  home?: string;
  localUser?: string;
}

/** What the config says for `host`, with defaults filled in. */
export function resolveHost(blocks: readonly ConfigBlock[], input: ResolveInput): HostConfig {
  const first = new Map<string, string>();
  const identities: string[] = [];
  const setEnv: Record<string, string> = {};
  for (const b of blocks) {
    if (!patternsMatch(b.patterns, input.host)) continue;
    for (const [k, vals] of b.values) {
      if (k === 'identityfile') identities.push(...vals);
      else if (k === 'setenv') {
        for (const pair of vals.join(' ').split(/\s+/)) {
          const eq = pair.indexOf('=');
          if (eq > 0 && !(pair.slice(0, eq) in setEnv)) setEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
      } else if (!first.has(k)) first.set(k, vals[0]);
    }
  }
  const home = input.home ?? os.homedir();
  const localUser = input.localUser ?? os.userInfo().username;
  const user = input.user ?? first.get('user') ?? localUser;
  const port = input.port ?? (first.has('port') ? Number(first.get('port')) : 22);
  const hostName = (first.get('hostname') ?? input.host).replace(/%h/g, input.host);
  const vars = { h: hostName, p: port, r: user, u: localUser, d: home };
  const expand = (s: string) => expandTokens(s, vars);
  const jump = first.get('proxyjump');
  const strict = (first.get('stricthostkeychecking') ?? 'ask').toLowerCase();
  const files = (key: string, dflt: string[]) => (first.has(key) ? first.get(key)!.split(/\s+/).map(expand) : dflt);
  return {
    hostName,
    user,
    port: Number.isInteger(port) && port > 0 && port < 65536 ? port : 22,
    identityFiles: identities.length > 0 ? identities.map(expand) : ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => path.join(home, '.ssh', f)),
    identitiesOnly: (first.get('identitiesonly') ?? 'no').toLowerCase() === 'yes',
    proxyJump: jump && jump.toLowerCase() !== 'none' ? jump.split(',').map((j) => j.trim()).filter(Boolean) : [],
    strictHostKeyChecking: strict === 'accept-new' ? 'accept-new' : strict === 'no' || strict === 'off' ? 'no' : 'yes',
    userKnownHostsFiles: files('userknownhostsfile', [path.join(home, '.ssh', 'known_hosts'), path.join(home, '.ssh', 'known_hosts2')]),
    globalKnownHostsFiles: files('globalknownhostsfile', ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']),
    hashKnownHosts: (first.get('hashknownhosts') ?? 'no').toLowerCase() === 'yes',
    setEnv,
  };
}

/** Split a ProxyJump hop `[user@]host[:port]` (or `ssh://user@host:port`). */
export function parseJump(hop: string): { user?: string; host: string; port?: number } {
  const m = /^(?:ssh:\/\/)?(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hop);
  if (!m) return { host: hop };
  return { user: m[1], host: m[2].replace(/^\[|\]$/g, ''), port: m[3] ? Number(m[3]) : undefined };
}
