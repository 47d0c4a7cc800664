import type { Readable } from 'node:stream';
import { BackupError } from '../errors';
import { DestinationError } from '../destination/faults';
import { readAll } from '../destination/streams';
import type { Destination } from '../destination/types';
import type { BackupSummary } from '../types';
import { ManifestReader } from '../formats/manifest';
import type { SetKey } from '../formats/sealed';
import { TarReader } from '../formats/tar/reader';
import { DATA_DIR, incompleteSummary, isBackupId, parseSummary, SUMMARY_FILE } from './catalog';
import { KEY_FILE } from './keyfile';
import { MAX_RUN_RECORD_BYTES, RUN_RECORD_FILE } from './runRecord';
import type { LeaseNote } from './lease';
import type { SetLock } from './lock';
import { deleteGuardOver } from './readers';
import type { BackupOutput, SetStore } from './setStore';

/** A key file is a few hundred bytes; anything far larger is not one (keyfile.ts refuses it). */
const MAX_KEY_BYTES = 64 << 10;
/** backup.json files read at once while listing (one request each on S3). */
const LIST_PARALLEL = 8;

/** How a remote set takes its lock and finds its readers: over the same destination (set/destinationLeaseStore.ts). */
export interface RemoteSetLocking {
  lock(purpose: string, timeoutMs: number, signal?: AbortSignal): Promise<SetLock>;
  /** Readers' markers that still count (expired ones removed on the way). */
  liveReaders(): Promise<LeaseNote[]>;
  /** Runs `read` with a reader marker of its own left in the set. */
  whileReading<T>(purpose: string, read: () => Promise<T>, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<T>;
}

const missing = (error: unknown): boolean => error instanceof DestinationError && error.code === 'OBJECT_NOT_FOUND';

/**
 * A set on a remote destination (S3, SFTP), under `<set>/` there:
 *   `<set>/key.json`                    an encrypted set's key file
 *   `<set>/<id>/manifest.jsonl.gz[.enc]`, `data.tar.gz[.enc]`, `data.tar.idx[.enc]`, `key.json`, `data/...`
 *   `<set>/<id>/backup.json`            written last, create-if-absent: the commit
 * There is no rename to commit with on S3, so a backup exists once its backup.json does: listing
 * ignores an `<id>/` without one (a run still writing, or one that died), and the next writer,
 * holding the lock, deletes it. Deleting a backup removes backup.json first for the same reason.
 */
export class RemoteSetStore implements SetStore {
  readonly localDir = undefined;
  readonly where: string;

  constructor(
    private readonly dest: Destination,
    readonly set: string,
    private readonly locking: RemoteSetLocking,
  ) {
    this.where = `${dest.describe().replace(/\/$/, '')}/${set}`;
  }

  private name(...parts: string[]): string {
    return [this.set, ...parts].join('/');
  }

  /** openDestination checked the bucket or folder is there; what cannot be written fails on the first write, with its code. */
  async prepare(): Promise<void> {}

  lock(purpose: string, timeoutMs: number, signal?: AbortSignal): Promise<SetLock> {
    return this.locking.lock(purpose, timeoutMs, signal);
  }

  /** Ids with a folder (prefix) under the set, committed or not, sorted (ids sort by time). */
  private async backupIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const entry of this.dest.list(`${this.set}/`, { delimiter: true })) {
      if (entry.kind !== 'prefix') continue;
      const id = entry.name.slice(this.set.length + 1).replace(/\/$/, '');
      if (isBackupId(id)) ids.push(id);
    }
    return ids.sort();
  }

  async readSummaryText(id: string): Promise<string | undefined> {
    try {
      return (await readAll(await this.dest.read(this.name(id, SUMMARY_FILE)), 1 << 20)).toString('utf8');
    } catch (error) {
      if (missing(error)) return undefined;
      throw error;
    }
  }

  /** Uncommitted backups (no backup.json): a run that died, or a delete cut off; plus interrupted uploads of this set. */
  async removeLeftovers(): Promise<string[]> {
    const removed: string[] = [];
    for (const id of await this.backupIds()) {
      if ((await this.dest.stat(this.name(id, SUMMARY_FILE))) !== undefined) continue;
      await this.dest.deleteAll(`${this.name(id)}/`);
      removed.push(id);
    }
    await this.dest.sweep(0, `${this.set}/`);
    return removed;
  }

  async listBackups(): Promise<BackupSummary[]> {
    const ids = await this.backupIds();
    const listed: (BackupSummary | undefined)[] = new Array<BackupSummary | undefined>(ids.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const i = next++;
        const text = await this.readSummaryText(ids[i]);
        // No backup.json: not committed, not a backup. A damaged one: listed as incomplete.
        if (text !== undefined) listed[i] = parseSummary(text, ids[i]) ?? incompleteSummary(this.set, ids[i]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LIST_PARALLEL, ids.length) }, worker));
    return listed.filter((b): b is BackupSummary => b !== undefined);
  }

  async readKeyText(backupId?: string): Promise<string | undefined> {
    const name = backupId === undefined ? this.name(KEY_FILE) : this.name(backupId, KEY_FILE);
    try {
      return (await readAll(await this.dest.read(name), MAX_KEY_BYTES + 1)).toString('utf8');
    } catch (error) {
      if (missing(error)) return undefined;
      throw error;
    }
  }

  /** Nothing to make on a remote store; what cannot be written fails on the first write. */
  async checkWritable(): Promise<void> {}

  async readRunRecordText(): Promise<string | undefined> {
    try {
      return (await readAll(await this.dest.read(this.name(RUN_RECORD_FILE)), MAX_RUN_RECORD_BYTES)).toString('utf8');
    } catch (error) {
      if (missing(error)) return undefined;
      throw error;
    }
  }

  /** One whole write (S3: one upload; SFTP: a temp file renamed into place). */
  async writeRunRecordText(text: string): Promise<void> {
    await this.dest.write(this.name(RUN_RECORD_FILE), text);
  }

  async writeKeyText(text: string): Promise<void> {
    await this.dest.write(this.name(KEY_FILE), text);
  }

  async beginBackup(id: string): Promise<BackupOutput> {
    const backupPrefix = this.name(id);
    const prefix = `${backupPrefix}/`;
    const dest = this.dest;
    return {
      id,
      localDir: undefined,
      remote: { dest, backupPrefix },
      writeKeyText: async (text) => {
        await dest.write(`${prefix}${KEY_FILE}`, text);
      },
      async commit(summaryText, confirmLock) {
        await confirmLock?.();
        const made = await dest.create(`${prefix}${SUMMARY_FILE}`, summaryText);
        if (made === undefined) {
          // Only a run that lost its lock could get here (ids are new and leftovers are swept first).
          throw new BackupError('LOCK_LOST', `Backup ${id} was committed by another run meanwhile; this run kept nothing.`, { hint: 'Run it again.' });
        }
      },
      discard: () => dest.deleteAll(prefix).then(() => undefined, () => undefined),
    };
  }

  async removeBackup(id: string): Promise<void> {
    // The summary first: from then on the backup is not listed, and what is left of it is a leftover.
    await this.dest.delete(this.name(id, SUMMARY_FILE));
    await this.dest.deleteAll(`${this.name(id)}/`);
  }

  openManifest(id: string, key: SetKey | undefined): Promise<ManifestReader> {
    return ManifestReader.openOn(this.dest, this.name(id), key);
  }

  openArchive(id: string, key: SetKey | undefined): TarReader {
    return TarReader.onDestination(this.dest, this.name(id), key);
  }

  /** A file stored in the folder format (`<set>/<id>/data/<rel>`). */
  readStored(id: string, rel: string): Promise<Readable> {
    return this.dest.read(this.name(id, DATA_DIR, rel));
  }

  async statStored(id: string, rel: string): Promise<{ size: number } | undefined> {
    const info = await this.dest.stat(this.name(id, DATA_DIR, rel));
    return info === undefined ? undefined : { size: info.size };
  }

  whileReading<T>(purpose: string, read: () => Promise<T>, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<T> {
    return this.locking.whileReading(purpose, read, options);
  }

  deleteGuard(lock: SetLock, timeoutMs: number, onReaders: 'fail' | 'skip', signal?: AbortSignal): ReturnType<SetStore['deleteGuard']> {
    return deleteGuardOver(() => this.locking.liveReaders(), this.where, lock, timeoutMs, onReaders, signal);
  }
}
