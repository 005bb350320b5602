// Endpoint syntax: a local path, [user@]host:path, or ssh://[user@]host[:port]/path.
// rsync's rule decides local vs remote: a colon before the first slash.

import { TsyncError } from '../errors.js';

export type Endpoint =
  | { kind: 'local'; path: string }
  | { kind: 'remote'; user?: string; host: string; port?: number; path: string };

export function parseEndpoint(spec: string): Endpoint {
  if (spec === '') throw new TsyncError('E_USAGE', 'empty path');
  if (spec.startsWith('ssh://')) {
    const m = /^ssh:\/\/(?:([^@/]+)@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?(\/.*)?$/.exec(spec);
    if (!m) throw new TsyncError('E_USAGE', `cannot parse ssh URL "${spec}"`);
    const [, user, rawHost, port, rawPath] = m;
    const host = rawHost.replace(/^\[|\]$/g, '');
    let path = decodeURIComponent(rawPath ?? '/');
    if (path.startsWith('/~')) path = path.slice(1);
    const p = port ? Number(port) : undefined;
    if (p !== undefined && (p < 1 || p > 65535)) throw new TsyncError('E_USAGE', `bad port in "${spec}"`);
    return { kind: 'remote', user, host, port: p, path };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) throw new TsyncError('E_USAGE', `unsupported URL scheme in "${spec}" (use ssh:// or host:path)`);
  const colon = spec.indexOf(':');
  const slash = spec.indexOf('/');
  if (colon > 0 && (slash < 0 || colon < slash)) {
    if (spec[colon + 1] === ':') throw new TsyncError('E_USAGE', `"${spec}": rsync daemon syntax (host::module) is not supported`);
    const left = spec.slice(0, colon);
    const at = left.lastIndexOf('@');
    const user = at >= 0 ? left.slice(0, at) : undefined;
    let host = at >= 0 ? left.slice(at + 1) : left;
    host = host.replace(/^\[|\]$/g, '');
    if (!host) throw new TsyncError('E_USAGE', `missing host in "${spec}"`);
    return { kind: 'remote', user: user || undefined, host, path: spec.slice(colon + 1) || '.' };
  }
  return { kind: 'local', path: spec };
}

export function describeEndpoint(e: Endpoint): string {
  if (e.kind === 'local') return e.path;
  return `${e.user ? `${e.user}@` : ''}${e.host}${e.port ? `:${e.port}` : ''}:${e.path}`;
}

/** the host part as the rsh command wants it */
export function rshTarget(e: Endpoint & { kind: 'remote' }): string {
  return e.user ? `${e.user}@${e.host}` : e.host;
}

export function sameRemote(a: Endpoint, b: Endpoint): boolean {
  return a.kind === 'remote' && b.kind === 'remote' && a.host === b.host && a.user === b.user && a.port === b.port;
}
