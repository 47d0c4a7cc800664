import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { localDateTime } from '../../engine';
import { failureItem } from './errors';
import { workflowTimeZone } from './output';
import type { NodeDestination } from './destination';
import { readDestination } from './destination';
import { readRequiredString } from './parameters';

export interface SetItem {
  /** What the engine takes and items show: a local path or an s3:// / sftp:// URL (no secret). */
  destination: string;
  /** The Destination Type with its settings (credentials): `where.options` goes to the engine, never into an item. */
  where: NodeDestination;
  setName: string;
  /** Fields an error item of this input item carries (the set, and e.g. the restore target). */
  context: Record<string, string>;
}

/**
 * Restore, Verify and Prune reports carry no time of their own: the node adds when the item
 * finished (UTC; the local twin is added with every item's shape) and says it in the summary.
 */
function withFinishTime(json: IDataObject, timeZone: string): IDataObject {
  const finishedAt = new Date().toISOString();
  const summary = typeof json.summary === 'string' ? `${json.summary.replace(/\.?$/, '.')} Finished ${localDateTime(finishedAt, timeZone)}.` : json.summary;
  return { ...json, ...(summary === undefined ? {} : { summary }), finishedAt };
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
  const timeZone = workflowTimeZone(ctx);
  for (let i = 0; i < items.length; i++) {
    const context: Record<string, string> = {};
    try {
      const where = await readDestination(ctx, i);
      const setName = readRequiredString(ctx, 'setName', i, 'documents-1a2b3c4d');
      context.set = setName;
      out.push({ json: withFinishTime(await run(i, { destination: where.destination, where, setName, context }), timeZone), pairedItem: { item: i } });
    } catch (error) {
      out.push(failureItem(ctx, error, i, context));
    }
  }
  return out;
}
