import type { DestinationOptions } from '../destination';
import { BackupError } from '../errors';
import { parseAsOf } from '../set/asOf';
import { closeDestination, openDestinationFor, setStoreIn } from '../set/openSetStore';
import type { ManifestReader } from '../formats/manifest';
import type { SetKey } from '../set/encryption';
import type { SetStore } from '../set/setStore';

/** What every read-only look into a set takes (files, diff, find). */
export interface SetReadOptions {
  /** A local folder, `s3://bucket/prefix` or `sftp://user@host/path`. */
  destination: string;
  destinationOptions?: DestinationOptions;
  setName: string;
  /** The passphrase of an encrypted set. */
  passphrase?: string;
  signal?: AbortSignal;
}

/**
 * Runs `read` on the set as a registered reader (so retention or prune does not delete a manifest
 * under it, as for restore and verify), then closes the destination.
 */
export async function readingSet<T>(options: SetReadOptions, purpose: string, read: (store: SetStore) => Promise<T>): Promise<T> {
  const opened = await openDestinationFor(options.destination, options.destinationOptions);
  try {
    const store = setStoreIn(opened, options.setName);
    return await store.whileReading(purpose, () => read(store), { signal: options.signal });
  } finally {
    await closeDestination(opened);
  }
}

/** An --as-of time checked before anything is opened; undefined when none is given. */
export function asOfInstant(asOf: string | undefined, timeZone: string | undefined, backupId: string | undefined): Date | undefined {
  const instant = asOf === undefined || asOf.trim() === '' ? undefined : parseAsOf(asOf, timeZone);
  if (instant !== undefined && backupId !== undefined && backupId !== 'latest') {
    throw new BackupError('INVALID_OPTION', `Give either a backup id (${backupId}) or a time (${asOf ?? ''}), not both.`);
  }
  return instant;
}

export function checkCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new BackupError('CANCELLED', 'Cancelled.');
}

/** The manifest of backup `id`, refused as damaged when it is another backup's (a swapped file). */
export async function openManifestOf(store: SetStore, id: string, key: SetKey | undefined): Promise<ManifestReader> {
  const reader = await store.openManifest(id, key);
  if (reader.header.id !== id) {
    await reader.close();
    throw new BackupError('MANIFEST_CORRUPT', `The manifest in ${id} belongs to ${reader.header.id}.`);
  }
  return reader;
}
