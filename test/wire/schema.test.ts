import t from 'tap';
import { DecodeError, Reader, Writer } from '../../lib/wire/codec.js';
import { encodeFrame, FrameDecoder } from '../../lib/wire/frames.js';
import {
  decodeEntries,
  decodeMessage,
  encodeEntries,
  encodeMessage,
  FileStatus,
  LIMITS,
  MAGIC,
  PROTOCOL_MIN,
  PROTOCOL_VERSION,
  TAGS,
  VaultOp,
  VaultStatus,
  type Entry,
  type Message,
  type MessageType,
  type StartOptions,
} from '../../lib/wire/schema.js';
import { mulberry32 as prng } from '../helpers/prng.mjs';
import { OPTIONS } from '../helpers/hostile.js';

/** mulberry32: a small seeded PRNG so failures replay */

const seq = (n: number, f: (i: number) => number = (i) => i) => Buffer.from(Array.from({ length: n }, (_, i) => f(i) & 0xff));
const mac32 = seq(32, (i) => i * 7 + 1);

// every flag off: the hostile peers' defaults with .tsyncignore files off too
const baseOptions: StartOptions = { ...OPTIONS, ignoreFiles: false };

const ENTRIES: Entry[] = [
  { path: '.', type: 'd', mode: 0o755, size: 0, mtime: 1_700_000_000_000_000 },
  { path: 'docs', type: 'd', mode: 0o700, size: 0, mtime: 1_700_000_000_123_456 },
  { path: 'docs/a.txt', type: 'f', mode: 0o644, size: 12, mtime: 1_700_000_001_000_000 },
  { path: 'docs/b.txt', type: 'f', mode: 0o600, size: 5 * 2 ** 30, mtime: 1_700_000_002_000_000 },
  { path: 'docs/link', type: 'l', mode: 0o777, size: 0, mtime: -1_000_000, target: '../elsewhere/ü' },
];

/** One or more samples of every message type. A new type in TAGS without a sample fails 'every tag has a sample'. */
const SAMPLES: Message[] = [
  { t: 'hello', version: PROTOCOL_VERSION, minVersion: PROTOCOL_MIN, software: 'tsync 0.1.0', caps: ['zstd', 'sha256', 'delta-v1'], clock: 1_700_000_000.123456, nonce: seq(32, (i) => 255 - i) },
  { t: 'hello', version: 0xffff, minVersion: 0, software: '', caps: [], clock: -1.5, nonce: Buffer.alloc(0) },
  { t: 'hello', version: 2, minVersion: 1, software: 'x'.repeat(LIMITS.capLen), caps: Array.from({ length: LIMITS.caps }, (_, i) => `cap-${i}`), clock: 0, nonce: seq(64) },
  { t: 'start', role: 'sender', paths: ['.'], options: baseOptions },
  {
    t: 'start',
    role: 'receiver',
    paths: ['docs', 'naïve/ファイル', 'with space', '-dash'],
    options: {
      delete: true,
      dryRun: true,
      checksum: true,
      update: true,
      ignoreFiles: true,
      rules: [
        { kind: 'include', pattern: '*.txt' },
        { kind: 'exclude', pattern: 'node_modules/' },
        { kind: 'exclude', pattern: 'ü*' },
      ],
      backupDir: '/var/backups/tsync',
      modifyWindow: 2.5,
      timeout: 600,
      compress: true,
      compressLevel: 9,
      partial: true,
    },
  },
  // each option flag alone, so a swapped bit is caught
  ...(['delete', 'dryRun', 'checksum', 'update', 'ignoreFiles', 'compress', 'partial'] as const).map(
    (k): Message => ({ t: 'start', role: 'sender', paths: [], options: { ...baseOptions, [k]: true, timeout: LIMITS.timeout, modifyWindow: LIMITS.modifyWindow } }),
  ),
  { t: 'error', code: 'E_READ_ONLY', message: 'the server is read-only' },
  { t: 'error', code: '', message: '' },
  { t: 'error', code: 'E_IO', message: 'ü'.repeat(LIMITS.message / 2) },
  { t: 'warn', code: 'E_PARTIAL', path: 'docs/a.txt', message: 'open: EACCES' },
  { t: 'warn', code: '', path: '', message: '' },
  { t: 'keepalive' },
  { t: 'auth', proof: seq(32) },
  { t: 'auth', proof: Buffer.alloc(0) },
  { t: 'flist_head', singleFile: false },
  { t: 'flist_head', singleFile: true },
  { t: 'flist', data: encodeEntries(ENTRIES), mac: mac32 },
  { t: 'flist', data: Buffer.alloc(0), mac: Buffer.alloc(32) },
  { t: 'flist_end', count: 0, mac: mac32, ioErrors: 0 },
  { t: 'flist_end', count: 1_000_000, mac: Buffer.alloc(32, 0xff), ioErrors: 3 },
  { t: 'req', index: 0, flags: 0, check: Buffer.alloc(0), sig: Buffer.alloc(0) },
  { t: 'req', index: 123_456, flags: 1, check: seq(32), sig: Buffer.alloc(0) },
  { t: 'req', index: 9, flags: 0, check: seq(64), sig: seq(5000, (i) => i * 3) },
  { t: 'req_fill', index: 3, holeMin: 8192, sig: seq(5000, (i) => i * 7) },
  { t: 'req_fill', index: 2 ** 32, holeMin: 0, sig: Buffer.alloc(0) },
  { t: 'file_begin', index: 0, size: 0, delta: false },
  { t: 'file_begin', index: 2 ** 32, size: 5 * 2 ** 30, delta: true },
  { t: 'file_begin', index: 7, size: Number.MAX_SAFE_INTEGER, delta: false },
  { t: 'data', data: Buffer.alloc(0) },
  { t: 'data', data: seq(1, () => 0x31) },
  { t: 'data', data: seq(1000, (i) => i * 13) },
  { t: 'file_end', index: 3, status: FileStatus.Sent, hash: seq(32), message: '' },
  { t: 'file_end', index: 4, status: FileStatus.Same, hash: Buffer.alloc(0), message: '' },
  { t: 'file_end', index: 5, status: FileStatus.Failed, hash: Buffer.alloc(0), message: 'read: EIO' },
  { t: 'file_end', index: 6, status: FileStatus.Differs, hash: seq(64), message: 'dry run' },
  // every status the schema declares
  ...Object.values(FileStatus).map((status): Message => ({ t: 'file_end', index: 10 + status, status, hash: Buffer.alloc(0), message: '' })),
  { t: 'item', path: 'docs/a.txt', code: '>f+++++++++', type: 'f', size: 12, target: '' },
  { t: 'item', path: 'docs', code: 'cd+++++++++', type: 'd', size: 0, target: '' },
  { t: 'item', path: 'docs/link', code: 'cL+++++++++', type: 'l', size: 0, target: '../x' },
  { t: 'done', stats: '{}' },
  { t: 'start', role: 'doctor', paths: ['~/docs'], options: baseOptions },
  { t: 'start', role: 'receiver', paths: ['dst'], options: { ...baseOptions, lockWait: 0 } },
  { t: 'start', role: 'receiver', paths: ['dst'], options: { ...baseOptions, lockWait: LIMITS.timeout } },
  { t: 'progress', files: 0, totalFiles: 0, bytes: 0, totalBytes: 0, moved: 0, listing: true, path: '', size: 0, done: 0 },
  { t: 'progress', files: 999_999, totalFiles: 1_000_000, bytes: 5 * 2 ** 40, totalBytes: Number.MAX_SAFE_INTEGER, moved: 2 ** 33, listing: false, path: 'docs/naïve ファイル.iso', size: 5 * 2 ** 30, done: 2 ** 31 },
  { t: 'diag', report: JSON.stringify({ tsync: '0.1.0', root: { path: '/srv/ü' } }) },
  { t: 'diag', report: '' },
  { t: 'v_req', id: 7, op: VaultOp.Part, name: 'data/ab/ab' + '0'.repeat(62), off: 524288, len: 0, data: Buffer.from([1, 2, 3]) },
  { t: 'v_req', id: 0, op: VaultOp.End, name: '', off: 0, len: 0, data: Buffer.alloc(0) },
  { t: 'v_res', id: 7, status: VaultStatus.Failed, size: 3 << 20, data: Buffer.alloc(0), message: 'E_READ_ONLY this server is read-only' },
  { t: 'v_res', id: 1, status: VaultStatus.Ok, size: 0, data: Buffer.from('[]'), message: '' },
  { t: 'done', stats: JSON.stringify({ files: 3, bytes: 5 * 2 ** 30, names: ['ü', 'e\u0301'] }) },
  { t: 'start', role: 'twoway', paths: ['~/docs'], options: { ...baseOptions, modifyWindow: 2 } },
  { t: 'ping', seq: 0, clock: 1_795_430_000_123 },
  { t: 'pong', seq: 4, clock: 1_795_433_600_456.5 },
  { t: 'tw_hello', replica: '0123456789abcdef0123456789abcdef', host: 'laptop.local', digest: Buffer.alloc(32, 7), baseCount: 3 },
  { t: 'tw_hello', replica: 'fedcba9876543210fedcba9876543210', host: '', digest: Buffer.alloc(0), baseCount: 0 },
  { t: 'tw_go', wantBase: true },
  { t: 'tw_go', wantBase: false },
  { t: 'tw_diff' },
  { t: 'tw_gone', data: Buffer.from([0]), mac: Buffer.alloc(32, 3) },
  { t: 'tw_gone_end', count: 25_000, mac: Buffer.alloc(32, 4) },
  { t: 'tw_base', data: Buffer.from([0]) },
  { t: 'tw_op', op: 0, path: 'a/b.txt', to: '', expect: Buffer.from([1, 2, 3]) },
  { t: 'tw_op', op: 1, path: 'a/b.txt', to: 'a/b.conflict-h-20261123-101010.txt', expect: Buffer.from([1]) },
  { t: 'tw_ops_end' },
  { t: 'tw_ops_done', failed: 2 },
  { t: 'tw_save', data: Buffer.alloc(300, 1) },
  { t: 'tw_save_end', count: 20_000, digest: Buffer.alloc(32, 9) },
  { t: 'tw_saved' },
];

const label = (m: Message, i: number) => `${m.t} #${i}`;

/** the error fn throws, or 'no throw' */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return 'no throw';
}

/** header fields of a hand-built message */
const msg = (type: MessageType, build: (w: Writer) => void = () => {}) => {
  const w = new Writer().u8(TAGS[type]);
  build(w);
  return Buffer.from(w.finish());
};

t.test('constants', async (t) => {
  t.equal(MAGIC.length, 8);
  t.equal(MAGIC.toString('hex'), '895453594e430d0a', '\\x89TSYNC\\r\\n');
  t.ok(PROTOCOL_MIN <= PROTOCOL_VERSION);
  t.equal(LIMITS.mac, 32);
  t.ok(encodeMessage({ t: 'data', data: Buffer.alloc(LIMITS.data) }).length <= LIMITS.frame, 'a full DATA message fits in a frame');
});

t.test('tags are stable and unique', async (t) => {
  // pinned: tags are on the wire forever
  t.same(TAGS, {
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
    progress: 0x45,
    diag: 0x46,
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
    v_req: 0x70,
    v_res: 0x71,
  });
  const values = Object.values(TAGS);
  t.equal(new Set(values).size, values.length, 'no two types share a tag');
  t.ok(values.every((v) => Number.isInteger(v) && v > 0 && v < 256), 'every tag is one non-zero byte');
});

t.test('every tag has a sample', async (t) => {
  for (const type of Object.keys(TAGS) as MessageType[]) {
    t.ok(
      SAMPLES.some((m) => m.t === type),
      `a sample of ${type}`,
    );
  }
});

t.test('encodeMessage/decodeMessage round trip every sample', async (t) => {
  SAMPLES.forEach((m, i) => {
    const b = encodeMessage(m);
    t.equal(b[0], TAGS[m.t], `${label(m, i)}: first byte is the tag`);
    const back = decodeMessage(b);
    t.same(back, m, `${label(m, i)}: round trip`);
    t.equal(Object.keys(back).sort().join(','), Object.keys(m).sort().join(','), `${label(m, i)}: no extra fields`);
    t.ok(encodeMessage(back).equals(b), `${label(m, i)}: re-encoding gives the same bytes`);
    // through a frame, as on the wire
    const [payload] = new FrameDecoder(LIMITS.frame).push(encodeFrame(b));
    t.same(decodeMessage(payload), m, `${label(m, i)}: through a frame`);
  });
});

t.test('START: the role byte, and lockWait only when set', async (t) => {
  const roles = { sender: 0, receiver: 1, doctor: 8 } as const;
  for (const [role, byte] of Object.entries(roles)) {
    t.equal(encodeMessage({ t: 'start', role: role as keyof typeof roles, paths: [], options: baseOptions })[1], byte, `${role} is ${byte}`);
  }
  const plain = encodeMessage({ t: 'start', role: 'receiver', paths: [], options: baseOptions });
  const waiting = encodeMessage({ t: 'start', role: 'receiver', paths: [], options: { ...baseOptions, lockWait: 300 } });
  t.same(waiting.subarray(0, plain.length), plain, 'lockWait is appended after every older field');
  t.equal(waiting.subarray(plain.length).toString('hex'), 'ac02', '300 as a varint');
  t.notOk('lockWait' in (decodeMessage(plain) as { options: object }).options, 'absent when not sent');
});

t.test('exact bytes of a few messages (the wire format is fixed)', async (t) => {
  t.equal(encodeMessage({ t: 'keepalive' }).toString('hex'), '06');
  t.equal(encodeMessage({ t: 'flist_head', singleFile: true }).toString('hex'), '1001');
  t.equal(encodeMessage({ t: 'error', code: 'E_IO', message: 'x' }).toString('hex'), '0404455f494f0178');
  t.equal(encodeMessage({ t: 'file_begin', index: 1, size: 300, delta: true }).toString('hex'), '3001ac0201');
  t.equal(encodeMessage({ t: 'req', index: 2, flags: 1, check: Buffer.from([0xaa]), sig: Buffer.from([0xbb, 0xcc]) }).toString('hex'), '20020101aa02bbcc');
  t.equal(encodeMessage({ t: 'data', data: Buffer.from('hi') }).toString('hex'), '316869');
  // option flags: delete=1, dryRun=2, checksum=4, update=8, ignoreFiles=16, compress=32, partial=64
  const start = encodeMessage({ t: 'start', role: 'receiver', paths: [], options: { ...baseOptions, checksum: true, ignoreFiles: true } });
  t.equal(start.subarray(0, 4).toString('hex'), '02' + '01' + '00' + '14');
});

t.test('every proper prefix of every message is a DecodeError (DATA excepted)', async (t) => {
  SAMPLES.forEach((m, i) => {
    const b = encodeMessage(m);
    let bad = 0;
    const examples: string[] = [];
    for (let n = 0; n < b.length; n++) {
      const prefix = b.subarray(0, n);
      if (m.t === 'data' && n > 0) {
        // DATA's payload is the rest of the frame: any prefix is a shorter DATA
        const back = decodeMessage(prefix);
        if (back.t !== 'data' || !back.data.equals(b.subarray(1, n))) bad++;
        continue;
      }
      if (m.t === 'start' && m.options.lockWait !== undefined && n === encodeMessage({ ...m, options: { ...m.options, lockWait: undefined } }).length) {
        // START's lockWait is an optional trailing field: without it, this is a START from an older client
        const back = decodeMessage(prefix) as typeof m;
        if (back.options.lockWait !== undefined) bad++;
        continue;
      }
      const e = thrown(() => decodeMessage(prefix));
      if (!(e instanceof DecodeError)) {
        bad++;
        if (examples.length < 3) examples.push(`${n}: ${String(e)}`);
      }
    }
    t.equal(bad, 0, `${label(m, i)}: all ${b.length} prefixes ${examples.join('; ')}`);
  });
});

t.test('trailing bytes are a DecodeError (DATA excepted)', async (t) => {
  SAMPLES.forEach((m, i) => {
    const b = Buffer.concat([encodeMessage(m), Buffer.from([0])]);
    if (m.t === 'data') {
      t.equal((decodeMessage(b) as { data: Buffer }).data.length, m.data.length + 1, `${label(m, i)}: one more data byte`);
      return;
    }
    if (m.t === 'start' && m.options.lockWait === undefined) {
      // the optional trailing lockWait: a zero byte there is lockWait 0
      t.equal((decodeMessage(b) as typeof m).options.lockWait, 0, `${label(m, i)}: a trailing byte is lockWait`);
      t.throws(() => decodeMessage(Buffer.concat([b, Buffer.from([0])])), { name: 'DecodeError', message: /trailing/ }, `${label(m, i)}: and one more is trailing`);
      return;
    }
    t.throws(() => decodeMessage(b), { name: 'DecodeError', message: /trailing/ }, label(m, i));
  });
});

t.test('unknown tags', async (t) => {
  const known = new Set(Object.values(TAGS));
  for (let tag = 0; tag < 256; tag++) {
    if (known.has(tag)) continue;
    t.throws(() => decodeMessage(Buffer.from([tag, 0, 0, 0])), { name: 'DecodeError', message: `unknown message type 0x${tag.toString(16)}` }, `tag 0x${tag.toString(16)}`);
  }
  t.throws(() => decodeMessage(Buffer.alloc(0)), DecodeError, 'an empty message');
});

t.test('malformed fields', async (t) => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['bad boolean in flist_head', msg('flist_head', (w) => w.u8(2)), /bad boolean 2/],
    ['bad boolean 0xff', msg('flist_head', (w) => w.u8(0xff)), /bad boolean 255/],
    ['bad role', msg('start', (w) => w.u8(3)), /bad role 3/],
    ['bad two-way op', msg('tw_op', (w) => w.u8(2)), /bad two-way operation 2/],
    [
      'bad rule kind',
      msg('start', (w) => w.u8(0).uint(0).uint(0).uint(1).u8(2).str('x')),
      /bad rule kind 2/,
    ],
    ['too many start paths', msg('start', (w) => w.u8(0).uint(1025)), /exceeds limit 1024/],
    ['too many rules', msg('start', (w) => w.u8(0).uint(0).uint(0).uint(LIMITS.rules + 1)), /exceeds limit/],
    ['path over the limit', msg('start', (w) => w.u8(0).uint(1).str('a'.repeat(LIMITS.path + 1))), /exceeds limit 4096/],
    ['timeout over LIMITS.timeout', msg('start', (w) => w.u8(0).uint(0).uint(0).uint(0).str('').f64(0).uint(LIMITS.timeout + 1).uint(0)), /exceeds limit/],
    ['unknown option flag', msg('start', (w) => w.u8(0).uint(0).uint(1 << 7).uint(0).str('').f64(0).uint(0).uint(0)), /unknown option flags 0x80/],
    ['unknown high option flag', msg('start', (w) => w.u8(0).uint(0).uint(2 ** 40).uint(0).str('').f64(0).uint(0).uint(0)), /unknown option flags/],
    ['negative modify window', msg('start', (w) => w.u8(0).uint(0).uint(0).uint(0).str('').f64(-1).uint(0).uint(0)), /bad modify window/],
    ['NaN modify window', msg('start', (w) => w.u8(0).uint(0).uint(0).uint(0).str('').f64(NaN).uint(0).uint(0)), /bad modify window/],
    ['infinite modify window', msg('start', (w) => w.u8(0).uint(0).uint(0).uint(0).str('').f64(Infinity).uint(0).uint(0)), /bad modify window/],
    ['modify window over LIMITS.modifyWindow', msg('start', (w) => w.u8(0).uint(0).uint(0).uint(0).str('').f64(LIMITS.modifyWindow + 0.5).uint(0).uint(0)), /bad modify window/],
    ['hello version over 0xffff', msg('hello', (w) => w.uint(0x10000)), /exceeds limit 65535/],
    ['hello software too long', msg('hello', (w) => w.uint(1).uint(1).str('x'.repeat(LIMITS.capLen + 1))), /exceeds limit/],
    ['hello too many caps', msg('hello', (w) => w.uint(1).uint(1).str('t').uint(LIMITS.caps + 1)), /exceeds limit 64/],
    ['hello cap too long', msg('hello', (w) => w.uint(1).uint(1).str('t').uint(1).str('c'.repeat(65))), /exceeds limit/],
    ['hello nonce too long', msg('hello', (w) => w.uint(1).uint(1).str('t').uint(0).f64(0).bytes(Buffer.alloc(65))), /exceeds limit 64/],
    ['error code too long', msg('error', (w) => w.str('E'.repeat(65)).str('')), /exceeds limit 64/],
    ['error message too long', msg('error', (w) => w.str('E_IO').str('m'.repeat(LIMITS.message + 1))), /exceeds limit/],
    ['error message not UTF-8', msg('error', (w) => w.str('E_IO').bytes(Buffer.from([0xc3, 0x28]))), /not valid UTF-8/],
    ['warn path too long', msg('warn', (w) => w.str('W').str('p'.repeat(LIMITS.path + 1)).str('')), /exceeds limit/],
    ['flist data too long', msg('flist', (w) => w.uint(LIMITS.frame + 1)), /exceeds limit/],
    ['flist mac too short', msg('flist', (w) => w.bytes(Buffer.alloc(3)).raw(Buffer.alloc(31))), /truncated/],
    ['flist_end mac too short', msg('flist_end', (w) => w.uint(1).raw(Buffer.alloc(31))), /truncated/],
    ['req flags 4', msg('req', (w) => w.uint(0).uint(4).bytes(Buffer.alloc(0))), /exceeds limit 3/],
    ['req check too long', msg('req', (w) => w.uint(0).uint(0).uint(65)), /exceeds limit 64/],
    ['req signature too long', msg('req', (w) => w.uint(0).uint(0).bytes(Buffer.alloc(0)).uint(LIMITS.sig + 1)), /exceeds limit/],
    ['file_begin bad delta flag', msg('file_begin', (w) => w.uint(0).uint(0).u8(2)), /bad boolean 2/],
    [
      'file_end status past the last one',
      msg('file_end', (w) => w.uint(0).u8(Math.max(...Object.values(FileStatus)) + 1).bytes(Buffer.alloc(0)).str('')),
      new RegExp(`bad file status ${Math.max(...Object.values(FileStatus)) + 1}`),
    ],
    ['file_end status 255', msg('file_end', (w) => w.uint(0).u8(255)), /bad file status 255/],
    ['file_end hash too long', msg('file_end', (w) => w.uint(0).u8(0).bytes(Buffer.alloc(65)).str('')), /exceeds limit 64/],
    ['item bad type', msg('item', (w) => w.str('p').str('>f+++++++++').u8(3).uint(0).str('')), /bad entry type/],
    ['item code too long', msg('item', (w) => w.str('p').str('c'.repeat(33))), /exceeds limit 32/],
    ['done stats too long', msg('done', (w) => w.str('s'.repeat(LIMITS.json + 1))), /exceeds limit/],
    ['non-canonical varint', msg('file_begin', (w) => w.raw(Buffer.from([0x80, 0x00])).uint(0)), /non-canonical/],
    ['varint above 2^53', msg('file_begin', (w) => w.uint(0).raw(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]))), /exceeds limit/],
  ];
  for (const [name, b, re] of cases) t.throws(() => decodeMessage(b), { name: 'DecodeError', message: re }, name);
});

t.test('DATA above LIMITS.data is refused', async (t) => {
  t.equal(decodeMessage(encodeMessage({ t: 'data', data: Buffer.alloc(LIMITS.data, 7) })).t, 'data', 'exactly the limit');
  t.throws(() => decodeMessage(encodeMessage({ t: 'data', data: Buffer.alloc(LIMITS.data + 1) })), {
    name: 'DecodeError',
    message: `data message of ${LIMITS.data + 1} bytes exceeds ${LIMITS.data}`,
  });
});

t.test('decoded messages keep working after the frame buffer is reused', async (t) => {
  const m: Message = { t: 'hello', version: 1, minVersion: 1, software: 's', caps: [], clock: 0, nonce: seq(16) };
  const b = encodeMessage(m);
  const d = decodeMessage(b) as Extract<Message, { t: 'hello' }>;
  b.fill(0);
  t.same(d.nonce, seq(16), 'the nonce is a copy');
});

// ---- manifest batches ------------------------------------------------------

interface RawEntry {
  shared: number;
  suffix: Buffer;
}
/** the prefix coding of a batch, read without decodeEntries */
function prefixCoding(buf: Buffer): RawEntry[] {
  const r = new Reader(buf);
  const n = r.uint();
  const out: RawEntry[] = [];
  for (let i = 0; i < n; i++) {
    const shared = r.uint();
    const suffix = r.bytes(1 << 20);
    const type = r.u8();
    r.uint();
    r.int();
    if (type === 2) r.str(1 << 20);
    else if (type === 0) r.uint();
    out.push({ shared, suffix });
  }
  r.end('batch');
  return out;
}

const file = (path: string, extra: Partial<Entry> = {}): Entry => ({ path, type: 'f', mode: 0o644, size: 1, mtime: 1_600_000_000_000_000, ...extra });

/** entries as decodeEntries returns them: size 0 unless a file, target only on links */
const normal = (e: Entry): Entry => {
  const out: Entry = { path: e.path, type: e.type, mode: e.mode, size: e.type === 'f' ? e.size : 0, mtime: e.mtime };
  if (e.type === 'l') out.target = e.target ?? '';
  return out;
};

const TRICKY: Entry[] = [
  { path: '.', type: 'd', mode: 0o755, size: 0, mtime: 0 },
  file('a'),
  file('ab'),
  file('a b'),
  file('-rf'),
  file('line\nbreak'),
  file('tab\there'),
  file('caf\u00e9'), // NFC
  file('cafe\u0301'), // NFD: a different name
  file('café/x'),
  file('aé'),
  file('aè'), // shares 'a' and the lead byte 0xc3 with the previous: split char
  file('😀'),
  file('😁'), // shares 3 of 4 bytes
  file('日本/語'),
  file('日本/誤'),
  file('\ufffd'),
  file('big', { size: 5 * 2 ** 30 }),
  file('bigger', { size: Number.MAX_SAFE_INTEGER }),
  file('empty', { size: 0 }),
  file('old', { mtime: -1 }),
  file('older', { mtime: -2_208_988_800_000_000 }), // 1900
  file('zero', { mtime: 0 }),
  file('far', { mtime: 2 ** 52 - 1 }),
  file('far-back', { mtime: -(2 ** 52) }),
  file('setuid', { mode: 0o4755 }),
  file('all-bits', { mode: 0o7777 }),
  file('no-bits', { mode: 0 }),
  { path: 'dir', type: 'd', mode: 0o1777, size: 0, mtime: 1 },
  { path: 'dir/abs-link', type: 'l', mode: 0o777, size: 0, mtime: 2, target: '/etc/passwd' },
  { path: 'dir/up-link', type: 'l', mode: 0o777, size: 0, mtime: 3, target: '../../x' },
  { path: 'dir/empty-link', type: 'l', mode: 0o777, size: 0, mtime: 4, target: '' },
  { path: 'dir/uni-link', type: 'l', mode: 0o777, size: 0, mtime: -5, target: 'ünï/😀\nnl' },
  { path: 'dir/long-link', type: 'l', mode: 0o777, size: 0, mtime: 6, target: 't'.repeat(LIMITS.target) },
  file('p/'.repeat(1000) + 'q'), // 2001 bytes, shares nothing useful
  file('p/'.repeat(1000) + 'r'), // shares more than 255 bytes: capped
  file('x'.repeat(LIMITS.path)), // the longest path
  file('x'.repeat(LIMITS.path - 2) + 'é'), // the longest path, ending in a 2-byte char
];

t.test('encodeEntries/decodeEntries round trip tricky entries', async (t) => {
  const b = encodeEntries(TRICKY);
  const back = decodeEntries(b);
  t.equal(back.length, TRICKY.length);
  TRICKY.forEach((e, i) => t.same(back[i], normal(e), JSON.stringify(e.path.slice(0, 40))));
  t.ok(encodeEntries(back).equals(b), 're-encoding gives the same bytes');
  // each alone too (no previous path)
  for (const e of TRICKY) t.same(decodeEntries(encodeEntries([e])), [normal(e)], `alone: ${JSON.stringify(e.path.slice(0, 40))}`);
});

t.test('empty batch and the size rule for non-files', async (t) => {
  t.equal(encodeEntries([]).toString('hex'), '00');
  t.same(decodeEntries(encodeEntries([])), []);
  // size travels only for files; target only for links
  const d = decodeEntries(encodeEntries([{ path: 'd', type: 'd', mode: 0o755, size: 99, mtime: 0, target: 'ignored' }]));
  t.same(d, [{ path: 'd', type: 'd', mode: 0o755, size: 0, mtime: 0 }]);
  const l = decodeEntries(encodeEntries([{ path: 'l', type: 'l', mode: 0o777, size: 99, mtime: 0 }]));
  t.same(l, [{ path: 'l', type: 'l', mode: 0o777, size: 0, mtime: 0, target: '' }], 'a link without a target gets ""');
});

t.test('prefix coding: never splits a UTF-8 character, caps at 255', async (t) => {
  const code = (paths: string[]) => prefixCoding(encodeEntries(paths.map((p) => file(p))));
  t.same(
    code(['abc', 'abd', 'x']).map((e) => [e.shared, e.suffix.toString()]),
    [
      [0, 'abc'],
      [2, 'd'],
      [0, 'x'],
    ],
  );
  // 'aé' = 61 c3 a9, 'aè' = 61 c3 a8: three shared bytes would end inside 'è'
  t.same(code(['aé', 'aè'])[1], { shared: 1, suffix: Buffer.from('è') });
  // emoji share three of four bytes: nothing is shared
  t.same(code(['😀', '😁'])[1], { shared: 0, suffix: Buffer.from('😁') });
  // NFC vs NFD: 'café' vs 'cafe\u0301' share 'caf'
  t.same(code(['caf\u00e9', 'cafe\u0301'])[1], { shared: 3, suffix: Buffer.from('e\u0301') });
  // the previous path is a prefix of the next one, and the other way round
  t.same(code(['dir', 'dir/file'])[1], { shared: 3, suffix: Buffer.from('/file') });
  t.same(code(['dir/file', 'dir'])[1], { shared: 3, suffix: Buffer.alloc(0) });
  t.same(code(['same', 'same'])[1], { shared: 4, suffix: Buffer.alloc(0) });
  // at most 255 shared bytes
  const long = 'a'.repeat(300);
  t.same(code([long + '1', long + '2'])[1].shared, 255);
  // the 255 cap lands inside a 2-byte char: back up one
  const p = 'a'.repeat(254) + 'é';
  const c = code([p + 'x', p + 'y'])[1];
  t.equal(c.shared, 254);
  t.same(c.suffix, Buffer.from('éy'));
  t.same(decodeEntries(encodeEntries([file(p + 'x'), file(p + 'y')])).map((e) => e.path), [p + 'x', p + 'y']);
});

t.test('seeded random batches round trip', async (t) => {
  const rnd = prng(2024);
  const alphabet = ['a', 'b', '/', 'é', 'è', '😀', '日', ' ', '.', '-', '\n', 'e\u0301', 'z'];
  let bad = 0;
  for (let round = 0; round < 200; round++) {
    const n = Math.floor(rnd() * 30);
    const entries: Entry[] = [];
    let prev = '';
    for (let i = 0; i < n; i++) {
      // often extend or edit the previous path, to exercise the prefix coding
      let path = rnd() < 0.6 ? prev.slice(0, Math.floor(rnd() * (prev.length + 1))) : '';
      const add = 1 + Math.floor(rnd() * 12);
      for (let k = 0; k < add; k++) path += alphabet[Math.floor(rnd() * alphabet.length)];
      // do not cut a surrogate pair when slicing
      path = path.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '');
      const r = rnd();
      const mtime = Math.floor((rnd() - 0.3) * 2 ** 51);
      const type = r < 0.6 ? 'f' : r < 0.85 ? 'd' : 'l';
      const e: Entry = { path, type, mode: Math.floor(rnd() * 0o10000), size: type === 'f' ? Math.floor(rnd() * 2 ** 40) : 0, mtime };
      if (type === 'l') e.target = path.split('').reverse().join('').replace(/[\ud800-\udfff]/g, '');
      entries.push(e);
      prev = path;
    }
    const b = encodeEntries(entries);
    const back = decodeEntries(b);
    if (JSON.stringify(back) !== JSON.stringify(entries)) bad++;
  }
  t.equal(bad, 0, '200 random batches');
});

/** a hand-built batch */
const batch = (count: number, build: (w: Writer) => void = () => {}) => {
  const w = new Writer().uint(count);
  build(w);
  return Buffer.from(w.finish());
};
const fileEntry = (w: Writer, shared: number, suffix: Buffer | string) =>
  w
    .uint(shared)
    .bytes(typeof suffix === 'string' ? Buffer.from(suffix) : suffix)
    .u8(0)
    .uint(0o644)
    .int(0)
    .uint(1);

t.test('malformed batches', async (t) => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['count above entriesPerBatch', batch(LIMITS.entriesPerBatch + 1), new RegExp(`exceeds limit ${LIMITS.entriesPerBatch}`)],
    ['a huge count with no entries', batch(2 ** 40), /exceeds limit/],
    ['shared prefix on the first entry', batch(1, (w) => fileEntry(w, 1, 'a')), /entry 0: shared prefix 1 longer than previous path/],
    ['shared prefix longer than the previous path', batch(2, (w) => fileEntry(fileEntry(w, 0, 'ab'), 3, 'c')), /entry 1: shared prefix 3 longer/],
    ['shared prefix above 255', batch(2, (w) => fileEntry(fileEntry(w, 0, 'a'.repeat(300)), 256, 'c')), /exceeds limit 255/],
    ['bad entry type 3', batch(1, (w) => w.uint(0).bytes(Buffer.from('a')).u8(3).uint(0).int(0)), /entry 0: bad type 3/],
    ['bad entry type 255', batch(1, (w) => w.uint(0).bytes(Buffer.from('a')).u8(255)), /bad type 255/],
    ['mode above 0o7777', batch(1, (w) => w.uint(0).bytes(Buffer.from('a')).u8(0).uint(0o10000).int(0).uint(0)), /exceeds limit 4095/],
    ['suffix above the path limit', batch(1, (w) => fileEntry(w, 0, 'a'.repeat(LIMITS.path + 1))), /exceeds limit 4096/],
    [
      'shared prefix + suffix above the path limit',
      batch(2, (w) => fileEntry(fileEntry(w, 0, 'a'.repeat(4000)), 255, 'b'.repeat(LIMITS.path - 254))),
      /entry 1: path longer than 4096/,
    ],
    ['path not UTF-8', batch(1, (w) => fileEntry(w, 0, Buffer.from([0x61, 0xff]))), /entry 0: path is not valid UTF-8/],
    ['path is half a character', batch(1, (w) => fileEntry(w, 0, Buffer.from([0xc3]))), /not valid UTF-8/],
    // shared prefix that ends inside 'é' and a suffix that does not complete it
    ['shared prefix splits a char badly', batch(2, (w) => fileEntry(fileEntry(w, 0, 'é'), 1, 'x')), /entry 1: path is not valid UTF-8/],
    ['link target not UTF-8', batch(1, (w) => w.uint(0).bytes(Buffer.from('l')).u8(2).uint(0o777).int(0).bytes(Buffer.from([0xfe]))), /not valid UTF-8/],
    ['link target too long', batch(1, (w) => w.uint(0).bytes(Buffer.from('l')).u8(2).uint(0o777).int(0).str('t'.repeat(LIMITS.target + 1))), /exceeds limit/],
    ['trailing bytes', Buffer.concat([encodeEntries([file('a')]), Buffer.from([0])]), /trailing bytes after entry batch/],
    ['trailing bytes after an empty batch', Buffer.from([0, 0]), /trailing/],
    ['count larger than the entries present', batch(2, (w) => fileEntry(w, 0, 'a')), /truncated/],
    ['empty input', Buffer.alloc(0), /truncated/],
  ];
  for (const [name, b, re] of cases) t.throws(() => decodeEntries(b), { name: 'DecodeError', message: re }, name);

  // a shared prefix that splits a character is still fine when the bytes join into valid UTF-8
  t.same(
    decodeEntries(batch(2, (w) => fileEntry(fileEntry(w, 0, 'é'), 1, Buffer.from([0xa8])))).map((e) => e.path),
    ['é', 'è'],
  );
  // exactly entriesPerBatch entries is fine
  const many = Array.from({ length: LIMITS.entriesPerBatch }, (_, i) => file(`f${i}`));
  t.equal(decodeEntries(encodeEntries(many)).length, LIMITS.entriesPerBatch);
});

t.test('every proper prefix of a batch is a DecodeError', async (t) => {
  for (const entries of [TRICKY.slice(0, 20), TRICKY.slice(28, 34), [file('a')], []]) {
    const b = encodeEntries(entries);
    let bad = 0;
    for (let n = 0; n < b.length; n++) if (!(thrown(() => decodeEntries(b.subarray(0, n))) instanceof DecodeError)) bad++;
    t.equal(bad, 0, `${b.length} prefixes of a batch of ${entries.length}`);
  }
});

t.test('mtimes far in the future or past', async (t) => {
  // regression: zigzag-encoded microseconds overflowed for |mtime| > 2^52 us
  // (after 2112 or before 1827): `touch -d 2200-01-01` made the sender fail
  // (microseconds stay exact up to 2^53, about the year 2255; the scanner clamps beyond)
  for (const when of ['2200-01-01T00:00:00Z', '2250-05-10T22:38:55Z', '1800-01-01T00:00:00Z']) {
    const e = file('f', { mtime: Date.parse(when) * 1000 });
    const got = thrown(() => decodeEntries(encodeEntries([e]))[0].mtime);
    t.equal(got instanceof Error ? `${got.name}: ${got.message}` : 'no throw', 'no throw', `an mtime at ${when} encodes`);
  }
});

t.test('bytes per encoded entry are bounded by 3 x (path + target UTF-16 units) + 40', async (t) => {
  // lib/tree/scan.ts cuts batches with this estimate so a FLIST frame stays
  // under LIMITS.frame; it holds only while the encoding stays this compact.
  const estimate = (e: Entry) => 3 * (e.path.length + (e.target?.length ?? 0)) + 40;
  const worst: Entry[] = [
    ...TRICKY,
    { path: '\u0800'.repeat(1365), type: 'l', mode: 0o7777, size: 0, mtime: -(2 ** 52), target: '\uffff'.repeat(1365) }, // 3-byte chars
    { path: '😀'.repeat(1024), type: 'f', mode: 0o7777, size: Number.MAX_SAFE_INTEGER, mtime: 2 ** 52 - 1 }, // 4-byte chars
    { path: 'a', type: 'f', mode: 0o7777, size: Number.MAX_SAFE_INTEGER, mtime: -(2 ** 52) },
  ];
  for (const e of worst) {
    const alone = encodeEntries([e]).length - 1; // minus the count byte
    t.ok(alone <= estimate(e), `${JSON.stringify(e.path.slice(0, 20))}: ${alone} <= ${estimate(e)}`);
  }
  // and a batch of entries at that budget fits in a frame with room to spare
  const entries = Array.from({ length: 1000 }, (_, i): Entry => ({ path: `l${String(i).padStart(4, '0')}`, type: 'l', mode: 0o777, size: 0, mtime: 0, target: 'x'.repeat(80) + i }));
  const data = encodeEntries(entries);
  t.ok(data.length <= entries.reduce((n, e) => n + estimate(e), 1));
  t.same(new FrameDecoder(LIMITS.frame + 16).push(encodeFrame(encodeMessage({ t: 'flist', data, mac: mac32 }))).length, 1);
});

// ---- fuzz ------------------------------------------------------------------

t.test('fuzz: decoders only ever throw DecodeError', async (t) => {
  const rnd = prng(0xc0ffee);
  const tags = Object.values(TAGS);
  const valid: Buffer[] = SAMPLES.map(encodeMessage);
  const batches: Buffer[] = [encodeEntries(ENTRIES), encodeEntries(TRICKY.slice(0, 34)), encodeEntries([file('a'), file('ab')])];
  const inputs: Buffer[] = [];
  // 5,000 random byte strings; half of them start with a real tag so they get past the first byte
  for (let i = 0; i < 5000; i++) {
    const len = Math.floor(rnd() * 64);
    const b = Buffer.alloc(len);
    for (let j = 0; j < len; j++) b[j] = Math.floor(rnd() * 256);
    if (len > 0 && i % 2 === 0) b[0] = tags[Math.floor(rnd() * tags.length)];
    inputs.push(b);
  }
  // 5,000 single-byte mutations of valid messages and batches
  const pool = [...valid, ...batches].filter((b) => b.length > 0);
  for (let i = 0; i < 5000; i++) {
    const src = pool[Math.floor(rnd() * pool.length)];
    const b = Buffer.from(src);
    const at = Math.floor(rnd() * b.length);
    const r = rnd();
    // a random byte, a flipped bit, or a boundary value
    b[at] = r < 0.4 ? Math.floor(rnd() * 256) : r < 0.8 ? b[at] ^ (1 << Math.floor(rnd() * 8)) : [0, 0x7f, 0x80, 0xff][Math.floor(rnd() * 4)];
    inputs.push(b);
  }
  const start = Date.now();
  const wrong: string[] = [];
  let decoded = 0;
  for (const b of inputs) {
    for (const [name, fn] of [
      ['decodeMessage', decodeMessage],
      ['decodeEntries', decodeEntries],
    ] as const) {
      try {
        fn(b);
        decoded++;
      } catch (e) {
        if (!(e instanceof DecodeError) && wrong.length < 5) wrong.push(`${name}(${b.toString('hex').slice(0, 80)}): ${String(e)}`);
      }
    }
  }
  const ms = Date.now() - start;
  t.same(wrong, [], 'only DecodeError');
  t.ok(decoded > 0, `${decoded} of ${inputs.length * 2} decodes succeeded (mutations that stay valid)`);
  t.ok(ms < 20_000, `20,000 decodes in ${ms} ms (a bound against a pathological blow-up, not a speed test)`);
});
