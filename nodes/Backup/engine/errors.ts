import type { FileProblem } from './types';

/**
 * Codes of the problems that abort a whole backup or restore. Per-file problems are not
 * errors of this kind: they become FileProblem records and the run goes on.
 */
export type FatalCode =
  | 'SOURCE_MISSING'
  | 'SOURCE_NOT_DIRECTORY'
  | 'SOURCE_UNREADABLE'
  | 'DESTINATION_INSIDE_SOURCE'
  | 'SOURCE_INSIDE_DESTINATION'
  | 'DESTINATION_UNUSABLE'
  | 'NO_SPACE'
  | 'SET_NAME_INVALID'
  | 'SET_NOT_FOUND'
  | 'BACKUP_NOT_FOUND'
  | 'BACKUP_INCOMPLETE'
  | 'MANIFEST_CORRUPT'
  | 'DATA_MISSING'
  | 'TARGET_NOT_EMPTY'
  | 'TARGET_UNUSABLE'
  | 'TARGET_INSIDE_BACKUP'
  | 'UNSAFE_PATH'
  // Restore of some paths (operations/restoreSelection.ts) and as of a time (set/asOf.ts).
  | 'PATTERN_INVALID'
  | 'NOTHING_SELECTED'
  | 'AS_OF_INVALID'
  | 'CANCELLED'
  | 'LOCKED'
  | 'LOCK_LOST'
  | 'READERS_ACTIVE'
  | 'VERIFY_FAILED'
  | 'INVALID_OPTION'
  | 'PASSPHRASE_REQUIRED'
  | 'WRONG_PASSPHRASE'
  | 'ENCRYPTION_NEEDS_TARGZ'
  | 'ENCRYPTION_MISMATCH'
  | 'IO_ERROR'
  // Remote destinations (destination/): each has its own hint, none carries a secret.
  | 'DESTINATION_URL_INVALID'
  | 'DESTINATION_NOT_FOUND'
  | 'DESTINATION_AUTH_FAILED'
  | 'DESTINATION_UNREACHABLE'
  | 'DESTINATION_UNAVAILABLE'
  | 'HOST_KEY_UNKNOWN'
  | 'HOST_KEY_CHANGED'
  | 'OBJECT_NOT_FOUND'
  // An object read by ranges changed between them (formats over destination/randomAccess.ts).
  | 'OBJECT_CHANGED';

/** A problem that makes the operation meaningless: it aborts, cleans up and is raised. */
export class BackupError extends Error {
  readonly code: FatalCode;
  /** What the person running the backup should do about it. */
  readonly hint: string | undefined;
  readonly path: string | undefined;

  constructor(code: FatalCode, message: string, options: { hint?: string; path?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BackupError';
    this.code = code;
    this.hint = options.hint;
    this.path = options.path;
  }
}

/**
 * MANIFEST_CORRUPT raised while reading the manifest of the backup a new one builds on (its
 * parent). Auto mode answers it with a full; an explicit differential/incremental fails with it.
 */
export class DamagedParentError extends BackupError {
  constructor(
    readonly backupId: string,
    cause: BackupError,
  ) {
    super('MANIFEST_CORRUPT', cause.message, { hint: cause.hint, path: cause.path, cause });
    this.name = 'DamagedParentError';
  }
}

export function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const FILE_MESSAGES: Record<string, string> = {
  ENOENT: 'vanished during the backup',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EBUSY: 'file is busy',
  ELOOP: 'became a symlink during the backup; not followed',
  EIO: 'input/output error while reading',
  ENOTREG: 'is not a regular file any more',
};

/** Turns an fs error on one source entry into the record the run keeps. */
export function toFileProblem(relPath: string, error: unknown): FileProblem {
  const code = errnoCode(error) ?? 'EUNKNOWN';
  const known = FILE_MESSAGES[code];
  return { path: relPath, code, message: known ?? errorMessage(error) };
}

/** Errors that make any further write to the destination pointless. */
export function isDestinationFatal(error: unknown): BackupError | undefined {
  const code = errnoCode(error);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new BackupError('NO_SPACE', 'The destination is full: the backup was not finished and its partial folder was removed.', {
      hint: 'Free space on the destination, or lower the retention counts, then run again.',
      cause: error,
    });
  }
  if (code === 'EROFS') {
    return new BackupError('DESTINATION_UNUSABLE', 'The destination is on a read-only file system.', { cause: error });
  }
  return undefined;
}

/** Marks an error on the destination side, which aborts the run (unlike a source-side problem). */
export function destinationError(error: unknown, where: string): BackupError {
  return (
    isDestinationFatal(error) ??
    new BackupError('DESTINATION_UNUSABLE', `Cannot write ${where}: ${errorMessage(error)}`, {
      hint: 'Check that the destination exists, is writable and has free space.',
      cause: error,
    })
  );
}
