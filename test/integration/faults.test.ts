// The link fails under the real binary: test/helpers/relay.mjs sits in the
// -e command between client and server and cuts the pipe after N bytes,
// flips one bit at byte N, or stalls, in either direction, pulling and
// pushing. N is seeded (TSYNC_FAULT_SEED; TSYNC_FAULT_RUNS per kind, default
// 1: raise it for a longer run) and aimed at the bytes a clean run moves. Each run is checked against
// the invariants of test/helpers/faults.ts (ends, documented exit code,
// every file old or new, exit 0 only when right, no temporary left) and
// then re-run cleanly to show it converges.
//
// Bit flips land in frame payloads after the client's START (the relay's
// --payload): on an unkeyed pipe nothing protects the framing or the
// request itself. A flipped frame length can leave both sides waiting for
// each other while their keepalives keep --timeout from firing (found by
// this test: a hang), and a flip inside START (a path, an option) can go
// unnoticed. SSH, or a keyed pipe, is what protects those.

import t from 'tap';
import { mulberry32 } from '../helpers/prng.mjs';
import { describe } from '../helpers/hostile-case.js';
import { checkRerun, checkRun, freshDest, makeWorld, readLog, relayed, run, type Direction } from '../helpers/faults.js';

const SEED = Number(process.env.TSYNC_FAULT_SEED ?? 20_261_123);
const RUNS = Number(process.env.TSYNC_FAULT_RUNS ?? 1);

t.test(`a faulty link (seed ${SEED})`, async (t) => {
  const w = await makeWorld(t.testdir(), SEED);
  const rng = mulberry32(SEED);
  for (const dir of ['pull', 'push'] as Direction[]) {
    const clean = freshDest(w, `${dir}-clean`);
    const relay = relayed(w, []);
    const r = await run(w, dir, clean, relay.rsh);
    t.equal(r.code, 0, `${dir}: a clean run through the relay (${describe(r)})`);
    const L = readLog(relay.log);
    t.comment(`${dir}: ${L.up} bytes up, ${L.down} down; payload ${L.payload.up} up (START ends at ${L.payload.upframes[1]}), ${L.payload.down} down`);
    if (!t.ok(L.up > 0 && L.down > 0 && L.payload.upframes.length >= 2, `${dir}: the relay saw both ways`)) continue;

    for (const kind of ['cut-up', 'cut-down', 'flip-up', 'flip-down'] as const) {
      for (let i = 0; i < RUNS; i++) {
        const up = kind.endsWith('-up');
        const flip = kind.startsWith('flip');
        // cuts anywhere in the stream; flips anywhere in the payload after START
        const lo = kind === 'flip-up' ? L.payload.upframes[1] : 0;
        const hi = flip ? (up ? L.payload.up : L.payload.down) : up ? L.up : L.down;
        const n = lo + Math.floor(rng() * (hi - lo));
        const bit = Math.floor(rng() * 8);
        const opts = [`--${kind}`, String(n), ...(flip ? ['--payload', '--bit', String(bit)] : [])];
        await t.test(`${dir}: ${opts.join(' ')}`, async (t) => {
          const dst = freshDest(w, `${dir}-${kind}-${i}`);
          const relay = relayed(w, opts);
          const r = await run(w, dir, dst, relay.rsh, ['--timeout', '3']);
          // the client never sees the server's last bytes: never a success (a cut up may only lose the client's final DONE)
          if (kind === 'cut-down') t.not(r.code, 0, `a link cut before the server's last byte is never a success (${describe(r)})`);
          await checkRun(t, w, dst, r, relay.log);
          if (r.code !== 0) await checkRerun(t, w, dir, dst);
        });
      }
    }

    await t.test(`${dir}: the link stalls; --timeout 2 ends it`, async (t) => {
      const n = Math.floor(rng() * L.down);
      const dst = freshDest(w, `${dir}-stall`);
      const started = Date.now();
      const relay = relayed(w, ['--stall-down', String(n)]);
      const r = await run(w, dir, dst, relay.rsh, ['--timeout', '2']);
      const took = Date.now() - started;
      t.equal(r.code, 30, `stalled at byte ${n} down: exit 30 (${describe(r)})`);
      t.ok(took < 8000, `ended in ${took} ms (timeout 2 s)`);
      await checkRun(t, w, dst, r, relay.log, { codes: [30] });
      await checkRerun(t, w, dir, dst);
    });
  }
});
