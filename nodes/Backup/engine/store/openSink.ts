import { TarGzSink } from '../formats/tar/sink';
import type { SetKey } from '../formats/sealed';
import type { StorageFormat } from '../types';
import type { JobRunner } from './copyPool';
import { FolderSink } from './folderSink';
import type { DataSink } from './sink';

/** Opens the sink for a storage format inside a partial backup folder; `key` seals a tar.gz archive. */
export async function openSink(format: StorageFormat, backupDir: string, compressionLevel: number, pool: JobRunner, seal?: { key: SetKey; backupId: string }): Promise<DataSink> {
  if (format === 'tar.gz') return TarGzSink.create(backupDir, compressionLevel, seal?.key, seal?.backupId);
  if (seal !== undefined) throw new Error('the folder format cannot be encrypted');
  return FolderSink.create(backupDir, pool);
}
