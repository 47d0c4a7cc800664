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

/** One line for a Slack message or an email subject. */
export function summarizeBackup(r: Omit<BackupReport, 'summary'>): string {
  if (r.skipped) return `Backup of ${r.source} skipped: ${r.skipReason ?? 'no reason given'}.`;
  const f = r.files;
  const problems = r.errorCount === 0 ? '' : ` ${count(r.errorCount)} file error${r.errorCount === 1 ? '' : 's'} (see errors).`;
  const warned = r.warnings.map((w) => ` Warning: backup ${w.backupId} is damaged (${w.code}); run verify.`).join('');
  const noted = r.notices.map((n) => ` ${n}`).join('');
  return (
    `${capital(r.type ?? r.operation)} backup of ${r.source}: ${count(f.added)} added, ${count(f.changed)} changed, ${count(f.deleted)} deleted, ` +
    `${count(f.unchanged)} unchanged; ${r.sizes.stored} stored in ${r.backupId} (${humanDuration(r.durationMs)}).${problems}${warned}${noted}`
  );
}
