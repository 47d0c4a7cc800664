import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { failureItem } from './errors';
import { readFolder, readRequiredString } from './parameters';

export interface SetItem {
  destination: string;
  setName: string;
  /** Fields an error item of this input item carries (the set, and e.g. the restore target). */
  context: Record<string, string>;
}

/**
 * The per-item loop of the Backup Set operations that name one set: reads the destination and the
 * set, runs `run`, and turns a failure into an error item (Continue On Fail) or the node's error.
 */
export async function forEachSetItem(
  ctx: IExecuteFunctions,
  items: INodeExecutionData[],
  run: (itemIndex: number, item: SetItem) => Promise<IDataObject>,
): Promise<INodeExecutionData[]> {
  const out: INodeExecutionData[] = [];
  for (let i = 0; i < items.length; i++) {
    const context: Record<string, string> = {};
    try {
      const destination = readFolder(ctx, 'destinationPath', i, '/home/node/.n8n-files/backups');
      const setName = readRequiredString(ctx, 'setName', i, 'documents-1a2b3c4d');
      context.set = setName;
      out.push({ json: await run(i, { destination, setName, context }), pairedItem: { item: i } });
    } catch (error) {
      out.push(failureItem(ctx, error, i, context));
    }
  }
  return out;
}
