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

/** Shown on every operation, kept to two lines: the error (ACCESS_DENIED) names this n8n's allowed folders. */
export const fileAccessNotice: INodeProperties = {
  displayName:
    'Self-hosted n8n only. Every folder must be one n8n lets nodes use: by default only ~/.n8n-files (Docker: /home/node/.n8n-files); ' +
    'N8N_RESTRICT_FILE_ACCESS_TO changes that.',
  name: 'fileAccessNotice',
  type: 'notice',
  default: '',
};

export const DESTINATION_PLACEHOLDER = '/home/node/.n8n-files/backups';

/** Text shared by every "set name" field. */
export const SET_NAME_EXPLAINED =
  'A backup set is one source folder\'s backups inside the backup folder, the sub-folder <backup folder>/<set name>/. ' +
  'By default its name is the source folder\'s name plus 8 characters of a hash of its path, e.g. documents-1a2b3c4d; ' +
  'a Backup operation outputs it as "set", and Backup Set > List shows every set.';

/** Inline hints (shown under the field, not on hover) where a wrong value is likely. */
export const HINTS = {
  sourcePaths: 'Absolute paths, one per line, inside a folder this n8n allows (see the note above)',
  backupFolder: 'Where the backups are kept: not inside a source folder. Each source gets its own sub-folder (set).',
  fullEveryDays: 'Days between full backups; 0 = only the first one. Runs between them store only changes.',
  keepCounts: '0 keeps every backup. Older chains are removed whole; backups still needed are kept.',
  restoreInto: 'Files are written here, not to the original place: a new or empty folder is safest',
} as const;
