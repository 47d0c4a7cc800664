import type { BackupReport } from './types';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 -> "1.5 KiB". */
export function humanBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

export function humanDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : ms < 120000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60000)} min`;
}

const count = (n: number): string => n.toLocaleString('en-US');
const capital = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * "2026-11-26 03:00:01 Europe/Berlin": an ISO time in an IANA time zone (n8n's workflow time zone).
 * An unknown zone falls back to UTC rather than failing a backup over a label.
 */
export function localDateTime(iso: string, timeZone: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const format = (zone: string): string =>
    new Intl.DateTimeFormat('sv-SE', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(date);
  try {
    return `${format(timeZone)} ${timeZone}`;
  } catch {
    return `${format('UTC')} UTC`;
  }
}

function warningText(r: Omit<BackupReport, 'summary'>): string {
  return r.warnings
    .map((w) => (w.code === 'PREVIOUS_MANIFEST_CORRUPT' ? ` Warning: backup ${w.backupId} is damaged (${w.code}); run verify.` : ` Warning: ${w.message} (${w.code}).`))
    .join('');
}

/** "dry run: ..." first, so no one mistakes it for a backup that was made. */
function summarizeDryRun(r: Omit<BackupReport, 'summary'>): string {
  if (r.skipped) return `dry run: the backup of ${r.source} would be skipped: ${r.skipReason ?? 'no reason given'}; nothing was written.`;
  const f = r.files;
  const problems = r.errorCount === 0 ? '' : ` ${count(r.errorCount)} file error${r.errorCount === 1 ? '' : 's'} (see errors).`;
  return (
    `dry run: ${r.type ?? r.operation} backup of ${r.source} would store ${count(f.stored)} file${f.stored === 1 ? '' : 's'}, ${r.sizes.stored} of file content ` +
    `(uncompressed): ${count(f.added)} added, ${count(f.changed)} changed, ${count(f.deleted)} deleted, ${count(f.unchanged)} unchanged; nothing was written.${problems}`
  );
}

/**
 * One line for a Slack message or an email subject. `timeZone` (the node passes the workflow's)
 * adds when the run finished in local time; backup ids stay UTC.
 */
export function summarizeBackup(r: Omit<BackupReport, 'summary'>, timeZone?: string): string {
  const at = timeZone === undefined ? '' : ` at ${localDateTime(r.finishedAt, timeZone)}`;
  if (r.dryRun === true) return summarizeDryRun(r);
  if (r.skipped) return `Backup of ${r.source} skipped${at}: ${r.skipReason ?? 'no reason given'}.${warningText(r)}`;
  const f = r.files;
  const problems = r.errorCount === 0 ? '' : ` ${count(r.errorCount)} file error${r.errorCount === 1 ? '' : 's'} (see errors).`;
  const warned = warningText(r);
  const noted = r.notices.map((n) => ` ${n}`).join('');
  // "stored" is file content, "written" adds the manifest and summary: say so where both appear.
  return (
    `${capital(r.type ?? r.operation)} backup of ${r.source}: ${count(f.added)} added, ${count(f.changed)} changed, ${count(f.deleted)} deleted, ` +
    `${count(f.unchanged)} unchanged; ${r.sizes.stored} of file content stored in ${r.backupId}${at} ` +
    `(${r.sizes.written} written with its manifest, ${humanDuration(r.durationMs)}).${problems}${warned}${noted}`
  );
}
