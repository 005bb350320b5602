// What a peer (or ssh in front of it) writes on stderr: held until the
// session has started, so that a peer that exits early can be explained
// with its own words, then shown as it comes. One for a spawned process and
// for the built-in SSH client's channel.

/** held text beyond this is dropped: an endless banner must not fill memory */
const HOLD_MAX = 16384;

export class PeerStderr {
  private held = '';
  private live = false;

  /** the peer's text: shown once live, held until then */
  say(s: string): void {
    if (this.live) process.stderr.write(s);
    else if (this.held.length < HOLD_MAX) this.held += s;
  }

  /** a line of our own about why the peer failed: always kept */
  add(s: string): void {
    this.held += s;
  }

  /** what has not been shown yet */
  take(): string {
    const s = this.held;
    this.held = '';
    return s;
  }

  /** show what was held, and everything from now on */
  pass(): void {
    if (this.held) process.stderr.write(this.held);
    this.held = '';
    this.live = true;
  }
}
