#!/usr/bin/env node
// A man in the middle for keyed-pipe tests, used as tsync's -e command:
//
//     tsync -e 'node tamper-relay.mjs ACTION' --tsync-path 'tsync --key K' SRC x:DST
//
// is run as `node tamper-relay.mjs ACTION x tsync --key K --server`: it drops
// the host, starts the rest as the server and sits between the two pipes,
// passing the preamble and the plaintext frames (HELLO, AUTH) through and
// counting the sealed frames after AUTH in each direction. ACTION is `none`
// or DIR:KIND:N, DIR `c2s` or `s2c`, and on that direction's sealed frame N
// (from 0) KIND does one of:
//   flip      flip one bit in the frame's ciphertext
//   drop      leave the frame out
//   replay    send the frame twice
//   reorder   send frame N+1 before frame N
//   truncate  end that direction just before the frame
//   inject    send a plaintext KEEPALIVE frame before it
// With RELAY_ARGV_LOG set, its own argv is appended there as a JSON line.

import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';

const PREAMBLE = 8;
const AUTH_TAG = 0x07;
const [action, , ...server] = process.argv.slice(2);
if (process.env.RELAY_ARGV_LOG) appendFileSync(process.env.RELAY_ARGV_LOG, `${JSON.stringify(process.argv.slice(2))}\n`);
const [dir, kind, at] = action === 'none' ? [] : action.split(':');
const target = Number(at);

const child = spawn(server[0], server.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
child.stdin.on('error', () => {});
process.stdout.on('error', () => {});
child.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 128 : 1);
});

class Direction {
  constructor(name, out) {
    this.name = name;
    this.out = out;
    this.buf = Buffer.alloc(0);
    this.preamble = true;
    this.sealed = false;
    this.count = 0;
    this.held = null;
    this.cut = false;
  }

  push(chunk) {
    this.buf = Buffer.concat([this.buf, chunk]);
    if (this.preamble) {
      if (this.buf.length < PREAMBLE) return;
      this.write(this.buf.subarray(0, PREAMBLE));
      this.buf = this.buf.subarray(PREAMBLE);
      this.preamble = false;
    }
    while (this.buf.length >= 4) {
      const end = 4 + this.buf.readUInt32BE(0);
      if (this.buf.length < end) return;
      const frame = Buffer.from(this.buf.subarray(0, end));
      this.buf = this.buf.subarray(end);
      this.frame(frame);
    }
  }

  frame(f) {
    if (!this.sealed) {
      if (f[4] === AUTH_TAG) this.sealed = true;
      this.write(f);
      return;
    }
    const n = this.count++;
    if (this.name !== dir || (n !== target && !(kind === 'reorder' && n === target + 1))) return this.write(f);
    switch (kind) {
      case 'flip':
        f[4 + Math.floor((f.length - 4) / 2)] ^= 0x10;
        return this.write(f);
      case 'drop':
        return;
      case 'replay':
        this.write(f);
        return this.write(f);
      case 'reorder':
        if (n === target) {
          this.held = f;
          return;
        }
        this.write(f);
        return this.write(this.held);
      case 'truncate':
        this.cut = true;
        return this.out.end();
      case 'inject':
        this.write(Buffer.from([0, 0, 0, 1, 0x06]));
        return this.write(f);
      default:
        throw new Error(`unknown tamper kind ${kind}`);
    }
  }

  write(b) {
    if (!this.cut) this.out.write(b);
  }

  end() {
    if (!this.cut) this.out.end();
  }
}

const c2s = new Direction('c2s', child.stdin);
const s2c = new Direction('s2c', process.stdout);
process.stdin.on('data', (b) => c2s.push(b));
process.stdin.on('end', () => c2s.end());
child.stdout.on('data', (b) => s2c.push(b));
child.stdout.on('end', () => s2c.end());
