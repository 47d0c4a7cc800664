import { promises as fsp } from 'node:fs';
import { listBackups, nextBackupId, setDirectory } from '../set/catalog';
import { BackupError, DamagedParentError, errnoCode, errorMessage, isDestinationFatal } from '../errors';
import { keyForBackup } from '../set/encryption';
import { humanBytes, summarizeBackup } from '../humanize';
import { lockSet } from '../set/lock';
import { assertSeparate, defaultSetName, realpathLoose } from '../paths';
import type { BackupPlan } from '../set/plan';
import { fullAfterDamagedParent, planBackup } from '../set/plan';
import { pruneLocked, removeLeftovers } from './prune';
import { deleteGuard } from '../set/readers';
import type { BackupOptions, BackupSettings } from '../settings';
import { toBackupSettings } from '../settings';
import type { BackupReport, BackupSummary, BackupWarning } from '../types';
import { emptyFileCounts } from '../types';
import type { Tally, WriteJob, WriteResult } from './write';
import { writeBackup } from './write';
import { xattrsUnavailable } from '../store/xattrs';

/** Result for one source: its report, or the fatal error that stopped it. */
export type SourceOutcome = { ok: true; report: BackupReport } | { ok: false; source: string; error: BackupError };

async function resolveSource(source: string): Promise<string> {
  let real: string;
  try {
    real = await fsp.realpath(source);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') {
      throw new BackupError('SOURCE_MISSING', `The source folder ${source} does not exist.`, {
        hint: 'Check the path (and that the disk holding it is mounted).',
        path: source,
      });
    }
    throw new BackupError('SOURCE_UNREADABLE', `Cannot open the source folder ${source}: ${errorMessage(error)}`, { path: source, cause: error });
  }
  if (!(await fsp.stat(real)).isDirectory()) {
    throw new BackupError('SOURCE_NOT_DIRECTORY', `The source ${source} is not a folder.`, { hint: 'Give the folder that contains the file instead.', path: source });
  }
  return real;
}

async function prepareSetDir(setDir: string): Promise<void> {
  try {
    await fsp.mkdir(setDir, { recursive: true });
    await fsp.access(setDir, fsp.constants.W_OK);
  } catch (error) {
    throw (
      isDestinationFatal(error) ??
      new BackupError('DESTINATION_UNUSABLE', `Cannot write to the destination ${setDir}: ${errorMessage(error)}`, {
        hint: 'Create the destination folder and give the user running the backup write access to it.',
        path: setDir,
        cause: error,
      })
    );
  }
}

/** True when the source has no entries; fails clearly when it cannot be listed at all. */
async function isEmptyFolder(dir: string): Promise<boolean> {
  try {
    const handle = await fsp.opendir(dir);
    try {
      return (await handle.read()) === null;
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new BackupError('SOURCE_UNREADABLE', `Cannot list the source folder ${dir}: ${errorMessage(error)}`, {
      hint: 'Give the user running the backup read access to the folder.',
      path: dir,
      cause: error,
    });
  }
}

function setTotal(backups: readonly BackupSummary[]): number {
  return backups.reduce((sum, b) => sum + (b.complete ? b.bytes.written : 0), 0);
}

interface Outcome {
  source: string;
  set: string;
  startedAt: Date;
  decision: string;
  removedPartials: string[];
  tally?: Tally;
  warnings?: BackupWarning[];
}

/** What the run did not keep, one sentence each, never one per file (README: "What is stored"). */
function xattrNotices(tally: Tally | undefined): string[] {
  if (tally === undefined) return [];
  const x = tally.xattrs;
  if (!x.read) return [`Extended attributes and ACLs were not kept: ${xattrsUnavailable() ?? 'they were not read'}.`];
  if (x.unreadable === 0) return [];
  return [`Extended attributes of ${x.unreadable} entr${x.unreadable === 1 ? 'y' : 'ies'} could not be read (${[...x.codes].sort().join(', ')}); stored without them.`];
}

function buildReport(settings: BackupSettings, o: Outcome, made: BackupSummary | undefined, skipReason: string | null, retention: BackupReport['retention'], total: number): BackupReport {
  const finishedAt = made === undefined ? settings.now() : new Date(made.finishedAt);
  const files = made?.files ?? { ...(o.tally?.files ?? emptyFileCounts()), stored: 0 };
  const bytes = { scanned: o.tally?.scannedBytes ?? 0, stored: made?.bytes.stored ?? 0, written: made?.bytes.written ?? 0, destinationTotal: total };
  const report: Omit<BackupReport, 'summary'> = {
    source: o.source, set: o.set, destination: settings.destination, operation: settings.type, type: made?.type ?? null, backupId: made?.backupId ?? null,
    skipped: made === undefined, skipReason, decision: o.decision,
    startedAt: o.startedAt.toISOString(), finishedAt: finishedAt.toISOString(), durationMs: finishedAt.getTime() - o.startedAt.getTime(),
    files, bytes,
    sizes: { scanned: humanBytes(bytes.scanned), stored: humanBytes(bytes.stored), written: humanBytes(bytes.written), destinationTotal: humanBytes(total) },
    retention, removedPartials: o.removedPartials, errors: o.tally?.errors ?? [], errorCount: o.tally?.errorCount ?? 0, warnings: o.warnings ?? [],
    notices: xattrNotices(o.tally),
  };
  return { ...report, summary: summarizeBackup(report) };
}

/**
 * Writes the planned backup. In auto mode a damaged parent manifest (the backup it would build on)
 * gives a full instead, with a warning: failing every night until the next scheduled full (never,
 * with fullEveryDays 0) protects nothing. The damaged backup is left for verify and a person.
 */
async function writeOrFullOnDamage(
  settings: BackupSettings, job: Omit<WriteJob, 'backupId' | 'plan'>, plan: BackupPlan, latestId: string | undefined,
): Promise<{ result: WriteResult; plan: BackupPlan; warnings: BackupWarning[] }> {
  try {
    return { result: await writeBackup({ ...job, plan, backupId: nextBackupId(job.startedAt, plan.type, latestId) }), plan, warnings: [] };
  } catch (error) {
    if (settings.type !== 'auto' || !(error instanceof DamagedParentError)) throw error;
    const full = fullAfterDamagedParent(error.backupId);
    const warning: BackupWarning = {
      code: 'PREVIOUS_MANIFEST_CORRUPT', backupId: error.backupId,
      message: `${error.message} A full backup was made instead; the damaged backup was left as it is: run verify and decide what to do with it.`,
    };
    return { result: await writeBackup({ ...job, plan: full, backupId: nextBackupId(job.startedAt, 'full', latestId) }), plan: full, warnings: [warning] };
  }
}

/**
 * Backs up one source into its set, under the set's lock: clean up what an interrupted run left,
 * plan (type, base, parent), write, then apply retention, which runs only after a backup was written.
 */
export async function backupSource(settings: BackupSettings, source: string): Promise<BackupReport> {
  const startedAt = settings.now();
  const realSource = await resolveSource(source);
  assertSeparate(realSource, await realpathLoose(settings.destination));
  const set = settings.setName ?? defaultSetName(source);
  const setDir = setDirectory(settings.destination, set);
  await prepareSetDir(setDir);
  const isEmpty = await isEmptyFolder(realSource);

  const lock = await lockSet(setDir, `backup of ${source}`, settings.lockTimeoutMs, settings.signal);
  try {
    const removedPartials = await removeLeftovers(setDir);
    const backups = await listBackups(setDir);
    // First, before anything is written: the set's encryption must match this run's.
    const key = await keyForBackup(setDir, backups, settings.passphrase, startedAt);
    const noRetention = { removed: [], keptReferenced: [], kept: [], rules: {} };
    if (settings.skipEmptySource && isEmpty) {
      const o = { source, set, startedAt, decision: 'the source folder has no entries', removedPartials };
      return buildReport(settings, o, undefined, 'source is empty', noRetention, setTotal(backups));
    }
    const planned = planBackup(settings.type, backups, { fullEveryDays: settings.fullEveryDays, differentialEveryDays: settings.differentialEveryDays, now: startedAt });
    const signal = settings.signal === undefined ? lock.lost : AbortSignal.any([settings.signal, lock.lost]);
    const job = { settings, source, realSource, set, setDir, startedAt, signal, key, confirmLock: lock.confirm };
    const { result, plan, warnings } = await writeOrFullOnDamage(settings, job, planned, backups[backups.length - 1]?.backupId);
    const o: Outcome = { source, set, startedAt, decision: plan.decision, removedPartials, tally: result.tally, warnings };
    if (!result.written) return buildReport(settings, { ...o, decision: `${plan.decision}; nothing changed` }, undefined, 'no changes', noRetention, setTotal(backups));
    const pruned = await pruneLocked(setDir, settings.retention, false, [], deleteGuard(setDir, lock, settings.lockTimeoutMs, 'skip', settings.signal), settings.now());
    const after = await listBackups(setDir);
    const retention = { removed: pruned.remove, keptReferenced: pruned.keptReferenced, kept: pruned.keep, rules: pruned.rules, ...(pruned.skipped === undefined ? {} : { skipped: pruned.skipped }) };
    return buildReport(settings, o, result.summary, null, retention, setTotal(after));
  } finally {
    await lock.release();
  }
}

/** Backs up every source (each its own set); one source failing does not stop the others. */
export async function runBackup(options: BackupOptions): Promise<SourceOutcome[]> {
  const settings = toBackupSettings(options);
  const outcomes: SourceOutcome[] = [];
  for (const source of settings.sources) {
    try {
      outcomes.push({ ok: true, report: await backupSource(settings, source) });
    } catch (error) {
      const fatal = error instanceof BackupError ? error : new BackupError('IO_ERROR', errorMessage(error), { cause: error });
      outcomes.push({ ok: false, source, error: fatal });
      if (fatal.code === 'CANCELLED') break;
    }
  }
  return outcomes;
}
