// The client SIGKILLed at several moments of a session, pulling and
// pushing, then a clean re-run. cli.test.ts kills a slowed-down client once
// it is writing its second big file; here the relay of
// test/helpers/relay.mjs kills it when byte N of the data direction passes:
// in the preamble, at the end of the handshake, at a seeded point, and one
// byte before the end (TSYNC_FAULT_SEED picks another point). Invariants (see
// test/helpers/faults.ts): every destination path is its old or new
// version; a temporary may survive only when the killed client was the
// receiver, and only under a reserved .tsync-tmp- name; the re-run
// converges and leaves none.

import t from 'tap';
import { mulberry32 } from '../helpers/prng.mjs';
import { describe } from '../helpers/hostile-case.js';
import { checkRerun, checkRun, freshDest, makeWorld, readLog, relayed, run, type Direction } from '../helpers/faults.js';

const SEED = Number(process.env.TSYNC_FAULT_SEED ?? 7_070_707);

t.test(`the client killed mid-session (seed ${SEED})`, async (t) => {
  const w = await makeWorld(t.testdir(), SEED);
  const rng = mulberry32(SEED);
  for (const dir of ['pull', 'push'] as Direction[]) {
    const relay = relayed(w, []);
    const r = await run(w, dir, freshDest(w, `${dir}-clean`), relay.rsh);
    t.equal(r.code, 0, `${dir}: a clean run through the relay (${describe(r)})`);
    const L = readLog(relay.log);
    // the data flows down when pulling, up when pushing
    const way = dir === 'pull' ? 'down' : 'up';
    const total = dir === 'pull' ? L.down : L.up;
    const frames = dir === 'pull' ? L.downframes : L.upframes;
    const moments: Array<[string, number]> = [
      ['in the preamble', 3],
      ['after the handshake', frames[0] ?? 10],
      ['at a seeded point', Math.floor(rng() * total)],
      ['one byte before the end', total - 1],
    ];
    for (const [when, n] of moments) {
      await t.test(`${dir}: SIGKILL ${when} (byte ${n} ${way})`, async (t) => {
        const dst = freshDest(w, `${dir}-kill-${n}`);
        const relay = relayed(w, [`--kill-client-${way}`, String(n)]);
        const r = await run(w, dir, dst, relay.rsh);
        t.equal(r.signal, 'SIGKILL', `the client was killed (${describe(r)})`);
        // a killed receiver cannot clean up; a killed sender's peer (the receiving server) must
        await checkRun(t, w, dst, r, relay.log, { tempsAllowed: dir === 'pull' });
        await checkRerun(t, w, dir, dst);
      });
    }
  }
});
