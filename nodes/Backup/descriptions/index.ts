import type { INodeProperties } from 'n8n-workflow';
import { backupFields, backupOperations } from './backup.description';
import { backupSetFields, backupSetOperations } from './backupSet.description';
import { fileAccessNotice, resourceProperty } from './common';

/** Every property of the node, in the order the editor shows them. */
export const nodeProperties: INodeProperties[] = [
  fileAccessNotice,
  resourceProperty,
  backupOperations,
  backupSetOperations,
  ...backupFields,
  ...backupSetFields,
];
