// Types for fuzz-core.mjs (plain JavaScript so bench/fuzz.mjs can run it on dist/).

export interface FuzzSession {
  stream: Buffer;
  /** the block count of the signature its delta data refers to */
  blockCount: number;
}

export interface FuzzResult {
  cases: number;
  decodedWhole: number;
  refused: number;
  crashes: Array<{ seed: number; error: string }>;
}

export interface Fuzzer {
  validSession(rnd: () => number): FuzzSession;
  mutate(rnd: () => number, buf: Buffer, pool: Buffer[]): Buffer;
  decodeSession(rnd: () => number, stream: Buffer, blockCount: number): string;
  expected(e: unknown): boolean;
  run(o: { seed: number; iterations?: number; deadline?: number; mulberry32: (seed: number) => () => number; maxCrashes?: number }): FuzzResult;
  one(caseSeed: number, mulberry32: (seed: number) => () => number): { refused?: boolean; crash?: string };
  sessionPool(mulberry32: (seed: number) => () => number): FuzzSession[];
}

export function makeFuzzer(lib: Record<string, unknown>): Fuzzer;
