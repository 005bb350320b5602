// Peers that are not tsync, or stop being it: what the client says and how
// soon. cli.test.ts already covers a remote without tsync (exit 5), an rsh
// that cannot connect (10), a shell that prints a text banner (5), another
// protocol version (2) and a peer that never says a word under --timeout
// (30); the hostile tests cover a peer that goes quiet after the handshake.
// Here: binary garbage, an endless stream, garbage after a good preamble,
// a frame header announcing 4 GiB (staying alive, or exiting at once), a
// peer that says why and exits without reading (its message must win over
// our broken pipe), hang-ups with and without a word, a peer that closes
// its output but lingers, and one that echoes us back. Each: the
// documented exit code, one `tsync:` line with no raw control characters,
// and an end well before a run would time out.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { encodeFrame } from '../../lib/wire/frames.js';
import { encodeMessage, MAGIC } from '../../lib/wire/schema.js';
import { runTsync } from '../helpers/run.js';
import { outcome } from '../helpers/hostile-case.js';

const sb = t.testdir({ src: { 'x.txt': 'x\n' } });
const file = (name: string, bytes: Buffer) => {
  fs.writeFileSync(path.join(sb, name), bytes);
  return path.join(sb, name);
};
const peer = (name: string, body: string) => {
  fs.writeFileSync(path.join(sb, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return path.join(sb, name);
};
const preamble = file('preamble.bin', MAGIC);
const huge = file('huge.bin', Buffer.concat([MAGIC, Buffer.from([0xff, 0xff, 0xff, 0xff])]));
const refusal = file('refusal.bin', Buffer.concat([MAGIC, encodeFrame(encodeMessage({ t: 'error', code: 'E_REFUSED', message: 'not you, not today' }))]));
const garbage = file('garbage.bin', Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 131 + 7) & 0xff)));

interface PeerCase {
  name: string;
  script: string;
  code: number;
  stderr: RegExp;
  /** the run must end within this many ms (it would otherwise hang, or wait for --timeout 3) */
  within: number;
  args?: string[];
}

const CASES: PeerCase[] = [
  { name: 'prints binary garbage and stays', script: peer('binary', `cat '${garbage}'; exec sleep 30`), code: 5, stderr: /the remote side printed ".*" instead of starting tsync/, within: 6000 },
  { name: 'prints an endless stream (yes)', script: peer('endless', 'exec yes'), code: 5, stderr: /the remote side printed "y\\ny\\n/, within: 6000 },
  { name: 'greets as tsync, then binary garbage', script: peer('magic-garbage', `cat '${preamble}' '${garbage}'; exec sleep 30`), code: 12, stderr: /frame of \d+ bytes exceeds the maximum|unknown message type|truncated/, within: 6000 },
  { name: 'announces a 4 GiB frame and stays', script: peer('huge-stays', `cat '${huge}'; exec sleep 30`), code: 12, stderr: /frame of 4294967295 bytes exceeds the maximum of \d+/, within: 6000 },
  // regressions: the broken pipe of writing to a peer that had gone made these "exited with code 0 before the session started"
  { name: 'announces a 4 GiB frame and exits at once', script: peer('huge-exits', `cat '${huge}'`), code: 12, stderr: /frame of 4294967295 bytes exceeds the maximum/, within: 4000 },
  { name: 'says why (an ERROR frame) and exits without reading', script: peer('refuses', `cat '${refusal}'`), code: 4, stderr: /^tsync: error: remote: not you, not today$/m, within: 4000 },
  { name: 'hangs up at once, silently', script: peer('hangup', 'exit 0'), code: 5, stderr: /exited with code 0 before the session started/, within: 4000 },
  { name: 'hangs up at once with a word on stderr', script: peer('hangup-said', 'echo "access denied for this key" >&2; exit 1'), code: 5, stderr: /exited with code 1 before the session started: access denied for this key/, within: 4000 },
  { name: 'closes its output but lingers', script: peer('closes', 'exec >&-; exec sleep 30'), code: 10, stderr: /the peer closed the connection/, within: 9000 },
  { name: 'echoes back what it is sent', script: peer('echo', 'exec cat'), code: 12, stderr: /unexpected start message from the (sender|receiver)/, within: 4000 },
  { name: 'greets as tsync, then silence (--timeout 2)', script: peer('mute', `cat '${preamble}'; exec sleep 30`), code: 30, stderr: /no data received for 2 seconds/, within: 7000, args: ['--timeout', '2'] },
];

for (const c of CASES) {
  t.test(`a peer that ${c.name}`, async (t) => {
    for (const [dir, ends] of [
      ['push', [`${sb}/src/`, 'host:dst/']],
      ['pull', ['host:src/', `${sb}/dst/`]],
    ] as const) {
      const started = Date.now();
      const r = await runTsync(['--timeout', '3', ...(c.args ?? []), '-e', c.script, ...ends], { timeoutMs: 60_000 });
      const took = Date.now() - started;
      await t.test(`${dir}: exit ${c.code} in ${took} ms`, async (t) => {
        outcome(t, r, { code: c.code, stderr: c.stderr });
        t.ok(took < c.within, `ended within ${c.within} ms`);
        t.notOk(fs.existsSync(path.join(sb, 'dst')), 'no destination was made');
      });
    }
  });
}
