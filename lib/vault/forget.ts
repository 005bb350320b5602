// `tsync vault forget`: retention as restic and borg users know it, then
// space freed by a garbage collection that is safe with concurrent writers
// and leaves no lock behind (kopia's two phases, docs/design.md §13):
//
//   mark   a pack that no kept snapshot references is recorded, with the
//          host's time, in a signed head (`marked`);
//   sweep  a later forget deletes a marked pack only if it is still
//          unreferenced by every snapshot then alive and it was marked at
//          least the grace period ago by the host's clock (24 h by
//          default): a push that started before the mark and reuses a
//          chunk in it has long finished, and its snapshot keeps the pack.
//
// Packs mostly dead (under half their bytes live) are rewritten: their live
// blobs go into new packs, and the old pack is marked like any dead one.
// Forgotten snapshots are recorded in the head (`forgotten`); heads are never
// deleted, so the chain that rollback detection walks stays whole.

import * as os from 'node:os';
import { TsyncError } from '../errors.js';
import { packPath, type Head, type IndexEntry } from './format.js';
import type { HeadInfo, Vault } from './repo.js';
import { snapshotEntries } from './push.js';

export interface Policy {
  last: number;
  hourly: number;
  daily: number;
  weekly: number;
  monthly: number;
}

export const GRACE_MS = 24 * 3600 * 1000;

/** restic's rules: the newest `last`, and the newest snapshot of each of the newest N hours, days, ISO weeks, months (UTC) */
export function retain(snaps: Array<{ seq: number; time: number }>, p: Policy): Set<number> {
  const newest = [...snaps].sort((a, b) => b.time - a.time || b.seq - a.seq);
  const keep = new Set<number>(newest.slice(0, p.last).map((s) => s.seq));
  const bucket = (n: number, key: (d: Date) => string) => {
    const seen = new Set<string>();
    for (const s of newest) {
      if (seen.size >= n) break;
      const k = key(new Date(s.time));
      if (seen.has(k)) continue;
      seen.add(k);
      keep.add(s.seq);
    }
  };
  const iso = (d: Date) => d.toISOString();
  bucket(p.hourly, (d) => iso(d).slice(0, 13));
  bucket(p.daily, (d) => iso(d).slice(0, 10));
  bucket(p.weekly, (d) => isoWeek(d));
  bucket(p.monthly, (d) => iso(d).slice(0, 7));
  return keep;
}

function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const year = t.getUTCFullYear();
  const week = Math.ceil(((t.getTime() - Date.UTC(year, 0, 1)) / 86400000 + 1) / 7);
  return `${year}-W${week}`;
}

export interface ForgetReport {
  kept: number[];
  forgotten: number[];
  /** packs deleted now, and their bytes */
  deleted: number;
  freed: number;
  /** packs marked now (deleted by a forget after the grace period) */
  marked: number;
  rewritten: number;
  /** host time after which the marked packs may go */
  sweepAfter: number | null;
}

/** every head that is a snapshot and not forgotten, as of `latest` */
export async function aliveSnapshots(vault: Vault, latest: HeadInfo): Promise<HeadInfo[]> {
  const gone = new Set(latest.head.forgotten ?? []);
  const out: HeadInfo[] = [];
  for (let s = 1; s <= latest.seq; s++) {
    if (gone.has(s)) continue;
    const h = s === latest.seq ? latest : await vault.readHead(s);
    if (h && h.head.kind !== 'forget') out.push(h);
  }
  return out;
}

export async function forget(vault: Vault, policy: Policy, o: { dryRun: boolean; graceMs: number }): Promise<ForgetReport> {
  if (!vault.keys.signer) throw new TsyncError('E_VAULT_KEY', 'this is a read-only vault key: it cannot forget snapshots');
  for (let attempt = 0; attempt < 100; attempt++) {
    const latest = await vault.refresh();
    if (!latest) throw new TsyncError('E_SOURCE_MISSING', 'the vault holds no snapshot');
    const alive = await aliveSnapshots(vault, latest);
    const keepSet = retain(alive.map((h) => ({ seq: h.seq, time: h.head.time })), policy);
    // the newest snapshot always stays: it is what a restore or a push starts from
    keepSet.add(alive[alive.length - 1].seq);
    const kept = alive.filter((h) => keepSet.has(h.seq));
    const dropped = alive.filter((h) => !keepSet.has(h.seq)).map((h) => h.seq);

    // what is live: every blob a kept snapshot (or a forget head's copy of one) names
    vault.index.clear();
    await vault.loadIndex(latest.head);
    const live = new Set<string>();
    for (const h of kept) {
      for (const t of h.head.trees) live.add(t.id);
      for (const e of await snapshotEntries(vault, h.head)) for (const c of e.chunks ?? []) live.add(c);
    }
    const packs = new Map<string, { total: number; liveBytes: number; liveIds: string[]; ids: string[] }>();
    for (const [id, e] of vault.index) {
      const p = packs.get(e.pack) ?? { total: 0, liveBytes: 0, liveIds: [], ids: [] };
      p.total += e.len;
      p.ids.push(id);
      if (live.has(id)) (p.liveBytes += e.len), p.liveIds.push(id);
      packs.set(e.pack, p);
    }
    const now = await vault.store.now();
    const indexPacks = new Set(latest.head.index.map((r) => r.pack));
    const listed = new Map((await vault.store.list('data')).map((x) => [x.name.slice(8), x.size]));

    // sweep: marked long enough ago, and still dead
    const stillMarked: Array<{ pack: string; at: number }> = [];
    const sweep: string[] = [];
    for (const m of latest.head.marked ?? []) {
      const p = packs.get(m.pack);
      const dead = !p || p.liveIds.length === 0;
      if (!dead || indexPacks.has(m.pack)) continue; // live again: a newer snapshot uses it
      if (now - m.at >= o.graceMs) sweep.push(m.pack);
      else stillMarked.push(m);
    }
    // mark: dead packs not marked yet; rewrite: packs under half live
    const markedNow = new Set(stillMarked.map((m) => m.pack));
    const newMarks: string[] = [];
    const rewrite: string[] = [];
    for (const [pack, p] of packs) {
      if (markedNow.has(pack) || sweep.includes(pack)) continue;
      if (p.liveIds.length === 0) newMarks.push(pack);
      else if (p.liveBytes * 2 < p.total) rewrite.push(pack);
    }
    const report: ForgetReport = {
      kept: kept.map((h) => h.seq),
      forgotten: dropped,
      deleted: sweep.length,
      freed: sweep.reduce((a, p) => a + (listed.get(p) ?? 0), 0),
      marked: newMarks.length + rewrite.length,
      rewritten: rewrite.length,
      sweepAfter: null,
    };
    if (o.dryRun) return report;

    // rewritten packs' live blobs go into new packs; the index is then rebuilt from what remains
    const packer = vault.packer(false);
    for (const pack of rewrite) {
      for (const id of packs.get(pack)!.liveIds) {
        const e = vault.index.get(id)!;
        const plain = await vault.readBlob(e, id, e.kind, true);
        vault.index.delete(id);
        await packer.add(Buffer.from(id, 'hex'), e.kind, plain);
      }
    }
    await packer.done();
    const gone = new Set([...sweep]);
    const remaining = new Map<string, IndexEntry>();
    for (const [id, e] of vault.index) if (!gone.has(e.pack)) remaining.set(id, e);
    const compact = sweep.length > 0 || rewrite.length > 0;
    let index = latest.head.index;
    if (compact) {
      const seg = await vault.writeIndexSegment(remaining);
      index = seg ? [seg] : [];
    }
    const marked = [...stillMarked, ...[...newMarks, ...rewrite].map((pack) => ({ pack, at: now }))];
    // the old index segments' own packs are dead once the new segment replaces them
    if (compact) for (const r of latest.head.index) if (!gone.has(r.pack) && !marked.some((m) => m.pack === r.pack)) marked.push({ pack: r.pack, at: now });
    const newest = kept[kept.length - 1].head;
    const me = vault.clientId();
    const base: Head = {
      ...newest,
      v: 1,
      kind: 'forget',
      writer: me,
      counters: { ...latest.head.counters, [me]: Math.max(latest.head.counters[me] ?? 0, vault.counter()) + 1 },
      host: os.hostname(),
      time: Date.now(),
      hostTime: now,
      index,
      forgotten: [...new Set([...(latest.head.forgotten ?? []), ...dropped])].sort((a, b) => a - b),
      marked,
    };
    const claimed = await vault.claimOn(latest, base);
    if (!claimed) continue; // another writer went first: decide again on top of theirs
    for (const p of sweep) await vault.store.delete(packPath(p));
    report.sweepAfter = marked.length ? Math.min(...marked.map((m) => m.at)) + o.graceMs : null;
    return report;
  }
  throw new TsyncError('E_IO', 'could not commit the forget after 100 tries: other writers keep going first');
}
