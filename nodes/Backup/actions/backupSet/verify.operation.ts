import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import type { VerifyReport } from '../../engine';
import { verifyBackups } from '../../engine';
import { OperationFailure } from '../helpers/errors';
import { cancelSignal } from '../helpers/execution';
import { readPassphrase } from '../helpers/encryption';
import { assertDestinationAllowed } from '../helpers/destination';
import { readBoolean, readString } from '../helpers/parameters';
import { forEachSetItem } from '../helpers/setItems';

function verifyFailed(report: VerifyReport): OperationFailure {
  const first = report.problems.slice(0, 5).map((p) => `${p.backupId} ${p.path}: ${p.message} [${p.code}]`);
  const more = report.problemCount > first.length ? `; and ${report.problemCount - first.length} more` : '';
  return new OperationFailure(
    'VERIFY_FAILED',
    `Verification of set ${report.set} found ${report.problemCount} problem(s)`,
    `${first.join('; ')}${more}. Make a new full backup (operation Full) so that a sound chain exists, and keep the damaged backups until you have checked them; "problems" lists every one.`,
    { ...report },
  );
}

/** Backup Set > Verify: one item per input item; problems found fail the node (or, with Continue On Fail, an item with ok: false). */
export async function execute(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  const signal = cancelSignal(this);
  return forEachSetItem(this, items, async (i, { destination, where, setName }) => {
    const backupId = readString(this, 'backupId', i, 'all').trim() || 'all';
    const full = readBoolean(this, 'fullVerify', i, false);
    const passphrase = await readPassphrase(this, i);
    await assertDestinationAllowed(this, where);
    const report = await verifyBackups({ destination, destinationOptions: where.options, setName, backupId, full, passphrase, signal });
    if (!report.ok) throw verifyFailed(report);
    return { ...report };
  });
}
