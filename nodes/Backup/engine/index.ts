// Public API of the backup engine. Plain TypeScript: nothing here imports n8n.
export { runBackup, backupSource } from './backup';
export type { SourceOutcome } from './backup';
export { restoreBackup } from './restore';
export type { RestoreOptions, RestoreReport, OverwritePolicy } from './restore';
export { listDestination } from './list';
export { pruneSet } from './prune';
export { verifyBackups } from './verify';
export type { VerifyOptions, VerifyReport, VerifyProblem } from './verify';
export type { PruneOptions, PruneOutcome } from './prune';
export type { RetentionPolicy, RetentionResult } from './retention';
export type { ListedBackup } from './list';
export { toBackupSettings } from './settings';
export type { BackupOptions, BackupSettings } from './settings';
export { BackupError } from './errors';
export type { FatalCode } from './errors';
export { humanBytes } from './format';
export { isSameOrInside, relativeInside } from './paths';
export * from './types';
