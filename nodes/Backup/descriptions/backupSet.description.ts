import type { INodeProperties } from 'n8n-workflow';
import { calendarRetentionProperty, DESTINATION_PLACEHOLDER, HINTS, SET_NAME_EXPLAINED } from './common';
import { browseFields } from './browse.description';
import { destinationFields } from './destination';

const forSet = (...operation: string[]): INodeProperties['displayOptions'] => ({ show: { resource: ['backupSet'], operation } });

export const backupSetOperations: INodeProperties = {
  displayName: 'Operation',
  name: 'operation',
  type: 'options',
  noDataExpression: true,
  displayOptions: { show: { resource: ['backupSet'] } },
  options: [
    { name: 'Compare Backups', value: 'diff', action: 'Compare two backups', description: 'Output one item per path added, changed or deleted between two backups of a set' },
    { name: 'Find File Versions', value: 'find', action: 'Find the versions of a file', description: 'Output one item per version of some paths across every backup of a set: when each appeared, changed or was deleted' },
    { name: 'List', value: 'list', action: 'List backups', description: 'Output one item per backup in the backup folder, or in one set' },
    { name: 'List Files', value: 'listFiles', action: 'List the files of a backup', description: 'Output one item per file, folder and symlink of one backup, with size, time and hash' },
    { name: 'Prune', value: 'prune', action: 'Prune old backups', description: 'Remove old backups of a set by the keep counts, whole chains at a time' },
    { name: 'Restore', value: 'restore', action: 'Restore a backup', description: 'Write the folder as it was at one backup into a folder of your choice' },
    {
      name: 'Status',
      value: 'status',
      action: 'Get the status of a set',
      description: "For monitoring: the newest backup and its age, the last run's result, the chain check and the size of a set",
    },
    { name: 'Verify', value: 'verify', action: 'Verify backups', description: 'Check that the stored files of a set are complete and undamaged' },
  ],
  default: 'list',
  description: 'What to do with the backups in the backup folder. Default: List.',
};

const setNameHelp = `${SET_NAME_EXPLAINED} Tip: map it from a Backup node: {{ $json.set }}.`;

export const backupSetFields: INodeProperties[] = [
  ...destinationFields('backupSet'),
  {
    // Labels read right the first time ("Backup Folder" holds backups, "Restore Into" gets files); names are the saved contract.
    displayName: 'Backup Folder',
    name: 'destinationPath',
    type: 'string',
    default: '',
    required: true,
    displayOptions: { show: { resource: ['backupSet'], destinationType: ['local'] } },
    placeholder: DESTINATION_PLACEHOLDER,
    hint: 'The folder the Backup operations wrote to (their Backup Folder)',
    description: `The folder that holds the backups: the Backup Folder the Backup operations wrote to. Example: ${DESTINATION_PLACEHOLDER}.`,
  },
  {
    displayName: 'Backup Set',
    name: 'setName',
    type: 'string',
    default: '',
    displayOptions: forSet('list'),
    placeholder: 'documents-1a2b3c4d',
    description: `Only list the backups of this set. Leave empty (default) to list every set in the backup folder. ${SET_NAME_EXPLAINED}`,
  },
  {
    displayName: 'Backup Set',
    name: 'setName',
    type: 'string',
    default: '',
    required: true,
    displayOptions: forSet('restore', 'verify', 'prune', 'listFiles', 'diff', 'find', 'status'),
    placeholder: 'documents-1a2b3c4d',
    description: `The set to work on. ${setNameHelp} Required.`,
  },
  // Restore
  {
    displayName: 'Backup ID',
    name: 'backupId',
    type: 'string',
    default: 'latest',
    displayOptions: forSet('restore'),
    placeholder: '20261126T020000123Z-full',
    description:
      'Which backup to restore: latest (default, the newest complete backup) or a backupId from Backup Set > List or from a Backup operation, e.g. 20261126T020000123Z-full. A differential or incremental restores the whole folder as it was then. To pick by time, leave latest and set Restore As Of.',
  },
  {
    displayName: 'Restore To',
    name: 'restoreTo',
    type: 'options',
    noDataExpression: true,
    options: [
      { name: 'Folder', value: 'folder', description: 'Write the files into a folder (Restore Into)' },
      { name: 'Binary Data', value: 'binary', description: 'Output each selected file as binary data of an item, e.g. to e-mail it or answer a webhook with it' },
    ],
    default: 'folder',
    displayOptions: forSet('restore'),
    description: 'Where the restored files go. Binary Data is for a file or a few (at most 100 files and Max Total Size); nothing is written to a folder of yours. Default: Folder.',
  },
  {
    displayName: 'Put Output File in Field',
    name: 'binaryPropertyName',
    type: 'string',
    default: 'data',
    displayOptions: { show: { resource: ['backupSet'], operation: ['restore'], restoreTo: ['binary'] } },
    hint: 'The name of the output binary field to put the file in',
    description: 'The binary field each output item carries its restored file in. Default: data.',
  },
  {
    displayName: 'Max Total Size (MiB)',
    name: 'binaryMaxMiB',
    type: 'number',
    typeOptions: { minValue: 1, numberPrecision: 0 },
    default: 64,
    displayOptions: { show: { resource: ['backupSet'], operation: ['restore'], restoreTo: ['binary'] } },
    description: 'Refuse (BINARY_TOO_LARGE) when the selected files hold more than this, before anything is restored: binary data is held by n8n. Default: 64.',
  },
  {
    displayName: 'Restore Into',
    name: 'targetPath',
    type: 'string',
    default: '',
    required: true,
    displayOptions: { show: { resource: ['backupSet'], operation: ['restore'], restoreTo: ['folder'] } },
    placeholder: '/home/node/.n8n-files/restored',
    hint: HINTS.restoreInto,
    description:
      'Folder to restore into, as an absolute path; created if missing. It must be outside the backup folder. Example: /home/node/.n8n-files/restored.',
  },
  {
    displayName: 'If Restore Into Is Not Empty',
    name: 'overwrite',
    type: 'options',
    options: [
      { name: 'Fail', value: 'fail', description: 'Restore only into an empty or new folder (safest)' },
      { name: 'Overwrite', value: 'overwrite', description: "Replace what stands at the backup's paths; other files in the folder are left alone" },
      { name: 'Skip', value: 'skip', description: 'Keep every path that already exists in the folder; restore only the missing ones' },
    ],
    default: 'fail',
    displayOptions: { show: { resource: ['backupSet'], operation: ['restore'], restoreTo: ['folder'] } },
    description: 'What to do when the Restore Into folder already holds files. Default: Fail, so a restore never mixes with other files by accident.',
  },
  {
    displayName: 'Restore As Of',
    name: 'asOf',
    type: 'dateTime',
    default: '',
    displayOptions: forSet('restore'),
    hint: 'Empty: Backup ID decides. Set: the newest complete backup made at or before this time',
    description:
      "Restore the folder as it was at this date and time: the newest complete backup that started at or before it (leave Backup ID at latest). A time without offset is in the workflow's time zone; an expression may give an ISO date-time such as 2026-11-24T18:00:00+01:00, or a date alone (the end of that day). Fails with BACKUP_NOT_FOUND when the first backup is later. Default: empty.",
  },
  {
    displayName: 'Only These Paths',
    name: 'includePaths',
    type: 'string',
    typeOptions: { rows: 3 },
    default: '',
    displayOptions: forSet('restore'),
    placeholder: 'docs/2026\n*.pdf',
    hint: 'One per line, relative to the backed-up folder; a folder brings everything below it. Empty: everything',
    description:
      'Restore only these paths: exact paths or globs, one per line, matched against the path inside the backed-up folder (docs/report.pdf, not /srv/data/docs/report.pdf). A folder restores with everything below it; a glob without "/" matches a name at any depth (*.pdf); ./name matches only at the top. The folders above a restored path are made with their recorded permissions and times. Nothing matching fails with NOTHING_SELECTED. Default: empty, everything.',
  },
  {
    displayName: 'Leave Out Paths',
    name: 'excludePaths',
    type: 'string',
    typeOptions: { rows: 3 },
    default: '',
    displayOptions: forSet('restore'),
    placeholder: '*.log\ncache',
    hint: 'Same patterns as Only These Paths; wins over them',
    description:
      'Paths not to restore, one pattern per line, also inside Only These Paths (docs with *.log left out). A folder leaves out everything below it. Default: empty, nothing left out.',
  },
  ...browseFields,
  // Verify
  {
    displayName: 'Backup ID',
    name: 'backupId',
    type: 'string',
    default: 'all',
    displayOptions: forSet('verify'),
    placeholder: 'all',
    description:
      'Which backups to check: all (default: every backup checks the files it holds), latest, or one backupId (every file that backup needs to be restored, wherever it is stored)',
  },
  {
    displayName: 'Full Verification',
    name: 'fullVerify',
    type: 'boolean',
    default: false,
    displayOptions: forSet('verify'),
    description:
      "Whether to re-read every stored byte and compare it with the manifest's SHA-256 (slow on large sets). Default: off, a quick check that every file is present with the right size.",
  },
  {
    displayName: 'Decrypt',
    name: 'encrypt',
    type: 'boolean',
    default: false,
    displayOptions: forSet('restore', 'verify', 'listFiles', 'diff', 'find', 'status'),
    description:
      'Whether the set is encrypted (made with Encrypt on): turn on and choose the Backup Encryption credential it was made with. An encrypted set cannot be restored, verified or browsed without it; Status then reports the chain as not checked. Default: off.',
  },
  // Prune
  {
    displayName: 'Keep Full Backups',
    name: 'keepFull',
    type: 'number',
    typeOptions: { minValue: 0, numberPrecision: 0 },
    default: 0,
    displayOptions: forSet('prune'),
    hint: HINTS.keepCounts,
    description: 'Keep the newest N full backups; older chains (a full and every backup that depends on it) are removed whole. 0 = keep all (default). Example: 4.',
  },
  {
    displayName: 'Keep Differential Backups',
    name: 'keepDifferential',
    type: 'number',
    typeOptions: { minValue: 0, numberPrecision: 0 },
    default: 0,
    displayOptions: forSet('prune'),
    hint: HINTS.keepCounts,
    description: 'Within the kept chains, keep the newest N differential backups. 0 = keep all (default).',
  },
  {
    displayName: 'Keep Incremental Backups',
    name: 'keepIncremental',
    type: 'number',
    typeOptions: { minValue: 0, numberPrecision: 0 },
    default: 0,
    displayOptions: forSet('prune'),
    hint: HINTS.keepCounts,
    description: 'Within the kept chains, keep the newest N incremental backups; one that a kept backup still needs is never removed. 0 = keep all (default).',
  },
  calendarRetentionProperty(forSet('prune')),
  {
    displayName: 'Dry Run',
    name: 'dryRun',
    type: 'boolean',
    default: false,
    displayOptions: forSet('prune'),
    description: 'Whether to only report what would be removed ("removed" lists it) and remove nothing. Default: off.',
  },
  {
    // Only in the AI tool variant of the node ("@tool"): see actions/helpers/toolUse.ts.
    displayName: 'Let the AI Agent Change Files',
    name: 'allowDestructiveToolUse',
    type: 'boolean',
    default: false,
    displayOptions: { show: { '@tool': [true], resource: ['backupSet'], operation: ['restore', 'prune'] } },
    hint: 'Off: an agent may only Prune as a dry run and Restore without Overwrite',
    description:
      'Whether an AI agent calling this node as a tool may do what cannot be undone: Prune that deletes backups, and Restore with Overwrite. Default: off, such a call fails with TOOL_NOT_ALLOWED.',
  },
  {
    displayName: 'Options',
    name: 'options',
    type: 'collection',
    placeholder: 'Add Option',
    default: {},
    displayOptions: forSet('prune'),
    description: 'Optional settings of the prune. Nothing added = the defaults each option names.',
    options: [
      {
        displayName: 'Lock Timeout (Seconds)',
        name: 'lockTimeout',
        type: 'number',
        typeOptions: { minValue: 0, maxValue: 86400, numberPrecision: 0 },
        default: 60,
        description: 'Only one backup or prune writes a set at a time. How long to wait for another one to finish before failing with LOCKED. Default: 60.',
      },
    ],
  },
];
