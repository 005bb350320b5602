// The host's side of a vault: a dumb store of opaque objects. It knows no
// key, no name and no plaintext. Five calls: put (temporary, fsync, rename),
// ranged get, list, delete, and claim, which creates a name only if it does
// not exist yet (link(2) fails on an existing name), so two writers racing
// for the next head cannot both win. LocalStore is a directory on this
// machine; lib/vault/remote.ts carries the same calls over the protocol to a
// LocalStore run by `tsync --server`.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { TsyncError } from '../errors.js';

export interface ObjectStore {
  /** null when absent */
  get(name: string, off?: number, len?: number): Promise<Buffer | null>;
  put(name: string, data: Buffer): Promise<void>;
  /** false when the name exists already */
  claim(name: string, data: Buffer): Promise<boolean>;
  list(dir: 'heads' | 'data'): Promise<Array<{ name: string; size: number }>>;
  delete(name: string): Promise<void>;
  /** the host's clock, ms */
  now(): Promise<number>;
  close(): Promise<void>;
}

/** the only names a store takes: nothing else can be read, written or escaped to */
const NAME = /^(config|heads\/\d{10}|data\/[0-9a-f]{2}\/[0-9a-f]{64})$/;

export function checkName(name: string): string {
  if (!NAME.test(name) || (name.startsWith('data/') && name.slice(5, 7) !== name.slice(8, 10))) throw new TsyncError('E_PROTOCOL', `not a vault object name: ${JSON.stringify(name.slice(0, 100))}`);
  return name;
}

const TEMP = '.tmp-';

export class LocalStore implements ObjectStore {
  constructor(
    readonly root: string,
    private readonly readOnly = false,
  ) {}

  private abs(name: string): string {
    return path.join(this.root, checkName(name));
  }

  private writable(): void {
    if (this.readOnly) throw new TsyncError('E_READ_ONLY', 'this server is read-only: the vault can be restored from, not pushed to');
  }

  async get(name: string, off = 0, len = -1): Promise<Buffer | null> {
    return (await this.getSized(name, off, len))?.data ?? null;
  }

  /** a range of the object and the object's whole size */
  async getSized(name: string, off = 0, len = -1): Promise<{ data: Buffer; size: number } | null> {
    let fd: number;
    try {
      fd = fs.openSync(this.abs(name), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    try {
      const size = fs.fstatSync(fd).size;
      const n = Math.max(0, Math.min(len < 0 ? size - off : len, size - off));
      const buf = Buffer.alloc(n);
      let got = 0;
      while (got < n) {
        const k = fs.readSync(fd, buf, got, n - got, off + got);
        if (k === 0) break;
        got += k;
      }
      return { data: buf.subarray(0, got), size };
    } finally {
      fs.closeSync(fd);
    }
  }

  /** a temporary beside the name, written and flushed */
  private staged(name: string, data: Buffer): string {
    const abs = this.abs(name);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    const tmp = path.join(this.root, `${TEMP}${randomBytes(8).toString('hex')}`);
    const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } catch (e) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    fs.closeSync(fd);
    return tmp;
  }

  async put(name: string, data: Buffer): Promise<void> {
    this.writable();
    const tmp = this.staged(name, data);
    try {
      fs.renameSync(tmp, this.abs(name));
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    syncDir(path.dirname(this.abs(name)));
  }

  async claim(name: string, data: Buffer): Promise<boolean> {
    this.writable();
    const tmp = this.staged(name, data);
    try {
      fs.linkSync(tmp, this.abs(name));
      syncDir(path.dirname(this.abs(name)));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  async list(dir: 'heads' | 'data'): Promise<Array<{ name: string; size: number }>> {
    const out: Array<{ name: string; size: number }> = [];
    const walk = (rel: string) => {
      let names: string[];
      try {
        names = fs.readdirSync(path.join(this.root, rel));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw e;
      }
      for (const n of names) {
        const r = `${rel}/${n}`;
        const st = fs.lstatSync(path.join(this.root, r));
        if (st.isDirectory() && dir === 'data' && rel === 'data') walk(r);
        else if (st.isFile() && NAME.test(r)) out.push({ name: r, size: st.size });
      }
    };
    walk(dir);
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async delete(name: string): Promise<void> {
    this.writable();
    fs.rmSync(this.abs(name), { force: true });
  }

  async now(): Promise<number> {
    return Date.now();
  }

  async close(): Promise<void> {}
}

function syncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // some file systems cannot fsync a directory: the rename stands regardless
  }
}
