// The decoder fuzzer shared by test/wire/fuzz.test.ts (a few seconds in the
// suite) and bench/fuzz.mjs (as long as you like). Plain JavaScript that is
// handed tsync's decoders (from lib/ in the test, dist/ in the bench), so
// both run the same engine on the same code.
//
// It builds valid sessions (preamble, then frames of every message type a
// real session carries: HELLO, START, a manifest, requests with delta
// signatures, whole and delta file data, items, warnings, DONE), mutates
// them (bit flips, byte changes, insertions, deletions, duplicated or
// swapped ranges, truncation, length headers rewritten, splices of two
// sessions), and decodes the result the way a receiver does, frame by frame
// and field by field. A decoder may refuse its input only with DecodeError
// or TsyncError E_PROTOCOL; anything else thrown is a crash.

/**
 * @param {object} lib tsync's pieces: MAGIC, LIMITS, FrameDecoder, encodeFrame,
 *   encodeMessage, decodeMessage, encodeEntries, decodeEntries, DecodeError,
 *   TsyncError, checkRelPath, SignatureBuilder, encodeSignature,
 *   decodeSignature, DeltaGenerator, encodeOps, OpsDecoder, parseStats,
 *   MacChain, CAPS
 */
export function makeFuzzer(lib) {
  const { MAGIC, LIMITS, FrameDecoder, encodeFrame, encodeMessage, decodeMessage, encodeEntries, decodeEntries, DecodeError, TsyncError } = lib;

  const OPTIONS = { delete: true, dryRun: false, checksum: false, update: false, ignoreFiles: true, rules: [{ kind: 'exclude', pattern: '*.o' }], backupDir: '', modifyWindow: 0, timeout: 30, compress: false, compressLevel: 6, partial: false };

  const bytes = (rnd, n) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
    return b;
  };
  const pick = (rnd, xs) => xs[Math.floor(rnd() * xs.length)];

  /** One valid session (both directions interleaved: a decoder must take any order of frames). */
  function validSession(rnd) {
    const names = ['a.txt', 'b', 'dir', 'dir/c.bin', 'dir/d', 'ü-ñ', 'x y', 'link'];
    const entries = [{ path: '.', type: 'd', mode: 0o755, size: 0, mtime: 1_600_000_000_000_000 }];
    for (const n of names) {
      const r = rnd();
      if (n === 'dir') entries.push({ path: n, type: 'd', mode: 0o700, size: 0, mtime: Math.floor(rnd() * 2e15) });
      else if (n === 'link') entries.push({ path: n, type: 'l', mode: 0o777, size: 0, mtime: -5, target: '../elsewhere' });
      else entries.push({ path: n, type: 'f', mode: 0o644, size: Math.floor(r * 5000), mtime: Math.floor(rnd() * 2e15) });
    }
    const basis = bytes(rnd, 2000 + Math.floor(rnd() * 3000));
    const b = new lib.SignatureBuilder({ blockSize: 512, strongLen: 16, expectedSize: basis.length });
    b.update(basis);
    const sigObj = b.finish();
    const sig = lib.encodeSignature(sigObj);
    const target = Buffer.concat([basis.subarray(100, 1500), bytes(rnd, 300), basis.subarray(0, 600)]);
    const gen = new lib.DeltaGenerator(sigObj);
    const ops = lib.encodeOps([...gen.push(target), ...gen.finish()]);
    const data = encodeEntries(entries);
    const mac = new lib.MacChain(Buffer.alloc(32, 1));
    const content = bytes(rnd, 700);
    const msgs = [
      { t: 'hello', version: 1, minVersion: 1, software: 'tsync 0.1.0', caps: lib.CAPS, clock: Date.now(), nonce: bytes(rnd, 32) },
      { t: 'start', role: 'sender', paths: ['src/', '~/x'], options: OPTIONS },
      { t: 'flist_head', singleFile: false },
      { t: 'flist', data, mac: mac.next(data) },
      { t: 'flist_end', count: entries.length, mac: mac.final(entries.length, 0, false), ioErrors: 0 },
      { t: 'keepalive' },
      { t: 'req', index: 1, flags: 0, check: Buffer.alloc(0), sig: Buffer.alloc(0) },
      { t: 'req', index: 4, flags: 0, check: Buffer.alloc(0), sig },
      { t: 'req', index: 2, flags: 1, check: bytes(rnd, 32), sig: Buffer.alloc(0) },
      { t: 'file_begin', index: 1, size: content.length, delta: false },
      { t: 'data', data: content },
      { t: 'file_end', index: 1, status: 0, hash: bytes(rnd, 32), message: '' },
      { t: 'file_begin', index: 4, size: target.length, delta: true },
      { t: 'data', data: ops },
      { t: 'file_end', index: 4, status: 0, hash: bytes(rnd, 32), message: '' },
      { t: 'file_end', index: 2, status: 3, hash: Buffer.alloc(0), message: '' },
      { t: 'item', path: 'dir/c.bin', code: '>f.st......', type: 'f', size: target.length, target: '' },
      { t: 'warn', code: 'E_PARTIAL', path: 'b', message: 'open: EACCES' },
      { t: 'done', stats: JSON.stringify({ files: 5, created: 2 }) },
      { t: 'error', code: 'E_IO', message: 'disk full' },
    ];
    return { stream: Buffer.concat([MAGIC, ...msgs.map((m) => encodeFrame(encodeMessage(m)))]), blockCount: sigObj.blockCount };
  }

  /** One to four mutations of buf (pool: other sessions to splice from). */
  function mutate(rnd, buf, pool) {
    let b = Buffer.from(buf);
    const n = 1 + Math.floor(rnd() * 4);
    for (let k = 0; k < n; k++) {
      const at = Math.floor(rnd() * Math.max(1, b.length));
      const len = 1 + Math.floor(rnd() * 64);
      switch (Math.floor(rnd() * 9)) {
        case 0: // a flipped bit
          if (b.length) b[at] ^= 1 << Math.floor(rnd() * 8);
          break;
        case 1: // a byte set to a random or boundary value
          if (b.length) b[at] = rnd() < 0.5 ? Math.floor(rnd() * 256) : pick(rnd, [0, 1, 0x7f, 0x80, 0xff]);
          break;
        case 2: // random bytes inserted
          b = Buffer.concat([b.subarray(0, at), bytes(rnd, len), b.subarray(at)]);
          break;
        case 3: // a range deleted
          b = Buffer.concat([b.subarray(0, at), b.subarray(at + len)]);
          break;
        case 4: // a range duplicated
          b = Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
          break;
        case 5: // truncated
          b = b.subarray(0, at);
          break;
        case 6: { // a 4-byte big-endian value (a frame length, often) rewritten
          if (b.length >= at + 4) b.writeUInt32BE(pick(rnd, [0, 1, 2, 0x7fffffff, 0xffffffff, LIMITS.frame, LIMITS.frame + 17, Math.floor(rnd() * 2 ** 32)]), at);
          break;
        }
        case 7: { // two ranges swapped
          const at2 = Math.floor(rnd() * Math.max(1, b.length));
          const [x, y] = at < at2 ? [at, at2] : [at2, at];
          if (y + len <= b.length && x + len <= y) b = Buffer.concat([b.subarray(0, x), b.subarray(y, y + len), b.subarray(x + len, y), b.subarray(x, x + len), b.subarray(y + len)]);
          break;
        }
        default: { // spliced with another session
          const other = pick(rnd, pool);
          const cut = Math.floor(rnd() * other.length);
          b = Buffer.concat([b.subarray(0, at), other.subarray(cut)]);
        }
      }
    }
    return b;
  }

  /**
   * Decode a stream the way a peer does: preamble, frames (fed in random
   * chunks), each message, and inside them the manifest entries and their
   * paths, signatures, delta ops and final stats. Throws what they throw.
   */
  function decodeSession(rnd, stream, blockCount) {
    if (!stream.subarray(0, MAGIC.length).equals(MAGIC)) return 'junk';
    const dec = new FrameDecoder(LIMITS.frame + 16);
    let ops = null;
    let count = 0;
    for (let off = MAGIC.length; off < stream.length; ) {
      const step = 1 + Math.floor(rnd() * 300);
      dec.feed(stream.subarray(off, off + step));
      off += step;
      for (let f = dec.next(); f; f = dec.next()) {
        const m = decodeMessage(f);
        count++;
        if (m.t === 'flist') for (const e of decodeEntries(m.data)) lib.checkRelPath(e.path);
        else if (m.t === 'req' && m.sig.length) new lib.DeltaGenerator(lib.decodeSignature(m.sig, { maxBlocks: LIMITS.sig }));
        else if (m.t === 'file_begin') ops = m.delta ? new lib.OpsDecoder({ blockCount }) : null;
        else if (m.t === 'data' && ops) ops.push(m.data);
        else if (m.t === 'file_end' && ops) {
          ops.end();
          ops = null;
        } else if (m.t === 'done') lib.parseStats(m.stats);
      }
    }
    return `${count} messages`;
  }

  /** true for what a decoder may throw at bad input */
  const expected = (e) => e instanceof DecodeError || (e instanceof TsyncError && e.code === 'E_PROTOCOL');

  /**
   * Run `iterations` (or until `deadline`, a Date.now() value) cases from
   * `seed`. Each case: a valid session, or one mutated, or random bytes
   * after the preamble. Returns counts and the first crashes (with the seed
   * of the case, which replays it alone).
   */
  function run({ seed, iterations = Infinity, deadline = Infinity, mulberry32, maxCrashes = 5 }) {
    const out = { cases: 0, decodedWhole: 0, refused: 0, crashes: [] };
    for (let i = 0; i < iterations && Date.now() < deadline; i++) {
      const caseSeed = (seed + i * 0x61c88647) >>> 0;
      const r = one(caseSeed, mulberry32);
      out.cases++;
      if (r.crash) {
        if (out.crashes.length < maxCrashes) out.crashes.push({ seed: caseSeed, error: r.crash });
      } else if (r.refused) out.refused++;
      else out.decodedWhole++;
    }
    return out;
  }

  /** the valid sessions cases start from: fixed, so a case seed alone replays its case */
  let pool = null;
  function sessionPool(mulberry32) {
    if (!pool) {
      const rnd = mulberry32(0x5eed);
      pool = Array.from({ length: 16 }, () => validSession(rnd));
    }
    return pool;
  }

  /** One case from its seed: { refused } or { crash: text }. */
  function one(caseSeed, mulberry32) {
    const sessions = sessionPool(mulberry32);
    const rnd = mulberry32(caseSeed);
    const { stream, blockCount } = pick(rnd, sessions);
    const kind = rnd();
    const streams = sessions.map((x) => x.stream);
    const input = kind < 0.05 ? stream : kind < 0.15 ? Buffer.concat([MAGIC, bytes(rnd, Math.floor(rnd() * 512))]) : mutate(rnd, stream, streams);
    try {
      decodeSession(rnd, input, blockCount);
      return { refused: false };
    } catch (e) {
      if (expected(e)) return { refused: true };
      return { crash: `${e?.name ?? typeof e}: ${e?.message ?? String(e)}`.slice(0, 300) };
    }
  }

  return { validSession, mutate, decodeSession, expected, run, one, sessionPool };
}
