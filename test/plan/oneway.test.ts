import t from 'tap';
import { decide, itemize, sameTime, type Action, type Local, type PlanOptions } from '../../lib/plan/oneway.js';
import type { Entry, EntryType } from '../../lib/wire/schema.js';

const T = 1_700_000_000_000_000; // microseconds
const S = 1_000_000; // one second in microseconds

const OPTS: Record<string, PlanOptions> = {
  plain: { checksum: false, update: false, windowUs: 0 },
  checksum: { checksum: true, update: false, windowUs: 0 },
  update: { checksum: false, update: true, windowUs: 0 },
  window2s: { checksum: false, update: false, windowUs: 2 * S },
  'update+window2s': { checksum: false, update: true, windowUs: 2 * S },
  'checksum+update': { checksum: true, update: true, windowUs: 0 },
};

const SRC: Record<EntryType, Entry> = {
  f: { path: 'f', type: 'f', mode: 0o644, size: 100, mtime: T },
  d: { path: 'd', type: 'd', mode: 0o755, size: 0, mtime: T },
  l: { path: 'l', type: 'l', mode: 0o777, size: 0, mtime: T, target: 'to/here' },
};

/** what the receiver has, as a variation on the sender's entry */
const same = (e: Entry, change: Partial<Local> = {}): Local => ({ type: e.type, mode: e.mode, size: e.size, mtime: e.mtime, target: e.target, ...change });

type Row = [state: string, local: (e: Entry) => Local | null, expect: Partial<Record<keyof typeof OPTS, Action>> & { all?: Action }];

const none: Action = { do: 'none' };
const check: Action = { do: 'check' };
const fetch: Action = { do: 'fetch' };
const skip: Action = { do: 'skip-newer' };
const create: Action = { do: 'create', replace: false };
const replace: Action = { do: 'create', replace: true };
const meta = (mode: boolean, mtime: boolean): Action => ({ do: 'meta', mode, mtime });

const TABLE: Record<EntryType, Row[]> = {
  f: [
    ['missing', () => null, { all: create }],
    ['same type, unchanged', (e) => same(e), { all: none, checksum: check, 'checksum+update': check }],
    ['receiver newer by 5 s', (e) => same(e, { mtime: e.mtime + 5 * S }), { all: check, update: skip, 'update+window2s': skip, 'checksum+update': skip }],
    ['receiver older by 5 s', (e) => same(e, { mtime: e.mtime - 5 * S }), { all: check }],
    ['receiver newer by 1 s (inside a 2 s window)', (e) => same(e, { mtime: e.mtime + S }), { all: check, update: skip, 'checksum+update': skip, window2s: none, 'update+window2s': none }],
    ['receiver older by 1 s (inside a 2 s window)', (e) => same(e, { mtime: e.mtime - S }), { all: check, window2s: none, 'update+window2s': none }],
    ['size differs', (e) => same(e, { size: e.size + 1 }), { all: fetch }],
    ['size differs, receiver empty', (e) => same(e, { size: 0 }), { all: fetch }],
    ['size differs, receiver newer by 5 s', (e) => same(e, { size: 1, mtime: e.mtime + 5 * S }), { all: fetch, update: skip, 'update+window2s': skip, 'checksum+update': skip }],
    ['size differs, receiver newer by 1 s', (e) => same(e, { size: 1, mtime: e.mtime + S }), { all: fetch, update: skip, 'checksum+update': skip }],
    ['mode differs', (e) => same(e, { mode: 0o600 }), { all: meta(true, false), checksum: check, 'checksum+update': check }],
    ['mode differs, mtime differs', (e) => same(e, { mode: 0o600, mtime: e.mtime - 5 * S }), { all: check }],
    ['mode differs only above 0o7777 (file-type bits)', (e) => same(e, { mode: 0o100644 }), { all: none, checksum: check, 'checksum+update': check }],
    ['other type: directory', (e) => same(e, { type: 'd', size: 0 }), { all: replace }],
    ['other type: symlink', (e) => same(e, { type: 'l', target: 'x' }), { all: replace }],
    ['other type: directory, newer (update does not keep it)', (e) => same(e, { type: 'd', mtime: e.mtime + 100 * S }), { all: replace }],
    ["'other' special file", (e) => same(e, { type: 'other' }), { all: replace }],
  ],
  d: [
    ['missing', () => null, { all: create }],
    ['same type, unchanged', (e) => same(e), { all: none }],
    ['receiver newer by 5 s (update does not apply to dirs)', (e) => same(e, { mtime: e.mtime + 5 * S }), { all: meta(false, true) }],
    ['receiver older by 5 s', (e) => same(e, { mtime: e.mtime - 5 * S }), { all: meta(false, true) }],
    ['mtime inside a 2 s window', (e) => same(e, { mtime: e.mtime + S }), { all: meta(false, true), window2s: none, 'update+window2s': none }],
    ['size differs (means nothing for a dir)', (e) => same(e, { size: 4096 }), { all: none }],
    ['mode differs', (e) => same(e, { mode: 0o700 }), { all: meta(true, false) }],
    ['mode and mtime differ', (e) => same(e, { mode: 0o700, mtime: e.mtime - 5 * S }), { all: meta(true, true) }],
    ['other type: file', (e) => same(e, { type: 'f', size: 3 }), { all: replace }],
    ['other type: symlink', (e) => same(e, { type: 'l', target: 'x' }), { all: replace }],
    ["'other' special file", (e) => same(e, { type: 'other' }), { all: replace }],
  ],
  l: [
    ['missing', () => null, { all: create }],
    ['same type, unchanged', (e) => same(e), { all: none }],
    ['target differs', (e) => same(e, { target: 'elsewhere' }), { all: replace }],
    ['target differs, receiver newer (update does not apply to links)', (e) => same(e, { target: 'elsewhere', mtime: e.mtime + 5 * S }), { all: replace }],
    ['receiver newer by 5 s', (e) => same(e, { mtime: e.mtime + 5 * S }), { all: meta(false, true) }],
    ['receiver older by 5 s', (e) => same(e, { mtime: e.mtime - 5 * S }), { all: meta(false, true) }],
    ['mtime inside a 2 s window', (e) => same(e, { mtime: e.mtime - S }), { all: meta(false, true), window2s: none, 'update+window2s': none }],
    ['mode differs (links have no mode)', (e) => same(e, { mode: 0o755 }), { all: none }],
    ['size differs (means nothing for a link)', (e) => same(e, { size: 7 }), { all: none }],
    ['other type: file', (e) => same(e, { type: 'f', size: 3 }), { all: replace }],
    ['other type: directory', (e) => same(e, { type: 'd' }), { all: replace }],
    ["'other' special file", (e) => same(e, { type: 'other' }), { all: replace }],
  ],
};

t.test('decide: source type x receiver state x options', async (t) => {
  for (const type of ['f', 'd', 'l'] as const) {
    for (const [state, local, expect] of TABLE[type]) {
      for (const [name, o] of Object.entries(OPTS)) {
        const want = expect[name] ?? expect.all;
        if (!want) throw new Error(`no expectation for ${type} / ${state} / ${name}`);
        const src = SRC[type];
        t.same(decide(src, local(src), o), want, `${type} | ${state} | ${name}`);
      }
    }
  }
});

t.test('decide never looks at anything but its arguments', async (t) => {
  // pure: same input, same output, input not mutated
  const src = { ...SRC.f };
  const local = same(src, { mtime: src.mtime + 5 * S });
  const frozen = JSON.stringify([src, local]);
  const a = decide(src, local, OPTS.update);
  const b = decide(src, local, OPTS.update);
  t.same(a, b);
  t.equal(JSON.stringify([src, local]), frozen);
});

t.test('-u skips only when the receiver is newer beyond the window', async (t) => {
  const src = SRC.f;
  for (const windowUs of [0, 1, S, 2 * S]) {
    const o: PlanOptions = { checksum: false, update: true, windowUs };
    const w = Math.max(windowUs, 1); // a difference of 1 us always counts as equal
    t.same(decide(src, same(src, { mtime: src.mtime + w + 1 }), o), skip, `window ${windowUs}: newer by window + 1 us is skipped`);
    t.same(decide(src, same(src, { mtime: src.mtime + w }), o), none, `window ${windowUs}: newer by exactly the window is equal`);
    t.same(decide(src, same(src, { mtime: src.mtime + w, size: 1 }), o), fetch, `window ${windowUs}: inside the window a size change is fetched`);
    t.same(decide(src, same(src, { mtime: src.mtime - w - 1 }), o), check, `window ${windowUs}: older beyond the window is checked`);
    t.same(decide(src, same(src, { mtime: src.mtime - w - 1, size: 1 }), o), fetch, `window ${windowUs}: older and another size is fetched`);
  }
});

t.test('sameTime: a symmetric window, at least 1 us', async (t) => {
  const table: Array<[number, number, number, boolean]> = [
    [0, 0, 0, true],
    [0, 1, 0, true],
    [1, 0, 0, true],
    [0, 2, 0, false],
    [0, 2, 1, false],
    [0, 2, 2, true],
    [T, T + S, S, true],
    [T, T - S, S, true],
    [T, T + S + 1, S, false],
    [T, T - S - 1, S, false],
    [-5 * S, 5 * S, 10 * S, true],
    [-5 * S, 5 * S + 1, 10 * S, false],
  ];
  for (const [a, b, w, want] of table) {
    t.equal(sameTime(a, b, w), want, `sameTime(${a}, ${b}, ${w})`);
    t.equal(sameTime(b, a, w), want, `sameTime(${b}, ${a}, ${w})`);
  }
});

// ---- itemize ---------------------------------------------------------------
// rsync(1), --itemize-changes: YXcstpoguax. Y is the update type ('<' sent,
// '>' received, 'c' local change/creation, '.' not updated); X the file type
// ('f', 'd', 'L' for a symlink); then c (checksum/value), s (size), t (mtime),
// p (permissions), o, g, u, a, x. A new item shows '+' in every attribute.

const ITEMIZE_RE = /^[<>ch.*][fdLDS][.+cstpoguaxT]{9}$/;
const IO = { checksum: false, windowUs: 0 };

t.test('itemize: new items', async (t) => {
  t.equal(itemize(SRC.f, null, 'new', IO), '>f+++++++++', 'new file');
  t.equal(itemize(SRC.d, null, 'new', IO), 'cd+++++++++', 'new dir');
  t.equal(itemize(SRC.l, null, 'new', IO), 'cL+++++++++', 'new link');
  // whatever 'how' says, a missing receiver entry is new
  t.equal(itemize(SRC.f, null, 'data', IO), '>f+++++++++');
  t.equal(itemize(SRC.f, null, 'meta', IO), '>f+++++++++');
  // something of another type was in the way: replaced, so new
  t.equal(itemize(SRC.f, same(SRC.f, { type: 'd' }), 'data', IO), '>f+++++++++', 'file over a dir');
  t.equal(itemize(SRC.d, same(SRC.d, { type: 'f' }), 'new', IO), 'cd+++++++++', 'dir over a file');
  t.equal(itemize(SRC.l, same(SRC.l, { type: 'f' }), 'data', IO), 'cL+++++++++', 'link over a file');
  t.equal(itemize(SRC.f, same(SRC.f, { type: 'other' }), 'data', IO), '>f+++++++++', 'file over a fifo');
  // 'new' wins even when the receiver had the same type (the receiver re-created it)
  t.equal(itemize(SRC.f, same(SRC.f), 'new', IO), '>f+++++++++');
});

t.test('itemize: changed files', async (t) => {
  const f = SRC.f;
  const rows: Array<[string, Local, 'data' | 'meta' | 'none', string]> = [
    ['size and time change', same(f, { size: 50, mtime: T - 5 * S }), 'data', '>f.st......'],
    ['size change only', same(f, { size: 50 }), 'data', '>f.s.......'],
    ['same size, other content, other time', same(f, { mtime: T - 5 * S }), 'data', '>f..t......'],
    ['same size, other content, same time', same(f), 'data', '>f.........'],
    ['size, time and permissions', same(f, { size: 50, mtime: T - 5 * S, mode: 0o600 }), 'data', '>f.stp.....'],
    ['time only (content equal)', same(f, { mtime: T - 5 * S }), 'meta', '.f..t......'],
    ['permissions only', same(f, { mode: 0o600 }), 'meta', '.f...p.....'],
    ['time and permissions', same(f, { mtime: T + 5 * S, mode: 0o600 }), 'meta', '.f..tp.....'],
    ['nothing', same(f), 'none', '.f.........'],
    ['file-type bits are not permissions', same(f, { mode: 0o100644 }), 'meta', '.f.........'],
    ['1 us apart is the same time', same(f, { mtime: T + 1 }), 'meta', '.f.........'],
  ];
  for (const [name, local, how, want] of rows) {
    const got = itemize(f, local, how, IO);
    t.equal(got, want, name);
    t.match(got, ITEMIZE_RE, `${name}: rsync's shape`);
  }
});

t.test('itemize: directories and links', async (t) => {
  const d = SRC.d;
  t.equal(itemize(d, same(d, { mtime: T - S }), 'meta', IO), '.d..t......', 'dir time');
  t.equal(itemize(d, same(d, { mode: 0o700 }), 'meta', IO), '.d...p.....', 'dir permissions');
  t.equal(itemize(d, same(d, { mode: 0o700, mtime: T + S }), 'meta', IO), '.d..tp.....', 'dir both');
  t.equal(itemize(d, same(d, { size: 4096 }), 'meta', IO), '.d.........', 'a dir size is not a change');
  const l = SRC.l;
  t.equal(itemize(l, same(l, { mtime: T - S }), 'meta', IO), '.L..t......', 'link time');
  t.equal(itemize(l, same(l, { mode: 0o755 }), 'meta', IO), '.L.........', 'links have no permissions');
  for (const s of [itemize(d, same(d), 'meta', IO), itemize(l, same(l), 'meta', IO), itemize(l, same(l, { target: 'x' }), 'data', IO)]) t.match(s, ITEMIZE_RE);
});

t.test('itemize: a symlink whose target changed shows c (rsync: "a symlink ... has a changed value")', async (t) => {
  // regression: c was only ever set for regular files (rsync generator.c sets
  // ITEM_REPORT_CHANGE when the link's target differs)
  const l = SRC.l;
  t.equal(itemize(l, same(l, { target: 'old/target' }), 'data', IO), 'cLc........', 'target changed');
  t.equal(itemize(l, same(l, { target: 'old/target', mtime: T - S }), 'data', IO), 'cLc.t......', 'target and time changed');
});

t.test('itemize honours the modify window, like decide', async (t) => {
  // regression: itemize used a fixed 1 us window, so with --modify-window=1 a
  // file 0.5 s off was itemized with a t for a time change never made
  const f = SRC.f;
  const local = same(f, { mode: 0o600, mtime: T + S / 2 });
  t.same(decide(f, local, { checksum: false, update: false, windowUs: S }), meta(true, false));
  t.equal(itemize(f, local, 'meta', { checksum: false, windowUs: S }), '.f...p.....', 'no t for a time inside the window');
  t.equal(itemize(f, same(f), 'data', { checksum: true, windowUs: 0 }), '>fc........', '-c: content changed shows c');
});
