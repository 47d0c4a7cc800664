import { constants, promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fsyncDir, writeNewFileSynced } from '../destination/durable';
import { BackupError, errnoCode, errorMessage, isDestinationFatal } from '../errors';
import { ManifestReader } from '../formats/manifest';
import type { SetKey } from '../formats/sealed';
import { TarReader } from '../formats/tar/reader';
import { DATA_DIR, listBackups, PARTIAL_PREFIX, REMOVING_PREFIX, setDirectory, SUMMARY_FILE, writeSummaryText } from './catalog';
import { KEY_FILE, readKeyText, writeKeyFile } from './keyfile';
import { lockSet } from './lock';
import { deleteGuard, whileReading } from './readers';
import { MAX_RUN_RECORD_BYTES, RUN_RECORD_FILE } from './runRecord';
import type { BackupOutput, SetStore } from './setStore';

/** Why a local set cannot be written: the disk's own fatal code (full, read-only), else DESTINATION_UNUSABLE. */
function notWritable(dir: string, error: unknown): Error {
  return (
    isDestinationFatal(error) ??
    new BackupError('DESTINATION_UNUSABLE', `Cannot write to the destination ${dir}: ${errorMessage(error)}`, {
      hint: 'Create the destination folder and give the user running the backup write access to it.',
      path: dir,
      cause: error,
    })
  );
}

/**
 * A set in a local folder: the layout and rules of every earlier release (README, "On disk"),
 * `.partial-<id>` renamed to `<id>` as the commit, `.removing-<id>` as the first step of a delete.
 */
export class LocalSetStore implements SetStore {
  readonly localDir: string;
  readonly where: string;

  constructor(
    readonly destination: string,
    readonly set: string,
  ) {
    this.localDir = setDirectory(destination, set);
    this.where = this.localDir;
  }

  async prepare(): Promise<void> {
    try {
      await fsp.mkdir(this.localDir, { recursive: true });
      await fsp.access(this.localDir, fsp.constants.W_OK);
    } catch (error) {
      throw notWritable(this.localDir, error);
    }
  }

  /** The set folder, or the nearest folder above it that exists, writable: what prepare() would make. */
  async checkWritable(): Promise<void> {
    let dir = this.localDir;
    for (;;) {
      const stats = await fsp.stat(dir).catch((error: unknown) => {
        if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return undefined;
        throw error;
      });
      if (stats !== undefined) break;
      const up = path.dirname(dir);
      if (up === dir) break;
      dir = up;
    }
    try {
      if (!(await fsp.stat(dir)).isDirectory()) throw Object.assign(new Error(`${dir} is not a folder`), { code: 'ENOTDIR' });
      await fsp.access(dir, fsp.constants.W_OK);
    } catch (error) {
      throw notWritable(this.localDir, error);
    }
  }

  async readRunRecordText(): Promise<string | undefined> {
    const handle = await fsp.open(path.join(this.localDir, RUN_RECORD_FILE), constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
    if (handle === undefined) return undefined;
    try {
      const buffer = Buffer.alloc(MAX_RUN_RECORD_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      return buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  }

  /** Into the set folder only when it exists: a run that failed before making it (a wrong path, an unmounted disk) makes nothing. */
  async writeRunRecordText(text: string): Promise<void> {
    const file = path.join(this.localDir, RUN_RECORD_FILE);
    const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeNewFileSynced(temporary, text, 0o644);
      await fsp.rename(temporary, file);
    } catch (error) {
      await fsp.rm(temporary, { force: true }).catch(() => undefined);
      throw error;
    }
  }

  lock(purpose: string, timeoutMs: number, signal?: AbortSignal): ReturnType<SetStore['lock']> {
    return lockSet(this.localDir, purpose, timeoutMs, signal);
  }

  /** `.partial-<id>` folders of unfinished backups, `.removing-<id>` of half-deleted ones, key file temps. */
  async removeLeftovers(): Promise<string[]> {
    const names = await fsp.readdir(this.localDir);
    // A key file being written when a run was killed (writeKeyFile renames it into place when whole).
    for (const name of names.filter((n) => /^(key|last-run)\.json\.[0-9a-f]+\.tmp$/.test(n))) await fsp.rm(path.join(this.localDir, name), { force: true });
    const leftovers = names.filter((name) => name.startsWith(PARTIAL_PREFIX) || name.startsWith(REMOVING_PREFIX));
    for (const name of leftovers) await fsp.rm(path.join(this.localDir, name), { recursive: true, force: true });
    return leftovers.map((name) => name.slice(name.indexOf('-') + 1));
  }

  listBackups(): ReturnType<SetStore['listBackups']> {
    return listBackups(this.localDir);
  }

  readKeyText(backupId?: string): Promise<string | undefined> {
    return readKeyText(path.join(this.localDir, ...(backupId === undefined ? [] : [backupId]), KEY_FILE));
  }

  writeKeyText(text: string): Promise<void> {
    return writeKeyFile(this.localDir, text);
  }

  async beginBackup(id: string): Promise<BackupOutput> {
    const partial = path.join(this.localDir, `${PARTIAL_PREFIX}${id}`);
    await fsp.mkdir(partial);
    const setDir = this.localDir;
    return {
      id,
      localDir: partial,
      remote: undefined,
      writeKeyText: (text) => writeKeyFile(partial, text),
      async commit(summaryText, confirmLock) {
        await writeSummaryText(partial, summaryText);
        // The names in the partial folder (data/, data.tar.gz, manifest, backup.json) on disk before the commit.
        await fsyncDir(partial);
        await confirmLock?.();
        await fsp.rename(partial, path.join(setDir, id));
        await fsyncDir(setDir);
      },
      discard: () => fsp.rm(partial, { recursive: true, force: true }).catch(() => undefined),
    };
  }

  async removeBackup(id: string): Promise<void> {
    // Renamed first (atomic), then deleted: a run killed here leaves a `.removing-<id>` folder
    // that the next backup sweeps, never a half-deleted backup that lists as damaged.
    const doomed = path.join(this.localDir, `${REMOVING_PREFIX}${id}`);
    await fsp.rename(path.join(this.localDir, id), doomed);
    await fsp.rm(doomed, { recursive: true, force: true });
  }

  openManifest(id: string, key: SetKey | undefined): Promise<ManifestReader> {
    return ManifestReader.open(path.join(this.localDir, id), key);
  }

  openArchive(id: string, key: SetKey | undefined): TarReader {
    return TarReader.forBackup(this.localDir, id, key);
  }

  async readStored(id: string, rel: string): Promise<Readable> {
    // O_NOFOLLOW: a stored file replaced by a symlink is not followed out of the set.
    const handle = await fsp.open(path.join(this.localDir, id, DATA_DIR, rel), constants.O_RDONLY | constants.O_NOFOLLOW);
    return handle.createReadStream();
  }

  async statStored(id: string, rel: string): Promise<{ size: number } | undefined> {
    const stats = await fsp.lstat(path.join(this.localDir, id, DATA_DIR, rel)).catch(() => undefined);
    return stats?.isFile() === true ? { size: stats.size } : undefined;
  }

  async readSummaryText(id: string): Promise<string | undefined> {
    return fsp.readFile(path.join(this.localDir, id, SUMMARY_FILE), 'utf8').catch(() => undefined);
  }

  whileReading<T>(purpose: string, read: () => Promise<T>, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<T> {
    return whileReading(this.destination, this.set, purpose, read, options);
  }

  deleteGuard(...args: Parameters<SetStore['deleteGuard']>): ReturnType<SetStore['deleteGuard']> {
    return deleteGuard(this.localDir, ...args);
  }
}
