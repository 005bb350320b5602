// --progress: one live line for the whole run (files and bytes settled of
// those listed, rate, ETA), and a bar for a file that has been arriving for
// more than a second. Only on a terminal; redrawn at most ten times a
// second; cleared at the end and around every other line of output.
//
// The receiver knows how far the run is (Receiver.progress()). Pulling, the
// client is the receiver and asks it directly; pushing (and locally), the
// receiving server sends PROGRESS messages when the client's HELLO lists
// PROGRESS_CAP. Formatting is pure (renderProgress); the display only
// keeps time and writes.

import type { Out } from './report.js';

/** How far a run is, as the receiver sees it. */
export interface ProgressSnapshot {
  /** files settled (unchanged, fixed, received or failed) of totalFiles listed so far */
  files: number;
  totalFiles: number;
  /** bytes of the settled files, plus what has arrived of the current one */
  bytes: number;
  totalBytes: number;
  /** bytes written from data that came over the wire (literal + matched): the rate is measured on this */
  moved: number;
  /** the manifest is still arriving: the totals will grow */
  listing: boolean;
  /** the file arriving now ('' when none), its size and how much of it is written */
  path: string;
  size: number;
  done: number;
}

/** at most this many redraws a second */
export const REDRAW_MS = 100;
/** a file gets its own bar once it has been arriving this long */
export const FILE_BAR_MS = 1000;
/** the rate is measured over this much recent time */
const RATE_WINDOW_MS = 5000;

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${UNITS[u]}`;
}

/** seconds as m:ss or h:mm:ss; '--:--' when unknown */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > 99 * 3600) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function pct(part: number, whole: number): string {
  if (whole <= 0) return '100%';
  return `${Math.min(100, Math.floor((part * 100) / whole))}%`;
}

/** a name cut in the middle to fit width characters */
function fit(s: string, width: number): string {
  const chars = [...s];
  if (chars.length <= width) return s;
  if (width <= 1) return chars.slice(0, Math.max(0, width)).join('');
  const head = Math.ceil((width - 1) / 2);
  return `${chars.slice(0, head).join('')}…${chars.slice(chars.length - (width - 1 - head)).join('')}`;
}

/**
 * The lines to show: the whole run, and (when fileBar) the current file's
 * bar above it. Each line fits in columns - 1 characters, so the terminal
 * never wraps it.
 */
export function renderProgress(s: ProgressSnapshot, rate: number, fileBar: boolean, columns: number): string[] {
  const width = Math.max(20, columns - 1);
  const more = s.listing ? '+' : '';
  const remaining = Math.max(0, s.totalBytes - s.bytes);
  const eta = rate > 0 ? formatDuration(remaining / rate) : '--:--';
  const n = (x: number) => x.toLocaleString('en-US');
  const run = `${n(s.files)}/${n(s.totalFiles)}${more} files  ${formatBytes(s.bytes)}/${formatBytes(s.totalBytes)}${more}  ${pct(s.bytes, s.totalBytes)}  ${formatBytes(Math.round(rate))}/s  ETA ${eta}`;
  const lines: string[] = [];
  if (fileBar && s.path) {
    const tail = `  ${pct(s.done, s.size).padStart(4)}  ${formatBytes(s.done)}/${formatBytes(s.size)}`;
    const barWidth = Math.max(10, Math.min(30, width - tail.length - 12));
    const filled = s.size > 0 ? Math.min(barWidth, Math.floor((s.done * barWidth) / s.size)) : barWidth;
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`;
    const name = fit(s.path, Math.max(8, width - bar.length - tail.length - 1));
    lines.push(`${name} ${bar}${tail}`.slice(0, width));
  }
  lines.push(fit(run, width));
  return lines;
}

/**
 * fn, called at most once every ms. The receiver calls it as it works (a
 * burst of small files can keep the event loop, and so any timer, busy for
 * seconds), and a timer calls it when it waits.
 */
export function every(ms: number, fn: () => void, now: () => number = () => performance.now()): () => void {
  let last = -Infinity;
  return () => {
    const t = now();
    if (t - last < ms) return;
    last = t;
    fn();
  };
}

/** Bytes per second over the last few seconds, from (time, moved) samples. */
export class RateMeter {
  private samples: Array<[number, number]> = [];
  add(ms: number, moved: number): number {
    this.samples.push([ms, moved]);
    while (this.samples.length > 2 && ms - this.samples[0][0] > RATE_WINDOW_MS) this.samples.shift();
    const [t0, m0] = this.samples[0];
    return ms - t0 > 0 ? ((moved - m0) * 1000) / (ms - t0) : 0;
  }
}

export interface DisplayOptions {
  /** terminal width */
  columns: () => number;
  now?: () => number;
}

const CLEAR_LINE = '\r\x1b[2K';
const UP = '\x1b[1A';

/** The live lines on a terminal: write goes to that terminal (standard output, as rsync does). */
export class ProgressDisplay {
  private latest: ProgressSnapshot | null = null;
  private poll: (() => ProgressSnapshot) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private shown = 0;
  private readonly meter = new RateMeter();
  private current = '';
  private since = 0;
  private readonly now: () => number;
  /** redraw, unless that was done less than REDRAW_MS ago */
  readonly tick: () => void;

  constructor(
    private readonly write: (s: string) => void,
    private readonly opts: DisplayOptions,
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.tick = every(REDRAW_MS, () => this.redraw(), this.now);
  }

  /** the newest snapshot (from PROGRESS messages) */
  update(s: ProgressSnapshot): void {
    this.latest = s;
    if (this.timer) this.tick();
  }

  /** take snapshots from a receiver in this process */
  source(poll: () => ProgressSnapshot): void {
    this.poll = poll;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(this.tick, REDRAW_MS);
    this.timer.unref();
  }

  /** Other output to the same terminal: the live lines step aside and come back at the next redraw. */
  wrap(out: Out): Out {
    return {
      stdout: (s) => {
        this.clear();
        out.stdout(s);
      },
      stderr: (s) => {
        this.clear();
        out.stderr(s);
      },
    };
  }

  /** stop, and leave the terminal as it was */
  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.clear();
  }

  /** draw the newest snapshot now (the timer calls this) */
  redraw(): void {
    const s = this.poll ? this.poll() : this.latest;
    if (!s) return;
    const t = this.now();
    if (s.path !== this.current) {
      this.current = s.path;
      this.since = t;
    }
    const rate = this.meter.add(t, s.moved);
    const lines = renderProgress(s, rate, s.path !== '' && t - this.since >= FILE_BAR_MS, this.opts.columns());
    this.write(this.erase() + lines.join('\n'));
    this.shown = lines.length;
  }

  private erase(): string {
    if (this.shown === 0) return '';
    let seq = CLEAR_LINE;
    for (let i = 1; i < this.shown; i++) seq += UP + CLEAR_LINE;
    this.shown = 0;
    return seq;
  }

  private clear(): void {
    const seq = this.erase();
    if (seq) this.write(seq);
  }
}

/** A function that sends the snapshot when it changed since the last call. */
export function sendIfChanged(send: (s: ProgressSnapshot) => void, snapshot: () => ProgressSnapshot): () => void {
  let last = '';
  return () => {
    const s = snapshot();
    const key = `${s.files},${s.totalFiles},${s.bytes},${s.moved},${s.listing},${s.path},${s.done}`;
    if (key === last) return;
    last = key;
    send(s);
  };
}

/**
 * The receiving server's side: a PROGRESS message whenever the snapshot
 * changed, at most every REDRAW_MS, from the receiver's work (tick) and
 * from a timer while it waits. send must not wait for the event loop.
 */
export function streamProgress(send: (s: ProgressSnapshot) => void, snapshot: () => ProgressSnapshot): { tick: () => void; stop: () => void } {
  const tick = every(REDRAW_MS, sendIfChanged(send, snapshot));
  const timer = setInterval(tick, REDRAW_MS);
  timer.unref();
  return { tick, stop: () => clearInterval(timer) };
}
