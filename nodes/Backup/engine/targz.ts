import type { Stats } from 'node:fs';
import type { CopiedFile } from './copy';
import { BackupError } from './errors';
import type { DataSink } from './storage';

export const TAR_FILE = 'data.tar.gz';

/** `tar.gz` format: every stored file as a member of one streamed `<backup>/data.tar.gz`. */
export class TarGzSink implements DataSink {
  static async create(_backupDir: string, _level: number): Promise<TarGzSink> {
    throw new BackupError('INVALID_OPTION', 'The tar.gz format is not available yet.');
  }

  async store(_rel: string, _sourceAbs: string, _stats: Stats): Promise<CopiedFile> {
    throw new Error('unreachable');
  }

  async close(): Promise<number> {
    return 0;
  }

  async abort(): Promise<void> {}
}
