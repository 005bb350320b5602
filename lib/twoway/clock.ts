// The replica's clock relative to ours, NTP-style: a few pings, and the one
// with the shortest round trip gives offset = their clock - the midpoint of
// our send and receive times. Both clocks are UTC epoch milliseconds, so
// time zones and daylight-saving changes never enter.

import type { Connection } from '../link/connection.js';
import { TsyncError } from '../errors.js';

// three are enough to find a short round trip; each costs one (the peer is busy scanning meanwhile)
const ROUNDS = 3;

/** b's clock minus ours, in microseconds */
export async function estimateOffset(conn: Connection): Promise<number> {
  let best = { rtt: Infinity, offset: 0 };
  for (let seq = 0; seq < ROUNDS; seq++) {
    const t0 = Date.now();
    conn.send({ t: 'ping', seq, clock: t0 });
    const m = await conn.next();
    const t1 = Date.now();
    if (m.t !== 'pong' || m.seq !== seq || !Number.isFinite(m.clock)) throw new TsyncError('E_PROTOCOL', `expected the answer to clock ping ${seq}, got ${m.t}`);
    if (t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: m.clock - (t0 + t1) / 2 };
  }
  return Math.round(best.offset * 1000);
}
