// A real terminal for tests: a private tmux server, one session per command,
// the screen read back as a person would see it (capture-pane), and every
// byte written to the terminal kept in a log (pipe-pane).

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Test } from 'tap';

export interface Terminal {
  /** the screen now, trailing blank lines dropped */
  screen(): string;
  /** every byte written to the terminal so far */
  log(): string;
  /** the command's exit status, once it ended (it prints EXIT=n) */
  exit(): number | null;
}

export interface Tmux {
  /** run a shell command line in a new terminal of cols x rows; resolves once output is being logged and the command started */
  run(name: string, cmdline: string, opts?: { cols?: number; rows?: number; cwd?: string }): Terminal;
}

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function startTmux(t: Test, dir: string): Tmux {
  // a socket path must be short (about 100 bytes): not inside a test's fixture directory
  const sockDir = fs.mkdtempSync('/tmp/tsync-tmux-');
  const sock = path.join(sockDir, 's');
  const tmux = (...args: string[]) => execFileSync('tmux', ['-S', sock, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  t.teardown(() => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    fs.rmSync(sockDir, { recursive: true, force: true });
  });
  return {
    run(name, cmdline, opts = {}) {
      const go = path.join(dir, `${name}.go`);
      const logFile = path.join(dir, `${name}.log`);
      fs.writeFileSync(logFile, '');
      // wait for the log to be attached before the command writes anything; stay open afterwards so the screen can be read
      const script = `cd ${q(opts.cwd ?? dir)}; while [ ! -e ${q(go)} ]; do sleep 0.02; done; ${cmdline}; echo EXIT=$?; exec sleep 600`;
      tmux('new-session', '-d', '-s', name, '-x', String(opts.cols ?? 100), '-y', String(opts.rows ?? 30), `sh -c ${q(script)}`);
      tmux('pipe-pane', '-o', '-t', name, `cat >> ${q(logFile)}`);
      fs.writeFileSync(go, '');
      const screen = () =>
        tmux('capture-pane', '-p', '-t', name)
          .replace(/\s+$/, '')
          .split('\n')
          .map((l) => l.replace(/\s+$/, ''))
          .join('\n');
      return {
        screen,
        log: () => fs.readFileSync(logFile, 'latin1'),
        exit: () => {
          const m = /^EXIT=(\d+)$/m.exec(screen());
          return m ? Number(m[1]) : null;
        },
      };
    },
  };
}
