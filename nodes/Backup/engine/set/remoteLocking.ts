import { BackupError } from '../errors';
import type { Destination } from '../destination/types';
import type { RemoteSetLocking } from './remoteSetStore';

/** The lock and reader markers of a set on a remote destination. */
export function remoteLocking(dest: Destination, set: string): RemoteSetLocking {
  const unavailable = (): BackupError => new BackupError('DESTINATION_UNAVAILABLE', `Locking set ${set} on ${dest.describe()} is not available in this build.`);
  return {
    lock: () => Promise.reject(unavailable()),
    liveReaders: () => Promise.reject(unavailable()),
    whileReading: () => Promise.reject(unavailable()),
  };
}
