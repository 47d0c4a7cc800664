import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

/** The node's resources and their operations: the values saved in users' workflows. */
export interface OperationsByResource {
  backup: 'auto' | 'full' | 'differential' | 'incremental';
  backupSet: 'list' | 'restore' | 'verify' | 'prune' | 'listFiles' | 'diff' | 'find' | 'status';
}

export type Resource = keyof OperationsByResource;

/** `resource.operation`, the key the router dispatches on. */
export type OperationKey = { [R in Resource]: `${R}.${OperationsByResource[R]}` }[Resource];

/** One operation: reads its parameters per item, calls the engine, returns the output items. */
export type OperationExecutor = (this: IExecuteFunctions, items: INodeExecutionData[]) => Promise<INodeExecutionData[]>;
