import type { INodeProperties } from 'n8n-workflow';
import { calendarRetentionProperty, DESTINATION_PLACEHOLDER, HINTS, SET_NAME_EXPLAINED } from './common';
import { destinationFields } from './destination';

const showForBackup = { show: { resource: ['backup'] } };
const onlyAuto = { show: { '/operation': ['auto'] } };

export const backupOperations: INodeProperties = {
  displayName: 'Operation',
  name: 'operation',
  type: 'options',
  noDataExpression: true,
  displayOptions: showForBackup,
  options: [
    {
      name: 'Auto',
      value: 'auto',
      action: 'Back up folders automatically',
      description:
        'Let the rules decide: a full backup when there is none or the newest full is Full Every (Days) old, otherwise an incremental (or a differential, see the options). Skips a run when nothing changed.',
    },
    { name: 'Differential', value: 'differential', action: 'Make a differential backup', description: 'Store the files changed since the last full backup' },
    { name: 'Full', value: 'full', action: 'Make a full backup', description: 'Store every file' },
    { name: 'Incremental', value: 'incremental', action: 'Make an incremental backup', description: 'Store the files changed since the last backup of any type' },
  ],
  default: 'auto',
  description: 'Which kind of backup to make. Auto (default) decides by itself and suits a Schedule Trigger: a weekly full and daily incrementals.',
};

export const backupFields: INodeProperties[] = [
  {
    displayName: 'Source Folders',
    name: 'sourcePaths',
    type: 'string',
    typeOptions: { rows: 3 },
    default: '',
    required: true,
    displayOptions: showForBackup,
    placeholder: '/home/node/.n8n-files/documents\n/home/node/.n8n-files/photos',
    hint: HINTS.sourcePaths,
    description:
      'Folders to back up, as absolute paths: one per line, or separated by commas (an expression may also return an array of paths). ' +
      'Each folder becomes its own backup set and its own output item. Example: /home/node/.n8n-files/documents.',
  },
  ...destinationFields('backup'),
  {
    // Shown as "Backup Folder" (where the backups go); the name stays destinationPath in saved workflows.
    displayName: 'Backup Folder',
    name: 'destinationPath',
    type: 'string',
    default: '',
    required: true,
    displayOptions: { show: { resource: ['backup'], destinationType: ['local'] } },
    placeholder: DESTINATION_PLACEHOLDER,
    hint: HINTS.backupFolder,
    description:
      'Folder that holds the backups, one sub-folder (backup set) per source; created if missing. It must not be inside a source folder, nor a source inside it. ' +
      `Example: ${DESTINATION_PLACEHOLDER}.`,
  },
  {
    displayName: 'Encrypt',
    name: 'encrypt',
    type: 'boolean',
    default: false,
    displayOptions: showForBackup,
    description:
      'Whether to encrypt the backups (AES-256-GCM) with the passphrase of a Backup Encryption credential, chosen below. Needs the Tar.gz format, which is then the default. ' +
      'Once a set holds encrypted backups, every later backup of it must be encrypted with the same passphrase, and restoring it needs that passphrase: losing it loses the backups. Default: off.',
  },
  {
    displayName: 'Options',
    name: 'options',
    type: 'collection',
    placeholder: 'Add Option',
    default: {},
    displayOptions: showForBackup,
    description: 'Optional settings: the auto rules, retention (how many backups to keep), format, exclusions and more. Nothing added = the defaults each option names.',
    options: [
      {
        displayName: "Allow n8n's Own Folder",
        name: 'allowN8nUserFolder',
        type: 'boolean',
        default: false,
        description:
          "Whether a source or destination folder may be, lie inside or contain n8n's own folder (~/.n8n, or N8N_USER_FOLDER/.n8n: n8n's database, settings and encryption key). " +
          "Default: off, such a folder is refused. On: it is accepted, but n8n's own folder is still left out of the backup while n8n blocks it (N8N_BLOCK_FILE_ACCESS_TO_N8N_FILES not false), and n8n's own file-access rules still apply.",
      },
      {
        displayName: 'Backup Set Name',
        name: 'setName',
        type: 'string',
        default: '',
        placeholder: 'documents',
        description: `Name the backup set yourself (letters, digits, dots, dashes, underscores). Only with a single source folder. ${SET_NAME_EXPLAINED}`,
      },
      {
        displayName: 'Compare File Contents',
        name: 'compareContent',
        type: 'boolean',
        default: false,
        description:
          'Whether to read and hash every file to find changes, instead of comparing size and modification time. Slow (reads everything), for sources whose tools restore old modification times. Default: off.',
      },
      {
        displayName: 'Compression Level',
        name: 'compressionLevel',
        type: 'number',
        typeOptions: { minValue: 0, maxValue: 9, numberPrecision: 0 },
        default: 6,
        description: 'Gzip level when Format is Tar.gz: 0 stores without compressing, 9 is smallest and slowest. Default: 6. Ignored for the Folder format.',
      },
      {
        displayName: 'Differential Every (Days)',
        name: 'differentialEveryDays',
        type: 'number',
        typeOptions: { minValue: 0, numberPrecision: 0 },
        default: 0,
        displayOptions: onlyAuto,
        description:
          'Auto only: make a differential backup (everything changed since the full) when the newest full or differential is this many days old; incrementals in between. 0 = never, only fulls and incrementals. Example: 1 with Full Every 7 gives a weekly full and daily differentials.',
      },
      {
        displayName: 'Dry Run',
        name: 'dryRun',
        type: 'boolean',
        default: false,
        hint: 'On: nothing is written to the backup folder; the item says what would be stored',
        description:
          'Whether to only report what this backup would store: the type Auto would choose, files added, changed, deleted and unchanged, and the bytes of file content (before compression for Tar.gz). Nothing is written to the backup folder: no backup, no lock, no retention, no run record. The item has dryRun: true and a summary starting with "dry run:". Fail on File Errors does not apply. Default: off.',
      },
      {
        displayName: 'Exclude',
        name: 'exclude',
        type: 'string',
        typeOptions: { rows: 3 },
        default: '',
        placeholder: '*.tmp\nnode_modules\ncache/**',
        description:
          'Paths to leave out, one glob per line. A glob without "/" matches a name at any depth (*.log, node_modules); a glob with "/" matches the path inside the source (cache/** leaves out the folder cache and everything in it). Default: nothing excluded.',
      },
      {
        displayName: 'Fail on File Errors',
        name: 'failOnFileErrors',
        type: 'boolean',
        default: false,
        description:
          'Whether a file that could not be backed up (unreadable, vanished during the run, a FIFO) makes the node fail for that source. Default: off, the backup still counts and the problems are listed in "errors" and "errorCount".',
      },
      {
        displayName: 'Format',
        name: 'format',
        type: 'options',
        options: [
          { name: 'Folder', value: 'folder', description: 'Files stored as plain files: open the backup and copy a file back with no tool' },
          { name: 'Tar.gz', value: 'tar.gz', description: 'One compressed archive per backup: smaller, and fewer files on the destination' },
        ],
        default: 'folder',
        description: 'How each backup stores the files. Default: Folder, or Tar.gz when Encrypt is on (an encrypted set must use Tar.gz).',
      },
      {
        displayName: 'Full Every (Days)',
        name: 'fullEveryDays',
        type: 'number',
        typeOptions: { minValue: 0, numberPrecision: 0 },
        default: 7,
        displayOptions: onlyAuto,
        hint: HINTS.fullEveryDays,
        description:
          'Auto only: make a new full backup when the newest full is this many days old (counted from an hour early, so a nightly run still makes its weekly full on the seventh day). 0 = a full only when the set has none. Default: 7.',
      },
      {
        displayName: 'Keep Differential Backups',
        name: 'keepDifferential',
        type: 'number',
        typeOptions: { minValue: 0, numberPrecision: 0 },
        default: 0,
        hint: HINTS.keepCounts,
        description: 'After a backup was written, keep only the newest N differential backups of the kept chains. 0 = keep all (default).',
      },
      {
        displayName: 'Keep Full Backups',
        name: 'keepFull',
        type: 'number',
        typeOptions: { minValue: 0, numberPrecision: 0 },
        default: 0,
        hint: HINTS.keepCounts,
        description:
          'After a backup was written, keep only the newest N full backups; older chains (a full and the backups that depend on it) are removed whole. 0 = keep all (default). Example: 4 with Full Every 7 keeps about a month.',
      },
      {
        displayName: 'Keep Incremental Backups',
        name: 'keepIncremental',
        type: 'number',
        typeOptions: { minValue: 0, numberPrecision: 0 },
        default: 0,
        hint: HINTS.keepCounts,
        description:
          'After a backup was written, keep only the newest N incremental backups of the kept chains; one that a kept backup still needs is never removed. 0 = keep all (default).',
      },
      {
        displayName: 'Lock Timeout (Seconds)',
        name: 'lockTimeout',
        type: 'number',
        typeOptions: { minValue: 0, maxValue: 86400, numberPrecision: 0 },
        default: 60,
        description: 'Only one backup or prune writes a set at a time. How long to wait for another one (another execution or worker) to finish before failing with LOCKED. Default: 60.',
      },
      {
        displayName: 'Skip Empty Source',
        name: 'skipEmptySource',
        type: 'boolean',
        default: true,
        description: 'Whether to write no backup for a source folder that has nothing in it (skipReason "source is empty"), e.g. a disk that is not mounted. Default: on.',
      },
      {
        displayName: 'Skip Unchanged',
        name: 'skipUnchanged',
        type: 'boolean',
        default: true,
        // A full is never compared with anything, so it has nothing to skip.
        displayOptions: { hide: { '/operation': ['full'] } },
        description:
          'Whether to write no backup when nothing changed since the backup it would be compared with (skipReason "no changes"). When this option is not added: on for Auto, off for Differential and Incremental (a type you ask for is always written).',
      },
    ],
  },
  calendarRetentionProperty(showForBackup),
];
