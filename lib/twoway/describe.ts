// How two-way decisions read: one line each, the first-named replica on the
// left, an arrow showing which way a change travels.
//
//   -->  new       path      created on the right from the left
//   <--  changed   path      the left gets the right's newer content
//   -->  meta      path      only mode or mtime travel
//   -->  kept      path      deleted on the right, changed on the left: recreated
//   -->  deleted   path      deleted on the right, as on the left
//   <->  conflict  path      both changed; see the rest of the line
//   ---  held      path      a deletion not trusted (that side had read errors)

import type { Decision, Side, TwoWayInput } from '../plan/twoway.js';
import { showPath } from '../text.js';

export interface ConflictRecord {
  path: string;
  /** where the losing version is kept, on both sides */
  copy: string;
  /** which replica's version now stands at path: "first" or "second" as named on the command line */
  kept: 'first' | 'second';
}

export function describeDecision(d: Decision, localFirst: boolean, input: Pick<TwoWayInput, 'a' | 'b'>): { line: string; conflict?: ConflictRecord } {
  const pos = (s: Side): 'first' | 'second' => ((s === 'a') === localFirst ? 'first' : 'second');
  const toward = (s: Side) => (pos(s) === 'second' ? '-->' : '<--');
  const from = (s: Side) => (pos(s) === 'first' ? '-->' : '<--');
  const e = input.a.get(d.path) ?? input.b.get(d.path);
  const name = showPath(d.path) + (e?.type === 'd' ? '/' : '');
  const line = (arrow: string, what: string, rest = '') => `${arrow} ${what.padEnd(9)} ${name}${rest}`;
  switch (d.do) {
    case 'copy':
      return { line: line(from(d.from), d.why) };
    case 'delete':
      return { line: line(toward(d.on), 'deleted') };
    case 'hold':
      return { line: line('---', 'held', ' (not deleted: a read error on the side that lacks it)') };
    case 'conflict': {
      const kept = pos(d.winner);
      const lost = kept === 'first' ? 'second' : 'first';
      return {
        line: line('<->', 'conflict', `: the ${kept}'s newer version kept, the ${lost}'s saved as ${showPath(d.copy)}`),
        conflict: { path: d.path, copy: d.copy, kept },
      };
    }
  }
}
