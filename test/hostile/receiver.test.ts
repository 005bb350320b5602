// A hostile receiver against the real sender: the client pushes to a
// lying server. The sender answers only for files it listed, by their own
// paths, so whatever index or signature is asked for, nothing outside its
// source is read (its source holds a symlink to the sentinel's secret, and
// the secret must never cross the wire), and every lie ends with a clear
// one-line error.

import t from 'tap';
import { randomBytes } from 'node:crypto';
import { encodeSignature, SignatureBuilder } from '../../lib/delta/index.js';
import { FileStatus, type Entry } from '../../lib/wire/schema.js';
import type { WirePeer } from '../helpers/hostile.js';
import { remoteStandIn, runReceiverCase, type ReceiverCase } from '../helpers/hostile-case.js';

const PROTO = 12;
const none = Buffer.alloc(0);
const indexOf = (list: Entry[], p: string) => list.findIndex((e) => e.path === p);
const ask = (p: WirePeer, index: number, o: { flags?: number; check?: Buffer; sig?: Buffer } = {}) =>
  p.send({ t: 'req', index, flags: o.flags ?? 0, check: o.check ?? none, sig: o.sig ?? none });

/** an honest signature of `size` bytes of zeros with `blockSize`, its block count field then rewritten */
function signature(size: number, blockSize: number): Buffer {
  const b = new SignatureBuilder({ blockSize, strongLen: 16, expectedSize: size });
  b.update(Buffer.alloc(size));
  return encodeSignature(b.finish());
}

const CASES: ReceiverCase[] = [
  {
    name: 'asks for an index not in the list',
    play: (p) => ask(p, 99_999),
    expect: { code: PROTO, stderr: /asked for entry 99999, which is not a file in the manifest/ },
  },
  {
    name: 'asks for the index of a directory',
    play: (p, list) => ask(p, indexOf(list, 'sub')),
    expect: { code: PROTO, stderr: /asked for entry \d+, which is not a file/ },
  },
  {
    name: "asks for the index of a symlink to the sentinel's secret",
    play: (p, list) => ask(p, indexOf(list, 'leak')),
    expect: { code: PROTO, stderr: /asked for entry \d+, which is not a file/ },
  },
  {
    name: 'asks with a bogus signature (random bytes)',
    play: (p, list) => ask(p, indexOf(list, 'sub/b.bin'), { sig: randomBytes(300) }),
    expect: { code: PROTO, stderr: /invalid delta signature/ },
  },
  {
    name: 'asks with a signature whose block count does not match its tables',
    play: (p, list) => {
      const sig = signature(8192, 1024);
      // the header's block count is a varint somewhere in the first bytes: find and bump the 8
      const at = sig.indexOf(8);
      sig[at] = 0x7f;
      ask(p, indexOf(list, 'sub/b.bin'), { sig });
    },
    expect: { code: PROTO, stderr: /invalid delta signature/ },
  },
  {
    name: 'asks with a content check of the wrong length',
    play: (p, list) => ask(p, indexOf(list, 'a.txt'), { check: Buffer.alloc(5) }),
    expect: { code: PROTO, stderr: /bad content check in request/ },
  },
  {
    name: 'asks with both a content check and a signature',
    play: (p, list) => ask(p, indexOf(list, 'sub/b.bin'), { check: Buffer.alloc(32), sig: signature(4096, 1024) }),
    expect: { code: PROTO, stderr: /both a content check and a signature/ },
  },
  {
    name: 'a dry-run request without a content check',
    play: (p, list) => ask(p, indexOf(list, 'a.txt'), { flags: 1 }),
    expect: { code: PROTO, stderr: /dry-run request without a content check/ },
  },
  {
    name: 'sends file data to the sender',
    play: (p) => p.send({ t: 'file_begin', index: 1, size: 1, delta: false }),
    expect: { code: PROTO, stderr: /unexpected file_begin message from the receiver/ },
  },
  {
    name: 'ends with DONE whose stats are not JSON',
    play: (p) => p.send({ t: 'done', stats: '{not json' }),
    expect: { code: PROTO, stderr: /statistics that are not a JSON object/ },
  },
  {
    name: 'ends with DONE whose stats are JSON null',
    play: (p) => p.send({ t: 'done', stats: 'null' }),
    expect: { code: PROTO, stderr: /statistics that are not a JSON object/ },
  },
  {
    name: 'itemizes a path with terminal escapes: shown escaped, the run succeeds',
    args: ['-i'],
    play: (p) => {
      p.send({ t: 'item', path: 'evil\x1b[2J\rname', code: '>f+++++++++', type: 'f', size: 1, target: '' });
      p.send({ t: 'done', stats: '{}' });
      p.end();
    },
    expect: { code: 0, stderr: /^$/ },
    check: (t, _s, r) => t.match(r.stdout, /evil\\x1b\[2J\\x0dname/, 'the escapes are printed as text'),
  },
  {
    name: 'the honest requests of every file, then DONE (the control)',
    play: async (p, list) => {
      list.forEach((e, i) => e.type === 'f' && ask(p, i));
      let ended = 0;
      while (ended < list.filter((e) => e.type === 'f').length) if ((await p.next()).t === 'file_end') ended++;
      p.send({ t: 'done', stats: '{}' });
      p.end();
    },
    expect: { code: 0, stderr: /^$/ },
    check: (t, _s, _r, p) => {
      const ends = p.received.filter((m) => m.t === 'file_end');
      t.equal(ends.length, 2, 'both files were sent');
      t.ok(ends.every((m) => m.t === 'file_end' && m.status === FileStatus.Sent), 'whole');
    },
  },
];

t.test('a hostile receiver against the real sender', async (t) => {
  const remote = await remoteStandIn(t);
  for (const c of CASES) await t.test(c.name, (t) => runReceiverCase(t, remote, c));
});
