#!/usr/bin/env node
// The vault (issue 13) side by side with restic and borg: each tool keeps
// its repository on the far side of the same real sshd on loopback
// (bench/common.mjs startSshd; restic over sftp, borg over `borg serve`,
// tsync over its own -e/--tsync-path), on the 20,000-file tree of
// bench/data.mjs. Runs alternate between the tools and the median of each
// is reported, with the ratios tsync / restic and tsync / borg.
//
// One series per tool and run, in a fresh directory (repository, client
// state and caches all new, like a first use of each tool), timing in turn:
//   initial   push of a copy of small/ (cp -a into a work dir, untimed)
//   noop      push of the same work dir again, nothing changed
//   v2        push after `rsync -a --delete small-v2/ work/` (untimed):
//             the same path with changed, deleted and added files, so each
//             tool's files cache (kept within the series) sees an edit
//   restore   the latest snapshot into an empty directory
// Each command runs under GNU time for the client's peak RSS. Wire bytes
// are ssh's own client-side count, both directions (encrypted, key
// exchange included).
//
// --many N instead pushes an N-file tree (bench/manyfiles.sh's shape, made
// once in DATA/vault-many) into a fresh tsync vault once, and reports the
// peak RSS of both sides (the server under GNU time through --tsync-path).
//
// usage: node bench/vault.mjs [--runs N] [--only initial,noop,v2,restore]
//          [--tools tsync,restic,borg] [--tsync BIN] [--data DIR] [--json FILE]
//        node bench/vault.mjs --many 1000000 [--data DIR] [--json FILE]

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DATA, JSON_OUT, ONLY, RUNS, TSYNC as BUILT, ensureData, median, opt, rm, sh, startSshd } from './common.mjs';

const WORK = path.join(DATA, 'vault');
// --tsync BIN: measure that tsync (e.g. a build of a clean checkout made
// with `git archive`) instead of this worktree's bin/tsync, which a
// concurrent `npm run build` could replace halfway through the runs
const TSYNC = path.resolve(opt('tsync', BUILT));
const tsyncRoot = path.resolve(path.dirname(TSYNC), '..');
const TOOLS = opt('tools', 'tsync,restic,borg').split(',').filter(Boolean);
const MANY = Number(opt('many', '0'));
const PASS = 'bench-passphrase';
const ssh = await startSshd();
const HOST = ssh.host;
const git = (...a) => { try { return execFileSync('git', ['-C', tsyncRoot, ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return null; } };
const commit = git('rev-parse', '--short', 'HEAD') ?? `not a git checkout (${tsyncRoot})`;
const dirty = git('status', '--porcelain', '--', 'lib') ? true : false;
const distSha = () => execFileSync('sha256sum', [path.join(tsyncRoot, 'dist/tsync.mjs')], { encoding: 'utf8' }).slice(0, 16);
const shaAtStart = distSha();

/** run argv under GNU time; returns { ms, rss (KiB), bytes } */
function timed(argv, env, memFile = path.join(WORK, 'client.mem')) {
  rm(memFile);
  ssh.reset();
  const ms = sh('/usr/bin/time', ['-f', '%M', '-o', memFile, ...argv], env);
  return { ms, rss: Number(fs.readFileSync(memFile, 'utf8').trim().split('\n').pop()), bytes: wireBytes() };
}

/**
 * ssh.bytes(), once every ssh client of the run has logged its count:
 * restic exits without waiting for its ssh, which writes the line a moment
 * later (untimed here; up to 5 s, else null)
 */
function wireBytes() {
  const log = ssh.rsh.match(/-E (\S+)/)[1];
  for (let i = 0; i < 100; i++) {
    const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
    const logins = text.match(/Authenticated to /g)?.length ?? 0;
    if (logins > 0 && (text.match(/Transferred: /g)?.length ?? 0) >= logins) return ssh.bytes();
    sh('sleep', ['0.05']);
  }
  return null;
}

// Each tool: init (untimed; tsync's first push makes the vault), push(dir,
// name), restore(dest, name). `s` is the series directory.
const tools = {
  tsync: {
    env: (s) => ({ XDG_STATE_HOME: path.join(s, 'state'), XDG_CACHE_HOME: path.join(s, 'cache') }),
    init: (s) => sh(process.execPath, [TSYNC, 'keygen', '--vault', path.join(s, 'key')], tools.tsync.env(s)),
    push: (s, dir) => timed([process.execPath, TSYNC, '--vault', path.join(s, 'key'), '-e', ssh.rsh, '--tsync-path', TSYNC, dir + '/', `${HOST}:${path.join(s, 'repo')}`], tools.tsync.env(s)),
    restore: (s, _name, dest) => timed([process.execPath, TSYNC, '--vault', path.join(s, 'key'), '-e', ssh.rsh, '--tsync-path', TSYNC, `${HOST}:${path.join(s, 'repo')}`, dest + '/'], tools.tsync.env(s)),
  },
  restic: {
    // OpenSSH's sftp-server run as the command (the bench sshd has no sftp subsystem line)
    args: (s) => ['-q', '-r', `sftp:${HOST}:${path.join(s, 'repo')}`, '-o', `sftp.command=${ssh.rsh} ${HOST} /usr/lib/openssh/sftp-server`, '--cache-dir', path.join(s, 'cache')],
    env: () => ({ RESTIC_PASSWORD: PASS }),
    init: (s) => sh('restic', [...tools.restic.args(s), 'init'], tools.restic.env()),
    push: (s, dir) => timed(['restic', ...tools.restic.args(s), 'backup', dir], tools.restic.env()),
    restore: (s, _name, dest) => timed(['restic', ...tools.restic.args(s), 'restore', 'latest', '--target', dest], tools.restic.env()),
  },
  borg: {
    repo: (s) => `ssh://${HOST}:${ssh.port}${path.join(s, 'repo')}`,
    // BORG_RSH gets ssh's options; BORG_BASE_DIR holds its cache, config and security dirs
    env: (s) => ({ BORG_PASSPHRASE: PASS, BORG_RSH: ssh.rsh.replace(/ -p \d+/, ''), BORG_BASE_DIR: path.join(s, 'base') }),
    init: (s) => sh('borg', ['init', '-e', 'repokey', tools.borg.repo(s)], tools.borg.env(s)),
    push: (s, dir, name) => timed(['borg', 'create', `${tools.borg.repo(s)}::${name}`, dir], tools.borg.env(s)),
    // borg extract writes into its working directory
    restore: (s, name, dest) => timed(['sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh', dest, 'borg', 'extract', `${tools.borg.repo(s)}::${name}`], tools.borg.env(s)),
  },
};

/** where DEST holds the restored tree: restic and borg restore it under its absolute path */
const restoredAt = (dest, work) => (fs.existsSync(path.join(dest, work)) ? path.join(dest, work) : dest);

function series(tool, i) {
  const s = path.join(WORK, `${tool}-${i}`);
  rm(s);
  fs.mkdirSync(s, { recursive: true });
  const t = tools[tool];
  t.init(s);
  const work = path.join(s, 'work');
  sh('cp', ['-a', path.join(DATA, 'small'), work]);
  sh('sync', []);
  const out = {};
  const dest = path.join(s, 'restore');
  try {
    out.initial = t.push(s, work, 'a1');
    out.noop = t.push(s, work, 'a2');
    sh('rsync', ['-a', '--delete', path.join(DATA, 'small-v2') + '/', work + '/']);
    sh('sync', []);
    out.v2 = t.push(s, work, 'a3');
    fs.mkdirSync(dest);
    out.restore = t.restore(s, 'a3', dest);
  } catch (e) {
    // a failed step is reported as such, and the series ends there
    out.error = String(e.message).split('\n').filter((l) => /error|exited/.test(l)).map((l) => l.replace(/^.* exited/, 'exited')).join(' / ');
    rm(s);
    return out;
  }
  // check the restore, untimed: a wrong restore is no result
  try {
    execFileSync('diff', ['-r', '-q', path.join(DATA, 'small-v2'), restoredAt(dest, work)], { stdio: 'pipe' });
    out.restoreOk = true;
  } catch (e) {
    out.restoreOk = false;
    console.error(`${tool} run ${i}: restored tree differs from small-v2: ${String(e.stdout).split('\n').slice(0, 3).join('; ')}`);
  }
  out.repoBytes = Number(execFileSync('du', ['-sb', path.join(s, 'repo')], { encoding: 'utf8' }).split('\t')[0]);
  rm(s);
  return out;
}

const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();

async function many() {
  const dir = path.join(DATA, 'vault-many');
  const src = path.join(dir, 'src');
  const made = fs.existsSync(path.join(dir, 'made')) ? fs.readFileSync(path.join(dir, 'made'), 'utf8').trim() : '';
  if (made !== String(MANY)) {
    console.error(`making ${MANY} files in ${src} (once)...`);
    rm(dir);
    fs.mkdirSync(dir, { recursive: true });
    for (let d = 0; d < MANY / 1000; d++) {
      const sub = path.join(src, `d${String(d).padStart(4, '0')}`);
      fs.mkdirSync(sub, { recursive: true });
      for (let f = 0; f < 1000; f++) fs.writeFileSync(path.join(sub, `f${f}.txt`), `file ${d}/${f}\n`);
    }
    fs.writeFileSync(path.join(dir, 'made'), String(MANY));
  }
  const s = path.join(WORK, 'many');
  rm(s);
  fs.mkdirSync(s, { recursive: true });
  const env = tools.tsync.env(s);
  tools.tsync.init(s);
  const serverMem = path.join(s, 'server.mem');
  const push = () => {
    rm(serverMem);
    const r = timed([process.execPath, TSYNC, '--vault', path.join(s, 'key'), '-e', ssh.rsh, '--tsync-path', `/usr/bin/time -f %M -o ${serverMem} ${TSYNC}`, src + '/', `${HOST}:${path.join(s, 'repo')}`], env);
    return { ...r, serverRss: Number(fs.readFileSync(serverMem, 'utf8').trim().split('\n').pop()) };
  };
  const rows = [];
  for (const what of ['first push', 're-push, nothing changed']) {
    const load = uptime();
    const r = push();
    rows.push({ what, files: MANY, ms: Math.round(r.ms), bytes: r.bytes, clientRssKiB: r.rss, serverRssKiB: r.serverRss, load });
    console.log(`${MANY} files, ${what}: ${Math.round(r.ms)} ms, wire ${r.bytes} bytes, peak RSS client ${(r.rss / 1024).toFixed(0)} MiB, server ${(r.serverRss / 1024).toFixed(0)} MiB (target < 500 MB each)`);
  }
  rm(s);
  return rows;
}

fs.mkdirSync(WORK, { recursive: true });
console.log(`tsync ${TSYNC}, commit ${commit}${dirty ? ' (lib/ has uncommitted changes)' : ''}, dist/tsync.mjs sha256 ${shaAtStart}; transport: ssh to ${HOST}:${ssh.port}; wire bytes are ssh's client-side count, both directions`);
console.log(`load at start: ${uptime()}`);
let results;
if (MANY) results = await many();
else {
  ensureData('small');
  const samples = Object.fromEntries(TOOLS.map((t) => [t, []]));
  for (let i = 0; i < RUNS; i++) {
    // rotate which tool goes first so drift in machine load hits each
    const order = TOOLS.map((_, k) => TOOLS[(k + i) % TOOLS.length]);
    for (const tool of order) {
      const r = series(tool, i);
      samples[tool].push(r);
      const steps = ['initial', 'noop', 'v2', 'restore'].filter((w) => r[w]).map((w) => `${w} ${Math.round(r[w].ms)} ms ${r[w].bytes} B ${r[w].rss} KiB`);
      console.error(`run ${i + 1} ${tool}: ${steps.join(', ')}${r.error ? `; FAILED: ${r.error}` : `; repo ${r.repoBytes} B${r.restoreOk ? '' : ', RESTORE WRONG'}`}`);
    }
  }
  results = [];
  for (const w of ['initial', 'noop', 'v2', 'restore']) {
    if (ONLY?.length && !ONLY.includes(w)) continue;
    const row = { workload: w, runs: RUNS };
    for (const t of TOOLS) {
      const failed = samples[t].filter((r) => !r[w]);
      if (failed.length) {
        row[t] = { failed: `${failed.length} of ${RUNS} runs: ${failed[0].error}` };
        continue;
      }
      row[t] = {
        ms: Math.round(median(samples[t].map((r) => r[w].ms))),
        bytes: median(samples[t].map((r) => r[w].bytes)),
        rssKiB: median(samples[t].map((r) => r[w].rss)),
        allMs: samples[t].map((r) => Math.round(r[w].ms)),
      };
    }
    for (const t of ['restic', 'borg']) {
      if (!row.tsync?.ms || !row[t]?.ms) continue;
      row[`timeVs${t}`] = +(row.tsync.ms / row[t].ms).toFixed(3);
      row[`bytesVs${t}`] = +(row.tsync.bytes / row[t].bytes).toFixed(3);
    }
    results.push(row);
    console.log(
      `${w.padEnd(8)} ` +
        TOOLS.map((t) => (row[t].failed ? `${t} FAILED (${row[t].failed})` : `${t} ${row[t].ms} ms ${row[t].bytes} B ${(row[t].rssKiB / 1024).toFixed(0)} MiB`)).join(' | ') +
        (row.timeVsrestic !== undefined ? ` | tsync/restic time x${row.timeVsrestic} bytes x${row.bytesVsrestic}` : '') +
        (row.timeVsborg !== undefined ? ` | tsync/borg time x${row.timeVsborg} bytes x${row.bytesVsborg}` : ''),
    );
  }
  const restoreOk = Object.fromEntries(TOOLS.map((t) => [t, samples[t].every((r) => r.restoreOk)]));
  const repoBytes = Object.fromEntries(TOOLS.map((t) => [t, samples[t].some((r) => r.error) ? null : median(samples[t].map((r) => r.repoBytes))]));
  console.log(`restores equal to small-v2: ${JSON.stringify(restoreOk)}; repository size after the three pushes (median): ${JSON.stringify(repoBytes)}`);
  results.push({ restoreOk, repoBytes });
}
console.log(`load at end: ${uptime()}`);
if (distSha() !== shaAtStart) console.log(`dist/tsync.mjs CHANGED during the runs (now ${distSha()}): the tsync figures mix two builds`);
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), tsync: TSYNC, commit, dirty, distSha: shaAtStart, runs: RUNS, results }, null, 2) + '\n');
