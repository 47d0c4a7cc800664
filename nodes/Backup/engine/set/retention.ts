import type { BackupSummary, BackupType } from '../types';

/** How many backups of each type to keep (0 = keep all), like the original script's retention_count. */
export interface RetentionPolicy {
  keepFull: number;
  keepDifferential: number;
  keepIncremental: number;
}

export interface RetentionResult {
  /** Ids kept, oldest first. */
  keep: string[];
  /** Ids to delete, newest first: a chain is removed from its newest member down. */
  remove: string[];
  /** Ids kept only because a kept backup's manifest points into them. */
  keptReferenced: string[];
  /** Why each kept backup stays. */
  reasons: Record<string, string>;
}

/** Backups whose data a backup's manifest points into (recorded at backup time; else its parent chain). */
function referencesOf(backup: BackupSummary, byId: Map<string, BackupSummary>): string[] {
  if (backup.references !== undefined) return backup.references;
  const chain: string[] = [];
  for (let p = backup.parent; p !== null; p = byId.get(p)?.parent ?? null) {
    if (chain.includes(p)) break;
    chain.push(p);
  }
  return chain;
}

/**
 * Pure: which backups a policy keeps and why. Chains are the unit of removal: keepFull keeps the
 * newest N fulls and removes older chains whole (their members cannot restore without their full);
 * within kept chains, keepDifferential/keepIncremental keep the newest N of each type; 0 = no limit.
 * Never removes a backup that a kept backup points into. Only complete backups are considered:
 * damaged ones, and members of a chain whose full is damaged or gone, are left for a person.
 */
export function applyRetention(backups: readonly BackupSummary[], policy: RetentionPolicy): RetentionResult {
  const complete = backups.filter((b) => b.complete).sort((a, b) => (a.backupId < b.backupId ? -1 : 1));
  const byId = new Map(complete.map((b) => [b.backupId, b]));
  const reasons: Record<string, string> = {};
  const doomed = new Set<string>();
  const fullsNewestFirst = complete.filter((b) => b.type === 'full').reverse();
  fullsNewestFirst.forEach((b, i) => {
    if (policy.keepFull === 0) reasons[b.backupId] = 'keep all full backups';
    else if (i < policy.keepFull) reasons[b.backupId] = `one of the newest ${policy.keepFull} full backups`;
    else doomed.add(b.backupId);
  });
  const limits: Record<Exclude<BackupType, 'full'>, number> = { differential: policy.keepDifferential, incremental: policy.keepIncremental };
  const seen: Record<Exclude<BackupType, 'full'>, number> = { differential: 0, incremental: 0 };
  for (const b of [...complete].reverse()) {
    if (b.type === 'full') continue;
    const base = b.base === null ? undefined : byId.get(b.base);
    if (base === undefined || base.type !== 'full') {
      reasons[b.backupId] = `its full backup ${b.base ?? '(none)'} is missing or damaged: left for inspection`;
      continue;
    }
    if (doomed.has(base.backupId)) continue; // the whole chain goes with its full
    const limit = limits[b.type];
    if (limit === 0) reasons[b.backupId] = `keep all ${b.type} backups`;
    else if (seen[b.type] < limit) reasons[b.backupId] = `one of the newest ${limit} ${b.type} backups`;
    seen[b.type]++;
  }
  const pending = Object.keys(reasons);
  const keptReferenced: string[] = [];
  while (pending.length > 0) {
    const holder = byId.get(pending.pop() as string) as BackupSummary;
    for (const ref of referencesOf(holder, byId)) {
      if (reasons[ref] !== undefined || !byId.has(ref)) continue;
      reasons[ref] = `referenced by ${holder.backupId}`;
      keptReferenced.push(ref);
      pending.push(ref);
    }
  }
  const keep = complete.filter((b) => reasons[b.backupId] !== undefined).map((b) => b.backupId);
  const remove = complete
    .filter((b) => reasons[b.backupId] === undefined)
    .map((b) => b.backupId)
    .reverse();
  return { keep, remove, keptReferenced: keptReferenced.sort(), reasons };
}
