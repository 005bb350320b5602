// lib/cli/progress.ts: the pure formatting (table tests), the rate meter, and the
// display's terminal writes with a hand-driven clock (no timers).

import t from 'tap';
import { every, formatBytes, formatDuration, ProgressDisplay, RateMeter, renderProgress, sendIfChanged, FILE_BAR_MS, type ProgressSnapshot } from '../../lib/cli/progress.js';

const snap = (o: Partial<ProgressSnapshot> = {}): ProgressSnapshot => ({ files: 0, totalFiles: 0, bytes: 0, totalBytes: 0, moved: 0, listing: false, path: '', size: 0, done: 0, ...o });

t.test('formatBytes', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.00 KiB'],
    [1536, '1.50 KiB'],
    [10 * 1024 * 1024, '10.0 MiB'],
    [123.4 * 1024 * 1024, '123 MiB'],
    [5 * 2 ** 30, '5.00 GiB'],
    [2 ** 60, '1024 PiB'],
  ];
  for (const [n, want] of cases) t.equal(formatBytes(n), want, `${n}`);
});

t.test('formatDuration', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0:00'],
    [59.4, '0:59'],
    [61, '1:01'],
    [3600, '1:00:00'],
    [3661, '1:01:01'],
    [Infinity, '--:--'],
    [NaN, '--:--'],
    [-1, '--:--'],
    [100 * 3600, '--:--'],
  ];
  for (const [s, want] of cases) t.equal(formatDuration(s), want, `${s}`);
});

t.test('renderProgress: the run line', async (t) => {
  const s = snap({ files: 1234, totalFiles: 5678, bytes: 10 * 2 ** 20, totalBytes: 40 * 2 ** 20 });
  t.same(renderProgress(s, 2 ** 20, false, 120), ['1,234/5,678 files  10.0 MiB/40.0 MiB  25%  1.00 MiB/s  ETA 0:30']);
  t.match(renderProgress({ ...s, listing: true }, 2 ** 20, false, 120)[0], /^1,234\/5,678\+ files {2}10\.0 MiB\/40\.0 MiB\+ {2}25%/, 'a + while the list is still arriving');
  t.match(renderProgress(s, 0, false, 120)[0], /ETA --:--$/, 'no rate, no ETA');
  t.match(renderProgress(snap(), 0, false, 120)[0], /^0\/0 files {2}0 B\/0 B {2}100%/, 'nothing to do is done');
  t.match(renderProgress({ ...s, bytes: s.totalBytes * 2 }, 1, false, 120)[0], / 100% /, 'never over 100%');
});

t.test('renderProgress: the file bar, and nothing wider than the terminal', async (t) => {
  const s = snap({ files: 3, totalFiles: 10, bytes: 50, totalBytes: 100, path: 'videos/holiday.mkv', size: 1000, done: 450 });
  const lines = renderProgress(s, 10, true, 100);
  t.equal(lines.length, 2, 'bar above the run line');
  t.match(lines[0], /^videos\/holiday\.mkv \[#+\.+\] {3}45% {2}450 B\/1000 B$/);
  const bar = /\[(#*)(\.*)\]/.exec(lines[0])!;
  t.equal(Math.round((bar[1].length * 100) / (bar[1].length + bar[2].length) / 10), 4, 'the bar is about 45% full');
  t.same(renderProgress(s, 10, false, 100).length, 1, 'no bar when not asked');
  t.same(renderProgress({ ...s, path: '' }, 10, true, 100).length, 1, 'no bar without a current file');
  for (const cols of [20, 40, 60, 80, 200]) {
    const long = { ...s, path: `${'very-long-directory-name/'.repeat(8)}file.bin` };
    for (const l of renderProgress(long, 123456, true, cols)) t.ok([...l].length <= Math.max(20, cols - 1), `${cols} columns: ${JSON.stringify(l)}`);
  }
  const cut = renderProgress({ ...s, path: `a${'x'.repeat(200)}z.bin` }, 1, true, 80)[0];
  t.match(cut, /^ax+…x+z\.bin \[/, 'a long name is cut in the middle, keeping both ends');
});

t.test('every: at most once per interval, by the clock it is given', async (t) => {
  let now = 0;
  let calls = 0;
  const f = every(100, () => calls++, () => now);
  f();
  f();
  t.equal(calls, 1, 'the first call runs, the second at the same time does not');
  now = 99;
  f();
  t.equal(calls, 1);
  now = 100;
  f();
  t.equal(calls, 2, 'once the interval has passed');
});

t.test('RateMeter: bytes per second over a window', async (t) => {
  const m = new RateMeter();
  t.equal(m.add(0, 0), 0, 'one sample: no rate');
  t.equal(m.add(1000, 1000), 1000);
  t.equal(m.add(2000, 3000), 1500);
  // after the window the old samples fall away
  m.add(7000, 3000);
  t.equal(m.add(8000, 3000), 0, 'nothing moved for the last five seconds');
});

t.test('ProgressDisplay: draws, steps aside for other output, erases at the end', async (t) => {
  let now = 0;
  let screen = '';
  const d = new ProgressDisplay((s) => void (screen += s), { columns: () => 80, now: () => now });
  let current = snap({ files: 1, totalFiles: 2, bytes: 10, totalBytes: 20, path: 'big', size: 100, done: 5 });
  d.source(() => current);
  d.redraw();
  t.match(screen, /^1\/2 files/, 'first draw: the run line only');
  t.notMatch(screen, /\n/, 'one line');
  screen = '';
  now = FILE_BAR_MS;
  current = { ...current, done: 50 };
  d.redraw();
  t.match(screen, /^\r\x1b\[2K/, 'the old line is erased first');
  t.match(screen, /big \[#+\.*\] {3}50%.*\n1\/2 files/, 'after a second on one file: its bar, then the run line');
  screen = '';
  const out = d.wrap({ stdout: (s) => void (screen += `<out:${s}>`), stderr: (s) => void (screen += `<err:${s}>`) });
  out.stderr('tsync: warning: x\n');
  t.equal(screen, '\r\x1b[2K\x1b[1A\r\x1b[2K<err:tsync: warning: x\n>', 'both lines erased before another line is written');
  screen = '';
  out.stdout('>f+++++++++ a\n');
  t.equal(screen, '<out:>f+++++++++ a\n>', 'nothing to erase: nothing written but the line');
  d.redraw();
  screen = '';
  d.finish();
  t.equal(screen, '\r\x1b[2K\x1b[1A\r\x1b[2K', 'finish erases what is shown');
  screen = '';
  d.finish();
  t.equal(screen, '', 'and twice is harmless');
});

t.test('ProgressDisplay: without any snapshot it writes nothing', async (t) => {
  let screen = '';
  const d = new ProgressDisplay((s) => void (screen += s), { columns: () => 80, now: () => 0 });
  d.redraw();
  d.finish();
  t.equal(screen, '');
  d.update(snap({ files: 1, totalFiles: 1 }));
  d.redraw();
  t.match(screen, /^1\/1 files/, 'update() feeds it (PROGRESS messages)');
  d.finish();
});

t.test('sendIfChanged: the server sends a snapshot only when it changed', async (t) => {
  const sent: ProgressSnapshot[] = [];
  let s = snap({ files: 1 });
  const tick = sendIfChanged((x) => sent.push(x), () => s);
  tick();
  tick();
  t.equal(sent.length, 1, 'an unchanged snapshot is sent once');
  s = snap({ files: 1, done: 5, path: 'a' });
  tick();
  t.equal(sent.length, 2, 'bytes of the current file count as a change');
  s = snap({ files: 1, done: 5, path: 'a' });
  tick();
  t.equal(sent.length, 2, 'an equal snapshot (a new object) is not sent');
});
