import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import type { RestoreReport } from '../../engine';
import { restoreBackup } from '../../engine';
import { OperationFailure } from '../helpers/errors';
import { cancelSignal, logSummary, progressReporter } from '../helpers/execution';
import { readPassphrase } from '../helpers/encryption';
import { assertDestinationAllowed } from '../helpers/destination';
import { assertN8nUserFolderRule, assertNoBlockedPathInside, assertPathAllowed } from '../helpers/fileAccess';
import { parseLines, readFolder, readOverwritePolicy, readString } from '../helpers/parameters';
import { readAsOf } from '../helpers/asOf';
import { workflowTimeZone } from '../helpers/output';
import { forEachSetItem } from '../helpers/setItems';
import { assertDestructiveAllowed } from '../helpers/toolUse';

function incomplete(report: RestoreReport): OperationFailure {
  const first = report.errors.slice(0, 5).map((e) => `${e.path} (${e.message})`);
  const more = report.errorCount > first.length ? `, and ${report.errorCount - first.length} more` : '';
  return new OperationFailure(
    'RESTORE_INCOMPLETE',
    `The restore of ${report.backupId} is incomplete: ${report.errorCount} file(s) damaged or missing in the backup`,
    `${first.join('; ')}${more}. Everything else was restored into ${report.target}. Run Backup Set > Verify on this set, and restore those files from another backup.`,
    { ...report },
  );
}

/** Backup Set > Restore: one item per input item, the engine's restore report. */
export async function execute(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  const signal = cancelSignal(this);
  return forEachSetItem(this, items, async (i, { destination, where, setName, context }) => {
    const backupId = readString(this, 'backupId', i, 'latest').trim() || 'latest';
    const target = readFolder(this, 'targetPath', i, '/home/node/.n8n-files/restored');
    context.target = target;
    const overwrite = readOverwritePolicy(this, i);
    if (overwrite === 'overwrite') assertDestructiveAllowed(this, i, 'restore with Overwrite');
    const passphrase = await readPassphrase(this, i);
    const asOf = readAsOf(this, i);
    const include = parseLines(readString(this, 'includePaths', i, ''));
    const exclude = parseLines(readString(this, 'excludePaths', i, ''));
    // Every path resolved through symlinks and checked before the engine reads or writes.
    await assertDestinationAllowed(this, where);
    await assertPathAllowed(this, target, 'Restore Into folder');
    await assertN8nUserFolderRule(target, 'Restore Into folder', undefined);
    await assertNoBlockedPathInside(this, target, 'Restore Into folder');
    const report = await restoreBackup({
      destination, destinationOptions: where.options, setName, backupId, asOf, timeZone: workflowTimeZone(this), include, exclude, target, overwrite, passphrase, signal,
      onProgress: progressReporter(this, 'Restore into'),
    });
    logSummary(this, report.summary);
    if (report.errorCount > 0) throw incomplete(report);
    return { ...report };
  });
}
