// man/tsync.1 documents what exists: it passes mandoc's lint, has an entry
// for every option of the option table (and none that is not there), lists
// every exit status of the error table (and no other), and names every
// field of the --json object. --help, generated from the same table, lists
// every option too. A new option, exit status or JSON field without
// documentation fails here.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OPTIONS } from '../../lib/cli/options.js';
import { helpText } from '../../lib/cli/parse.js';
import { ERROR_TABLE } from '../../lib/errors.js';
import { jsonSummary, JSON_SCHEMA_VERSION } from '../../lib/cli/report.js';
import { emptyStats } from '../../lib/cli/stats.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAN_REL = 'man/tsync.1';
const source = readFileSync(new URL(`../../${MAN_REL}`, import.meta.url), 'utf8');

/**
 * roff source -> text that can be searched for option names: '\-' and
 * '\(hy' are '-', font escapes go, and mdoc's Fl prints a '-' before its
 * argument ('.Fl e' is -e, '.Fl \-rsh' is --rsh).
 */
function normalise(src: string): string {
  return src
    .replace(/\\-|\\\(hy/g, '-')
    .replace(/\\f(\[[^\]]*\]|\(..|.)/g, '')
    .replace(/\bFl[ \t]+(?=\S)/g, '-');
}

const man = normalise(source);

/** The body of one section (.Sh in mdoc, .SH in man), up to the next. */
function section(text: string, name: string): string {
  const lines = text.split('\n');
  const head = /^\.S[Hh][ \t]+"?([^"]*?)"?[ \t]*$/;
  const start = lines.findIndex((l) => head.exec(l)?.[1] === name);
  if (start < 0) return '';
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => head.test(l));
  return (end < 0 ? rest : rest.slice(0, end)).join('\n');
}

/** Item heads of tagged lists: mdoc '.It ...' lines, or the line after a man '.TP'. */
function itemHeads(body: string): string[] {
  const lines = body.split('\n');
  const heads: string[] = [];
  lines.forEach((l, i) => {
    if (/^\.It\b/.test(l)) heads.push(l.replace(/^\.It[ \t]*/, ''));
    else if (/^\.TP\b/.test(l) && i + 1 < lines.length) heads.push(lines[i + 1]);
  });
  return heads;
}

/** whether `opt` ('--rsh', '-e') occurs as a whole option token in `text` */
function hasOption(text: string, opt: string): boolean {
  const esc = opt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\w-])${esc}(?![\\w-])`, 'm').test(text);
}

const visible = OPTIONS.filter((o) => !o.hidden);

const lint = spawnSync('mandoc', ['-Tlint', '-W', 'warning', MAN_REL], { cwd: ROOT, encoding: 'utf8' });
const mandocMissing = (lint.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
if (mandocMissing) process.stderr.write('\n*** mandoc missing *** man/tsync.1 was NOT linted; install mandoc (apt-get install mandoc)\n\n');
const skipLint = mandocMissing && process.env.CI !== 'true' ? 'mandoc is not installed' : false;

t.test('mandoc -Tlint -W warning finds nothing in man/tsync.1', { skip: skipLint }, async (t) => {
  if (mandocMissing) {
    t.fail('mandoc is required when CI=true: the man page must be linted');
    return;
  }
  t.error(lint.error, 'mandoc ran');
  // a stale mandoc.db on the host is not a problem of the page
  const problems = `${lint.stdout}${lint.stderr}`.split('\n').filter((l) => l.trim() !== '' && !/mandoc\.db|makewhatis/.test(l));
  t.same(problems, [], 'no warnings or errors');
});

t.test('OPTIONS has an entry for every visible option, with its short name', async (t) => {
  const heads = itemHeads(section(man, 'OPTIONS'));
  t.ok(heads.length > 0, 'the OPTIONS section has a tagged list');
  for (const o of visible) {
    const head = heads.find((h) => hasOption(h, `--${o.long}`));
    if (!t.ok(head, `--${o.long} has an entry under OPTIONS`)) continue;
    if (o.short) t.ok(hasOption(head!, `-${o.short}`), `-${o.short} is named with --${o.long}`);
  }
});

t.test('OPTIONS documents no option the table lacks', async (t) => {
  const known = new Set(OPTIONS.flatMap((o) => [`--${o.long}`, ...(o.short ? [`-${o.short}`] : [])]));
  for (const head of itemHeads(section(man, 'OPTIONS'))) {
    for (const m of head.matchAll(/(?:^|[^\w-])(--?[A-Za-z][\w-]*)/g)) {
      t.ok(known.has(m[1]), `${m[1]} (in ".It ${head}") is in lib/cli/options.ts`);
    }
  }
});

t.test('the whole page names every visible option', async (t) => {
  for (const o of visible) {
    t.ok(hasOption(man, `--${o.long}`), `--${o.long}`);
    if (o.short) t.ok(hasOption(man, `-${o.short}`), `-${o.short}`);
  }
});

t.test('EXIT STATUS lists exactly 0 and the exit codes of ERROR_TABLE', async (t) => {
  const body = section(man, 'EXIT STATUS');
  t.ok(body, 'there is an EXIT STATUS section');
  const documented = new Set<number>();
  for (const h of itemHeads(body)) {
    const m = /^(?:\.?(?:Sy|Li|B)[ \t]+)?(\d+)\b/.exec(h.trim());
    if (m) documented.add(Number(m[1]));
  }
  const expected = new Set<number>([0, ...Object.values(ERROR_TABLE).map((r) => r.exit)]);
  for (const n of [...expected].sort((a, b) => a - b)) t.ok(documented.has(n), `exit status ${n} is documented`);
  for (const n of [...documented].sort((a, b) => a - b)) t.ok(expected.has(n), `documented exit status ${n} is in lib/errors.ts`);
});

t.test('JSON OUTPUT names every field of the --json object', async (t) => {
  const body = section(source, 'JSON OUTPUT');
  t.ok(body, 'there is a JSON OUTPUT section');
  const sample = jsonSummary(emptyStats(), { sent: 0, received: 0 }, 0, 0, false, []);
  const keys = (o: object, prefix = ''): string[] =>
    Object.entries(o).flatMap(([k, v]) => [prefix + k, ...(v && typeof v === 'object' && !Array.isArray(v) ? keys(v, `${prefix + k}.`) : [])]);
  for (const k of keys(sample)) {
    const leaf = k.slice(k.lastIndexOf('.') + 1);
    t.ok(new RegExp(`\\b${leaf}\\b`).test(body), `${k} is described`);
  }
  t.match(body, new RegExp(`"schema":${JSON_SCHEMA_VERSION}\\b`), `the example carries schema ${JSON_SCHEMA_VERSION}`);
});

t.test('--help lists every visible option, and no hidden one', async (t) => {
  // an option row starts "  -e, --rsh CMD" or "      --delete"
  const rows = helpText()
    .split('\n')
    .map((l) => /^\s+(?:-(\w), )?--([\w-]+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ short: m[1], long: m[2] }));
  for (const o of visible) {
    const row = rows.find((r) => r.long === o.long);
    if (!t.ok(row, `--${o.long} is in --help`)) continue;
    t.equal(row!.short, o.short, `--${o.long} is shown with ${o.short ? `-${o.short}` : 'no short name'}`);
  }
  for (const o of OPTIONS.filter((x) => x.hidden)) {
    t.notOk(rows.some((r) => r.long === o.long), `hidden --${o.long} has no row in --help`);
  }
});
