// A link that drops the way sshd drops it when the client vanishes (the
// relay cuts: the server's stdin ends, our stdout goes nowhere). With -z,
// the end of the link in the middle of compressed data is a lost connection
// (exit 10), not bad data from the peer (exit 12): the bug this guards
// reported `bad compressed data from the peer: unexpected end of file`.

import t from 'tap';
import { checkRun, freshDest, makeWorld, readLog, relayed, run, serverGone } from '../helpers/faults.js';
import { describe } from '../helpers/standin.js';

t.test('-z pull and push cut mid-stream: exit 10, not 12', async (t) => {
  const w = await makeWorld(t.testdir(), 4242);
  for (const dir of ['pull', 'push'] as const) {
    const probe = relayed(w, []);
    const whole = await run(w, dir, freshDest(w, `${dir}-whole`), probe.rsh, ['-z']);
    t.equal(whole.code, 0, `uncut ${dir}: ${describe(whole)}`);
    await serverGone(probe.log);
    const total = dir === 'pull' ? readLog(probe.log).down : readLog(probe.log).up;
    for (const frac of [0.3, 0.6, 0.9]) {
      const at = Math.floor(total * frac);
      const { rsh, log } = relayed(w, [dir === 'pull' ? '--cut-down' : '--cut-up', String(at)]);
      const dst = freshDest(w, `${dir}-${frac}`);
      const r = await run(w, dir, dst, rsh, ['-z']);
      t.equal(r.code, 10, `${dir} cut at ${at} of ${total} bytes: ${describe(r)}`);
      t.notMatch(r.stderr, /bad compressed data/, 'not reported as bad data');
      await checkRun(t, w, dst, r, log, { codes: [10] });
    }
  }
});
