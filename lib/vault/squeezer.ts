// Deflating a push's chunks on a second core. Compression was a third of an
// initial push's CPU time (bench/RESULTS.md, vault): a worker thread runs
// format.ts's squeezeWith on batches of chunks while this thread reads,
// chunks, hashes and seals. Batches, not single chunks: most chunks of a
// tree of small files are a few KB, and a message per chunk would cost more
// than it saves. Results come back in order. If the worker cannot start or
// dies, what it held is squeezed here instead: a slower push, never a lost
// chunk.

import { Worker } from 'node:worker_threads';
import { squeeze, squeezeWith } from './format.js';

/** a batch goes when it holds this many bytes or chunks */
const BATCH_BYTES = 512 << 10;
const BATCH_COUNT = 256;

// the worker's whole program: the rule from its source text, zlib, a loop
const PROGRAM = `
const { parentPort } = require('node:worker_threads');
const { deflateRawSync } = require('node:zlib');
const squeezeWith = ${squeezeWith.toString()};
parentPort.on('message', ({ n, chunks }) => parentPort.postMessage({ n, out: chunks.map((c) => squeezeWith(deflateRawSync, c)) }));
`;

interface Batch {
  chunks: Buffer[];
  resolves: Array<(z: Buffer | null) => void>;
  bytes: number;
}

export class Squeezer {
  private worker: Worker | null = null;
  private broken = false;
  private batch: Batch = { chunks: [], resolves: [], bytes: 0 };
  private readonly sent = new Map<number, Batch>();
  private n = 0;

  /** the deflated form of plain (see squeezeWith), or null; settles once the batch it is in comes back */
  squeeze(plain: Buffer): Promise<Buffer | null> | Buffer | null {
    if (plain.length < 256 || this.broken) return squeeze(plain);
    return new Promise((resolve) => {
      this.batch.chunks.push(plain);
      this.batch.resolves.push(resolve);
      this.batch.bytes += plain.length;
      if (this.batch.bytes >= BATCH_BYTES || this.batch.chunks.length >= BATCH_COUNT) this.kick();
    });
  }

  /** send the batch being filled (someone waits for it) */
  kick(): void {
    const b = this.batch;
    if (b.chunks.length === 0) return;
    this.batch = { chunks: [], resolves: [], bytes: 0 };
    const w = this.start();
    if (!w) return this.here(b);
    const n = this.n++;
    this.sent.set(n, b);
    w.ref();
    w.postMessage({ n, chunks: b.chunks });
  }

  /** stop the worker (the push is over) */
  async close(): Promise<void> {
    this.kick();
    await this.worker?.terminate();
    // nothing can be waiting now, but if something is, it is answered here
    this.fail();
  }

  private start(): Worker | null {
    if (this.worker || this.broken) return this.worker;
    try {
      // a small heap: the worker holds a batch or two at a time
      const w = new Worker(PROGRAM, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 } });
      w.on('message', ({ n, out }: { n: number; out: Array<Uint8Array | null> }) => {
        const b = this.sent.get(n);
        if (!b) return;
        this.sent.delete(n);
        b.resolves.forEach((resolve, i) => {
          const z = out[i];
          resolve(z ? Buffer.from(z.buffer, z.byteOffset, z.length) : null);
        });
        if (this.sent.size === 0) w.unref();
      });
      w.on('error', () => this.fail());
      w.on('exit', () => this.fail());
      this.worker = w;
    } catch {
      this.broken = true;
    }
    return this.worker;
  }

  /** the worker is gone: everything it held, and all that follows, is squeezed here */
  private fail(): void {
    this.broken = true;
    this.worker = null;
    for (const b of this.sent.values()) this.here(b);
    this.sent.clear();
  }

  private here(b: Batch): void {
    b.chunks.forEach((c, i) => b.resolves[i](squeeze(c)));
  }
}
