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

const periodCount = (name: string, displayName: string, period: string, example: string): INodeProperties => ({
  displayName,
  name,
  type: 'number',
  typeOptions: { minValue: 0, numberPrecision: 0 },
  default: 0,
  description: `For the last N ${period} that have a backup, keep the newest backup of each (restic's rule). 0 = no rule (default). Example: ${example}.`,
});

/**
 * Calendar retention (restic's forget rules), the same collection on the Backup operations and on
 * Backup Set > Prune. Empty (the default) = no calendar rule: existing workflows behave as before.
 */
export function calendarRetentionProperty(displayOptions: INodeProperties['displayOptions']): INodeProperties {
  return {
    displayName: 'Calendar Retention',
    name: 'calendarRetention',
    type: 'collection',
    placeholder: 'Add Rule',
    default: {},
    displayOptions,
    description:
      'Keep backups by calendar, like restic forget: e.g. Keep Daily 7, Keep Weekly 4, Keep Monthly 12. A backup is kept if any rule keeps it, ' +
      'these or the Keep Full/Differential/Incremental counts; with calendar rules and all three counts at 0, the counts keep nothing extra. ' +
      'Nothing added = no calendar rule (default).',
    hint: 'A kept incremental or differential always keeps the backups it needs to restore. The output\'s "rules" says which rule kept each backup (daily #3, within 30d, reference of <id>).',
    options: [
      {
        displayName: 'Keep Last',
        name: 'keepLast',
        type: 'number',
        typeOptions: { minValue: 0, numberPrecision: 0 },
        default: 0,
        description: 'Keep the N newest backups, whatever their type and time. 0 = no rule (default). Example: 3.',
      },
      periodCount('keepHourly', 'Keep Hourly', 'hours', '24'),
      periodCount('keepDaily', 'Keep Daily', 'days', '7'),
      periodCount('keepWeekly', 'Keep Weekly', 'weeks (Monday to Sunday)', '4'),
      periodCount('keepMonthly', 'Keep Monthly', 'months', '12'),
      periodCount('keepYearly', 'Keep Yearly', 'years', '5'),
      {
        displayName: 'Keep Within',
        name: 'keepWithin',
        type: 'string',
        default: '',
        placeholder: '30d',
        description:
          'Keep every backup made within this long before the newest backup: a number with y (years), m (months), w (weeks), d (days) or h (hours), combined as in 1y2m or 2w3d. Empty = no rule (default). Example: 30d.',
      },
      {
        displayName: 'Time Zone',
        name: 'timeZone',
        type: 'string',
        default: '',
        placeholder: 'Europe/Berlin',
        description: 'The IANA time zone the hours, days, weeks, months and years are counted in, so "daily" follows your midnight. Empty = UTC (default). Example: Europe/Berlin.',
      },
    ],
  };
}
