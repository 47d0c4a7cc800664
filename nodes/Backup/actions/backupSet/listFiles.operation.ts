import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import type { EntryView } from '../../engine';
import { humanBytes, listFiles } from '../../engine';
import { readBackupSelection } from '../helpers/asOf';
import { forEachBrowseItem } from '../helpers/browseItems';
import { assertDestinationAllowed } from '../helpers/destination';
import { readPassphrase } from '../helpers/encryption';
import { cancelSignal } from '../helpers/execution';
import { workflowTimeZone } from '../helpers/output';

/** "docs/a.txt: file, 1.2 KiB, bytes in 20261126T020000123Z-full" */
export function entrySummary(e: EntryView): string {
  if (e.kind === 'dir') return `${e.path}: folder`;
  if (e.kind === 'symlink') return `${e.path}: symlink to ${e.target ?? ''}`;
  return `${e.path}: file, ${humanBytes(e.size ?? 0)}${e.in === undefined ? '' : `, bytes in ${e.in}`}`;
}

/** Backup Set > List Files: one item per path of one backup, in walk order, up to the limit. */
export async function execute(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  const signal = cancelSignal(this);
  return forEachBrowseItem(this, items, async (i, { destination, where, setName }, emit) => {
    const { backupId, asOf, include, exclude } = readBackupSelection(this, i);
    const passphrase = await readPassphrase(this, i);
    await assertDestinationAllowed(this, where);
    await listFiles(
      { destination, destinationOptions: where.options, setName, backupId, asOf, timeZone: workflowTimeZone(this), include, exclude, passphrase, signal },
      (entry, id) => emit({ summary: entrySummary(entry), set: setName, backupId: id, ...entry }),
    );
  });
}
