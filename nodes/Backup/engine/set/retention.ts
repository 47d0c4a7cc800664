import type { BackupSummary, BackupType } from '../types';
import type { CalendarRules } from './calendar';
import { applyCalendarRules, hasCalendarRules } from './calendar';

/** How many backups of each type to keep (0 = keep all), like the original script's retention_count. */
export interface RetentionPolicy {
  keepFull: number;
  keepDifferential: number;
  keepIncremental: number;
  /** restic's calendar rules, on top of the counts (README "Retention"); absent or all 0 = none. */
  calendar?: CalendarRules;
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
  /**
   * Every rule that keeps each kept backup, e.g. `full #1`, `all incremental`, `daily #3`,
   * `oldest monthly`, `within 30d`, `reference of <id>`, `left for inspection`.
   */
  rules: Record<string, string[]>;
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
 * Calendar rules (calendar.ts) keep more on top: a backup stays when any rule keeps it. With
 * calendar rules and all three counts 0, the counts keep nothing (else nothing could ever go).
 * Never removes a backup that a kept backup points into. Only complete backups are considered:
 * damaged ones, and members of a chain whose full is damaged or gone, are left for a person.
 * `now` only matters for keepWithin (a backup dated in the future never sets "latest").
 */
export function applyRetention(backups: readonly BackupSummary[], policy: RetentionPolicy, now: Date = new Date()): RetentionResult {
  const complete = backups.filter((b) => b.complete).sort((a, b) => (a.backupId < b.backupId ? -1 : 1));
  const byId = new Map(complete.map((b) => [b.backupId, b]));
  const reasons: Record<string, string> = {};
  const rules: Record<string, string[]> = {};
  const keepBy = (id: string, reason: string, rule: string): void => {
    reasons[id] = reasons[id] === undefined ? reason : `${reasons[id]}; ${reason}`;
    rules[id] = [...(rules[id] ?? []), rule];
  };
  const calendarOn = policy.calendar !== undefined && hasCalendarRules(policy.calendar);
  const countsOn = !calendarOn || policy.keepFull + policy.keepDifferential + policy.keepIncremental > 0;
  const doomed = new Set<string>();
  const fullsNewestFirst = complete.filter((b) => b.type === 'full').reverse();
  fullsNewestFirst.forEach((b, i) => {
    if (!countsOn) return;
    if (policy.keepFull === 0) keepBy(b.backupId, 'keep all full backups', 'all full');
    else if (i < policy.keepFull) keepBy(b.backupId, `one of the newest ${policy.keepFull} full backups`, `full #${i + 1}`);
    else doomed.add(b.backupId);
  });
  const limits: Record<Exclude<BackupType, 'full'>, number> = { differential: policy.keepDifferential, incremental: policy.keepIncremental };
  const seen: Record<Exclude<BackupType, 'full'>, number> = { differential: 0, incremental: 0 };
  const restorable: string[] = fullsNewestFirst.map((b) => b.backupId);
  for (const b of [...complete].reverse()) {
    if (b.type === 'full') continue;
    const base = b.base === null ? undefined : byId.get(b.base);
    if (base === undefined || base.type !== 'full') {
      keepBy(b.backupId, `its full backup ${b.base ?? '(none)'} is missing or damaged: left for inspection`, 'left for inspection');
      continue;
    }
    restorable.push(b.backupId);
    if (!countsOn || doomed.has(base.backupId)) continue; // the whole chain goes with its full
    const limit = limits[b.type];
    if (limit === 0) keepBy(b.backupId, `keep all ${b.type} backups`, `all ${b.type}`);
    else if (seen[b.type] < limit) keepBy(b.backupId, `one of the newest ${limit} ${b.type} backups`, `${b.type} #${seen[b.type] + 1}`);
    seen[b.type]++;
  }
  if (calendarOn) {
    // Only backups that restore take a period: a member of a broken chain must not use up a day.
    for (const [id, labels] of applyCalendarRules(restorable, policy.calendar as CalendarRules, now)) {
      for (const label of labels) keepBy(id, label, label);
    }
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
  // Every kept backup that points into one kept only as a reference, newest first.
  const onlyReferenced = new Set(keptReferenced);
  for (const holder of [...complete].reverse()) {
    if (reasons[holder.backupId] === undefined) continue;
    for (const ref of referencesOf(holder, byId)) if (onlyReferenced.has(ref)) rules[ref] = [...(rules[ref] ?? []), `reference of ${holder.backupId}`];
  }
  const keep = complete.filter((b) => reasons[b.backupId] !== undefined).map((b) => b.backupId);
  const remove = complete
    .filter((b) => reasons[b.backupId] === undefined)
    .map((b) => b.backupId)
    .reverse();
  return { keep, remove, keptReferenced: keptReferenced.sort(), reasons, rules };
}
