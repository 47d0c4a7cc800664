import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { executeBackup } from './execute';

/** Incremental: store what changed since the newest backup of any type. */
export async function execute(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  return executeBackup.call(this, items, 'incremental');
}
