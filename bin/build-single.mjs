// Build dist/tsync.mjs: the whole of tsync in one ES module (esbuild), the
// file a remote without tsync receives and runs (lib/link/bootstrap.ts).
// ssh2 stays outside: only the client's built-in SSH client loads it, by a
// dynamic import, and a server never does.
// Run by `npm run build` and `prepare`, after tsc.

import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const out = new URL('../dist/tsync.mjs', import.meta.url).pathname;
await build({
  entryPoints: [new URL('../lib/single.ts', import.meta.url).pathname],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  external: ['ssh2'],
  logLevel: 'warning',
  legalComments: 'none',
  // tar-stream's dependencies (streamx) require() node builtins: give the ES module a require
  // (only builtins are left to require; a zero-install remote loads this from a data: URL, so no file URL there)
  banner: { js: "import{createRequire as __tsyncRequire}from'node:module';const require=__tsyncRequire(import.meta.url.startsWith('file:')?import.meta.url:'/');" },
});
const bytes = readFileSync(out);
process.stdout.write(`dist/tsync.mjs: ${bytes.length} bytes, sha256 ${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}\n`);
