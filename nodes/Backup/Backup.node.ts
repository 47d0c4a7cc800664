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
      // n8n's own S3, AWS and SFTP credential types (n8n-nodes-base), so a user's existing credential
      // works here: n8n 2.41 lets a community node declare and read them (proved in
      // test/integration/n8n.test.ts). n8n's community-node lint flags every credential type from
      // another package (written as literals here so the lint sees them); README "Remote destinations in the node" says why this node uses them.
      // eslint-disable-next-line @n8n/community-nodes/no-credential-reuse, @n8n/community-nodes/valid-credential-references
      { name: 's3', required: true, displayOptions: { show: { destinationType: ['s3'], s3CredentialType: ['s3'] } } },
      // eslint-disable-next-line @n8n/community-nodes/no-credential-reuse, @n8n/community-nodes/valid-credential-references
      { name: 'aws', required: true, displayOptions: { show: { destinationType: ['s3'], s3CredentialType: ['aws'] } } },
      // eslint-disable-next-line @n8n/community-nodes/no-credential-reuse, @n8n/community-nodes/valid-credential-references
      { name: 'sftp', required: true, displayOptions: { show: { destinationType: ['sftp'] } } },
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
