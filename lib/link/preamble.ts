// The preamble: the bytes every tsync peer writes first (MAGIC), before any
// frame. Anything else first is a remote shell's chatter (a motd, a "command
// not found") or not tsync at all; the Connection reports it in the peer's
// words, made printable.

import { MAGIC } from '../wire/schema.js';
import { printable } from '../text.js';

/** Waits for MAGIC at the start of a stream. */
export class PreambleReader {
  /** what arrived before the preamble was whole (or the junk that arrived instead); null once it passed */
  held: Buffer | null = Buffer.alloc(0);

  /**
   * Feed incoming bytes: the bytes after the preamble once it passed
   * (empty while it is still arriving, and after it has passed, the chunk
   * itself), or 'junk' when the stream does not start with it.
   */
  feed(chunk: Buffer): Buffer | 'junk' | 'wait' {
    if (!this.held) return chunk;
    const got = Buffer.concat([this.held, chunk]);
    if (got.length < MAGIC.length && MAGIC.subarray(0, got.length).equals(got)) {
      this.held = got;
      return 'wait';
    }
    if (!got.subarray(0, MAGIC.length).equals(MAGIC)) {
      this.held = got;
      return 'junk';
    }
    this.held = null;
    return got.subarray(MAGIC.length);
  }
}

/** What the remote side printed instead of starting tsync: up to where tsync's own greeting begins, at most 200 bytes, printable. */
export function junkText(got: Buffer): string {
  const magic = got.indexOf(MAGIC);
  return printable(got.subarray(0, Math.min(200, magic >= 0 ? magic : got.length)).toString('utf8')).trim();
}
