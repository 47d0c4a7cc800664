import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { backupEncryptionTest } from './actions/helpers/encryption';
import { route } from './actions/router';
import { nodeProperties } from './descriptions';

/**
 * The Backup node: a thin adapter. The description comes from descriptions/, execute() routes
 * `resource.operation` to actions/, and the engine (engine/) never sees an n8n type.
 */
export class Backup implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'Backup',
    name: 'backup',
    icon: { light: 'file:backup.svg', dark: 'file:backup.dark.svg' },
    group: ['transform'],
    version: 1,
    subtitle: '={{ $parameter["resource"] === "backupSet" ? "Backup set: " + $parameter["operation"] : $parameter["operation"] + " backup" }}',
    description: 'Back up folders (auto, full, differential, incremental) with retention, and list, restore, verify or prune backups',
    defaults: { name: 'Backup' },
    usableAsTool: true,
    inputs: [NodeConnectionTypes.Main],
    outputs: [NodeConnectionTypes.Main],
    // Optional: asked for only when Encrypt (Backup) or Decrypt (Restore, Verify) is on.
    credentials: [
      {
        name: 'backupEncryption',
        required: true,
        displayOptions: { show: { encrypt: [true] } },
        testedBy: 'backupEncryptionTest',
      },
    ],
    properties: nodeProperties,
  };

  methods = {
    credentialTest: { backupEncryptionTest },
  };

  async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
    return route.call(this);
  }
}
