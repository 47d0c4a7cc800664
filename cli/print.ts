import type { BackupError, ListedBackup, PruneOutcome, RestoreReport, SourceOutcome, StatusReport, VerifyReport } from '../nodes/Backup/engine';

export interface Io {
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

const json = (value: unknown): string => JSON.stringify(value, null, 2);

function printProblems(problems: { path: string; code: string; message: string }[], total: number, io: Io): void {
  for (const p of problems.slice(0, 10)) io.out(`  ${p.path}: ${p.message} [${p.code}]`);
  if (total > 10) io.out(`  ... and ${total - 10} more (use --json for the list)`);
}

/** Prints backup results; returns the exit status (1 when a source failed, or file errors with --fail-on-file-errors). */
export function printBackups(outcomes: SourceOutcome[], asJson: boolean, failOnFileErrors: boolean, io: Io): number {
  if (asJson) io.out(json(outcomes.map((o) => (o.ok ? o.report : failureItem(o.error, o.source)))));
  let status = 0;
  for (const o of outcomes) {
    if (!o.ok) {
      io.err(errorLine(o.error));
      status = 1;
      continue;
    }
    const r = o.report;
    if (!asJson) {
      io.out(r.summary);
      if (r.removedPartials.length > 0) io.out(`  removed ${r.removedPartials.length} unfinished backup folder(s) left by an interrupted run: ${r.removedPartials.join(', ')}`);
      if (r.retention.removed.length > 0) io.out(`  retention removed: ${r.retention.removed.join(', ')}`);
      for (const w of r.warnings) io.out(`  warning: ${w.message} [${w.code}]`);
      if (r.retention.skipped !== undefined) io.out(`  ${r.retention.skipped}`);
      printProblems(r.errors, r.errorCount, io);
    }
    if (failOnFileErrors && r.errorCount > 0) {
      io.err(`n8n-backup: ${r.errorCount} file(s) of ${r.source} could not be backed up (see errors); failing because of --fail-on-file-errors [FILE_ERRORS]`);
      status = 1;
    }
  }
  return status;
}

export function printRestore(report: RestoreReport, asJson: boolean, io: Io): number {
  if (asJson) io.out(json([report]));
  else {
    io.out(report.summary);
    printProblems(report.errors, report.errorCount, io);
  }
  if (report.errorCount === 0) return 0;
  io.err(`n8n-backup: the restore of ${report.backupId} is incomplete: ${report.errorCount} file(s) damaged or missing in the backup (see errors) [RESTORE_INCOMPLETE]`);
  return 1;
}

export function printVerify(report: VerifyReport, asJson: boolean, io: Io): number {
  if (asJson) io.out(json([report]));
  else {
    io.out(report.summary);
    for (const p of report.problems.slice(0, 20)) io.out(`  ${p.backupId} ${p.path}: ${p.message} [${p.code}]`);
  }
  if (report.ok) return 0;
  io.err(`n8n-backup: verification of set ${report.set} found ${report.problemCount} problem(s) [VERIFY_FAILED]`);
  return 1;
}

/** The reason a person reads: the rules that keep it (`daily #3, weekly #1`), or the older sentence for the per-type counts. */
function keptBecause(outcome: PruneOutcome, id: string): string {
  const reason = outcome.reasons[id] ?? '';
  const references = (outcome.rules[id] ?? []).filter((r) => r.startsWith('reference of '));
  if (references.length <= 1) return reason;
  return `${reason} (and ${references.length - 1} more backup(s) point into it)`;
}

export function printPrune(outcome: PruneOutcome & { set: string }, asJson: boolean, io: Io): void {
  if (asJson) {
    io.out(json([{ set: outcome.set, dryRun: outcome.dryRun, removed: outcome.remove, kept: outcome.keep, keptReferenced: outcome.keptReferenced, reasons: outcome.reasons, rules: outcome.rules, removedPartials: outcome.removedPartials }]));
    return;
  }
  const verb = outcome.dryRun ? 'would remove' : 'removed';
  io.out(`Prune of set ${outcome.set}: ${verb} ${outcome.remove.length} backup(s), kept ${outcome.keep.length}.`);
  for (const id of outcome.remove) io.out(`  ${verb} ${id}`);
  for (const id of outcome.keep) io.out(`  kept ${id}: ${keptBecause(outcome, id)}`);
}

export function printList(backups: ListedBackup[], asJson: boolean, io: Io): void {
  if (asJson) {
    io.out(json(backups));
    return;
  }
  if (backups.length === 0) {
    io.out('No backups.');
    return;
  }
  // Backups made before per-kind counts recorded entries only: their FILES, FOLDERS, SYMLINKS show "?".
  const perKind = (b: ListedBackup, n: number | undefined): string => (b.folders === undefined || n === undefined ? '?' : String(n));
  const rows = backups.map((b) => [
    b.set, b.backupId, b.type, b.storage, b.startedAt, b.parent ?? '-', String(b.entries),
    perKind(b, b.files.scanned), perKind(b, b.folders?.scanned), perKind(b, b.symlinks?.scanned), String(b.files.stored), b.sizes.stored, b.complete ? 'yes' : 'NO',
  ]);
  const head = ['SET', 'BACKUP', 'TYPE', 'FORMAT', 'STARTED', 'PARENT', 'ENTRIES', 'FILES', 'FOLDERS', 'SYMLINKS', 'STORED', 'SIZE', 'COMPLETE'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const row of [head, ...rows]) io.out(row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
  if (backups.some((b) => b.complete && b.folders === undefined)) io.out('?: made before files, folders and symlinks were counted apart (ENTRIES has them together).');
}

/** The status of a set; exit status 1 when it is not OK, so cron or a monitor can act on it. */
export function printStatus(report: StatusReport, asJson: boolean, io: Io): number {
  if (asJson) io.out(json([report]));
  else {
    io.out(report.summary);
    for (const p of report.health.problems.slice(0, 10)) io.out(`  ${p.backupId} ${p.path}: ${p.message} [${p.code}]`);
  }
  if (report.ok) return 0;
  io.err(`n8n-backup: set ${report.set} is not OK: ${report.summary} [STATUS_NOT_OK]`);
  return 1;
}

/** `lines`: the command prints JSON Lines (files, diff, find), so the failure is one line too. */
export function printFailure(error: BackupError, asJson: boolean, io: Io, lines = false): void {
  if (asJson) io.out(lines ? JSON.stringify({ type: 'error', ...failureItem(error) }) : json([failureItem(error)]));
  io.err(errorLine(error));
}
