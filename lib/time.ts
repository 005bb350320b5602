// Times are integer microseconds since the UTC epoch everywhere in tsync.

/** A stat's mtime in microseconds, clamped to what a JS number holds exactly (about years 1685 to 2255). */
export function mtimeUs(st: { mtimeMs: number }): number {
  const us = Math.round(st.mtimeMs * 1000);
  return Math.max(-Number.MAX_SAFE_INTEGER, Math.min(Number.MAX_SAFE_INTEGER, us));
}
