import type { RestoreReport } from '../../engine';
import { OperationFailure } from '../helpers/errors';

/** RESTORE_INCOMPLETE: some files were damaged or missing in the backup; the rest was restored. */
export function incomplete(report: RestoreReport): OperationFailure {
  const first = report.errors.slice(0, 5).map((e) => `${e.path} (${e.message})`);
  const more = report.errorCount > first.length ? `, and ${report.errorCount - first.length} more` : '';
  return new OperationFailure(
    'RESTORE_INCOMPLETE',
    `The restore of ${report.backupId} is incomplete: ${report.errorCount} file(s) damaged or missing in the backup`,
    `${first.join('; ')}${more}. Everything else was restored into ${report.target}. Run Backup Set > Verify on this set, and restore those files from another backup.`,
    { ...report },
  );
}
