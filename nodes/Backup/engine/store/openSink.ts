import type { Destination } from '../destination/types';
import type { SetKey } from '../formats/sealed';
import { TarGzSink } from '../formats/tar/sink';
import type { StorageFormat } from '../types';
import type { JobRunner } from './copyPool';
import { FolderSink } from './folderSink';
import { RemoteFolderSink } from './remoteFolderSink';
import type { DataSink } from './sink';

/** Where one backup's bytes go: a partial backup folder on this machine, or a prefix on a remote destination. */
export interface SinkPlace {
  localDir: string | undefined;
  remote: { dest: Destination; backupPrefix: string } | undefined;
}

/** Opens the sink for a storage format; `seal` seals a tar.gz archive. */
export async function openSink(format: StorageFormat, place: SinkPlace, compressionLevel: number, pool: JobRunner, seal?: { key: SetKey; backupId: string }): Promise<DataSink> {
  if (format === 'folder' && seal !== undefined) throw new Error('the folder format cannot be encrypted');
  if (place.localDir !== undefined) {
    if (format === 'tar.gz') return TarGzSink.create(place.localDir, compressionLevel, seal?.key, seal?.backupId);
    return FolderSink.create(place.localDir, pool);
  }
  if (place.remote === undefined) throw new Error('a backup output is local or remote');
  const { dest, backupPrefix } = place.remote;
  if (format === 'tar.gz') return TarGzSink.createOn(dest, backupPrefix, compressionLevel, seal?.key, seal?.backupId);
  return new RemoteFolderSink(dest, backupPrefix);
}
