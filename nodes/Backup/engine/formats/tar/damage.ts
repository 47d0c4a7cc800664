/** What can be wrong with a tar.gz archive, as restore and verify report it. */
import { DestinationError } from '../../destination/faults';
import { errnoCode, errorMessage } from '../../errors';
import { SealedFileError } from '../sealed';

export type ArchiveDamageCode = 'MISSING' | 'TRUNCATED' | 'CORRUPT' | 'UNREADABLE';

/** Part or all of an archive cannot be read: missing, truncated, damaged or unreadable. */
export class ArchiveDamage extends Error {
  constructor(
    readonly code: ArchiveDamageCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ArchiveDamage';
  }
}

/** An error met while reading the archive named `label`, as ArchiveDamage. */
export function classify(error: unknown, label: string): ArchiveDamage {
  if (error instanceof ArchiveDamage) return error;
  if (error instanceof SealedFileError) return new ArchiveDamage(error.code === 'SEAL_TRUNCATED' ? 'TRUNCATED' : 'CORRUPT', error.message, { cause: error });
  // A remote archive: gone, or a store that kept failing or changed it under the reader.
  if (error instanceof DestinationError) return new ArchiveDamage(error.code === 'OBJECT_NOT_FOUND' ? 'MISSING' : 'UNREADABLE', error.code === 'OBJECT_NOT_FOUND' ? `${label} is missing` : `${label} cannot be read (${error.message})`, { cause: error });
  const code = errnoCode(error);
  const why = errorMessage(error);
  if (code === 'ENOENT') return new ArchiveDamage('MISSING', `${label} is missing`, { cause: error });
  if (code === 'Z_BUF_ERROR' || /unexpected end/i.test(why)) return new ArchiveDamage('TRUNCATED', `${label} is truncated (${why})`, { cause: error });
  if (code !== undefined && /^E[A-Z]+$/.test(code)) return new ArchiveDamage('UNREADABLE', `${label} cannot be read (${why})`, { cause: error });
  return new ArchiveDamage('CORRUPT', `${label} is damaged (${why})`, { cause: error });
}

/**
 * The store's own failure behind an error, if that is what it is: an outage, a refused login, an
 * object replaced mid-read. It says nothing about the backup (only OBJECT_NOT_FOUND does: the
 * object is gone), so a check or a restore stops with it instead of calling the backup damaged.
 */
export function storeFaultOf(error: unknown): DestinationError | undefined {
  const cause = error instanceof ArchiveDamage ? error.cause : error;
  return cause instanceof DestinationError && cause.code !== 'OBJECT_NOT_FOUND' ? cause : undefined;
}

/** For a check that cannot judge the backup while its store fails: stops with the store's fault, if that is what `error` is. */
export function throwIfStoreFault(error: unknown): void {
  const fault = storeFaultOf(error);
  if (fault !== undefined) throw fault;
}
