import type { IBinaryKeyData, IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import type { Visit } from '../../engine';
import { failureItem } from './errors';
import { readDestination } from './destination';
import type { SetItem } from './setItems';
import { readBoolean, readNumber, readRequiredString } from './parameters';

/** Items a browse operation may output per input item: Return All, or Limit (n8n's usual pair). */
export function readLimit(ctx: IExecuteFunctions, itemIndex: number): number {
  if (readBoolean(ctx, 'returnAll', itemIndex, false)) return Infinity;
  return Math.max(1, Math.floor(readNumber(ctx, 'limit', itemIndex, 50)));
}

/**
 * The per-item loop of List Files, Compare Backups and Find File Versions: one output item per
 * path (or change, or version) the engine streams, up to the limit, where the engine stops
 * reading. A failure becomes one error item (Continue On Fail) or the node's error.
 */
export async function forEachBrowseItem(
  ctx: IExecuteFunctions,
  items: INodeExecutionData[],
  run: (itemIndex: number, item: SetItem, emit: (json: IDataObject, binary?: IBinaryKeyData) => Visit) => Promise<void>,
  limitOf: (ctx: IExecuteFunctions, itemIndex: number) => number = readLimit,
): Promise<INodeExecutionData[]> {
  const out: INodeExecutionData[] = [];
  for (let i = 0; i < items.length; i++) {
    const context: Record<string, string> = {};
    const limit = limitOf(ctx, i);
    let emitted = 0;
    const emit = (json: IDataObject, binary?: IBinaryKeyData): Visit => {
      out.push({ json, ...(binary === undefined ? {} : { binary }), pairedItem: { item: i } });
      return ++emitted >= limit ? 'stop' : undefined;
    };
    try {
      const where = await readDestination(ctx, i);
      const setName = readRequiredString(ctx, 'setName', i, 'documents-1a2b3c4d');
      context.set = setName;
      await run(i, { destination: where.destination, where, setName, context }, emit);
    } catch (error) {
      out.push(failureItem(ctx, error, i, context));
    }
  }
  return out;
}
