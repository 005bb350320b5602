// Preloaded into every tsync process of a benchmark (NODE_OPTIONS=--require
// bench/hwm.cjs) when TSYNC_BENCH_HWM names a file: at exit, one line there
// with the side, its own peak RSS (VmHWM, KB) and its own user and system
// CPU seconds. GNU time cannot tell the client alone: its figures for a
// command include every process the command waited for, and the server
// runs beneath the client (ssh or the stand-in -e): the maximum RSS of all
// of them and the sum of their CPU times.
const fs = require('node:fs');
const out = process.env.TSYNC_BENCH_HWM;
if (out) {
  process.on('exit', () => {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '?';
    const { user, system } = process.cpuUsage();
    const side = process.argv.includes('--server') ? 'server' : 'client';
    fs.appendFileSync(out, `${side} ${hwm} ${(user / 1e6).toFixed(2)} ${(system / 1e6).toFixed(2)}\n`);
  });
}
