// Manifest integrity: every batch of entries is MACed in a chain, so a
// receiver can verify each batch before acting on it (pipelined) and the
// final value covers the whole list, its order and its length.

import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export const MAC_LEN = 32;

export function deriveKey(secret: Buffer, salt: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, Buffer.from(info), 32));
}

export class MacChain {
  private state: Buffer;
  count = 0;
  constructor(private readonly key: Buffer) {
    this.state = Buffer.alloc(MAC_LEN);
  }
  /** MAC of this batch chained on everything before it */
  next(batch: Buffer): Buffer {
    this.state = createHmac('sha256', this.key).update(this.state).update(batch).digest();
    this.count++;
    return this.state;
  }
  /** the closing MAC: binds the entry count and the facts the receiver acts on (single file, sender I/O errors) */
  final(entries: number, ioErrors: number, singleFile: boolean): Buffer {
    const n = Buffer.alloc(17);
    n.writeBigUInt64BE(BigInt(entries), 0);
    n.writeBigUInt64BE(BigInt(ioErrors), 8);
    n[16] = singleFile ? 1 : 0;
    return createHmac('sha256', this.key).update(this.state).update('end').update(n).digest();
  }
}

export function macEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
