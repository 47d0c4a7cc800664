import type { Stats } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { CopiedFile } from './copy';
import { copyFileHashed } from './copy';
import { BackupError, errorMessage } from './errors';
import { TarGzSink } from './targz';
import type { StorageFormat } from './types';

export const DATA_DIR = 'data';

/** A place kept in a sink's stream: store() fills it; release() gives it up (a no-op once stored). */
export interface StorePlace {
  store(rel: string, sourceAbs: string, stats: Stats): Promise<CopiedFile>;
  release(): void;
}

/**
 * Where one backup puts the bytes of the files it stores. Calls to store() and reserve() arrive in
 * walk order, several in flight; a sink may run them concurrently (folder) or keep their order in
 * one stream (tar.gz).
 */
export interface DataSink {
  /** Copies one source file in; returns the bytes stored and their sha256. Source errors are thrown raw. */
  store(rel: string, sourceAbs: string, stats: Stats): Promise<CopiedFile>;
  /**
   * Keeps the next place for a file whose store() call must wait for something first (a content
   * re-check): call it where store() would have been called, then store() or release() the place.
   */
  reserve(): StorePlace;
  /** Flushes everything; returns bytes written to the destination. */
  close(): Promise<number>;
  abort(): Promise<void>;
}

/** `folder` format: each stored file at its relative path under `<backup>/data/`. */
export class FolderSink implements DataSink {
  private readonly madeDirs = new Set<string>();
  private written = 0;

  constructor(private readonly dataRoot: string) {}

  static async create(backupDir: string): Promise<FolderSink> {
    const dataRoot = path.join(backupDir, DATA_DIR);
    await fsp.mkdir(dataRoot, { recursive: true });
    return new FolderSink(dataRoot);
  }

  async store(rel: string, sourceAbs: string, stats: Stats): Promise<CopiedFile> {
    await this.ensureParent(rel);
    const copied = await copyFileHashed(sourceAbs, path.join(this.dataRoot, rel), stats.size, { mode: stats.mode, mtimeMs: stats.mtimeMs, atimeMs: stats.atimeMs });
    this.written += copied.size;
    return copied;
  }

  /** Files are independent here: a kept place is just a later store() call. */
  reserve(): StorePlace {
    return { store: (rel, sourceAbs, stats) => this.store(rel, sourceAbs, stats), release: () => undefined };
  }

  async close(): Promise<number> {
    return this.written;
  }

  async abort(): Promise<void> {}

  private async ensureParent(rel: string): Promise<void> {
    const dir = path.posix.dirname(rel);
    if (dir === '.' || this.madeDirs.has(dir)) return;
    try {
      await fsp.mkdir(path.join(this.dataRoot, dir), { recursive: true });
    } catch (error) {
      throw new BackupError('DESTINATION_UNUSABLE', `Cannot create ${path.join(this.dataRoot, dir)}: ${errorMessage(error)}`, { cause: error });
    }
    this.madeDirs.add(dir);
  }
}

/** Opens the sink for a storage format inside a partial backup folder. */
export async function openSink(format: StorageFormat, backupDir: string, compressionLevel: number): Promise<DataSink> {
  if (format === 'tar.gz') return TarGzSink.create(backupDir, compressionLevel);
  return FolderSink.create(backupDir);
}
