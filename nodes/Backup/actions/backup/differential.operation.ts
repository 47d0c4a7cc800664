import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { executeBackup } from './execute';

/** Differential: store what changed since the chain's full backup. */
export async function execute(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  return executeBackup.call(this, items, 'differential');
}
