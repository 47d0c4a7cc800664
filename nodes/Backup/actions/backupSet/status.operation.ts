import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { setStatus } from '../../engine';
import { cancelSignal } from '../helpers/execution';
import { readPassphrase } from '../helpers/encryption';
import { assertDestinationAllowed } from '../helpers/destination';
import { forEachSetItem } from '../helpers/setItems';

/**
 * Backup Set > Status: one item per input item, for monitoring. A set that is not OK (no complete
 * backup, the last run failed, the chain check found a problem) is an item with ok: false, not a
 * node error: the workflow decides what to alert on (IF ok, or IF newest.ageSeconds > a limit).
 * Only a set that cannot be read at all (destination unreachable, refused) fails the node.
 */
export async function execute(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  const signal = cancelSignal(this);
  return forEachSetItem(this, items, async (i, { destination, where, setName }) => {
    const passphrase = await readPassphrase(this, i);
    await assertDestinationAllowed(this, where);
    return { ...(await setStatus({ destination, destinationOptions: where.options, setName, passphrase, signal })) };
  });
}
