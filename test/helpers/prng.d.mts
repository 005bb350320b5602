// Types for prng.mjs.

export function mulberry32(seed: number): () => number;
