// argv -> option values, driven by the option table, for one command. rsync
// habits work: bundled short flags (-avn), -eCMD, --opt=value, --opt value,
// a value that starts with '-' (--exclude -x), `--`, and include/exclude
// rules kept in command-line order. cac matches the command and writes the
// help (lib/cli/program.ts); its parser (mri) has none of these habits, so
// the words are read here (docs/design.md, "The command line").

import { optionsOf, type CommandName, type OptionSpec } from './options.js';
import { TsyncError } from '../errors.js';

export type OptionValues = Record<string, string | boolean | number | string[]>;

export interface Parsed {
  values: OptionValues;
  positional: string[];
  /** every repeatable option in command-line order (rule order matters) */
  ordered: Array<{ name: string; value: string }>;
}

export function parseArgs(argv: readonly string[], command: CommandName = 'sync'): Parsed {
  const table = optionsOf(command);
  const byLong = new Map(table.map((o) => [o.long, o]));
  const byShort = new Map(table.filter((o) => o.short).map((o) => [o.short!, o]));
  const where = command === 'sync' ? '' : ` for tsync ${command}`;
  const values: OptionValues = {};
  const positional: string[] = [];
  const ordered: Parsed['ordered'] = [];
  const set = (o: OptionSpec, v?: string) => {
    switch (o.kind) {
      case 'flag':
        values[o.long] = true;
        break;
      case 'count':
        values[o.long] = ((values[o.long] as number) ?? 0) + 1;
        break;
      case 'value':
        values[o.long] = v!;
        break;
      case 'list':
        values[o.long] = [...((values[o.long] as string[]) ?? []), v!];
        ordered.push({ name: o.long, value: v! });
        break;
    }
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const o = byLong.get(name);
      if (!o) throw new TsyncError('E_USAGE', `unknown option --${name}${where}`);
      const takes = o.kind === 'value' || o.kind === 'list';
      if (!takes && eq >= 0) throw new TsyncError('E_USAGE', `option --${name} takes no value`);
      if (takes) {
        let v: string | undefined = eq >= 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new TsyncError('E_USAGE', `option --${name} needs a value (${o.arg})`);
        set(o, v);
        v = undefined;
      } else set(o);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const o = byShort.get(a[j]);
        if (!o) throw new TsyncError('E_USAGE', `unknown option -${a[j]}${where}`);
        if (o.kind === 'value' || o.kind === 'list') {
          const v = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
          if (v === undefined) throw new TsyncError('E_USAGE', `option -${o.short} needs a value (${o.arg})`);
          set(o, v);
          break;
        }
        set(o);
      }
      continue;
    }
    positional.push(a);
  }
  return { values, positional, ordered };
}

export function num(values: OptionValues, name: string, dflt: number, opts: { integer?: boolean; max: number }): number {
  const v = values[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n < 0 || n > opts.max || (opts.integer && !Number.isInteger(n))) {
    throw new TsyncError('E_USAGE', `--${name} needs a ${opts.integer ? 'whole ' : ''}number from 0 to ${opts.max}, got "${String(v)}"`);
  }
  return n;
}
