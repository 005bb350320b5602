// A vault's object store over the protocol: the client's RemoteStore asks,
// `tsync --server` (START role 'vault') answers from a LocalStore in the
// path it was given, under its --root and --read-only like every role.
// Requests are pipelined: each carries an id and its answer names it. A put
// travels as PART messages of at most 512 KiB and one PUT (or CLAIM) that
// completes it; a get of more than 512 KiB is several ranged gets.

import type { Connection } from '../link/connection.js';
import { TsyncError, toTsyncError } from '../errors.js';
import { VaultOp, VaultStatus, type Message, type VaultOpKind } from '../wire/schema.js';
import { checkName, LocalStore, type ObjectStore } from './store.js';

const PIECE = 512 << 10;
/** what one put may stage on the server: a pack is about 8 MiB */
const STAGE_MAX = 64 << 20;
const LIST_PAGE = 4000;

type Res = Extract<Message, { t: 'v_res' }>;

export class RemoteStore implements ObjectStore {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (m: Res) => void; reject: (e: unknown) => void }>();

  constructor(private readonly conn: Connection) {
    conn.onMessage((m) => {
      if (m.t !== 'v_res') throw new TsyncError('E_PROTOCOL', `unexpected ${m.t} message from the vault's host`);
      const w = this.waiting.get(m.id);
      if (!w) throw new TsyncError('E_PROTOCOL', `an answer to vault request ${m.id}, which was not asked`);
      this.waiting.delete(m.id);
      w.resolve(m);
    });
    conn.failed().catch((e: unknown) => {
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    });
  }

  private async ask(op: VaultOpKind, name: string, o: { off?: number; len?: number; data?: Buffer } = {}): Promise<Res> {
    if (this.conn.error) throw this.conn.error;
    const id = this.nextId++;
    const answer = new Promise<Res>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    await this.conn.sendWait({ t: 'v_req', id, op, name, off: o.off ?? 0, len: o.len ?? 0, data: o.data ?? Buffer.alloc(0) });
    const m = await Promise.race([answer, this.conn.failed()]);
    if (m.status === VaultStatus.Failed) {
      const [code, ...rest] = m.message.split(' ');
      throw new TsyncError(code === 'E_READ_ONLY' ? 'E_READ_ONLY' : code === 'E_PROTOCOL' ? 'E_PROTOCOL' : 'E_IO', `the vault's host: ${rest.join(' ')}`, { remote: true });
    }
    return m;
  }

  async get(name: string, off = 0, len = -1): Promise<Buffer | null> {
    // len travels as len+1: 0 asks for everything from off
    const first = await this.ask(VaultOp.Get, name, { off, len: len < 0 ? 0 : Math.min(len, PIECE) + 1 });
    if (first.status === VaultStatus.Absent) return null;
    const end = len < 0 ? first.size : Math.min(first.size, off + len);
    const parts = [first.data];
    const rest: Array<Promise<Res>> = [];
    for (let at = off + first.data.length; at < end; at += PIECE) rest.push(this.ask(VaultOp.Get, name, { off: at, len: Math.min(PIECE, end - at) + 1 }));
    for (const r of await Promise.all(rest)) parts.push(r.data);
    return Buffer.concat(parts);
  }

  private async send(op: VaultOpKind, name: string, data: Buffer): Promise<Res> {
    for (let at = 0; at < data.length; at += PIECE) await this.conn.sendWait({ t: 'v_req', id: 0, op: VaultOp.Part, name, off: at, len: 0, data: data.subarray(at, at + PIECE) });
    return this.ask(op, name, { len: data.length });
  }

  async put(name: string, data: Buffer): Promise<void> {
    await this.send(VaultOp.Put, name, data);
  }

  async claim(name: string, data: Buffer): Promise<boolean> {
    return (await this.send(VaultOp.Claim, name, data)).status === VaultStatus.Ok;
  }

  async list(dir: 'heads' | 'data'): Promise<Array<{ name: string; size: number }>> {
    const out: Array<{ name: string; size: number }> = [];
    for (;;) {
      const r = await this.ask(VaultOp.List, dir, { off: out.length });
      const page = JSON.parse(r.data.toString('utf8')) as Array<[string, number]>;
      for (const [name, size] of page) out.push({ name, size });
      if (page.length === 0 || out.length >= r.size) return out;
    }
  }

  async delete(name: string): Promise<void> {
    await this.ask(VaultOp.Delete, name);
  }

  async now(): Promise<number> {
    return (await this.ask(VaultOp.Now, '')).size;
  }

  async close(): Promise<void> {
    await this.ask(VaultOp.End, '');
  }
}

/** The server's half: answer every request from a LocalStore at root until the client hangs up. */
export async function serveVault(conn: Connection, root: string, readOnly: boolean): Promise<void> {
  const store = new LocalStore(root.replace(/\/+$/, '') || '/', readOnly);
  // uploads in flight, by name: a client may send two packs at once, their parts interleaved
  const staged = new Map<string, { parts: Buffer[]; size: number }>();
  let stagedBytes = 0;
  let listing: Array<{ name: string; size: number }> | null = null;
  const reply = (id: number, status: number, o: { size?: number; data?: Buffer; message?: string } = {}) =>
    conn.send({ t: 'v_res', id, status: status as Res['status'], size: o.size ?? 0, data: o.data ?? Buffer.alloc(0), message: o.message ?? '' });
  let end!: () => void;
  const done = new Promise<void>((resolve) => (end = resolve));
  let queue = Promise.resolve();
  conn.onMessage((m) => {
    if (m.t !== 'v_req') throw new TsyncError('E_PROTOCOL', `unexpected ${m.t} message in a vault session`);
    // one at a time, in order: a PUT finds every PART before it
    queue = queue.then(async (): Promise<void> => {
      try {
        if (m.op === VaultOp.Part) {
          checkName(m.name);
          let up = staged.get(m.name);
          if (!up || m.off === 0) {
            if (up) stagedBytes -= up.size;
            up = { parts: [], size: 0 };
            staged.set(m.name, up);
          }
          if (m.off !== up.size) throw new TsyncError('E_PROTOCOL', 'vault upload out of order');
          up.size += m.data.length;
          stagedBytes += m.data.length;
          if (stagedBytes > STAGE_MAX) throw new TsyncError('E_PROTOCOL', 'vault uploads in flight too big');
          up.parts.push(m.data);
          return;
        }
        switch (m.op) {
          case VaultOp.Get: {
            const got = await store.getSized(m.name, m.off, m.len === 0 ? PIECE : Math.min(m.len - 1, PIECE));
            if (got === null) return void reply(m.id, VaultStatus.Absent);
            return void reply(m.id, VaultStatus.Ok, got);
          }
          case VaultOp.Put:
          case VaultOp.Claim: {
            const s = staged.get(m.name) ?? { parts: [], size: 0 };
            staged.delete(m.name);
            stagedBytes -= s.size;
            if (s.size !== m.len) throw new TsyncError('E_PROTOCOL', 'vault upload incomplete');
            const data = Buffer.concat(s.parts);
            if (m.op === VaultOp.Put) await store.put(m.name, data);
            const ok = m.op === VaultOp.Put || (await store.claim(m.name, data));
            return void reply(m.id, ok ? VaultStatus.Ok : VaultStatus.Absent);
          }
          case VaultOp.List: {
            if (m.name !== 'heads' && m.name !== 'data') throw new TsyncError('E_PROTOCOL', 'vault list of an unknown directory');
            if (m.off === 0 || !listing) listing = await store.list(m.name);
            const page = listing.slice(m.off, m.off + LIST_PAGE).map((o) => [o.name, o.size]);
            return void reply(m.id, VaultStatus.Ok, { data: Buffer.from(JSON.stringify(page)), size: listing.length });
          }
          case VaultOp.Delete:
            await store.delete(m.name);
            return void reply(m.id, VaultStatus.Ok);
          case VaultOp.Now:
            return void reply(m.id, VaultStatus.Ok, { size: Date.now() });
          case VaultOp.End:
            reply(m.id, VaultStatus.Ok);
            return end();
        }
      } catch (e) {
        const err = toTsyncError(e);
        if (err.code === 'E_PROTOCOL' && m.op === VaultOp.Part) return void conn.abort(err);
        reply(m.id, VaultStatus.Failed, { message: `${err.code} ${err.message}` });
      }
    });
  });
  await Promise.race([done, conn.failed()]);
}
