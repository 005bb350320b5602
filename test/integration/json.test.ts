// The --json summary is a documented, versioned schema: man/tsync.1 (JSON
// OUTPUT) and README.md list the same fields with their types, and a real
// run's object has exactly those fields, of those types. README's exit-code
// table matches the error table too.

import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { runTsync } from '../helpers/run.js';
import { ERROR_TABLE } from '../../lib/errors.js';
import { JSON_SCHEMA_VERSION } from '../../lib/cli/report.js';
import { describe, remote, standins, via, writeTree } from '../helpers/standin.js';

const read = (rel: string) => fs.readFileSync(new URL(`../../${rel}`, import.meta.url), 'utf8');
const FIELD = /^\s*([A-Za-z]+(?:\[\])?(?:\.[A-Za-z]+(?:\[\])?)*)\s+(number|boolean|string|array|object)\s*$/;

/** The field list: the lines that look like "name   type" in the block after `marker`. */
function fieldList(text: string, marker: RegExp, end: RegExp): Map<string, string> {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => marker.test(l));
  const out = new Map<string, string>();
  if (start < 0) return out;
  for (const l of lines.slice(start + 1)) {
    if (out.size > 0 && end.test(l)) break;
    const m = FIELD.exec(l);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

const MAN = fieldList(read('man/tsync.1'), new RegExp(`^The fields of schema ${JSON_SCHEMA_VERSION}, with their JSON types`), /^\.Ed/);
const README = fieldList(read('README.md'), new RegExp(`^not\\. Schema ${JSON_SCHEMA_VERSION}, its fields and their JSON types`), /^```$/);

function typeOf(v: unknown): string {
  return Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v;
}

/** every field path of a value, as the documentation writes them, with its type */
function fieldsOf(v: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(v)) {
    for (const el of v) fieldsOf(el, `${prefix}[]`, out);
    return out;
  }
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.set(p, typeOf(x));
      fieldsOf(x, p, out);
    }
  }
  return out;
}

t.test('the man page and README document the same fields', async (t) => {
  t.ok(MAN.size >= 20, `the man page lists ${MAN.size} fields`);
  t.same([...README.entries()], [...MAN.entries()], 'README lists the same, in the same order');
});

t.test("real runs' JSON has exactly the documented fields", async (t) => {
  const sb = t.testdir();
  const { standin } = standins(t);
  const src = path.join(sb, 'src');
  await writeTree(src, { 'a.txt': 'alpha\n', 'sub/b.txt': 'beta\n' });
  // an invalid UTF-8 name: a warning, so errors[] has an element
  fs.writeFileSync(Buffer.concat([Buffer.from(`${src}/bad-`), Buffer.from([0xff]), Buffer.from('.txt')]), 'x');
  const runs: Array<[string, string[], number]> = [
    ['a push with a warning', [...via(standin), `${src}/`, remote(`${sb}/push/`)], 23],
    ['a clean local dry run', ['-n', `${src}/sub/`, `${sb}/local/`], 0],
    ['a failed run', [`${sb}/missing/`, `${sb}/x/`], 3],
  ];
  for (const [what, args, code] of runs) {
    const r = await runTsync(['--json', ...args]);
    t.equal(r.code, code, `${what}: ${describe(r)}`);
    const lines = r.stdout.split('\n').filter(Boolean);
    t.equal(lines.length, 1, `${what}: one line on stdout`);
    const o = JSON.parse(lines[0]) as Record<string, unknown>;
    t.equal(o.schema, JSON_SCHEMA_VERSION, `${what}: schema ${JSON_SCHEMA_VERSION}`);
    t.equal(o.exitCode, code, `${what}: exitCode`);
    const got = fieldsOf(o);
    for (const [f, type] of got) t.equal(MAN.get(f), type, `${what}: ${f} (${type}) is documented as ${type}`);
    for (const [f, type] of MAN) {
      const inEmptyArray = f.includes('[]') && !got.has(f);
      if (!inEmptyArray) t.equal(got.get(f), type, `${what}: documented ${f} is there, a ${type}`);
    }
    if (code !== 0) {
      const errors = o.errors as Array<{ path: string; code: string; message: string }>;
      t.ok(errors.length >= 1, `${what}: the error is listed`);
      t.ok(errors.every((e) => /^[A-Z_]+$/.test(e.code)), `${what}: error codes are stable names`);
    }
  }
});

t.test("README's exit-code table is the error table", async (t) => {
  const rows = [...read('README.md').matchAll(/^\| (\d+) \| /gm)].map((m) => Number(m[1]));
  const codes = [0, ...new Set(Object.values(ERROR_TABLE).map((r) => r.exit))].sort((a, b) => a - b);
  t.same(rows, codes);
});
