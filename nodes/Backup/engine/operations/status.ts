import type { DestinationOptions } from '../destination';
import { BackupError, errorMessage } from '../errors';
import { humanBytes } from '../humanize';
import { keyForReading } from '../set/encryption';
import { closeDestination, openDestinationFor, setStoreIn } from '../set/openSetStore';
import type { RunRecord } from '../set/runRecord';
import { parseRunRecord } from '../set/runRecord';
import type { SetStore } from '../set/setStore';
import type { BackupSummary, BackupType } from '../types';
import type { VerifyProblem } from './verify';
import { verifyUnguarded } from './verify';

export interface StatusOptions {
  /** A local folder, s3:// or sftp:// (see BackupOptions.destination). */
  destination: string;
  destinationOptions?: DestinationOptions;
  setName: string;
  /** The set's passphrase, for the chain check of an encrypted set (without it the check is skipped, not failed). */
  passphrase?: string;
  /** Clock, injectable for tests. */
  now?: () => Date;
  signal?: AbortSignal;
}

export interface StatusNewest {
  backupId: string;
  type: BackupType;
  startedAt: string;
  finishedAt: string;
  /** Seconds since it finished (the age a monitor compares with its limit). */
  ageSeconds: number;
  /** The same, for people: "3 h 12 min", "2 days 4 h". */
  age: string;
}

export interface StatusHealth {
  /** False when the check could not run (no complete backup, or an encrypted set without its passphrase). */
  checked: boolean;
  /** The quick checks passed; null when not checked. */
  ok: boolean | null;
  /** The backup checked with everything it needs (the newest complete one). */
  backupId: string | null;
  problemCount: number;
  problems: VerifyProblem[];
  summary: string;
}

export interface StatusReport {
  set: string;
  /** Where the set is, without a secret. */
  where: string;
  checkedAt: string;
  /** Complete backups (what list shows as complete). */
  backupCount: number;
  /** Backups listed as damaged (no valid backup.json or manifest). */
  damagedCount: number;
  /** Bytes written by the complete backups (what list sums), and in words. */
  totalBytes: number;
  totalSize: string;
  newest: StatusNewest | null;
  /** newest.ageSeconds, at the top for a monitor's IF; null when the set has no complete backup. */
  ageSeconds: number | null;
  /** The set's run record (last-run.json): null for a set written before it existed, or where no run ran. */
  lastRun: RunRecord | null;
  /** `success`, `skipped`, `failed`, or `none` when no run is recorded. */
  lastRunOutcome: RunRecord['outcome'] | 'none';
  /** One sentence about the last run ("no run recorded" when there is none). */
  lastRunText: string;
  health: StatusHealth;
  /** A complete backup exists, its chain passed the checks, and the last recorded run did not fail. */
  ok: boolean;
  summary: string;
}

/** "45 s", "12 min", "3 h 12 min", "2 days 4 h". */
export function humanAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days} days` : `${days} days ${hours % 24} h`;
}

function newestOf(complete: readonly BackupSummary[], now: Date): StatusNewest | null {
  const b = complete[complete.length - 1];
  if (b === undefined) return null;
  const ageSeconds = Math.max(0, Math.round((now.getTime() - Date.parse(b.finishedAt)) / 1000));
  return { backupId: b.backupId, type: b.type, startedAt: b.startedAt, finishedAt: b.finishedAt, ageSeconds, age: humanAge(ageSeconds) };
}

async function readRecord(store: SetStore): Promise<{ record: RunRecord | null; damaged: boolean }> {
  const text = await store.readRunRecordText();
  if (text === undefined) return { record: null, damaged: false };
  const record = parseRunRecord(text);
  return { record: record ?? null, damaged: record === undefined };
}

function lastRunSentence(record: RunRecord | null, damaged: boolean, now: Date): string {
  if (damaged) return 'no run recorded: last-run.json is damaged';
  if (record === null) return 'no run recorded';
  const ago = humanAge((now.getTime() - Date.parse(record.finishedAt)) / 1000);
  if (record.outcome === 'failed') return `failed ${ago} ago (${record.code}): ${record.message}`;
  if (record.outcome === 'skipped') return `skipped ${ago} ago: ${record.message}`;
  return `made ${record.backupId ?? 'a backup'} ${ago} ago`;
}

/** What quick verify checks, for the newest complete backup and every backup it needs (its chain). */
async function chainHealth(options: StatusOptions, store: SetStore, all: BackupSummary[], newest: StatusNewest | null): Promise<StatusHealth> {
  const skipped = (summary: string): StatusHealth => ({ checked: false, ok: null, backupId: newest?.backupId ?? null, problemCount: 0, problems: [], summary });
  if (newest === null) return skipped('not checked: the set has no complete backup');
  try {
    await keyForReading(store, all, options.passphrase);
  } catch (error) {
    if (error instanceof BackupError && error.code === 'PASSPHRASE_REQUIRED') return skipped('not checked: the set is encrypted and no passphrase was given');
    throw error;
  }
  const report = await verifyUnguarded({ destination: options.destination, setName: options.setName, backupId: newest.backupId, passphrase: options.passphrase, signal: options.signal }, store);
  return { checked: true, ok: report.ok, backupId: newest.backupId, problemCount: report.problemCount, problems: report.problems, summary: report.summary };
}

function summarize(r: Omit<StatusReport, 'summary'>): string {
  const newest = r.newest === null ? 'no complete backup' : `newest backup ${r.newest.backupId} (${r.newest.type}) is ${r.newest.age} old`;
  const damaged = r.damagedCount === 0 ? '' : `, ${r.damagedCount} damaged`;
  const health = r.health.checked ? (r.health.ok === true ? 'chain intact (quick check)' : `chain check found ${r.health.problemCount} problem(s)`) : `chain ${r.health.summary}`;
  return `Set ${r.set}: ${r.ok ? 'OK' : 'NOT OK'}: ${newest}; last run ${r.lastRunText}; ${health}; ${r.backupCount} backup(s)${damaged}, ${r.totalSize}.`;
}

/**
 * A set's state for monitoring: newest complete backup and its age, the last run's record, the
 * quick checks of the newest backup's chain, totals. Reads only, as a registered reader while it
 * checks (a prune never deletes what it is checking); a set with no backup gets no reader marker,
 * so asking about a set that does not exist creates nothing.
 */
export async function setStatus(options: StatusOptions): Promise<StatusReport> {
  const opened = await openDestinationFor(options.destination, options.destinationOptions);
  try {
    const store = setStoreIn(opened, options.setName);
    const now = (options.now ?? (() => new Date()))();
    const all = await store.listBackups();
    const complete = all.filter((b) => b.complete);
    const newest = newestOf(complete, now);
    const { record, damaged } = await readRecord(store).catch((error: unknown) => {
      throw new BackupError('IO_ERROR', `Cannot read the run record of set ${options.setName}: ${errorMessage(error)}`, { cause: error });
    });
    const health = newest === null ? await chainHealth(options, store, all, newest) : await store.whileReading('status', () => chainHealth(options, store, all, newest), { signal: options.signal });
    const totalBytes = complete.reduce((sum, b) => sum + b.bytes.written, 0);
    const report: Omit<StatusReport, 'summary'> = {
      set: options.setName, where: store.where, checkedAt: now.toISOString(), backupCount: complete.length, damagedCount: all.length - complete.length,
      totalBytes, totalSize: humanBytes(totalBytes), newest, ageSeconds: newest?.ageSeconds ?? null, lastRun: record, lastRunOutcome: record?.outcome ?? 'none', lastRunText: lastRunSentence(record, damaged, now), health,
      ok: newest !== null && health.ok !== false && record?.outcome !== 'failed',
    };
    return { ...report, summary: summarize(report) };
  } finally {
    await closeDestination(opened);
  }
}
