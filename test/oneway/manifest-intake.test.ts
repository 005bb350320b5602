// lib/oneway/manifest-intake.ts: the one reader of a sender's manifest (the
// receiver's and the two-way client's). Batches are MAC-checked before they
// are decoded, every entry's path is checked, and the end binds the count,
// the I/O errors and the header's single-file flag.
import t from 'tap';
import { ManifestIntake } from '../../lib/oneway/manifest-intake.js';
import { MacChain } from '../../lib/tree/manifest.js';
import { encodeEntries, type Entry } from '../../lib/wire/schema.js';
import { TsyncError } from '../../lib/errors.js';

const KEY = Buffer.alloc(32, 7);
const dir = (path: string): Entry => ({ path, type: 'd', mode: 0o755, size: 0, mtime: 1_700_000_000_000_000 });
const file = (path: string): Entry => ({ path, type: 'f', mode: 0o644, size: 3, mtime: 1_700_000_000_000_000 });

/** what an honest sender sends: a header, MAC-chained batches and an end */
function manifest(batches: Entry[][], singleFile = false, ioErrors = 0) {
  const mac = new MacChain(KEY);
  const flist = batches.map((b) => {
    const data = encodeEntries(b);
    return { t: 'flist' as const, data, mac: Buffer.from(mac.next(data)) };
  });
  const count = batches.reduce((n, b) => n + b.length, 0);
  return { head: { t: 'flist_head' as const, singleFile }, flist, end: { t: 'flist_end' as const, count, ioErrors, mac: Buffer.from(mac.final(count, ioErrors, singleFile)) } };
}

/** take a manifest the way the receiver does; returns the paths taken */
function take(m: ReturnType<typeof manifest>, count?: number): string[] {
  const intake = new ManifestIntake(KEY);
  intake.head(m.head);
  const got: string[] = [];
  for (const b of m.flist) {
    for (const e of intake.batch(b)) {
      intake.check(e);
      got.push(e.path);
    }
  }
  intake.end(m.end, count ?? got.length);
  return got;
}

function refused(t: { ok(v: unknown, m: string): void; match(a: unknown, b: RegExp, m: string): void }, fn: () => unknown, re: RegExp, what: string): void {
  try {
    fn();
    t.ok(false, `${what}: taken, not refused`);
  } catch (e) {
    t.ok(e instanceof TsyncError && e.code === 'E_PROTOCOL', `${what}: E_PROTOCOL`);
    t.match((e as Error).message, re, what);
  }
}

t.test('an honest manifest is taken whole, in order', async (t) => {
  const m = manifest([[dir('.'), dir('a'), file('a/x')], [file('b')]]);
  t.same(take(m), ['.', 'a', 'a/x', 'b']);
  const intake = new ManifestIntake(KEY);
  intake.head(m.head);
  for (const b of m.flist) for (const e of intake.batch(b)) intake.check(e);
  t.ok(intake.listed('a/x'));
  t.notOk(intake.listed('c'));
});

t.test('a single file: the header flag is bound by the final MAC', async (t) => {
  const m = manifest([[file('one')]], true);
  t.same(take(m), ['one']);
  refused(t, () => take({ ...m, head: { t: 'flist_head', singleFile: false } }), /at its end/, 'a header that lies about the single-file flag');
});

t.test('what a lying sender is refused for', async (t) => {
  const m = manifest([[dir('.'), file('a')], [file('b')]]);
  const tampered = { ...m, flist: [m.flist[0], { ...m.flist[1], data: encodeEntries([file('c')]) }] };
  refused(t, () => take(tampered), /batch failed verification/, 'a batch changed on the way');
  refused(t, () => take({ ...m, flist: [m.flist[1], m.flist[0]] }), /batch failed verification/, 'batches reordered');
  refused(t, () => take(m, 2), /at its end/, 'an end that counts other than what was taken');
  refused(t, () => take({ ...m, end: { ...m.end, ioErrors: 1 } }), /at its end/, 'an end whose I/O error count was changed');
  refused(t, () => take(manifest([[dir('.'), file('../up')]])), /unsafe path/, 'a path that climbs out');
  refused(t, () => take(manifest([[dir('.'), file('/abs')]])), /unsafe path/, 'an absolute path');
  refused(t, () => take(manifest([[dir('.'), dir('.tsync')]])), /reserved path/, "tsync's state directory");
  refused(t, () => take(manifest([[dir('.'), file('d/.tsync-tmp-x-0123456789ab')]])), /reserved path/, 'a temporary name');
  refused(t, () => take(manifest([[dir('.'), file('a')], [file('a')]])), /duplicate path/, 'the same path twice, across batches');
  const garbage = Buffer.from([0xff, 0xff, 0xff]);
  const mac = new MacChain(KEY);
  refused(t, () => new ManifestIntake(KEY).batch({ t: 'flist', data: garbage, mac: Buffer.from(mac.next(garbage)) }), /bad manifest batch/, 'a verified batch that does not decode');
});
