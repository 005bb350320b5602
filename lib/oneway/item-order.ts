// The receiver's itemized lines in manifest order, as rsync prints them,
// the same in a real run as in a dry run. A file that is fetched settles
// later than the entries listed after it (directories, metadata fixes,
// files already equal); their lines wait until every file listed before
// them has settled. Indexes are opened in increasing order, so the oldest
// open one is the head of a queue, and each index is passed over once:
// linear in the manifest, holding only lines that wait.

export class InOrder {
  /** indexes opened (files being fetched), in increasing order; settled ones are skipped lazily */
  private readonly open: number[] = [];
  private head = 0;
  private readonly settled = new Set<number>();
  /** lines waiting for an older index to settle */
  private readonly held = new Map<number, Array<() => void>>();
  /** every index below this has been said */
  private flushed = 0;
  private highest = -1;

  /** index's line comes later (a file was requested); lines after it wait */
  begin(index: number): void {
    this.open.push(index);
  }

  /** the oldest index still open, or Infinity */
  private oldest(): number {
    while (this.head < this.open.length && this.settled.has(this.open[this.head])) this.settled.delete(this.open[this.head++]);
    if (this.head > 1024 && this.head * 2 > this.open.length) {
      this.open.splice(0, this.head);
      this.head = 0;
    }
    return this.head < this.open.length ? this.open[this.head] : Infinity;
  }

  /** say a line for index now, or as soon as every older open index has settled */
  say(index: number, line: () => void): void {
    if (index <= this.oldest()) {
      line();
      return;
    }
    this.highest = Math.max(this.highest, index);
    const list = this.held.get(index);
    if (list) list.push(line);
    else this.held.set(index, [line]);
  }

  /** index has said all it will (or nothing): the lines waiting behind it follow */
  end(index: number): void {
    this.settled.add(index);
    const upTo = Math.min(this.oldest(), this.highest + 1);
    if (this.held.size === 0) {
      this.flushed = Math.max(this.flushed, upTo);
      return;
    }
    for (let i = Math.max(this.flushed, 0); i < upTo; i++) {
      const lines = this.held.get(i);
      if (!lines) continue;
      this.held.delete(i);
      for (const l of lines) l();
    }
    this.flushed = Math.max(this.flushed, upTo);
  }
}
