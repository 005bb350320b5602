#!/usr/bin/env node
// The byte meter for side-by-side runs: given as `-e` (rsync, tsync) or as
// Unison's -sshcmd, it stands where ssh would, so every tool is measured on
// what really crossed the pipe rather than on what it reports of itself.
// Invoked as `count-rsh.mjs HOST CMD ARGS...`: HOST is ignored, CMD runs here,
// stdin and stdout are relayed. With COUNT_FILE set, "UP DOWN\n" (bytes
// client->server, server->client) is appended to that file at the end.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

const [cmd, ...args] = process.argv.slice(3);
const peer = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
const carried = { up: 0, down: 0 };
process.stdin.on('data', (chunk) => {
  carried.up += chunk.length;
  if (!peer.stdin.write(chunk)) { process.stdin.pause(); peer.stdin.once('drain', () => process.stdin.resume()); }
});
process.stdin.on('end', () => peer.stdin.end());
peer.stdin.on('error', () => {});
peer.stdout.on('data', (chunk) => {
  carried.down += chunk.length;
  if (!process.stdout.write(chunk)) { peer.stdout.pause(); process.stdout.once('drain', () => peer.stdout.resume()); }
});
peer.on('close', (code, signal) => {
  process.stdout.end(() => {
    if (process.env.COUNT_FILE) fs.appendFileSync(process.env.COUNT_FILE, `${carried.up} ${carried.down}\n`);
    process.exit(code ?? (signal ? 128 : 255));
  });
});
