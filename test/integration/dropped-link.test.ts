// A link that drops the way sshd drops it when the client vanishes (the
// relay cuts: the server's stdin ends, our stdout goes nowhere). With -z,
// the end of the link in the middle of compressed data is a lost connection
// (exit 10), not bad data from the peer (exit 12): the bug this guards
// reported `bad compressed data from the peer: unexpected end of file`.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { TSYNC_BIN, collect, spawnTsync } from '../helpers/run.js';
import { THROTTLE, toolbox, until } from '../helpers/standin.js';
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

// sshd sends the server SIGHUP when the client's link is gone. The server's
// lock handler used to re-raise it before the receiver could clean up,
// leaving `.tsync-tmp-*` beside the target.
t.test('a receiving server hung up mid-file removes its temporary', async (t) => {
  const sb = t.testdir();
  fs.mkdirSync(path.join(sb, 'src'));
  fs.writeFileSync(path.join(sb, 'src', 'big.bin'), crypto.randomBytes(24 << 20));
  const tool = toolbox(t);
  for (const partial of [false]) {
    const pidfile = path.join(sb, `server-${partial}.pid`);
    const rsh = tool(`slow-pid-${partial}`, `shift\n${THROTTLE} | sh -c 'echo $$ > ${pidfile}; exec "$0" "$@"' $*`);
    const dst = path.join(sb, `dst-${partial}`);
    const child = spawnTsync(['-e', rsh, '--tsync-path', TSYNC_BIN, ...(partial ? ['--partial'] : []), `${sb}/src/`, `localhost:${dst}/`]);
    const done = collect(child, { timeoutMs: 60_000 });
    const temps = () => (fs.existsSync(dst) ? fs.readdirSync(dst).filter((n) => n.startsWith('.tsync-tmp-')) : []);
    t.ok(await until(() => temps().length > 0, 30_000), 'a temporary is being written');
    process.kill(Number(fs.readFileSync(pidfile, 'utf8')), 'SIGHUP');
    const r = await done;
    t.equal(r.code, 10, `the client: a lost link (${describe(r)})`);
    t.ok(await until(() => temps().length === 0, 5000), `no temporary left (${temps().join(', ')})`);
    const partials = fs.readdirSync(dst).filter((n) => n.startsWith('.tsync-partial-'));
    t.equal(partials.length, partial ? 1 : 0, `${partial ? 'the partial is kept' : 'and no partial'} (${fs.readdirSync(dst).join(', ')})`);
  }
});
