// The entry of the single-file build (dist/tsync.mjs, made by
// bin/build-single.mjs at `prepare` time): what a remote without tsync
// runs after the client sends it (lib/link/bootstrap.ts), and what
// `node dist/tsync.mjs ARGS` runs. It does what bin/tsync does.

import { pathToFileURL } from 'node:url';
import { main } from './main.js';

/** Run tsync with `args` and end the process as bin/tsync would. */
export function run(args: string[]): Promise<void> {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err && err.code === 'EPIPE') process.exit(20);
    throw err;
  });
  return main(args).then(
    (code) => {
      process.exitCode = code;
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (err: unknown) => {
      process.stderr.write(`tsync: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 70;
    },
  );
}

// `node dist/tsync.mjs ARGS`: run at once (an import from the bootstrap calls run() itself)
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void run(process.argv.slice(2));
