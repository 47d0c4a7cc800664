import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { executeBackup } from './execute';

/** Auto: the rules decide full, differential or incremental per source, and skip unchanged sources. */
export async function execute(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  return executeBackup.call(this, items, 'auto');
}
