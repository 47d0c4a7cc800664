import type { INodeProperties } from 'n8n-workflow';

export const resourceProperty: INodeProperties = {
  displayName: 'Resource',
  name: 'resource',
  type: 'options',
  noDataExpression: true,
  options: [
    { name: 'Backup', value: 'backup', description: 'Back up one or more folders into a destination folder' },
    { name: 'Backup Set', value: 'backupSet', description: 'List, restore, verify or prune the backups already made of a folder' },
  ],
  default: 'backup',
  description: 'Backup makes backups of folders; Backup Set works on backups already made (list, restore, verify, prune). Default: Backup.',
};

/** Shown on every operation: the paths below must be ones n8n lets nodes use. */
export const fileAccessNotice: INodeProperties = {
  displayName:
    'Every folder here must be one n8n lets nodes use. n8n 2.x allows only files under ~/.n8n-files (in Docker: /home/node/.n8n-files) ' +
    'unless the environment variable N8N_RESTRICT_FILE_ACCESS_TO lists other folders (separate several with ;). n8n\'s own folder (~/.n8n) is always blocked. ' +
    'This node needs a self-hosted n8n.',
  name: 'fileAccessNotice',
  type: 'notice',
  default: '',
};

export const DESTINATION_PLACEHOLDER = '/home/node/.n8n-files/backups';

/** Text shared by every "set name" field. */
export const SET_NAME_EXPLAINED =
  'A set is one source folder\'s backups inside the destination, the sub-folder <destination>/<set name>/. ' +
  'By default its name is the source folder\'s name plus 8 characters of a hash of its path, e.g. documents-1a2b3c4d; ' +
  'a Backup operation outputs it as "set", and Backup Set > List shows every set.';
