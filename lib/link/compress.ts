// Stream compression for -z: which codecs we speak, and the zlib streams for
// them. Negotiated in the handshake: deflate is the baseline every peer
// has; brotli when both peers list it. node:zlib, not fflate: it ran 2.7x
// (level 6) to 20x (level 1) faster on this project's machines.

import * as zlib from 'node:zlib';
import { codecCap } from '../wire/caps.js';

export type Codec = 'deflate' | 'brotli';

/** in order of preference */
export const CODECS: readonly Codec[] = ['brotli', 'deflate'];

export const DEFAULT_LEVEL = 6;

export function capsFor(codecs: readonly Codec[]): string[] {
  return codecs.map(codecCap);
}

/** The best codec both sides list (caps of the form "z:NAME"); deflate is always common. */
export function chooseCodec(ours: readonly string[], theirs: readonly string[]): Codec {
  for (const c of CODECS) if (ours.includes(codecCap(c)) && theirs.includes(codecCap(c))) return c;
  return 'deflate';
}

export interface Compressor {
  stream: zlib.DeflateRaw | zlib.BrotliCompress;
  /** push out everything written so far, so the peer can decode it now */
  flush(): void;
}

/** level 1..9 (brotli quality is mapped onto 1..9 as well) */
export function compressor(codec: Codec, level: number): Compressor {
  if (codec === 'brotli') {
    const stream = zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: Math.min(11, level), [zlib.constants.BROTLI_PARAM_LGWIN]: 22 } });
    return { stream, flush: () => stream.flush(zlib.constants.BROTLI_OPERATION_FLUSH) };
  }
  const stream = zlib.createDeflateRaw({ level, memLevel: 9 });
  return { stream, flush: () => stream.flush(zlib.constants.Z_SYNC_FLUSH) };
}

export function decompressor(codec: Codec): zlib.InflateRaw | zlib.BrotliDecompress {
  return codec === 'brotli' ? zlib.createBrotliDecompress() : zlib.createInflateRaw();
}
