import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import type { BackupOperation, BackupReport, CalendarOptions } from '../../engine';
import { runBackup } from '../../engine';
import { failureItem, invalidParameter, OperationFailure } from '../helpers/errors';
import { cancelSignal, logSummary, progressReporter } from '../helpers/execution';
import { readPassphrase } from '../helpers/encryption';
import { assertN8nUserFolderRule, assertPathAllowed, blockedPathsInside, exactPathGlob } from '../helpers/fileAccess';
import type { NodeDestination } from '../helpers/destination';
import { readDestination } from '../helpers/destination';
import { backupReportJson, workflowTimeZone } from '../helpers/output';
import type { BackupNodeOptions } from '../helpers/parameters';
import { labelOf, parseBackupOptions, parseCalendarRetention, parsePathList, readCollection, toEngineBackupOptions } from '../helpers/parameters';

const FIRST_PATHS = 5;

interface ItemParameters {
  sources: string[];
  /** A local folder, or S3 / SFTP with the credential's settings (Destination Type). */
  destination: NodeDestination;
  options: BackupNodeOptions;
  /** Calendar Retention (restic's rules), on top of the Keep Full/Differential/Incremental options. */
  calendar: CalendarOptions;
  /** From the Backup Encryption credential, only when Encrypt is on. */
  passphrase: string | undefined;
}

async function readItem(ctx: IExecuteFunctions, i: number, sources: string[]): Promise<ItemParameters> {
  const destination = await readDestination(ctx, i);
  const options = parseBackupOptions(readCollection(ctx, 'options', i));
  const calendar = parseCalendarRetention(readCollection(ctx, 'calendarRetention', i));
  if (options.setName !== undefined && sources.length > 1) {
    throw invalidParameter(
      `"${labelOf('setName')}" can only be used with a single source folder (${sources.length} given): each source is its own set.`,
      `Remove the Backup Set Name option, or use one Backup node (or one item) per source folder.`,
    );
  }
  const passphrase = await readPassphrase(ctx, i);
  return { sources, destination, options, calendar, passphrase };
}

function fileErrorsFailure(report: BackupReport): OperationFailure {
  const first = report.errors.slice(0, FIRST_PATHS).map((e) => `${e.path} (${e.message})`);
  const more = report.errorCount > first.length ? `, and ${report.errorCount - first.length} more` : '';
  return new OperationFailure(
    'FILE_ERRORS',
    `${report.errorCount} file(s) of ${report.source} could not be backed up`,
    `${first.join('; ')}${more}. The backup ${report.backupId ?? ''} was written without them. ` +
      'Fix the files (permissions, special files: exclude them), or turn off "Fail on File Errors" to accept such backups; the full list is in "errors".',
    { ...report },
  );
}

async function backupOne(ctx: IExecuteFunctions, type: BackupOperation, source: string, item: ItemParameters, signal: AbortSignal | undefined): Promise<BackupReport> {
  // Resolved through symlinks and checked before the engine reads anything.
  await assertPathAllowed(ctx, source, 'source folder');
  await assertN8nUserFolderRule(source, 'source folder', item.options.allowN8nUserFolder ?? false);
  // n8n's own folders inside an allowed source stay out of the backup, as n8n keeps them from every node.
  const ownFolders = await blockedPathsInside(ctx, source);
  const options = { ...toEngineBackupOptions(type, source, item.destination.destination, item.options, item.passphrase), ...item.calendar };
  options.destinationOptions = item.destination.options;
  options.exclude = [...item.options.exclude, ...ownFolders.map(exactPathGlob)];
  options.signal = signal;
  options.onProgress = progressReporter(ctx, 'Backup of');
  const [outcome] = await runBackup(options);
  if (!outcome.ok) throw outcome.error;
  // A dry run wrote nothing to fail over: its item lists the file errors the backup would meet.
  if (item.options.failOnFileErrors && outcome.report.dryRun !== true && outcome.report.errorCount > 0) throw fileErrorsFailure(outcome.report);
  return outcome.report;
}

/** Backup > Auto/Full/Differential/Incremental: one output item per (input item, source folder). */
export async function executeBackup(this: IExecuteFunctions, items: INodeExecutionData[], type: BackupOperation): Promise<INodeExecutionData[]> {
  const out: INodeExecutionData[] = [];
  const signal = cancelSignal(this);
  const timeZone = workflowTimeZone(this);
  for (let i = 0; i < items.length; i++) {
    let sources: string[] = [];
    let item: ItemParameters;
    try {
      sources = parsePathList(this.getNodeParameter('sourcePaths', i), 'sourcePaths');
      item = await readItem(this, i, sources);
      // Resolved through symlinks and checked before anything is written; a bucket or a folder on
      // another server is not this machine's file, so n8n's allowed folders do not apply to it.
      if (item.destination.type === 'local') {
        await assertPathAllowed(this, item.destination.destination, 'backup folder');
        await assertN8nUserFolderRule(item.destination.destination, 'backup folder', item.options.allowN8nUserFolder ?? false);
      }
    } catch (error) {
      // A problem with the item as a whole: one error item per source it names (or one).
      for (const source of sources.length > 0 ? sources : [undefined]) out.push(failureItem(this, error, i, source === undefined ? {} : { source }));
      continue;
    }
    for (const source of item.sources) {
      try {
        const report = await backupOne(this, type, source, item, signal);
        const json = backupReportJson(report, timeZone);
        logSummary(this, String(json.summary));
        out.push({ json, pairedItem: { item: i } });
      } catch (error) {
        out.push(failureItem(this, error, i, { source }));
      }
    }
  }
  return out;
}
