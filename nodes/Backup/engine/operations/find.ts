/**
 * Every version of some paths across all backups of a set: each complete backup, oldest first, is
 * compared with the one before it (diff.ts's merge join, so memory stays flat), and a path shows
 * up where it appeared, changed or went away.
 */
import { BackupError } from '../errors';
import { storeFaultOf } from '../formats/tar/damage';
import { keyForReading } from '../set/encryption';
import type { BackupSummary, ManifestEntry } from '../types';
import type { PathChange } from './diff';
import { diffEntries, pathChangeOf } from './diff';
import type { Visit } from './files';
import type { SetReadOptions } from './readSet';
import { checkCancelled, openManifestOf, readingSet } from './readSet';
import type { SelectionReport } from './restoreSelection';
import { RestoreSelection } from './restoreSelection';

export interface FindOptions extends SetReadOptions {
  /** What to look for: restore's patterns (a path, a folder and all in it, `*.pdf`, `docs/**`). */
  paths: string[];
  /** Versions whose metadata alone changed too (mode, owner, mtime). */
  metadata?: boolean;
}

/** A path in a backup where it differs from the backup before. */
export interface FileVersion extends PathChange {
  backupId: string;
  /** When that backup started. */
  backupStartedAt: string;
}

export interface FindReport {
  set: string;
  /** Complete backups searched, oldest first. */
  searched: number;
  /** Versions reported (`added`, `changed`, `deleted`, and `metadata` when asked for). */
  versions: number;
  /** Distinct paths found. */
  paths: number;
  /** Backups left out because their manifest is damaged: the next one is compared with the one before. */
  skipped: { backupId: string; code: string; message: string }[];
  selection: SelectionReport;
  /** The callback asked to stop: the counts are of the versions seen until then. */
  stopped: boolean;
  summary: string;
}

async function* none(): AsyncGenerator<ManifestEntry> {
  // The state before the first backup: nothing.
}

/** Calls `onVersion` for every version of the selected paths, backup by backup, oldest first. */
export async function findVersions(options: FindOptions, onVersion: (version: FileVersion) => Visit | Promise<Visit>): Promise<FindReport> {
  if (options.paths.filter((p) => p.trim() !== '').length === 0) throw new BackupError('INVALID_OPTION', 'Give at least one path or pattern to find.');
  // Validates the patterns before the destination is opened.
  void new RestoreSelection({ include: options.paths });
  return readingSet(options, `search for ${options.paths.join(', ')}`, async (store) => {
    const all = await store.listBackups();
    if (all.length === 0) throw new BackupError('SET_NOT_FOUND', `There is no backup set "${options.setName}" in ${store.where}.`, { hint: 'Run `n8n-backup list --dest <destination>` to see the set names.' });
    const backups = all.filter((b) => b.complete);
    const key = await keyForReading(store, backups, options.passphrase);
    const paths = new Set<string>();
    const skipped: FindReport['skipped'] = [];
    let versions = 0;
    let stopped = false;
    let previous: BackupSummary | undefined;
    // One selection for every pass: its decisions depend on the path alone, so a new walk can reuse it.
    const selection = new RestoreSelection({ include: options.paths });
    for (const backup of backups) {
      if (stopped) break;
      checkCancelled(options.signal);
      try {
        const newer = await openManifestOf(store, backup.backupId, key);
        try {
          const older = previous === undefined ? undefined : await openManifestOf(store, previous.backupId, key);
          try {
            for await (const c of diffEntries(older?.entries() ?? none(), newer.entries())) {
              if (!selection.selects(c.path)) continue;
              if (c.change === 'metadata' && options.metadata !== true) continue;
              checkCancelled(options.signal);
              versions++;
              paths.add(c.path);
              if ((await onVersion({ backupId: backup.backupId, backupStartedAt: backup.startedAt, ...pathChangeOf(c) })) === 'stop') {
                stopped = true;
                break;
              }
            }
          } finally {
            await older?.close();
          }
        } finally {
          await newer.close();
        }
        previous = backup;
      } catch (error) {
        // A damaged manifest costs its own versions, not the search; a store that stops answering ends it.
        if (!(error instanceof BackupError) || error.code !== 'MANIFEST_CORRUPT' || storeFaultOf(error) !== undefined) throw error;
        skipped.push({ backupId: backup.backupId, code: error.code, message: error.message });
      }
    }
    const damaged = skipped.length === 0 ? '' : `; ${skipped.length} damaged backups left out`;
    return {
      set: options.setName, searched: backups.length, versions, paths: paths.size, skipped, selection: selection.report(), stopped,
      summary: `${stopped ? 'the first ' : ''}${versions} versions of ${paths.size} paths in ${backups.length} backups${damaged}`,
    };
  });
}
