import type { DestinationOptions } from '../destination';
import { BackupError } from '../errors';
import type { RetentionPolicy, RetentionResult } from '../set/retention';
import { applyRetention } from '../set/retention';
import { closeDestination, openDestinationFor, setStoreIn } from '../set/openSetStore';
import type { SetStore } from '../set/setStore';
import type { DeleteGuard } from '../set/readers';
import type { CalendarOptions } from '../settings';
import { toRetentionPolicy, wholeNumber } from '../settings';

export interface PruneOutcome extends RetentionResult {
  dryRun: boolean;
  /** Ids of `.partial-`/`.removing-` folders an interrupted run had left, removed first. */
  removedPartials: string[];
  /** Why nothing was deleted although the policy asked for it (readers were reading the set). */
  skipped?: string;
}

/**
 * Applies retention to a set whose lock the caller holds: deletes newest first, so an interruption
 * never leaves a kept backup pointing into a deleted one. `guard` waits for readers first and
 * checks the lock is still held before each delete (readers.ts).
 */
export async function pruneLocked(
  store: SetStore, policy: RetentionPolicy, dryRun: boolean, removedPartials: string[] = [], guard?: DeleteGuard, now: Date = new Date(),
): Promise<PruneOutcome> {
  const result = applyRetention(await store.listBackups(), policy, now);
  if (!dryRun && result.remove.length > 0) {
    const skipped = await guard?.begin();
    if (skipped !== undefined) return { ...result, keep: [...result.keep, ...result.remove].sort(), remove: [], dryRun, removedPartials, skipped };
    try {
      for (const id of result.remove) {
        await guard?.confirm();
        await store.removeBackup(id);
      }
    } finally {
      await guard?.end();
    }
  }
  return { ...result, dryRun, removedPartials };
}

export interface PruneOptions extends CalendarOptions {
  /** A local folder, s3:// or sftp:// (see BackupOptions.destination). */
  destination: string;
  destinationOptions?: DestinationOptions;
  setName: string;
  keepFull?: number;
  keepDifferential?: number;
  keepIncremental?: number;
  dryRun?: boolean;
  lockTimeoutSeconds?: number;
  signal?: AbortSignal;
  /** Clock for keepWithin's "not in the future" guard, injectable for tests. */
  now?: () => Date;
}

/** Standalone prune (retention alone), under the set's lock. */
export async function pruneSet(options: PruneOptions): Promise<PruneOutcome & { set: string }> {
  const opened = await openDestinationFor(options.destination, options.destinationOptions);
  try {
    const store = setStoreIn(opened, options.setName);
    if ((await store.listBackups()).length === 0) {
      throw new BackupError('SET_NOT_FOUND', `There is no backup set "${options.setName}" in ${options.destination}.`, { hint: 'Run `n8n-backup list --dest <destination>` to see the set names.' });
    }
    const policy = toRetentionPolicy(options);
    const timeoutMs = wholeNumber('lockTimeoutSeconds', options.lockTimeoutSeconds, 60, 0, 86_400) * 1000;
    const lock = await store.lock('prune', timeoutMs, options.signal);
    try {
      const leftovers = options.dryRun === true ? [] : await store.removeLeftovers();
      const guard = store.deleteGuard(lock, timeoutMs, 'fail', options.signal);
      return { set: options.setName, ...(await pruneLocked(store, policy, options.dryRun ?? false, leftovers, guard, options.now?.())) };
    } finally {
      await lock.release();
    }
  } finally {
    await closeDestination(opened);
  }
}
