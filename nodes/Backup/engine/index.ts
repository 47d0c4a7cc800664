// Public API of the backup engine. Plain TypeScript: nothing here imports n8n.
export { runBackup, backupSource } from './backup';
export type { SourceOutcome } from './backup';
export { restoreBackup } from './restore';
export type { RestoreOptions, RestoreReport, OverwritePolicy } from './restore';
export { listDestination } from './list';
export type { ListedBackup } from './list';
export { toBackupSettings } from './settings';
export type { BackupOptions, BackupSettings } from './settings';
export { BackupError } from './errors';
export type { FatalCode } from './errors';
export { humanBytes } from './format';
export * from './types';
