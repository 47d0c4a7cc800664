import type { BackupSummary, BackupType } from './types';

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
 * Pure: which backups a policy keeps and why. Only complete backups are considered; damaged ones
 * are left for a person to look at. Never removes a backup that a kept backup points into.
 */
export function applyRetention(backups: readonly BackupSummary[], policy: RetentionPolicy): RetentionResult {
  const complete = backups.filter((b) => b.complete).sort((a, b) => (a.backupId < b.backupId ? -1 : 1));
  const byId = new Map(complete.map((b) => [b.backupId, b]));
  const reasons: Record<string, string> = {};
  const limits: Record<BackupType, number> = { full: policy.keepFull, differential: policy.keepDifferential, incremental: policy.keepIncremental };
  for (const type of ['full', 'differential', 'incremental'] as const) {
    const newestFirst = complete.filter((b) => b.type === type).reverse();
    const limit = limits[type];
    newestFirst.forEach((b, i) => {
      if (limit === 0) reasons[b.backupId] = `keep all ${type} backups`;
      else if (i < limit) reasons[b.backupId] = `one of the newest ${limit} ${type} backups`;
    });
  }
  const byCount = new Set(Object.keys(reasons));
  const pending = [...byCount];
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
