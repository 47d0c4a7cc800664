import type { BackupSummary, BackupType } from './types';

export interface BackupPlan {
  type: BackupType;
  /** The chain's full backup (null for a full). */
  base: string | null;
  /** The backup to compare with (null for a full). */
  parent: string | null;
  decision: string;
}

/**
 * Pure: what a requested full/differential/incremental becomes, given the set's backups
 * (oldest first). Differential compares with the chain's full; incremental with the newest
 * backup of any type in the chain. Without a complete full, either becomes a full.
 */
export function planBackup(requested: BackupType, backups: readonly BackupSummary[]): BackupPlan {
  const complete = backups.filter((b) => b.complete);
  const fulls = complete.filter((b) => b.type === 'full');
  const latestFull = fulls[fulls.length - 1];
  if (requested === 'full') return { type: 'full', base: null, parent: null, decision: 'full backup requested' };
  if (latestFull === undefined) {
    return { type: 'full', base: null, parent: null, decision: `${requested} requested, but the set has no complete full backup yet: made a full backup` };
  }
  if (requested === 'differential') {
    return { type: 'differential', base: latestFull.backupId, parent: latestFull.backupId, decision: `differential requested: changes since full ${latestFull.backupId}` };
  }
  const chain = complete.filter((b) => b.backupId === latestFull.backupId || b.base === latestFull.backupId);
  const parent = chain[chain.length - 1];
  return { type: 'incremental', base: latestFull.backupId, parent: parent.backupId, decision: `incremental requested: changes since ${parent.backupId}` };
}
