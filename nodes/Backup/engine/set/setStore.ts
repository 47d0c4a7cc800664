import type { Readable } from 'node:stream';
import type { Destination } from '../destination/types';
import type { ManifestReader } from '../formats/manifest';
import type { SetKey } from '../formats/sealed';
import type { TarReader } from '../formats/tar/reader';
import type { BackupSummary } from '../types';
import type { SetLock } from './lock';
import type { DeleteGuard } from './readers';

/**
 * One backup set where it is stored: the operations (backup, prune, list, restore, verify) see a
 * set only through this, whatever the destination. Two implementations, because committing differs:
 * - local folder (localSetStore.ts): today's layout and rules, unchanged: `.partial-<id>` renamed
 *   to `<id>` is the commit, `.removing-<id>` the first step of a delete;
 * - remote, over a Destination (remoteSetStore.ts: S3, SFTP): no rename to rely on, so a backup is
 *   written in place under `<set>/<id>/` and exists only once its `backup.json` (written last,
 *   create-if-absent) is there; a delete removes `backup.json` first. Readers ignore an `<id>/`
 *   without it, and the next writer (holding the lock) sweeps it.
 */
export interface SetStore {
  /** The set's name (a folder name under the destination). */
  readonly set: string;
  /** Where the set is, for messages and items, without a secret: `/backups/docs`, `s3://bucket/prefix/docs`. */
  readonly where: string;
  /** The set folder on this machine (local destinations), undefined for a remote one. */
  readonly localDir: string | undefined;
  /** Makes sure the set can be written (creates it where folders exist); fails with a destination code. */
  prepare(): Promise<void>;
  /** Takes the set's writer lock (a lease, see lock.ts). */
  lock(purpose: string, timeoutMs: number, signal?: AbortSignal): Promise<SetLock>;
  /** Removes what interrupted runs left (the caller holds the lock): the ids of their backups. */
  removeLeftovers(): Promise<string[]>;
  /** Every backup of the set, oldest first; a damaged one is listed with complete: false. */
  listBackups(): Promise<BackupSummary[]>;
  /** The text of the set's key file, or of the copy in one backup; undefined when there is none. */
  readKeyText(backupId?: string): Promise<string | undefined>;
  /** Writes the set's key file whole (the caller holds the lock). */
  writeKeyText(text: string): Promise<void>;
  /** Starts writing backup `id`: nothing of it is listed until commit(). */
  beginBackup(id: string): Promise<BackupOutput>;
  /** Deletes a backup (the caller holds the lock): unlisted first, so an interruption never leaves half a backup listed. */
  removeBackup(id: string): Promise<void>;
  /** Runs `read` as a registered reader of the set, so no retention or prune deletes what it reads (readers.ts). */
  whileReading<T>(purpose: string, read: () => Promise<T>, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<T>;
  /** The manifest of backup `id` (a damaged one fails with MANIFEST_CORRUPT). */
  openManifest(id: string, key: SetKey | undefined): Promise<ManifestReader>;
  /** The tar.gz archive of backup `id`, for one front-to-back pass. */
  openArchive(id: string, key: SetKey | undefined): TarReader;
  /** A file stored in the folder format, `<id>/data/<rel>` (local restores copy by path instead). */
  readStored(id: string, rel: string): Promise<Readable>;
  /** The size of a file stored in the folder format, or undefined when it is missing. */
  statStored(id: string, rel: string): Promise<{ size: number } | undefined>;
  /** The backup.json text of `id`, or undefined. */
  readSummaryText(id: string): Promise<string | undefined>;
  /** The text of the set's run record (runRecord.ts), or undefined when there is none. */
  readRunRecordText(): Promise<string | undefined>;
  /** Replaces the run record whole (atomic: temp + rename, or one upload); a local set folder that does not exist is not made. */
  writeRunRecordText(text: string): Promise<void>;
  /** What prepare() checks, making nothing (a dry run): fails with a destination code when a backup could not write. */
  checkWritable(): Promise<void>;
  /** The handshake with readers around deletes (readers.ts). */
  deleteGuard(lock: SetLock, timeoutMs: number, onReaders: 'fail' | 'skip', signal?: AbortSignal): DeleteGuard;
}

/** One backup being written. */
export interface BackupOutput {
  readonly id: string;
  /** Local: the `.partial-<id>` folder the sinks write into. Undefined for a remote set. */
  readonly localDir: string | undefined;
  /** Remote: the destination and the backup's prefix (`<set>/<id>`, no trailing slash) the sinks write under. */
  readonly remote: { dest: Destination; backupPrefix: string } | undefined;
  /** Writes the backup's copy of the set key file (an encrypted set's backup carries one). */
  writeKeyText(text: string): Promise<void>;
  /**
   * Makes the backup exist: writes `backup.json` (`summaryText`) and commits (local: fsync and
   * rename; remote: backup.json is the commit). `confirmLock` runs right before the commit step.
   */
  commit(summaryText: string, confirmLock?: () => Promise<void>): Promise<void>;
  /** Removes everything written so far; never throws. */
  discard(): Promise<void>;
}
