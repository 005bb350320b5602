// planBundle is a pure function: manifest entries and the sender's in, ops
// out. Renames, moves, swaps and copies of content the receiver holds are
// copies, not data; deletions only with --delete and never of excluded
// paths; a directory whose contents change gets its time set again.

import t from 'tap';
import { planBundle, type Planned } from '../../lib/bundle/plan.js';
import type { ManifestEntry } from '../../lib/bundle/entries.js';

const H = (c: string) => c.repeat(64);
const d = (path: string, mtime = 1): ManifestEntry => ({ path, type: 'd', mode: 0o755, size: 0, mtime });
const f = (path: string, hash: string, extra: Partial<ManifestEntry> = {}): ManifestEntry => ({ path, type: 'f', mode: 0o644, size: 10, mtime: 5, hash: H(hash), ...extra });
const l = (path: string, target: string): ManifestEntry => ({ path, type: 'l', mode: 0o777, size: 0, mtime: 5, target });
const none = { delete: false, excluded: () => false };
const what = (ops: Planned[]) => ops.map((o) => (o.do === 'delete' ? `delete ${o.path}` : o.do === 'file' ? `${o.from.how} ${o.entry.path}` : `${o.do} ${o.entry.path}`));

t.test('nothing changed: no ops', async (t) => {
  const tree = [d('.'), f('a', 'a'), l('l', 'a')];
  t.same(planBundle(tree, tree, none), { ops: [], was: {} });
});

t.test('a rename, a swap and a copy are copies; a new content is sent, with its old copy as the delta basis when it has a signature', async (t) => {
  const against = [d('.'), f('a', 'a'), f('b', 'b'), f('old', 'c'), f('edit', 'e', { sig: 'AAAA' }), f('nosig', 'n')];
  const result = [d('.'), f('a', 'b'), f('b', 'a'), f('new', 'c'), f('copy', 'c'), f('edit', 'x'), f('nosig', 'y')];
  const p = planBundle(against, result, { delete: true, excluded: () => false });
  t.same(what(p.ops), ['dir .', 'copy a', 'copy b', 'copy new', 'copy copy', 'send edit', 'send nosig', 'delete old']);
  const edit = p.ops.find((o) => o.do === 'file' && o.entry.path === 'edit') as Extract<Planned, { do: 'file' }>;
  t.equal(edit.from.how === 'send' && edit.from.basis?.path, 'edit', 'the old edit is the basis');
  const nosig = p.ops.find((o) => o.do === 'file' && o.entry.path === 'nosig') as Extract<Planned, { do: 'file' }>;
  t.equal(nosig.from.how === 'send' && nosig.from.basis, undefined, 'no signature, no basis');
  t.same(Object.keys(p.was).sort(), ['.', 'a', 'b', 'copy', 'edit', 'new', 'nosig', 'old'].sort(), 'was: every touched path');
  t.equal(p.was.new, null, 'a new path: nothing was there');
  t.notOk((p.was.edit as ManifestEntry).sig, 'was carries no signatures');
});

t.test('metadata only: a meta op; a renamed directory: copies, a deletion of the old one children first', async (t) => {
  const against = [d('.'), f('m', 'm'), d('old'), f('old/x', 'x'), f('old/y', 'y')];
  const result = [d('.'), f('m', 'm', { mode: 0o600 }), d('new'), f('new/x', 'x'), f('new/y', 'y')];
  t.same(what(planBundle(against, result, { delete: true, excluded: () => false }).ops), ['dir .', 'meta m', 'dir new', 'copy new/x', 'copy new/y', 'delete old/y', 'delete old/x', 'delete old']);
  t.same(what(planBundle(against, result, none).ops), ['dir .', 'meta m', 'dir new', 'copy new/x', 'copy new/y'], 'without --delete the old directory stays');
});

t.test('--delete spares excluded paths and everything below an excluded directory', async (t) => {
  const against = [d('.'), f('keep.log', 'k'), f('gone', 'g'), d('cache'), f('cache/c', 'c')];
  const result = [d('.')];
  const p = planBundle(against, result, { delete: true, excluded: (p) => p.endsWith('.log') || p === 'cache' });
  t.same(what(p.ops), ['dir .', 'delete gone']);
});

t.test('type changes: file to directory, directory to link', async (t) => {
  const against = [d('.'), f('x', 'x'), d('y'), f('y/z', 'z')];
  const result = [d('.'), l('y', 'x'), d('x'), f('x/inner', 'x')];
  t.same(what(planBundle(against, result, { delete: true, excluded: () => false }).ops), ['dir .', 'link y', 'dir x', 'copy x/inner', 'delete y/z']);
});
