// A minimal async FIFO: producers push synchronously, one consumer awaits.

export class AsyncQueue<T> {
  private items: T[] = [];
  private head = 0;
  private waiter: ((v: T) => void) | null = null;

  push(v: T): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(v);
    } else this.items.push(v);
  }

  shift(): Promise<T> {
    if (this.head < this.items.length) {
      const v = this.items[this.head++];
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      return Promise.resolve(v);
    }
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }
}
