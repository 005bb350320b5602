// The whole wire protocol in one place: every message, its tag, its fields,
// the protocol version, and the limits a decoder enforces. No I/O.
//
// A session is: an 8-byte preamble (MAGIC) from each side, then frames
// (frames.ts), each frame one message: [u8 tag][fields...]. See docs/design.md.

import { isUtf8 } from 'node:buffer';
import { DecodeError, Reader, Writer } from './codec.js';

export const MAGIC = Buffer.from('\x89TSYNC\r\n', 'latin1');
export const PROTOCOL_VERSION = 1;
export const PROTOCOL_MIN = 1;

export const LIMITS = {
  frame: 1 << 20, // bytes in one frame payload
  data: 256 << 10, // bytes of file data in one DATA message
  path: 4096, // bytes in one relative path
  target: 4096, // bytes in one symlink target
  entriesPerBatch: 4096,
  message: 8192, // bytes in an error or warning text
  caps: 64,
  capLen: 64,
  rules: 10000,
  sig: (1 << 20) - 1024, // a signature travels inside one REQ frame
  json: 1 << 16,
  mac: 32,
  timeout: 1e6, // seconds
  modifyWindow: 1e6, // seconds
} as const;

export type EntryType = 'f' | 'd' | 'l';

/** One manifest entry. mtime is integer microseconds since the UTC epoch. */
export interface Entry {
  path: string;
  type: EntryType;
  mode: number;
  size: number;
  mtime: number;
  target?: string;
}

/** twoway: a replica in a two-way run; doctor: answer one DIAG about the path and end (tsync doctor) */
export type Role = 'sender' | 'receiver' | 'twoway' | 'doctor' | 'vault';

/** START's role byte; stable forever, like the tags */
const ROLE_CODE: Record<Role, number> = { sender: 0, receiver: 1, twoway: 2, doctor: 8, vault: 9 };
const CODE_ROLE = new Map<number, Role>(Object.entries(ROLE_CODE).map(([k, v]) => [v, k as Role]));

export interface Rule {
  kind: 'include' | 'exclude';
  pattern: string;
}

/** What the client asks the server to do; everything the server needs travels here, not on its command line. */
export interface StartOptions {
  delete: boolean;
  dryRun: boolean;
  checksum: boolean;
  update: boolean;
  ignoreFiles: boolean;
  rules: Rule[];
  backupDir: string;
  modifyWindow: number;
  timeout: number;
  /** -z: compress both directions after START, with the codec both HELLOs allow */
  compress: boolean;
  compressLevel: number;
  /** keep an interrupted file aside and use it as the delta basis next time */
  partial: boolean;
  /**
   * seconds the receiver waits for another run's lock on the destination.
   * An optional trailing field: sent only to a peer whose HELLO lists 'lock'
   * (older peers take no lock and would refuse the extra bytes).
   */
  lockWait?: number;
}

export type Message =
  | { t: 'hello'; version: number; minVersion: number; software: string; caps: string[]; clock: number; nonce: Buffer }
  | { t: 'start'; role: Role; paths: string[]; options: StartOptions }
  /** keyed sessions only, right after HELLO: proof of the pre-shared key (lib/wire/secure.ts) */
  | { t: 'auth'; proof: Buffer }
  | { t: 'error'; code: string; message: string }
  | { t: 'warn'; code: string; path: string; message: string }
  | { t: 'keepalive' }
  | { t: 'flist_head'; singleFile: boolean }
  | { t: 'flist'; data: Buffer; mac: Buffer }
  | { t: 'flist_end'; count: number; mac: Buffer; ioErrors: number }
  | { t: 'req'; index: number; flags: number; check: Buffer; sig: Buffer }
  /**
   * capability 'delta:rounds': a round of a multi-round delta. The first for
   * a file signs the whole basis; each later one the basis bytes no copy
   * referenced (lib/delta/rounds.ts). Unmatched runs of at least holeMin
   * bytes may be left as holes (0: none, the last round).
   */
  | { t: 'req_fill'; index: number; holeMin: number; sig: Buffer }
  | { t: 'file_begin'; index: number; size: number; delta: boolean }
  | { t: 'data'; data: Buffer }
  | { t: 'file_end'; index: number; status: FileStatus; hash: Buffer; message: string }
  | { t: 'item'; path: string; code: string; type: EntryType; size: number; target: string }
  | { t: 'done'; stats: string }
  | { t: 'progress'; files: number; totalFiles: number; bytes: number; totalBytes: number; moved: number; listing: boolean; path: string; size: number; done: number }
  | { t: 'diag'; report: string }
  // two-way (role 'twoway', capability 'twoway'): see lib/twoway/
  | { t: 'ping'; seq: number; clock: number }
  | { t: 'pong'; seq: number; clock: number }
  | { t: 'tw_hello'; replica: string; host: string; digest: Buffer; baseCount: number }
  | { t: 'tw_go'; wantBase: boolean }
  /** instead of TW_GO when both baselines match (DIFF_CAP): send the manifest as changes from the baseline */
  | { t: 'tw_diff' }
  /** baseline entries the replica no longer has (an entry batch), MAC-chained like the manifest */
  | { t: 'tw_gone'; data: Buffer; mac: Buffer }
  | { t: 'tw_gone_end'; count: number; mac: Buffer }
  | { t: 'tw_base'; data: Buffer }
  | { t: 'tw_op'; op: TwOpKind; path: string; to: string; expect: Buffer }
  | { t: 'tw_ops_end' }
  | { t: 'tw_ops_done'; failed: number }
  | { t: 'tw_save'; data: Buffer }
  | { t: 'tw_save_end'; count: number; digest: Buffer }
  | { t: 'tw_saved' }
  // a vault's object store (role 'vault', capability 'vault'): lib/vault/remote.ts
  | { t: 'v_req'; id: number; op: VaultOpKind; name: string; off: number; len: number; data: Buffer }
  | { t: 'v_res'; id: number; status: VaultStatusKind; size: number; data: Buffer; message: string };

/** what a vault client asks of the store; a Part carries bytes of a Put or Claim that its End completes */
export const VaultOp = { Get: 0, Part: 1, Put: 2, Claim: 3, List: 4, Delete: 5, Now: 6, End: 7 } as const;
export type VaultOpKind = (typeof VaultOp)[keyof typeof VaultOp];
/** Ok; Absent (no such object, or a claim lost); Failed (message says why, code first) */
export const VaultStatus = { Ok: 0, Absent: 1, Failed: 2 } as const;
export type VaultStatusKind = (typeof VaultStatus)[keyof typeof VaultStatus];

/** a change a two-way client asks a replica to make to its own tree */
export const TwOp = { Delete: 0, Rename: 1 } as const;
export type TwOpKind = (typeof TwOp)[keyof typeof TwOp];

/**
 * How a sender ends a file: sent (hash follows), same as the receiver's
 * copy, failed, differs (dry run), differs and worth a delta (the
 * receiver answers with a signature of its copy), or sent except for holes
 * (a round of a multi-round delta: the receiver asks for the next round),
 * or only its whole-file hash (a REQ with ReqFlag.Hash).
 */
export const FileStatus = { Sent: 0, Same: 1, Failed: 2, Differs: 3, NeedSig: 4, Holes: 5, Hashed: 6 } as const;
/**
 * REQ flags: DRY asks only whether the content differs (dry-run); HASH
 * (capability 'moves') asks for the whole-file hash instead of the content
 * (FileStatus.Hashed, or Same when a check hash matches): the receiver may
 * have that content under another name (lib/oneway/receive-moves.ts).
 */
export const ReqFlag = { Dry: 1, Hash: 2 } as const;
export type FileStatus = (typeof FileStatus)[keyof typeof FileStatus];

export type MessageType = Message['t'];

// Tags are stable forever: never reuse a number.
export const TAGS: Record<MessageType, number> = {
  hello: 0x01,
  start: 0x02,
  error: 0x04,
  warn: 0x05,
  keepalive: 0x06,
  auth: 0x07,
  flist_head: 0x10,
  flist: 0x11,
  flist_end: 0x12,
  req: 0x20,
  req_fill: 0x21,
  file_begin: 0x30,
  data: 0x31,
  file_end: 0x32,
  item: 0x40,
  done: 0x50,
  ping: 0x60,
  pong: 0x61,
  tw_hello: 0x62,
  tw_base: 0x63,
  tw_op: 0x64,
  tw_ops_end: 0x65,
  tw_ops_done: 0x66,
  tw_save: 0x67,
  tw_save_end: 0x68,
  tw_saved: 0x69,
  tw_go: 0x6a,
  tw_diff: 0x6b,
  tw_gone: 0x6c,
  tw_gone_end: 0x6d,
  progress: 0x45,
  diag: 0x46,
  v_req: 0x70,
  v_res: 0x71,
};

const BY_TAG = new Map<number, MessageType>(Object.entries(TAGS).map(([k, v]) => [v, k as MessageType]));

const OPT_FLAGS = ['delete', 'dryRun', 'checksum', 'update', 'ignoreFiles', 'compress', 'partial'] as const;

export function encodeMessage(m: Message): Buffer {
  const w = new Writer(m.t === 'data' ? m.data.length + 8 : 64);
  w.u8(TAGS[m.t]);
  switch (m.t) {
    case 'hello':
      w.uint(m.version).uint(m.minVersion).str(m.software).uint(m.caps.length);
      for (const c of m.caps) w.str(c);
      w.f64(m.clock).bytes(m.nonce);
      break;
    case 'start': {
      w.u8(ROLE_CODE[m.role]).uint(m.paths.length);
      for (const p of m.paths) w.str(p);
      const o = m.options;
      let flags = 0;
      OPT_FLAGS.forEach((k, i) => {
        if (o[k]) flags |= 1 << i;
      });
      w.uint(flags).uint(o.rules.length);
      for (const r of o.rules) w.u8(r.kind === 'include' ? 1 : 0).str(r.pattern);
      w.str(o.backupDir).f64(o.modifyWindow).uint(o.timeout).uint(o.compressLevel);
      if (o.lockWait !== undefined) w.uint(o.lockWait);
      break;
    }
    case 'error':
      w.str(m.code).str(m.message);
      break;
    case 'warn':
      w.str(m.code).str(m.path).str(m.message);
      break;
    case 'keepalive':
      break;
    case 'auth':
      w.bytes(m.proof);
      break;
    case 'flist_head':
      w.bool(m.singleFile);
      break;
    case 'flist':
      w.bytes(m.data).raw(m.mac);
      break;
    case 'flist_end':
      w.uint(m.count).raw(m.mac).uint(m.ioErrors);
      break;
    case 'req':
      w.uint(m.index).uint(m.flags).bytes(m.check).bytes(m.sig);
      break;
    case 'req_fill':
      w.uint(m.index).uint(m.holeMin).bytes(m.sig);
      break;
    case 'file_begin':
      w.uint(m.index).uint(m.size).bool(m.delta);
      break;
    case 'data':
      w.raw(m.data);
      break;
    case 'file_end':
      w.uint(m.index).u8(m.status).bytes(m.hash).str(m.message);
      break;
    case 'item':
      w.str(m.path).str(m.code).u8(TYPE_CODE[m.type]).uint(m.size).str(m.target);
      break;
    case 'done':
      w.str(m.stats);
      break;
    case 'ping':
    case 'pong':
      w.uint(m.seq).f64(m.clock);
      break;
    case 'tw_hello':
      w.str(m.replica).str(m.host).bytes(m.digest).uint(m.baseCount);
      break;
    case 'tw_base':
    case 'tw_save':
      w.bytes(m.data);
      break;
    case 'tw_op':
      w.u8(m.op).str(m.path).str(m.to).bytes(m.expect);
      break;
    case 'tw_ops_end':
    case 'tw_saved':
    case 'tw_diff':
      break;
    case 'tw_gone':
      w.bytes(m.data).raw(m.mac);
      break;
    case 'tw_gone_end':
      w.uint(m.count).raw(m.mac);
      break;
    case 'tw_ops_done':
      w.uint(m.failed);
      break;
    case 'tw_go':
      w.bool(m.wantBase);
      break;
    case 'tw_save_end':
      w.uint(m.count).bytes(m.digest);

      break;
    case 'progress':
      w.uint(m.files).uint(m.totalFiles).uint(m.bytes).uint(m.totalBytes).uint(m.moved).bool(m.listing).str(m.path).uint(m.size).uint(m.done);
      break;
    case 'diag':
      w.str(m.report);
      break;
    case 'v_req':
      w.uint(m.id).u8(m.op).str(m.name).uint(m.off).uint(m.len).bytes(m.data);
      break;
    case 'v_res':
      w.uint(m.id).u8(m.status).uint(m.size).bytes(m.data).str(m.message);
      break;
  }
  return w.finish();
}

export function decodeMessage(buf: Buffer): Message {
  const r = new Reader(buf);
  const tag = r.u8();
  const t = BY_TAG.get(tag);
  if (!t) throw new DecodeError(`unknown message type 0x${tag.toString(16)}`);
  let m: Message;
  switch (t) {
    case 'hello': {
      const version = r.uint(0xffff);
      const minVersion = r.uint(0xffff);
      const software = r.str(LIMITS.capLen);
      const n = r.uint(LIMITS.caps);
      const caps: string[] = [];
      for (let i = 0; i < n; i++) caps.push(r.str(LIMITS.capLen));
      m = { t, version, minVersion, software, caps, clock: r.f64(), nonce: Buffer.from(r.bytes(64)) };
      break;
    }
    case 'start': {
      const roleByte = r.u8();
      const role = CODE_ROLE.get(roleByte);
      if (!role) throw new DecodeError(`bad role ${roleByte}`);
      const n = r.uint(1024);
      const paths: string[] = [];
      for (let i = 0; i < n; i++) paths.push(r.str(LIMITS.path));
      const flags = r.uint();
      const nr = r.uint(LIMITS.rules);
      const rules: Rule[] = [];
      for (let i = 0; i < nr; i++) {
        const k = r.u8();
        if (k > 1) throw new DecodeError(`bad rule kind ${k}`);
        rules.push({ kind: k === 1 ? 'include' : 'exclude', pattern: r.str(LIMITS.path) });
      }
      const options = { rules, backupDir: r.str(LIMITS.path), modifyWindow: r.f64(), timeout: r.uint(LIMITS.timeout), compressLevel: r.uint(11) } as StartOptions;
      OPT_FLAGS.forEach((k, i) => {
        options[k] = (flags & (1 << i)) !== 0;
      });
      if (!(options.modifyWindow >= 0 && options.modifyWindow <= LIMITS.modifyWindow)) throw new DecodeError('bad modify window');
      if (flags >= 1 << OPT_FLAGS.length) throw new DecodeError(`unknown option flags 0x${flags.toString(16)}`);
      if (r.remaining > 0) options.lockWait = r.uint(LIMITS.timeout);
      m = { t, role, paths, options };
      break;
    }
    case 'error':
      m = { t, code: r.str(64), message: r.str(LIMITS.message) };
      break;
    case 'warn':
      m = { t, code: r.str(64), path: r.str(LIMITS.path), message: r.str(LIMITS.message) };
      break;
    case 'keepalive':
      m = { t };
      break;
    case 'auth':
      m = { t, proof: r.bytes(64) };
      break;
    case 'flist_head':
      m = { t, singleFile: r.bool() };
      break;
    case 'flist':
      m = { t, data: r.bytes(LIMITS.frame), mac: r.raw(LIMITS.mac) };
      break;
    case 'flist_end':
      m = { t, count: r.uint(), mac: r.raw(LIMITS.mac), ioErrors: r.uint() };
      break;
    case 'req':
      m = { t, index: r.uint(), flags: r.uint(3), check: r.bytes(64), sig: r.bytes(LIMITS.sig) };
      break;
    case 'req_fill':
      m = { t, index: r.uint(), holeMin: r.uint(1 << 30), sig: r.bytes(LIMITS.sig) };
      break;
    case 'file_begin':
      m = { t, index: r.uint(), size: r.uint(), delta: r.bool() };
      break;
    case 'data': {
      const n = r.remaining;
      if (n > LIMITS.data) throw new DecodeError(`data message of ${n} bytes exceeds ${LIMITS.data}`);
      m = { t, data: r.raw(n) };
      break;
    }
    case 'file_end': {
      const index = r.uint();
      const status = r.u8();
      if (status > 6) throw new DecodeError(`bad file status ${status}`);
      m = { t, index, status: status as FileStatus, hash: r.bytes(64), message: r.str(LIMITS.message) };
      break;
    }
    case 'item': {
      const p = r.str(LIMITS.path);
      const code = r.str(32);
      const type = CODE_TYPE[r.u8()];
      if (!type) throw new DecodeError('bad entry type in item');
      m = { t, path: p, code, type, size: r.uint(), target: r.str(LIMITS.target) };
      break;
    }
    case 'done':
      m = { t, stats: r.str(LIMITS.json) };
      break;
    case 'ping':
    case 'pong':
      m = { t, seq: r.uint(), clock: r.f64() };
      break;
    case 'tw_hello':
      m = { t, replica: r.str(LIMITS.capLen), host: r.str(LIMITS.capLen), digest: r.bytes(LIMITS.mac), baseCount: r.uint() };
      break;
    case 'tw_base':
    case 'tw_save':
      m = { t, data: r.bytes(LIMITS.frame) };
      break;
    case 'tw_op': {
      const op = r.u8();
      if (op > 1) throw new DecodeError(`bad two-way operation ${op}`);
      m = { t, op: op as TwOpKind, path: r.str(LIMITS.path), to: r.str(LIMITS.path), expect: r.bytes(LIMITS.path + LIMITS.target + 64) };
      break;
    }
    case 'tw_ops_end':
    case 'tw_saved':
    case 'tw_diff':
      m = { t };
      break;
    case 'tw_gone':
      m = { t, data: r.bytes(LIMITS.frame), mac: r.raw(LIMITS.mac) };
      break;
    case 'tw_gone_end':
      m = { t, count: r.uint(), mac: r.raw(LIMITS.mac) };
      break;
    case 'tw_ops_done':
      m = { t, failed: r.uint() };
      break;
    case 'tw_go':
      m = { t, wantBase: r.bool() };
      break;
    case 'tw_save_end':
      m = { t, count: r.uint(), digest: r.bytes(LIMITS.mac) };

      break;
    case 'progress':
      m = { t, files: r.uint(), totalFiles: r.uint(), bytes: r.uint(), totalBytes: r.uint(), moved: r.uint(), listing: r.bool(), path: r.str(LIMITS.path), size: r.uint(), done: r.uint() };
      break;
    case 'diag':
      m = { t, report: r.str(LIMITS.json) };
      break;
    case 'v_req': {
      const id = r.uint();
      const op = r.u8();
      if (op > 7) throw new DecodeError(`bad vault operation ${op}`);
      m = { t, id, op: op as VaultOpKind, name: r.str(LIMITS.path), off: r.uint(), len: r.uint(), data: r.bytes(LIMITS.frame) };
      break;
    }
    case 'v_res': {
      const id = r.uint();
      const status = r.u8();
      if (status > 2) throw new DecodeError(`bad vault status ${status}`);
      m = { t, id, status: status as VaultStatusKind, size: r.uint(), data: r.bytes(LIMITS.frame), message: r.str(LIMITS.message) };
      break;
    }
  }
  r.end(t);
  return m;
}

// ---- manifest batches ------------------------------------------------------
// A batch is canonical bytes: [count] then per entry [shared-prefix len]
// [suffix] [type] [mode] [mtime] ([size] | [target]). Paths are prefix-coded
// against the previous path in the same batch.

const TYPE_CODE: Record<EntryType, number> = { f: 0, d: 1, l: 2 };
const CODE_TYPE: EntryType[] = ['f', 'd', 'l'];

export function encodeEntries(entries: readonly Entry[]): Buffer {
  const w = new Writer(64 * entries.length + 16);
  w.uint(entries.length);
  let prev = Buffer.alloc(0);
  for (const e of entries) {
    const p = Buffer.from(e.path, 'utf8');
    let shared = 0;
    const max = Math.min(p.length, prev.length, 255);
    while (shared < max && p[shared] === prev[shared]) shared++;
    // never split a UTF-8 sequence: back up to a character boundary
    while (shared > 0 && (p[shared] & 0xc0) === 0x80) shared--;
    w.uint(shared).bytes(p.subarray(shared)).u8(TYPE_CODE[e.type]).uint(e.mode & 0o7777).int(e.mtime);
    if (e.type === 'l') w.str(e.target ?? '');
    else if (e.type === 'f') w.uint(e.size);
    prev = p;
  }
  return w.finish();
}

export function decodeEntries(buf: Buffer): Entry[] {
  const r = new Reader(buf);
  const n = r.uint(LIMITS.entriesPerBatch);
  const out: Entry[] = [];
  // each path is its shared prefix of the previous one, then its own suffix, built in place
  const p = Buffer.alloc(LIMITS.path);
  let prevLen = 0;
  for (let i = 0; i < n; i++) {
    const shared = r.uint(255);
    if (shared > prevLen) throw new DecodeError(`entry ${i}: shared prefix ${shared} longer than previous path`);
    const suffix = r.bytes(LIMITS.path);
    const len = shared + suffix.length;
    if (len > LIMITS.path) throw new DecodeError(`entry ${i}: path longer than ${LIMITS.path} bytes`);
    suffix.copy(p, shared);
    if (!isUtf8(p.subarray(0, len))) throw new DecodeError(`entry ${i}: path is not valid UTF-8`);
    const path = p.toString('utf8', 0, len);
    const code = r.u8();
    const type = CODE_TYPE[code];
    if (!type) throw new DecodeError(`entry ${i}: bad type ${code}`);
    const mode = r.uint(0o7777);
    const mtime = r.int();
    const e: Entry = { path, type, mode, size: 0, mtime };
    if (type === 'l') e.target = r.str(LIMITS.target);
    else if (type === 'f') e.size = r.uint();
    out.push(e);
    prevLen = len;
  }
  r.end('entry batch');
  return out;
}
