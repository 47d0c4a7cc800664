import { backupIdTime } from './catalog';
import type { BackupOperation, BackupSummary, BackupType } from '../types';

export interface BackupPlan {
  type: BackupType;
  /** The chain's full backup (null for a full). */
  base: string | null;
  /** The backup to compare with (null for a full). */
  parent: string | null;
  /** Which rule decided, in words, for the output item. */
  decision: string;
}

/** Automatic mode's knobs (the original script's backup_interval_days, made explicit). */
export interface AutoRules {
  /** A new full when the newest full is this many days old; 0 = only when there is none. */
  fullEveryDays: number;
  /** A differential when the newest full/differential is this many days old; 0 = never. */
  differentialEveryDays: number;
  now: Date;
}

const DAY_MS = 86_400_000;
// A nightly schedule drifts by seconds: "7 days old" starts one hour early so the full is not a day late.
const SCHEDULE_SLACK_MS = 3_600_000;

function ageDays(id: string, now: Date): number {
  return (now.getTime() - backupIdTime(id).getTime()) / DAY_MS;
}

function isOlderThan(id: string, days: number, now: Date): boolean {
  return now.getTime() - backupIdTime(id).getTime() >= days * DAY_MS - SCHEDULE_SLACK_MS;
}

const full = (decision: string): BackupPlan => ({ type: 'full', base: null, parent: null, decision });
const daysText = (d: number): string => `${d.toFixed(1)} days`;

/** Auto's answer to a damaged parent manifest: a new chain, so nightly runs do not fail until the next scheduled full. */
export function fullAfterDamagedParent(damagedId: string): BackupPlan {
  return full(`auto: full: the previous backup's manifest is damaged (${damagedId})`);
}

/**
 * Pure: what a requested operation becomes, given the set's backups (oldest first).
 * Differential compares with the chain's full; incremental with the newest backup of any type
 * in the chain. Without a complete full, any request becomes a full. Auto applies, in order:
 * no full -> full; full too old -> full; differential due -> differential; else incremental.
 */
export function planBackup(requested: BackupOperation, backups: readonly BackupSummary[], rules?: AutoRules): BackupPlan {
  const complete = backups.filter((b) => b.complete);
  const fulls = complete.filter((b) => b.type === 'full');
  const latestFull = fulls[fulls.length - 1];
  if (requested === 'full') return full('full backup requested');
  if (latestFull === undefined) {
    return full(requested === 'auto' ? 'auto: no full backup yet' : `${requested} requested, but the set has no complete full backup yet: made a full backup`);
  }
  const chain = complete.filter((b) => b.backupId === latestFull.backupId || b.base === latestFull.backupId);
  const newest = chain[chain.length - 1];
  const differential = (decision: string): BackupPlan => ({ type: 'differential', base: latestFull.backupId, parent: latestFull.backupId, decision });
  const incremental = (decision: string): BackupPlan => ({ type: 'incremental', base: latestFull.backupId, parent: newest.backupId, decision });
  if (requested === 'differential') return differential(`differential requested: changes since full ${latestFull.backupId}`);
  if (requested === 'incremental') return incremental(`incremental requested: changes since ${newest.backupId}`);

  if (rules === undefined) throw new Error('auto needs its rules');
  const { now, fullEveryDays, differentialEveryDays } = rules;
  if (fullEveryDays > 0 && isOlderThan(latestFull.backupId, fullEveryDays, now)) {
    return full(`auto: newest full ${latestFull.backupId} is ${daysText(ageDays(latestFull.backupId, now))} old (full every ${fullEveryDays} days)`);
  }
  if (differentialEveryDays > 0) {
    const anchors = chain.filter((b) => b.type !== 'incremental');
    const anchor = anchors[anchors.length - 1];
    if (isOlderThan(anchor.backupId, differentialEveryDays, now)) {
      return differential(`auto: newest full/differential ${anchor.backupId} is ${daysText(ageDays(anchor.backupId, now))} old (differential every ${differentialEveryDays} days)`);
    }
  }
  return incremental(`auto: incremental, changes since ${newest.backupId}`);
}
