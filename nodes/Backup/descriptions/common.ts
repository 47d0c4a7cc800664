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
