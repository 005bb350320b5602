// The client's side of the zero-install start (PRODUCT.md §9): the remote
// command is `sh`, this module writes boot-script.ts's script into it, reads
// the `@tsync-boot` lines that come back, sends the single-file build
// (dist/tsync.mjs, gzip) when node asks for it, and only then lets the
// connection's own bytes through, in both directions. What it gives back is
// the same kind of Peer, whose input starts at the server's preamble.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { TsyncError } from '../errors.js';
import { printable } from '../text.js';
import { VERSION } from '../version.js';
import type { Peer } from './spawn.js';
import { BOOT_MARK, bootFailure, bootScript } from './boot-script.js';

interface Build {
  hash: string;
  gz: Buffer;
}

let build: Build | null | undefined;

/** dist/tsync.mjs beside this module's build (dist/link/ or dist/ itself), or null when it was not built. */
export function serverBuild(): Build | null {
  if (build !== undefined) return build;
  build = null;
  for (const rel of ['../tsync.mjs', './tsync.mjs']) {
    try {
      const bytes = fs.readFileSync(new URL(rel, import.meta.url));
      build = { hash: createHash('sha256').update(bytes).digest('hex'), gz: gzipSync(bytes, { level: 9 }) };
      break;
    } catch {
      // not there (or running from memory): try the next place
    }
  }
  return build;
}

const PREAMBLE_FIRST = 0x89;

/** More than a login banner: over 64 KiB, or bytes no terminal text has. */
function notABanner(b: Buffer): boolean {
  if (b.length > 65536) return true;
  for (const c of b) if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x1b) return true;
  return !/^[\s\S]*$/u.test(b.toString('utf8')) || b.toString('utf8').includes('\ufffd');
}

const GREETING = Buffer.from('\x89TSYNC\r\n', 'latin1');

/**
 * Wrap a peer started as `sh` into one that speaks tsync's protocol from its
 * first byte. A remote that greets as tsync at once (a forced command in
 * authorized_keys runs `tsync --server` whatever we ask) has read the script
 * as its preamble: it is started again with `direct()`, with no script.
 */
export function withBootstrap(first: Peer, host: string, direct: () => Peer): Peer {
  let inner = first;
  const input = new PassThrough();
  const output = new PassThrough();
  const b = serverBuild();
  const script = bootScript(VERSION, b ? b.hash : '0'.repeat(64));
  let failure: TsyncError | null = null;
  let banner = '';
  let notes = '';
  let seenMark = false;
  let proto = false;
  let pending: Buffer = Buffer.alloc(0);

  const open = () => {
    proto = true;
    output.pipe(inner.output);
  };
  const fail = (msg: string) => {
    failure = new TsyncError('E_REMOTE_START', msg);
    input.end();
    inner.kill();
  };
  const line = (words: string) => {
    if (words.startsWith('fail ')) return fail(bootFailure(host, words.slice(5)));
    if (words === 'send' || words === 'send damaged') {
      if (!b) return fail(`tsync is not installed on ${host} and this tsync has no single-file build to send (run npm run build): install tsync there or name it with --tsync-path`);
      process.stderr.write(`tsync: ${words === 'send' ? 'installing' : 'replacing a damaged cached'} tsync ${VERSION} on ${host} (it has node but no tsync; ${b.gz.length} bytes)\n`);
      inner.output.write(`${b.gz.length}\n`);
      inner.output.write(b.gz);
    } else if (words === 'run memory') {
      process.stderr.write(`tsync: the home on ${host} is not writable: tsync runs from memory there and will be sent again next time\n`);
    }
  };
  const redo = () => {
    inner.input.removeListener('data', feed);
    inner.input.removeListener('end', ended);
    inner.kill();
    inner = direct();
    proto = true;
    inner.input.pipe(input);
    output.pipe(inner.output);
  };
  const feed = (chunk: Buffer) => {
    if (proto) return void input.write(chunk);
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    for (;;) {
      if (!seenMark) {
        const at = pending.indexOf(`\n${BOOT_MARK}`);
        // a greeting before any mark: a forced command runs tsync whatever we ask; our script echoed: not a shell
        if (at < 0 && (pending.indexOf(GREETING) >= 0 || (pending.length >= 16 && script.startsWith(pending.toString('latin1'))))) return redo();
        if (at < 0 && notABanner(pending)) {
          // no shell prints this: let the connection report it as junk, quoting it
          open();
          input.write(pending);
          return;
        }
        if (at < 0) return;
        banner += pending.subarray(0, at).toString('utf8');
        pending = pending.subarray(at + 1);
        seenMark = true;
      }
      while (pending.length > 0 && pending[0] === 0x0a) pending = pending.subarray(1);
      if (pending.length === 0) return;
      if (pending[0] === PREAMBLE_FIRST || !pending.subarray(0, BOOT_MARK.length).equals(Buffer.from(BOOT_MARK).subarray(0, Math.min(pending.length, BOOT_MARK.length)))) {
        open();
        input.write(pending);
        pending = Buffer.alloc(0);
        return;
      }
      const nl = pending.indexOf(0x0a);
      if (nl < 0) return;
      const words = pending.subarray(BOOT_MARK.length, nl).toString('utf8').trim();
      pending = pending.subarray(nl + 1);
      line(words);
      if (failure) return;
    }
  };

  const ended = () => {
    if (!proto && !seenMark && pending.length) banner += pending.toString('utf8');
    input.end();
  };
  inner.input.on('data', feed);
  inner.input.on('end', ended);
  inner.input.on('error', (e) => input.destroy(e));
  inner.output.write(script);

  const shownBanner = () => {
    const text = printable(banner.trim().split('\n').slice(-3).join('; '));
    banner = '';
    return text ? `tsync: the remote shell printed text before tsync started (skipped): ${text}\n` : '';
  };
  return {
    input,
    output,
    takeStderr: () => notes + shownBanner() + inner.takeStderr(),
    passStderr() {
      notes += shownBanner();
      if (notes) process.stderr.write(notes);
      notes = '';
      inner.passStderr();
    },
    get exited() {
      return inner.exited;
    },
    kill: () => inner.kill(),
    failure: () => inner.failure?.() ?? failure,
    describe: `${inner.describe} (tsync started by a script on stdin)`,
  };
}
