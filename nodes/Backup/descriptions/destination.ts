import type { INodeProperties } from 'n8n-workflow';

/** Where the backups are kept: the values saved in workflows. */
export type DestinationType = 'local' | 's3' | 'sftp';

/** n8n's own credential types (n8n-nodes-base) the remote destinations read; see README, "Remote destinations in the node". */
export const S3_CREDENTIAL = 's3';
export const AWS_CREDENTIAL = 'aws';
export const SFTP_CREDENTIAL = 'sftp';

/** Which of n8n's credential types an S3 destination reads: `s3` (any S3-compatible service) or `aws` (AWS (IAM)). */
export type S3CredentialType = 's3' | 'aws';

export const HOST_KEY_PLACEHOLDER = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... or SHA256:...';

/**
 * The Destination Type and the fields of S3 and SFTP, for one resource. Local Folder is the
 * default, so a workflow saved before this parameter existed keeps its Backup Folder
 * (destinationPath) and behaves as before.
 */
export function destinationFields(resource: 'backup' | 'backupSet'): INodeProperties[] {
  const forType = (type: DestinationType): INodeProperties['displayOptions'] => ({ show: { resource: [resource], destinationType: [type] } });
  return [
    {
      displayName: 'Destination Type',
      name: 'destinationType',
      type: 'options',
      noDataExpression: true,
      displayOptions: { show: { resource: [resource] } },
      options: [
        { name: 'Local Folder', value: 'local', description: 'A folder on the machine (or a mounted disk) n8n runs on' },
        { name: 'S3', value: 's3', description: 'A bucket on AWS S3 or any S3-compatible storage (MinIO, Backblaze B2, Cloudflare R2, Wasabi), with an S3 credential' },
        { name: 'SFTP', value: 'sftp', description: 'A folder on an SSH server, with an SFTP credential' },
      ],
      default: 'local',
      description:
        resource === 'backup'
          ? 'Where the backups are kept. S3 and SFTP keep them off this machine, so a lost disk or VM does not take the backups with it. Default: Local Folder.'
          : 'Where the backups are: the Destination Type the Backup operations wrote to. Default: Local Folder.',
    },
    {
      displayName: 'S3 Credential Type',
      name: 's3CredentialType',
      type: 'options',
      noDataExpression: true,
      displayOptions: forType('s3'),
      options: [
        { name: 'S3', value: 's3', description: 'The S3 credential of n8n (as the S3 node uses): endpoint, region, keys, path style; for AWS or any S3-compatible service' },
        { name: 'AWS (IAM)', value: 'aws', description: 'The AWS credential of n8n (as the AWS S3 node uses): region, keys (temporary ones too), an S3 endpoint under Custom Endpoints' },
      ],
      default: 's3',
      description: 'Which kind of n8n credential holds the keys: the one of the S3 node, or the one of the AWS S3 node. Default: S3.',
    },
    {
      displayName: 'Bucket',
      name: 's3Bucket',
      type: 'string',
      default: '',
      required: true,
      displayOptions: forType('s3'),
      placeholder: 'my-backups',
      description: 'The S3 bucket that holds the backups; it must exist. The endpoint, region and keys come from the S3 credential.',
    },
    {
      displayName: 'Prefix',
      name: 's3Prefix',
      type: 'string',
      default: '',
      displayOptions: forType('s3'),
      placeholder: 'n8n/backups',
      description: 'Key prefix inside the bucket (a "folder"), e.g. n8n/backups. Each backup set is a sub-folder of it. Empty (default): the bucket\'s root.',
    },
    {
      displayName: 'Folder on Server',
      name: 'sftpPath',
      type: 'string',
      default: '',
      required: true,
      displayOptions: forType('sftp'),
      placeholder: '/srv/backups',
      description:
        'The folder on the SSH server that holds the backups; it must exist. An absolute path (/srv/backups), or a path under the login folder (backups or ~/backups). The host, user and password or key come from the SFTP credential.',
    },
    {
      displayName: 'Host Key',
      name: 'sftpHostKey',
      type: 'string',
      default: '',
      required: true,
      displayOptions: forType('sftp'),
      placeholder: HOST_KEY_PLACEHOLDER,
      hint: 'On the server: cat /etc/ssh/ssh_host_ed25519_key.pub (or ssh-keygen -lf it for the SHA256 fingerprint)',
      description:
        "The SSH server's public host key, so that nobody in between can pose as the server: a line as in /etc/ssh/ssh_host_ed25519_key.pub or from ssh-keyscan (ssh-ed25519 AAAA...), or its SHA256 fingerprint (SHA256:...). " +
        'Required: a server that shows another key is refused (HOST_KEY_CHANGED).',
    },
  ];
}
