// The delta engine: signatures, matching, the op wire format, patch planning.
// Pure: Buffers in, data out; no I/O.
export * from './types.js';
export { WEAK_TABLE, weakSum, RollingSum, strongSum, outTable, MAX_STRONG_LEN } from './rolling.js';
export * from './signature.js';
export * from './match.js';
export * from './wire.js';
export * from './patch.js';
export * from './rounds.js';
