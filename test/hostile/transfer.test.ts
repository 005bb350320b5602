// A hostile sender lies while sending file data, framing or compression;
// the real client, pulling, is the receiver under attack. Same contract as
// manifest.test.ts: clear `tsync:` lines, the documented exit code, nothing
// written outside the destination, no temporary left, the old content kept.

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import t, { type Test } from 'tap';
import { encodeOps } from '../../lib/delta/index.js';
import { FileStatus, LIMITS, type Entry, type Message } from '../../lib/wire/schema.js';
import { dir, file, sendFile, sendManifest, serveRequests, sha256, type WirePeer } from '../helpers/hostile.js';
import { remoteStandIn, runSenderCase, type Sandbox, type SenderCase } from '../helpers/hostile-case.js';

type Req = Extract<Message, { t: 'req' }>;

const ROOT = dir('.');
const NEW = Buffer.from('the new content\n');
const NEWER = 1_700_000_000_000_000;
const PROTO = 12;
const LOST = 10;
const TIMEOUT = 30;
const PARTIAL = 23;
const DEFLATE_ONLY = ['hash:sha256', 'z:deflate'];

/** ROOT, old.txt (changed: it will be asked for) and then-new.txt (new; after it in sorted order, as an honest sender lists them) */
const LIST: Entry[] = [ROOT, file('old.txt', NEW.length, NEWER), file('then-new.txt', NEW.length, NEWER)];
const FILES = new Map<number, Buffer>([
  [1, NEW],
  [2, NEW],
]);

/** The usual manifest; then `answer` gets each request first (true: handled). */
function session(answer: (p: WirePeer, r: Req, nth: number) => boolean, list: Entry[] = LIST, files = FILES) {
  return async (p: WirePeer, key: Buffer) => {
    sendManifest(p, key, [list]);
    await serveRequests(p, files, (r, n) => answer(p, r, n));
  };
}

/** on the first request: send these raw things, then wait for the other side to give up */
function onFirstRequest(lie: (p: WirePeer, r: Req) => void) {
  return session((p, r, n) => {
    if (n === 0) lie(p, r);
    return true;
  });
}

const oldKept = (t: Test, s: Sandbox) => {
  t.equal(fs.readFileSync(path.join(s.dst, 'old.txt'), 'utf8'), 'old\n', 'old.txt keeps its old content');
};

const BIG = randomBytes(64 * 1024);

const CASES: SenderCase[] = [
  {
    name: 'huge size: a file listed (and begun) at 2^53-1 bytes, ten bytes sent',
    play: session((p, r) => {
      if (r.index !== 1) return false;
      const ten = Buffer.alloc(10, 1);
      p.send({ t: 'file_begin', index: 1, size: Number.MAX_SAFE_INTEGER, delta: false });
      p.send({ t: 'data', data: ten });
      p.send({ t: 'file_end', index: 1, status: FileStatus.Sent, hash: sha256(ten), message: '' });
      return true;
    }, [ROOT, file('old.txt', Number.MAX_SAFE_INTEGER, NEWER), file('then-new.txt', NEW.length, NEWER)]),
    expect: { code: PARTIAL, stderr: /old\.txt: received data failed verification twice/ },
    check: oldKept,
  },
  {
    name: 'wrong hash, every time',
    play: session((p, r) => {
      if (r.index !== 1) return false;
      sendFile(p, 1, NEW, { hash: Buffer.alloc(32, 7) });
      return true;
    }),
    expect: { code: PARTIAL, stderr: /old\.txt: received data failed verification twice/ },
    check: oldKept,
  },
  {
    name: 'wrong hash once: the receiver asks again and gets it right',
    play: session((p, r, n) => {
      if (r.index !== 1 || n > 1) return false;
      sendFile(p, 1, NEW, { hash: Buffer.alloc(32, 7) });
      return true;
    }),
    expect: { code: 0, stderr: /^$/ },
    check: (t, s) => t.equal(fs.readFileSync(path.join(s.dst, 'old.txt'), 'utf8'), NEW.toString(), 'old.txt has the new content'),
  },
  {
    name: 'unknown message type 0x7e',
    play: onFirstRequest((p) => p.sendPayload(Buffer.from([0x7e, 1, 2, 3]))),
    expect: { code: PROTO, stderr: /unknown message type 0x7e/ },
    check: oldKept,
  },
  {
    name: 'file data for an index out of range',
    play: onFirstRequest((p) => sendFile(p, 99_999, NEW)),
    expect: { code: PROTO, stderr: /file data for 99999 that was not requested/ },
  },
  {
    name: 'FILE_BEGIN for an unchanged file nobody asked for',
    setup: async (s) => {
      await fsp.writeFile(path.join(s.dst, 'unchanged.txt'), NEW);
      await fsp.utimes(path.join(s.dst, 'unchanged.txt'), NEWER / 1e6, NEWER / 1e6);
    },
    play: session(
      (p, r, n) => {
        if (n === 0) sendFile(p, 3, NEW);
        return true;
      },
      [...LIST, file('unchanged.txt', NEW.length, NEWER)],
    ),
    expect: { code: PROTO, stderr: /file data for 3 that was not requested/ },
  },
  {
    name: 'a frame header announcing 4 GiB',
    play: async (p) => {
      p.raw(Buffer.from([0xff, 0xff, 0xff, 0xff]));
      await p.drain();
    },
    expect: { code: PROTO, stderr: /frame of 4294967295 bytes exceeds the maximum/ },
  },
  {
    name: 'more data than announced',
    play: onFirstRequest((p, r) => {
      p.send({ t: 'file_begin', index: r.index, size: NEW.length, delta: false });
      p.send({ t: 'data', data: Buffer.concat([NEW, NEW]) });
    }),
    expect: { code: PROTO, stderr: /more data than the size it announced for "(old|new)\.txt"/ },
    check: oldKept,
  },
  {
    name: 'FILE_BEGIN with another size than listed',
    play: onFirstRequest((p, r) => p.send({ t: 'file_begin', index: r.index, size: NEW.length + 1, delta: false })),
    expect: { code: PROTO, stderr: /announced with 17 bytes, listed with 16/ },
  },
  {
    name: 'a delta where no signature was sent',
    play: onFirstRequest((p, r) => p.send({ t: 'file_begin', index: r.index, size: NEW.length, delta: true })),
    expect: { code: PROTO, stderr: /a delta for file \d, for which no signature was sent/ },
  },
  {
    name: 'a delta copying a block far past the end of the basis',
    setup: async (s) => fsp.writeFile(path.join(s.dst, 'big.bin'), BIG),
    play: session(
      (p, r) => {
        if (r.sig.length === 0) return false;
        p.send({ t: 'file_begin', index: r.index, size: BIG.length + 1, delta: true });
        p.send({ t: 'data', data: encodeOps([{ op: 'copy', block: 1_000_000, count: 1 }]) });
        return true;
      },
      [ROOT, file('big.bin', BIG.length + 1, NEWER)],
      new Map(),
    ),
    expect: { code: PROTO, stderr: /invalid delta stream at byte \d+: copy of block 1000000, but the basis has \d+ blocks/ },
    check: (t, s) => t.same(fs.readFileSync(path.join(s.dst, 'big.bin')), BIG, 'big.bin keeps its old content'),
  },
  {
    name: 'a delta stream with an unknown op',
    setup: async (s) => fsp.writeFile(path.join(s.dst, 'big.bin'), BIG),
    play: session(
      (p, r) => {
        p.send({ t: 'file_begin', index: r.index, size: BIG.length + 1, delta: true });
        p.send({ t: 'data', data: Buffer.from([0x09, 0x00]) });
        return true;
      },
      [ROOT, file('big.bin', BIG.length + 1, NEWER)],
      new Map(),
    ),
    expect: { code: PROTO, stderr: /invalid delta stream at byte 0/ },
  },
  {
    name: 'asking for a signature of a file the receiver does not have',
    play: onFirstRequest((p) => p.send({ t: 'file_end', index: 2, status: FileStatus.NeedSig, hash: Buffer.alloc(0), message: '' })),
    expect: { code: PROTO, stderr: /a signature asked for file 2 where none fits/ },
  },
  {
    name: 'a message only a receiver sends (REQ)',
    play: onFirstRequest((p) => p.send({ t: 'req', index: 0, flags: 0, check: Buffer.alloc(0), sig: Buffer.alloc(0) })),
    expect: { code: PROTO, stderr: /unexpected req message from the sender/ },
  },
  {
    name: 'an ERROR with an unknown code and terminal escapes in its text',
    play: async (p) => {
      p.send({ t: 'error', code: 'E_NOT_A_CODE', message: 'evil\n\x1b[31mred\x07' });
      await p.drain();
    },
    expect: { code: PROTO, stderr: /remote: evil\\n\\x1b\[31mred\\x07/ },
  },
  {
    name: 'a warning with terminal escapes in its path: printed escaped, the run goes on',
    play: async (p, key) => {
      p.send({ t: 'warn', code: 'E_PARTIAL', path: '\x1b]0;owned\x07', message: 'line\nbreak' });
      await session(() => false)(p, key);
    },
    expect: { code: PARTIAL, stderr: /warning: \\x1b\]0;owned\\x07: line\\nbreak/ },
  },
  {
    name: 'hang-up in the middle of a frame',
    play: async (p) => {
      p.raw(Buffer.concat([Buffer.from([0, 0, 0, 100]), Buffer.alloc(10)]));
      p.end();
      await p.drain();
    },
    expect: { code: LOST, stderr: /closed the connection \(in the middle of a frame\)/ },
  },
  {
    name: 'hang-up in the middle of a file',
    play: onFirstRequest((p, r) => {
      p.send({ t: 'file_begin', index: r.index, size: NEW.length, delta: false });
      p.send({ t: 'data', data: NEW.subarray(0, 5) });
      setTimeout(() => p.destroy(), 200);
    }),
    expect: { code: LOST, stderr: /connection|closed/ },
    check: oldKept,
  },
  {
    name: 'stall in the middle of a file, --timeout 2',
    args: ['--timeout', '2'],
    play: onFirstRequest((p, r) => {
      p.send({ t: 'file_begin', index: r.index, size: NEW.length, delta: false });
      p.send({ t: 'data', data: NEW.subarray(0, 5) });
    }),
    expect: { code: TIMEOUT, stderr: /no data received for 2 seconds/ },
    check: oldKept,
  },
  {
    name: 'silence after the handshake, --timeout 2',
    args: ['--timeout', '2'],
    play: (p) => p.drain(),
    expect: { code: TIMEOUT, stderr: /no data received for 2 seconds/ },
  },
  {
    name: '-z: an honest compressed session (the control)',
    args: ['-z'],
    play: session(() => false),
    expect: { code: 0, stderr: /^$/ },
  },
  {
    name: '-z: a decompression bomb (64 MiB of zeros behind a maximal frame header)',
    args: ['-z'],
    caps: DEFLATE_ONLY,
    play: async (p) => {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(LIMITS.frame + 16);
      p.rawOutput(zlib.deflateRawSync(Buffer.concat([header, Buffer.alloc(64 << 20)]), { level: 9 }));
      await p.drain();
    },
    expect: { code: PROTO, stderr: /unknown message type 0x0/ },
  },
  {
    name: '-z: a compressed stream that does not decompress',
    args: ['-z'],
    caps: DEFLATE_ONLY,
    play: async (p) => {
      p.rawOutput(Buffer.from('ffffffffffffffff0123456789abcdef', 'hex'));
      await p.drain();
    },
    expect: { code: PROTO, stderr: /bad compressed data from the peer/ },
  },
];

t.test('a hostile sender against the real receiver: file data, framing, compression', async (t) => {
  const remote = await remoteStandIn(t);
  for (const c of CASES) await t.test(c.name, (t) => runSenderCase(t, remote, c));
});
