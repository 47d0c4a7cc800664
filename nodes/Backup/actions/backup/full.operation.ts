import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { executeBackup } from './execute';

/** Full: store every file of every source. */
export async function execute(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  return executeBackup.call(this, items, 'full');
}
