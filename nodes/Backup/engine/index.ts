// Public API of the backup engine. Plain TypeScript: nothing here imports n8n.
export { runBackup, backupSource } from './operations/backup';
export type { SourceOutcome } from './operations/backup';
export { restoreBackup } from './operations/restore';
export type { RestoreOptions, RestoreReport, OverwritePolicy } from './operations/restore';
export { listDestination } from './operations/list';
export { pruneSet } from './operations/prune';
export { verifyBackups } from './operations/verify';
export type { VerifyOptions, VerifyReport, VerifyProblem } from './operations/verify';
export type { PruneOptions, PruneOutcome } from './operations/prune';
export type { RetentionPolicy, RetentionResult } from './set/retention';
export type { ListedBackup } from './operations/list';
export { toBackupSettings } from './settings';
export type { BackupOptions, BackupSettings, CalendarOptions } from './settings';
export { BackupError } from './errors';
export type { FatalCode } from './errors';
export { humanBytes } from './humanize';
export { isSameOrInside, relativeInside } from './paths';
export * from './types';
