#!/usr/bin/env node
// A fault-injecting relay for tests, used as (part of) the -e command:
//
//   tsync -e 'node relay.mjs --cut-down 5000 STANDIN' host:src/ dst/
//
// runs `STANDIN host tsync --server` (everything after the relay's own
// options) and copies bytes between the client (our stdin/stdout) and that
// command, counting them in each direction: "up" is client -> server,
// "down" is server -> client. At byte N of a direction it can:
//
//   --cut-up N / --cut-down N     forward the first N bytes, then cut the
//                                 link: the server's stdin is closed, our
//                                 stdout is closed, nothing more is copied
//   --flip-up N / --flip-down N   flip bit --bit B (default 0) of byte N;
//                                 with --payload, of the Nth byte of frame
//                                 payload (preamble and frame headers are
//                                 not counted, nor flipped)
//   --stall-up N / --stall-down N forward the first N bytes, then copy
//                                 nothing either way, holding both open
//   --kill-client-up N / --kill-client-down N
//                                 forward the first N bytes, then SIGKILL
//                                 the parent process (the tsync client)
//   --log FILE                    at exit, write the bytes seen each way and
//                                 where the first frames end (so a test can
//                                 aim at a message): "up U down D",
//                                 "upframes E1,E2,..." and "downframes ..."
//                                 (the end offset of each of the first 8
//                                 frames after the 8-byte preamble), then
//                                 "payload up P down Q" and "uppayloadframes
//                                 ..." / "downpayloadframes ..." (the same
//                                 in payload bytes). Frames are followed
//                                 only in a plain (not -z) stream.
//
// The relay ends when the client goes away or signals it: it closes the
// server's stdin (never signals it, so the server notices the end as over a
// dropped network link and cleans up), waits for it to exit, writes its
// log, and exits.
// Plain JavaScript with node built-ins only, so it starts fast and can also
// be used by hand.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

const argv = process.argv.slice(2);
const opt = { bit: 0, payload: false };
const NUMERIC = ['cut-up', 'cut-down', 'flip-up', 'flip-down', 'stall-up', 'stall-down', 'kill-client-up', 'kill-client-down', 'bit'];
let log = null;
while (argv.length && argv[0].startsWith('--')) {
  const name = argv.shift().slice(2);
  if (name === 'payload') {
    opt.payload = true;
    continue;
  }
  const value = argv.shift();
  if (name === 'log') log = value;
  else if (NUMERIC.includes(name) && /^\d+$/.test(value ?? '')) opt[name] = Number(value);
  else {
    process.stderr.write(`relay: bad option --${name} ${value ?? ''}\n`);
    process.exit(64);
  }
}
if (argv.length === 0) {
  process.stderr.write('relay: no command to run\n');
  process.exit(64);
}

const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
const count = { up: 0, down: 0 };
let cut = false;
let stalled = false;
child.stdin.on('error', () => {});
process.stdout.on('error', () => {});

function cutLink() {
  if (cut) return;
  cut = true;
  child.stdin.end();
  process.stdout.end();
}

// Each direction's framing: the 8-byte preamble, then [u32 length][payload]
// frames. Followed to log where the first frames end and to aim --payload
// flips; it assumes a plain stream (not -z).
const frames = {
  up: { skip: 8, hdr: [], remain: 0, payload: 0, ends: [], payloadEnds: [] },
  down: { skip: 8, hdr: [], remain: 0, payload: 0, ends: [], payloadEnds: [] },
};
/** Walk one chunk (starting at stream offset start); returns the chunk, with a --payload flip applied. */
function follow(dir, chunk, start) {
  const f = frames[dir];
  const target = opt.payload ? opt[`flip-${dir}`] : undefined;
  const frameDone = (at) => {
    if (f.ends.length < 8) {
      f.ends.push(at);
      f.payloadEnds.push(f.payload);
    }
  };
  for (let i = 0; i < chunk.length; ) {
    if (f.skip > 0) {
      const take = Math.min(f.skip, chunk.length - i);
      f.skip -= take;
      i += take;
    } else if (f.remain === 0) {
      f.hdr.push(chunk[i++]);
      if (f.hdr.length === 4) {
        f.remain = Buffer.from(f.hdr).readUInt32BE(0);
        f.hdr = [];
        if (f.remain === 0) frameDone(start + i);
      }
    } else {
      const take = Math.min(f.remain, chunk.length - i);
      if (target !== undefined && target >= f.payload && target < f.payload + take) {
        chunk = Buffer.from(chunk);
        chunk[i + target - f.payload] ^= 1 << opt.bit;
      }
      f.payload += take;
      f.remain -= take;
      i += take;
      if (f.remain === 0) frameDone(start + i);
    }
  }
  return chunk;
}

/** Copy one chunk of a direction, applying whatever is due inside it. */
function pass(dir, chunk, write) {
  if (cut || stalled) return;
  const start = count[dir];
  chunk = follow(dir, chunk, start);
  const end = start + chunk.length;
  count[dir] = end;
  const within = (n) => n !== undefined && n >= start && n < end;
  const flip = opt[`flip-${dir}`];
  if (!opt.payload && within(flip)) {
    chunk = Buffer.from(chunk);
    chunk[flip - start] ^= 1 << opt.bit;
  }
  // the first of cut / stall / kill that falls inside this chunk decides how much of it goes through
  const stops = ['cut', 'stall', 'kill-client']
    .map((what) => ({ what, at: opt[`${what}-${dir}`] }))
    .filter((s) => s.at !== undefined && s.at >= start && s.at <= end)
    .sort((a, b) => a.at - b.at);
  if (stops.length === 0) return write(chunk);
  const s = stops[0];
  if (s.at > start) write(chunk.subarray(0, s.at - start));
  if (s.what === 'cut') cutLink();
  else if (s.what === 'stall') stalled = true;
  else {
    stalled = true;
    try {
      process.kill(process.ppid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

process.stdin.on('data', (b) => pass('up', b, (c) => child.stdin.write(c)));
child.stdout.on('data', (b) => pass('down', b, (c) => process.stdout.write(c)));
// the client went away (or closed its side): tell the server the way a dropped link would
process.stdin.on('end', () => child.stdin.end());
process.stdin.on('error', () => child.stdin.end());
child.stdout.on('end', () => {
  if (!stalled) process.stdout.end();
});
// the client kills its peer when it gives up: the link drops, the server is left to notice
let terminating = false;
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(sig, () => {
    terminating = true;
    stalled = true;
    child.stdin.end();
  });
}
child.on('exit', (code, signal) => {
  if (log) {
    const { up, down } = frames;
    const lines = [`up ${count.up} down ${count.down}`, `upframes ${up.ends.join(',')}`, `downframes ${down.ends.join(',')}`, `payload up ${up.payload} down ${down.payload}`, `uppayloadframes ${up.payloadEnds.join(',')}`, `downpayloadframes ${down.payloadEnds.join(',')}`];
    fs.writeFileSync(log, `${lines.join('\n')}\n`);
  }
  // a stalled link stays silent until the client gives up
  const finish = () => process.exit(code ?? (signal ? 128 : 1));
  if (stalled && !terminating && !process.stdin.readableEnded) process.stdin.on('end', finish);
  else process.stdout.write('', finish);
});
