import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { listDestination } from '../../engine';
import { failureItem } from '../helpers/errors';
import { assertPathAllowed } from '../helpers/fileAccess';
import { readFolder, readString } from '../helpers/parameters';

/** Backup Set > List: one item per backup (oldest first within a set); none when there are none. */
export async function execute(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  const out: INodeExecutionData[] = [];
  for (let i = 0; i < items.length; i++) {
    let destination: string | undefined;
    try {
      destination = readFolder(this, 'destinationPath', i, '/home/node/.n8n-files/backups');
      const setName = readString(this, 'setName', i).trim();
      await assertPathAllowed(this, destination, 'destination folder');
      for (const backup of await listDestination(destination, setName === '' ? undefined : setName)) {
        out.push({ json: { ...backup }, pairedItem: { item: i } });
      }
    } catch (error) {
      out.push(failureItem(this, error, i, destination === undefined ? {} : { destination }));
    }
  }
  return out;
}
