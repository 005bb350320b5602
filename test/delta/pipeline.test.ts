// The whole delta path as the two sides will run it, every stage fed in
// random-sized chunks: receiver signs the basis, sender matches the new file,
// the ops cross the wire, the receiver plans reads from the basis.
import t from 'tap';
import { SignatureBuilder, encodeSignature, decodeSignature } from '../../lib/delta/signature.js';
import { DeltaGenerator } from '../../lib/delta/match.js';
import { encodeOps, OpsDecoder } from '../../lib/delta/wire.js';
import { Patcher } from '../../lib/delta/patch.js';
import type { DeltaOp } from '../../lib/delta/types.js';
import { mulberry32 } from '../helpers/prng.mjs';


function* chunks(data: Buffer, r: () => number): Generator<Buffer> {
  for (let o = 0; o < data.length;) {
    const n = 1 + Math.floor(r() * (r() < 0.3 ? 4 : 3000));
    yield data.subarray(o, o + n);
    o += n;
  }
}

t.test('streaming pipeline round trips', async (t) => {
  let ok = 0;
  const CASES = 300;
  for (let seed = 1; seed <= CASES; seed++) {
    const r = mulberry32(seed * 7919);
    const old = Buffer.alloc(Math.floor(r() * 20000));
    for (let i = 0; i < old.length; i++) old[i] = r() < 0.5 ? Math.floor(r() * 256) : i & 0x3f;
    // the new file: slices of old and fresh bytes
    const parts: Buffer[] = [];
    for (let k = 0, n = Math.floor(r() * 8); k < n; k++) {
      const s = Math.floor(r() * (old.length + 1));
      parts.push(old.subarray(s, s + Math.floor(r() * 6000)));
      const fresh = Buffer.alloc(Math.floor(r() * 300));
      for (let i = 0; i < fresh.length; i++) fresh[i] = Math.floor(r() * 256);
      parts.push(fresh);
    }
    const nw = Buffer.concat(parts);
    const bs = [16, 64, 100, 700, 1024][Math.floor(r() * 5)];

    // receiver: sign the basis, send the signature
    const sb = new SignatureBuilder({ blockSize: bs, strongLen: 6 });
    for (const c of chunks(old, r)) sb.update(c);
    const sigWire = encodeSignature(sb.finish());
    // sender: decode, match, encode
    const sig = decodeSignature(sigWire, { maxBlocks: 1 << 20 });
    const gen = new DeltaGenerator(sig);
    const wire: Buffer[] = [];
    for (const c of chunks(nw, r)) wire.push(encodeOps(gen.push(c)));
    wire.push(encodeOps(gen.finish()));
    // receiver: decode in arbitrary pieces, plan, read the basis ranges
    const stream = Buffer.concat(wire);
    const dec = new OpsDecoder({ blockCount: Math.ceil(old.length / bs) });
    const patcher = new Patcher({ blockSize: bs, basisSize: old.length, maxRange: 1 + Math.floor(r() * 5000) });
    const out: Buffer[] = [];
    const apply = (ops: DeltaOp[]) => {
      for (const op of ops) for (const s of patcher.plan(op)) out.push(s.kind === 'literal' ? s.data : old.subarray(s.offset, s.offset + s.length));
    };
    for (const c of chunks(stream, r)) apply(dec.push(c));
    dec.end();
    if (Buffer.concat(out).equals(nw) && patcher.written === nw.length) ok++;
    else t.fail(`seed ${seed}: bs ${bs} old ${old.length} new ${nw.length}`);
  }
  t.equal(ok, CASES);
});
