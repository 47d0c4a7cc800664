/**
 * Restore "as of" a time: the newest complete backup that started at or before a date-time.
 * A backup's time is its start (`startedAt`, the time in its id): the files were read from then on.
 */
import * as path from 'node:path';
import { BackupError } from '../errors';
import type { BackupSummary } from '../types';
import type { SetStore } from './setStore';
import { idTime, instantOf, isTimeZone } from './calendar';

/** `2026-11-24`, `2026-11-24T18:00`, `2026-11-24 18:00:05.250`, each with an optional `Z` or `+01:00`. */
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

function invalid(text: string, why: string): BackupError {
  return new BackupError('AS_OF_INVALID', `"${text}" is not a date-time to restore as of: ${why}.`, {
    hint: 'Give an ISO 8601 date or date-time, e.g. 2026-11-24, 2026-11-24T18:00 or 2026-11-24T18:00:00+01:00.',
  });
}

/**
 * The instant `text` names. Without an offset it is a wall-clock time in `timeZone` (UTC unless
 * told): the CLI's --time-zone, the node's workflow time zone. A date alone means the end of that
 * day (23:59:59.999): "as of Tuesday" is how the folder was when Tuesday's backups were done.
 */
export function parseAsOf(text: string, timeZone = 'UTC'): Date {
  const trimmed = text.trim();
  const m = ISO.exec(trimmed);
  if (m === null) throw invalid(text, 'expected YYYY-MM-DD, optionally followed by THH:MM[:SS[.mmm]] and Z or an offset such as +01:00');
  if (!isTimeZone(timeZone)) throw invalid(text, `the time zone "${timeZone}" is unknown`);
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const dateOnly = m[4] === undefined;
  const wall = {
    year, month, day,
    hour: dateOnly ? 23 : Number(m[4]),
    minute: dateOnly ? 59 : Number(m[5]),
    second: dateOnly ? 59 : Number(m[6] ?? 0),
    ms: dateOnly ? 999 : Number((m[7] ?? '0').padEnd(3, '0')),
  };
  // Date.UTC rolls 2026-02-30 over into March: a calendar date that does not exist is refused.
  const probe = new Date(Date.UTC(year, month - 1, day, wall.hour, wall.minute, wall.second));
  if (probe.getUTCFullYear() !== year || probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== day || wall.hour > 23 || wall.minute > 59 || wall.second > 59) {
    throw invalid(text, 'that date or time does not exist');
  }
  const offset = m[8];
  if (offset === undefined) return new Date(instantOf(wall, timeZone));
  const utc = Date.UTC(year, month - 1, day, wall.hour, wall.minute, wall.second, wall.ms);
  if (offset.toUpperCase() === 'Z') return new Date(utc);
  const digits = offset.replace(':', '');
  const minutes = Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5));
  if (Number(digits.slice(3, 5)) > 59 || minutes > 18 * 60) throw invalid(text, `the offset ${offset} is not one`);
  return new Date(utc - (digits.startsWith('-') ? -minutes : minutes) * 60_000);
}

/** When a backup started: its `startedAt`, else the time in its id. */
export function backupTime(summary: BackupSummary): number {
  const started = Date.parse(summary.startedAt);
  return Number.isNaN(started) ? idTime(summary.backupId).getTime() : started;
}

/** The newest complete backup that started at or before `instant` (BACKUP_NOT_FOUND when there is none). */
export function backupAsOf(backups: readonly BackupSummary[], instant: Date, setName: string): BackupSummary {
  let found: BackupSummary | undefined;
  for (const b of backups) {
    if (b.complete && backupTime(b) <= instant.getTime() && (found === undefined || backupTime(b) >= backupTime(found))) found = b;
  }
  if (found !== undefined) return found;
  const first = backups.filter((b) => b.complete).sort((a, b) => backupTime(a) - backupTime(b))[0];
  const why = first === undefined ? 'it has no complete backup' : `its first complete backup, ${first.backupId}, started ${first.startedAt}`;
  throw new BackupError('BACKUP_NOT_FOUND', `Set "${setName}" has no complete backup made at or before ${instant.toISOString()}: ${why}.`, {
    hint: 'Choose a later time, or a backup id that `list` shows.',
  });
}

/** backupAsOf over the set's backups, with the same refusal as findBackup for a set that does not exist. */
export async function findBackupAsOf(store: Pick<SetStore, 'set' | 'where' | 'listBackups'>, instant: Date): Promise<BackupSummary> {
  const backups = await store.listBackups();
  if (backups.length === 0) {
    throw new BackupError('SET_NOT_FOUND', `There is no backup set "${store.set}" in ${path.dirname(store.where)}.`, { hint: 'Run `n8n-backup list --dest <destination>` to see the set names.' });
  }
  return backupAsOf(backups, instant, store.set);
}
