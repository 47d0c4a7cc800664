import { BackupError, errorMessage } from '../errors';
import { summarizeBackup } from '../humanize';
import { defaultSetName } from '../paths';
import type { OpenedDestination } from '../set/openSetStore';
import { setStoreIn } from '../set/openSetStore';
import type { RunRecord } from '../set/runRecord';
import { runRecordText } from '../set/runRecord';
import type { SetStore } from '../set/setStore';
import type { BackupSettings } from '../settings';
import type { BackupReport } from '../types';

const NOT_A_PLACE = new Set(['DESTINATION_INSIDE_SOURCE', 'SOURCE_INSIDE_DESTINATION', 'SET_NAME_INVALID']);

/** The source as the record may name it: an encrypted set's plain files name none (backup.json keeps none either). */
const sourceOf = (settings: BackupSettings, source: string): string => (settings.passphrase === undefined ? source : '');

/**
 * Replaces the set's run record with this made or skipped run. Never fails the run: a backup
 * that was made stays made; the report carries a RUN_RECORD_NOT_WRITTEN warning instead.
 */
export async function withRunRecord(settings: BackupSettings, store: SetStore, report: BackupReport): Promise<BackupReport> {
  const record: RunRecord = {
    outcome: report.skipped ? 'skipped' : 'success', code: report.skipped ? 'SKIPPED' : 'OK', message: report.summary,
    startedAt: report.startedAt, finishedAt: report.finishedAt, backupId: report.backupId, source: sourceOf(settings, report.source), errorCount: report.errorCount,
  };
  if (settings.passphrase !== undefined) record.message = record.message.split(report.source).join('<source>');
  try {
    await store.writeRunRecordText(runRecordText(record));
    return report;
  } catch (error) {
    const warned: BackupReport = {
      ...report,
      warnings: [...report.warnings, { code: 'RUN_RECORD_NOT_WRITTEN', backupId: report.backupId ?? '', message: `the run record of set ${store.set} could not be written (${errorMessage(error)}); status will show the run before` }],
    };
    return { ...warned, summary: summarizeBackup(warned) };
  }
}

/**
 * Records a failed run when the set can be named and reached (a local set folder must exist
 * already); a record that cannot be written is dropped (the run already fails, with its own error).
 */
export async function recordFailure(settings: BackupSettings, where: OpenedDestination | undefined, store: SetStore | undefined, source: string, startedAt: Date, error: unknown): Promise<void> {
  // A destination refused as such (inside the source, a bad set name) is no place to write into.
  if (where === undefined || (error instanceof BackupError && NOT_A_PLACE.has(error.code))) return;
  try {
    const target = store ?? setStoreIn(where, settings.setName ?? defaultSetName(source));
    const failure = error instanceof BackupError ? error : undefined;
    const record: RunRecord = {
      outcome: 'failed', code: failure?.code ?? 'IO_ERROR', message: errorMessage(error), startedAt: startedAt.toISOString(), finishedAt: settings.now().toISOString(),
      backupId: null, source: sourceOf(settings, source), errorCount: 0,
    };
    if (settings.passphrase !== undefined) record.message = record.message.split(source).join('<source>');
    await target.writeRunRecordText(runRecordText(record));
  } catch {
    // The run's own error is what the caller reports.
  }
}
