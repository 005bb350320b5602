// What the benchmarks share: paths, options, timing a command, the data
// generator, medians.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..');
export const TSYNC = path.join(root, 'bin/tsync');
export const COUNT = path.join(here, 'count-rsh.mjs');

const args = process.argv.slice(2);
export const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
export const RUNS = Number(opt('runs', '3'));
export const ONLY = opt('only', '')?.split(',').filter(Boolean);
export const DATA = path.resolve(opt('data', process.env.TSYNC_BENCH_DIR || '/tmp/tsync-bench'));
export const JSON_OUT = opt('json', '');

// Every Node process started with NODE_EXTRA_CA_CERTS set reads and parses
// that certificate file at start-up: about 90 ms on this project's machines,
// where the sandbox sets it for npm. Nothing measured here uses TLS, and a
// user's machine does not usually set it, so no benchmarked command gets it
// (tsync, and count-rsh.mjs, the Node stand-in for ssh that rsync and Unison
// runs use too). --keep-ca-env keeps it, to see the difference.
const KEEP_CA_ENV = process.argv.includes('--keep-ca-env');
const baseEnv = { ...process.env };
if (!KEEP_CA_ENV) delete baseEnv.NODE_EXTRA_CA_CERTS;

/** run a command to completion; returns its wall time in ms (exit statuses in `ok` are success) */
export function sh(cmd, argv, env = {}, ok = [0]) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...baseEnv, ...env }, maxBuffer: 1 << 26 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!ok.includes(r.status)) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

/** bench/data.mjs WHICH DATA (tree or big), once */
export function ensureData(which) {
  const marker = path.join(DATA, `.ready-${which}`);
  if (fs.existsSync(marker)) return;
  console.error(`generating ${which} workload in ${DATA} (once)...`);
  fs.mkdirSync(DATA, { recursive: true });
  sh(process.execPath, [path.join(here, 'data.mjs'), which === 'small' ? 'tree' : which, DATA]);
  fs.writeFileSync(marker, '');
}

export const rm = (p) => fs.rmSync(p, { recursive: true, force: true });

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
