import type { BackupError, ListedBackup, RestoreReport, SourceOutcome } from '../nodes/Backup/engine';

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** `{ source, error, code }` (+ hint): how a fatal problem appears in --json output. */
export function failureItem(error: BackupError, source?: string): Record<string, string> {
  const item: Record<string, string> = {};
  if (source !== undefined) item.source = source;
  item.error = error.message;
  item.code = error.code;
  if (error.hint !== undefined) item.hint = error.hint;
  return item;
}

function errorLine(error: BackupError): string {
  return `n8n-backup: ${error.message}${error.hint === undefined ? '' : ` ${error.hint}`} [${error.code}]`;
}

export function printBackups(outcomes: SourceOutcome[], json: boolean, io: Io): void {
  if (json) {
    io.out(JSON.stringify(outcomes.map((o) => (o.ok ? o.report : failureItem(o.error, o.source))), null, 2));
  } else {
    for (const o of outcomes) {
      if (!o.ok) continue;
      io.out(o.report.summary);
      for (const p of o.report.errors.slice(0, 10)) io.out(`  ${p.path}: ${p.message} [${p.code}]`);
      if (o.report.errorCount > 10) io.out(`  ... and ${o.report.errorCount - 10} more (use --json for the list)`);
    }
  }
  for (const o of outcomes) if (!o.ok) io.err(errorLine(o.error));
}

export function printRestore(report: RestoreReport, json: boolean, io: Io): void {
  if (json) {
    io.out(JSON.stringify([report], null, 2));
    return;
  }
  io.out(report.summary);
  for (const p of report.errors.slice(0, 10)) io.out(`  ${p.path}: ${p.message} [${p.code}]`);
}

export function printList(backups: ListedBackup[], json: boolean, io: Io): void {
  if (json) {
    io.out(JSON.stringify(backups, null, 2));
    return;
  }
  if (backups.length === 0) {
    io.out('No backups.');
    return;
  }
  const rows = backups.map((b) => [
    b.set, b.backupId, b.type, b.startedAt, b.parent ?? '-', String(b.files.scanned), String(b.files.stored), b.sizes.stored, b.complete ? 'yes' : 'NO',
  ]);
  const head = ['SET', 'BACKUP', 'TYPE', 'STARTED', 'PARENT', 'ENTRIES', 'STORED', 'SIZE', 'COMPLETE'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const row of [head, ...rows]) io.out(row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
}

export function printFailure(error: BackupError, json: boolean, io: Io): void {
  if (json) io.out(JSON.stringify([failureItem(error)], null, 2));
  io.err(errorLine(error));
}
