// Values shared by the delta modules: the signature and the delta ops.

/** Copy `count` consecutive basis blocks starting at block index `block`. */
export interface CopyOp {
  op: 'copy';
  block: number;
  count: number;
}

/** Bytes that are not in the basis (at most MAX_LITERAL bytes per op). */
export interface LiteralOp {
  op: 'literal';
  data: Buffer;
}

export type DeltaOp = CopyOp | LiteralOp;

/**
 * Multi-round deltas only: `length` bytes of the new file that a later round
 * will fill (they are matched against a finer signature of the basis bytes
 * no copy referenced).
 */
export interface HoleOp {
  op: 'hole';
  length: number;
}

/** An op of a round of a multi-round delta. */
export type RoundOp = DeltaOp | HoleOp;

/** The matcher flushes literal runs at this size; the wire decoder's default cap. */
export const MAX_LITERAL = 64 * 1024;

/**
 * Block checksums of a basis file. Block i covers bytes
 * [i*blockSize, min((i+1)*blockSize, fileSize)); only the last may be short.
 */
export interface Signature {
  blockSize: number;
  /** bytes of truncated SHA-256 kept per block (4..32) */
  strongLen: number;
  fileSize: number;
  /** ceil(fileSize / blockSize) */
  blockCount: number;
  /** weak sum per block, int32 `(b << 16) | a` (see rolling.ts) */
  weak: Int32Array;
  /** blockCount * strongLen bytes, block i at i*strongLen */
  strong: Uint8Array;
}
