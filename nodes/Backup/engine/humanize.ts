import type { BackupReport, BackupSummary } from './types';

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

/**
 * "52,110": thousands grouped with commas. Not toLocaleString: its first call loads ICU's number
 * data, 25 ms at the end of every CLI backup (a tenth of a no-change run's gap to rsync).
 */
export const count = (n: number): string => (Number.isSafeInteger(n) ? String(n).replace(/\B(?=(\d{3})+$)/g, ',') : n.toLocaleString('en-US'));

/** "1 file", "2,000 files". */
export function countOf(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}

/** The entries of a tree, per kind. */
export interface TreeCounts {
  /** Regular files, hard links included. */
  files: number;
  /** Of `files`, names that are hard links of another. */
  links: number;
  folders: number;
  symlinks: number;
}

/**
 * "6 files (1 hard link), 3 folders, 2 symlinks": the words every summary (backup, list, restore)
 * uses for a tree, so the same tree reads the same everywhere (README "Counts").
 */
export function treeCounts(t: TreeCounts): string {
  const links = t.links === 0 ? '' : ` (${countOf(t.links, 'hard link')})`;
  return `${countOf(t.files, 'file')}${links}, ${countOf(t.folders, 'folder')}, ${countOf(t.symlinks, 'symlink')}`;
}

/** "4 stored files": files whose bytes a backup holds (backup, list and verify say it alike). */
export function storedFiles(n: number): string {
  return countOf(n, 'stored file');
}
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
  const tree = treeCounts({ files: f.scanned, links: f.links, folders: r.folders.scanned, symlinks: r.symlinks.scanned });
  const problems = r.errorCount === 0 ? '' : ` ${count(r.errorCount)} file error${r.errorCount === 1 ? '' : 's'} (see errors).`;
  return (
    `dry run: ${r.type ?? r.operation} backup of ${r.source} would store ${countOf(f.stored, 'file')}, ${r.sizes.stored} of file content ` +
    `(uncompressed) of ${tree}; files ${count(f.added)} added, ${count(f.changed)} changed, ${count(f.deleted)} deleted, ${count(f.unchanged)} unchanged; nothing was written.${problems}`
  );
}

/**
 * One line for a Slack message or an email subject. `timeZone` (the node passes the workflow's)
 * adds when the run finished in local time; backup ids stay UTC.
 */
export function summarizeBackup(r: Omit<BackupReport, 'summary'>, timeZone?: string): string {
  const at = timeZone === undefined ? '' : ` at ${localDateTime(r.finishedAt, timeZone)}`;
  if (r.dryRun === true) return summarizeDryRun(r);
  const f = r.files;
  const tree = treeCounts({ files: f.scanned, links: f.links, folders: r.folders.scanned, symlinks: r.symlinks.scanned });
  if (r.skipped) {
    const seen = f.scanned + r.folders.scanned + r.symlinks.scanned === 0 ? '' : ` (${tree})`;
    return `Backup of ${r.source} skipped${at}: ${r.skipReason ?? 'no reason given'}${seen}.${warningText(r)}`;
  }
  const problems = r.errorCount === 0 ? '' : ` ${count(r.errorCount)} file error${r.errorCount === 1 ? '' : 's'} (see errors).`;
  const warned = warningText(r);
  const noted = r.notices.map((n) => ` ${n}`).join('');
  // Folders and symlinks only when they changed since a parent (in a full all are added): files are what a person looks for.
  const others = ([['folders', r.folders], ['symlinks', r.symlinks]] as const)
    .filter(([, c]) => r.type !== 'full' && c.added + c.changed + c.deleted > 0)
    .map(([name, c]) => `; ${name} ${count(c.added)} added, ${count(c.changed)} changed, ${count(c.deleted)} deleted`)
    .join('');
  // "stored" is file content, "written" adds the manifest and summary: say so where both appear.
  return (
    `${capital(r.type ?? r.operation)} backup of ${r.source}: ${tree}; files ${count(f.added)} added, ${count(f.changed)} changed, ${count(f.deleted)} deleted, ` +
    `${count(f.unchanged)} unchanged${others}; ${storedFiles(f.stored)}, ${r.sizes.stored} of file content stored in ${r.backupId}${at} ` +
    `(${r.sizes.written} written with its manifest, ${humanDuration(r.durationMs)}).${problems}${warned}${noted}`
  );
}

/**
 * What a listed backup holds: its tree per kind and its stored files. A backup made before per-kind
 * counts (no `folders` in its summary) recorded only entries, and says so rather than guessing.
 */
export function backupContents(b: Pick<BackupSummary, 'files' | 'folders' | 'symlinks'>): string {
  const stored = storedFiles(b.files.stored);
  if (b.folders === undefined || b.symlinks === undefined) {
    return `${countOf(b.files.scanned, 'entry', 'entries')} (files, folders and symlinks together: made before they were counted apart); ${stored}`;
  }
  return `${treeCounts({ files: b.files.scanned, links: b.files.links ?? 0, folders: b.folders.scanned, symlinks: b.symlinks.scanned })}; ${stored}`;
}
