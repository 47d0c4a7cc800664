import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import * as auto from './backup/auto.operation';
import * as differential from './backup/differential.operation';
import * as full from './backup/full.operation';
import * as incremental from './backup/incremental.operation';
import * as diff from './backupSet/diff.operation';
import * as find from './backupSet/find.operation';
import * as list from './backupSet/list.operation';
import * as listFiles from './backupSet/listFiles.operation';
import * as prune from './backupSet/prune.operation';
import * as restore from './backupSet/restore.operation';
import * as status from './backupSet/status.operation';
import * as verify from './backupSet/verify.operation';
import { shapeItem, workflowTimeZone } from './helpers/output';
import type { OperationExecutor, OperationKey } from './types';

/** Every operation of the node: the compiler checks that each `resource.operation` has exactly one. */
export const operations: Readonly<Record<OperationKey, OperationExecutor>> = {
  'backup.auto': auto.execute,
  'backup.full': full.execute,
  'backup.differential': differential.execute,
  'backup.incremental': incremental.execute,
  'backupSet.list': list.execute,
  'backupSet.restore': restore.execute,
  'backupSet.verify': verify.execute,
  'backupSet.prune': prune.execute,
  'backupSet.listFiles': listFiles.execute,
  'backupSet.diff': diff.execute,
  'backupSet.find': find.execute,
  'backupSet.status': status.execute,
};

function isOperationKey(key: string): key is OperationKey {
  return Object.prototype.hasOwnProperty.call(operations, key);
}

/** Dispatches `${resource}.${operation}` (neither takes expressions, so item 0 decides). */
export async function route(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
  const items = this.getInputData();
  const resource = String(this.getNodeParameter('resource', 0));
  const operation = String(this.getNodeParameter('operation', 0));
  const key = `${resource}.${operation}`;
  if (!isOperationKey(key)) {
    throw new NodeOperationError(this.getNode(), `The operation "${operation}" of "${resource}" is not supported by this version of the Backup node`, {
      description: 'Choose the resource and operation again in the node, or update n8n-nodes-backup.',
    });
  }
  const timeZone = workflowTimeZone(this);
  return [(await operations[key].call(this, items)).map((item) => shapeItem(item, timeZone))];
}
