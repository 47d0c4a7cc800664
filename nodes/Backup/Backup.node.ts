import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import { runBackup } from './engine';
import type { BackupType } from './engine';

/**
 * Minimal node: Backup > Full / Differential / Incremental over the engine. The full UI
 * (auto, backup sets, options, file-access checks) is built on this in its own issue.
 */
export class Backup implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'Backup',
    name: 'backup',
    icon: 'file:backup.svg',
    group: ['transform'],
    version: 1,
    subtitle: '={{$parameter["operation"]}}',
    description: 'Back up folders: full, differential and incremental backups with a manifest per backup',
    defaults: { name: 'Backup' },
    inputs: [NodeConnectionTypes.Main],
    outputs: [NodeConnectionTypes.Main],
    properties: [
      {
        displayName: 'Resource',
        name: 'resource',
        type: 'options',
        noDataExpression: true,
        options: [{ name: 'Backup', value: 'backup' }],
        default: 'backup',
      },
      {
        displayName: 'Operation',
        name: 'operation',
        type: 'options',
        noDataExpression: true,
        displayOptions: { show: { resource: ['backup'] } },
        options: [
          { name: 'Full', value: 'full', action: 'Make a full backup', description: 'Copy every file' },
          { name: 'Differential', value: 'differential', action: 'Make a differential backup', description: 'Copy files changed since the last full backup' },
          { name: 'Incremental', value: 'incremental', action: 'Make an incremental backup', description: 'Copy files changed since the last backup' },
        ],
        default: 'incremental',
      },
      {
        displayName: 'Source Folders',
        name: 'sourcePaths',
        type: 'string',
        default: '',
        required: true,
        placeholder: '/home/node/.n8n-files/documents',
        description: 'Folders to back up: one per line, or separated by commas. Each gets its own backup set.',
      },
      {
        displayName: 'Destination Folder',
        name: 'destinationPath',
        type: 'string',
        default: '',
        required: true,
        placeholder: '/home/node/.n8n-files/backups',
        description: 'Folder that holds the backup sets; it must not be inside a source folder',
      },
    ],
  };

  async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
    const items = this.getInputData();
    const out: INodeExecutionData[] = [];
    for (let i = 0; i < items.length; i++) {
      const type = this.getNodeParameter('operation', i) as BackupType;
      const sources = (this.getNodeParameter('sourcePaths', i) as string).split(/[\n,]/).map((s) => s.trim()).filter((s) => s !== '');
      const destination = this.getNodeParameter('destinationPath', i) as string;
      const outcomes = await runBackup({ sources, destination, type });
      for (const outcome of outcomes) {
        if (outcome.ok) {
          out.push({ json: { ...outcome.report }, pairedItem: { item: i } });
        } else if (this.continueOnFail()) {
          out.push({ json: { source: outcome.source, error: outcome.error.message, code: outcome.error.code }, pairedItem: { item: i } });
        } else {
          throw new NodeOperationError(this.getNode(), outcome.error.message, { itemIndex: i, description: outcome.error.hint });
        }
      }
    }
    return [out];
  }
}
