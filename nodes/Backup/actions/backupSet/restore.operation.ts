import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { restoreBackup } from '../../engine';
import { incomplete } from './restoreReport';
import { executeToBinary } from './restoreBinary';
import { cancelSignal, logSummary, progressReporter } from '../helpers/execution';
import { readPassphrase } from '../helpers/encryption';
import { assertDestinationAllowed } from '../helpers/destination';
import { assertN8nUserFolderRule, assertNoBlockedPathInside, assertPathAllowed } from '../helpers/fileAccess';
import { readFolder, readOverwritePolicy, readString } from '../helpers/parameters';
import { readBackupSelection } from '../helpers/asOf';
import { workflowTimeZone } from '../helpers/output';
import { forEachSetItem } from '../helpers/setItems';
import { assertDestructiveAllowed } from '../helpers/toolUse';

/** Backup Set > Restore: one item per input item, the engine's restore report. */
export async function execute(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  if (readString(this, 'restoreTo', 0, 'folder') === 'binary') return executeToBinary.call(this, items);
  const signal = cancelSignal(this);
  return forEachSetItem(this, items, async (i, { destination, where, setName, context }) => {
    const { backupId, asOf, include, exclude } = readBackupSelection(this, i);
    const target = readFolder(this, 'targetPath', i, '/home/node/.n8n-files/restored');
    context.target = target;
    const overwrite = readOverwritePolicy(this, i);
    if (overwrite === 'overwrite') assertDestructiveAllowed(this, i, 'restore with Overwrite');
    const passphrase = await readPassphrase(this, i);
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
