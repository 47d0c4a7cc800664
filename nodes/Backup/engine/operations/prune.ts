import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { listBackups, PARTIAL_PREFIX, REMOVING_PREFIX, setDirectory } from '../set/catalog';
import { BackupError } from '../errors';
import type { RetentionPolicy, RetentionResult } from '../set/retention';
import { applyRetention } from '../set/retention';
import { lockSet } from '../set/lock';
import type { DeleteGuard } from '../set/readers';
import { deleteGuard } from '../set/readers';
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
 * Removes what an interrupted run left (the caller holds the lock): `.partial-<id>` folders of
 * unfinished backups and `.removing-<id>` folders of half-deleted ones. Returns their ids.
 */
export async function removeLeftovers(setDir: string): Promise<string[]> {
  const names = await fsp.readdir(setDir);
  // A key file being written when a run was killed (writeKeyFile renames it into place when whole).
  for (const name of names.filter((n) => /^key\.json\.[0-9a-f]+\.tmp$/.test(n))) await fsp.rm(path.join(setDir, name), { force: true });
  const leftovers = names.filter((name) => name.startsWith(PARTIAL_PREFIX) || name.startsWith(REMOVING_PREFIX));
  for (const name of leftovers) await fsp.rm(path.join(setDir, name), { recursive: true, force: true });
  return leftovers.map((name) => name.slice(name.indexOf('-') + 1));
}

/**
 * Applies retention to a set whose lock the caller holds: deletes newest first, so an interruption
 * never leaves a kept backup pointing into a deleted one. `guard` waits for readers first and
 * checks the lock is still held before each delete (readers.ts).
 */
export async function pruneLocked(
  setDir: string, policy: RetentionPolicy, dryRun: boolean, removedPartials: string[] = [], guard?: DeleteGuard, now: Date = new Date(),
): Promise<PruneOutcome> {
  const result = applyRetention(await listBackups(setDir), policy, now);
  if (!dryRun && result.remove.length > 0) {
    const skipped = await guard?.begin();
    if (skipped !== undefined) return { ...result, keep: [...result.keep, ...result.remove].sort(), remove: [], dryRun, removedPartials, skipped };
    try {
      for (const id of result.remove) {
        await guard?.confirm();
        // Renamed first (atomic), then deleted: a run killed here leaves a `.removing-<id>` folder
        // that the next backup sweeps, never a half-deleted backup that lists as damaged.
        const doomed = path.join(setDir, `${REMOVING_PREFIX}${id}`);
        await fsp.rename(path.join(setDir, id), doomed);
        await fsp.rm(doomed, { recursive: true, force: true });
      }
    } finally {
      await guard?.end();
    }
  }
  return { ...result, dryRun, removedPartials };
}

export interface PruneOptions extends CalendarOptions {
  destination: string;
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
  const setDir = setDirectory(path.resolve(options.destination), options.setName);
  if ((await listBackups(setDir)).length === 0) {
    throw new BackupError('SET_NOT_FOUND', `There is no backup set "${options.setName}" in ${options.destination}.`, { hint: 'Run `n8n-backup list --dest <destination>` to see the set names.' });
  }
  const policy = toRetentionPolicy(options);
  const timeoutMs = wholeNumber('lockTimeoutSeconds', options.lockTimeoutSeconds, 60, 0, 86_400) * 1000;
  const lock = await lockSet(setDir, 'prune', timeoutMs, options.signal);
  try {
    const leftovers = options.dryRun === true ? [] : await removeLeftovers(setDir);
    const guard = deleteGuard(setDir, lock, timeoutMs, 'fail', options.signal);
    return { set: options.setName, ...(await pruneLocked(setDir, policy, options.dryRun ?? false, leftovers, guard, options.now?.())) };
  } finally {
    await lock.release();
  }
}
