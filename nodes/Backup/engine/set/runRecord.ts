/**
 * The set's run record, `<set>/last-run.json`: how the last backup run into the set ended (made a
 * backup, skipped, failed), for `status` and monitoring. Replaced whole at the end of every run
 * (the destination's atomic write: temp file + rename, or one S3 upload). It holds no secret: the
 * message is the run's error message, which never names a passphrase or a credential. Only backup
 * runs write it; a dry run writes nothing at all. Sets written before it existed have none.
 */

/** The file's name in the set folder (beside the backups, never a backup id). */
export const RUN_RECORD_FILE = 'last-run.json';
/** Far larger than any record: a bigger file is not one. */
export const MAX_RUN_RECORD_BYTES = 64 << 10;
const MAX_MESSAGE = 2000;

export type RunOutcome = 'success' | 'skipped' | 'failed';

export interface RunRecord {
  outcome: RunOutcome;
  /** `OK`, `SKIPPED`, or the error code of a failed run (`SOURCE_MISSING`, `LOCK_TIMEOUT`, ...). */
  code: string;
  /** The report's summary, or the error message. */
  message: string;
  startedAt: string;
  finishedAt: string;
  /** The backup the run made; null when it made none. */
  backupId: string | null;
  /** The source folder backed up (empty for an encrypted set: its backup.json keeps no source either). */
  source: string;
  /** How many file errors the backup recorded (files it could not read). */
  errorCount: number;
}

export function runRecordText(record: RunRecord): string {
  return `${JSON.stringify({ ...record, message: record.message.slice(0, MAX_MESSAGE) }, null, 2)}\n`;
}

const OUTCOMES: readonly string[] = ['success', 'skipped', 'failed'];
const isText = (v: unknown): v is string => typeof v === 'string';

/** The record, or undefined when the text is not one (damaged or from elsewhere): status then says so. */
export function parseRunRecord(text: string): RunRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (!isText(v.outcome) || !OUTCOMES.includes(v.outcome) || !isText(v.code) || !isText(v.message) || !isText(v.startedAt) || !isText(v.finishedAt)) return undefined;
  if (v.backupId !== null && !isText(v.backupId)) return undefined;
  return {
    outcome: v.outcome as RunOutcome, code: v.code, message: v.message, startedAt: v.startedAt, finishedAt: v.finishedAt, backupId: v.backupId,
    source: isText(v.source) ? v.source : '', errorCount: typeof v.errorCount === 'number' ? v.errorCount : 0,
  };
}
