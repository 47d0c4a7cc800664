import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import type { ListedBackup } from '../../engine';
import { backupContents, listDestination, localDateTime } from '../../engine';
import { workflowTimeZone } from '../helpers/output';
import { failureItem } from '../helpers/errors';
import { assertDestinationAllowed, readDestination } from '../helpers/destination';
import { readString } from '../helpers/parameters';

/** One line per listed backup, e.g. "Full backup 20261126T020000123Z-full of set documents: 12 files, 3 folders, 0 symlinks; 12 stored files, 3.1 MiB of file content, made 2026-11-26 03:00:00 Europe/Berlin." */
function listSummary(b: ListedBackup, timeZone: string): string {
  const kind = b.type.charAt(0).toUpperCase() + b.type.slice(1);
  const state = b.complete ? '' : ' (INCOMPLETE: not restorable)';
  const encrypted = b.encrypted === true ? ', encrypted' : '';
  return `${kind} backup ${b.backupId} of set ${b.set}${state}: ${backupContents(b)}, ${b.sizes.stored} of file content${encrypted}, made ${localDateTime(b.startedAt, timeZone)}.`;
}

/** Backup Set > List: one item per backup (oldest first within a set); none when there are none. */
export async function execute(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  const out: INodeExecutionData[] = [];
  const timeZone = workflowTimeZone(this);
  for (let i = 0; i < items.length; i++) {
    let destination: string | undefined;
    try {
      const where = await readDestination(this, i);
      destination = where.destination;
      const setName = readString(this, 'setName', i).trim();
      await assertDestinationAllowed(this, where);
      for (const backup of await listDestination(destination, setName === '' ? undefined : setName, where.options)) {
        out.push({ json: { summary: listSummary(backup, timeZone), ...backup }, pairedItem: { item: i } });
      }
    } catch (error) {
      out.push(failureItem(this, error, i, destination === undefined ? {} : { destination }));
    }
  }
  return out;
}
