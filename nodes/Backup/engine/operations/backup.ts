import { promises as fsp } from 'node:fs';
import { backupIdTime, nextBackupId } from '../set/catalog';
import { BackupError, DamagedParentError, errnoCode, errorMessage } from '../errors';
import type { KeyPlace } from '../set/encryption';
import { keyForBackup } from '../set/encryption';
import { humanBytes, summarizeBackup } from '../humanize';
import { assertSeparate, defaultSetName, realpathLoose } from '../paths';
import type { BackupPlan } from '../set/plan';
import { fullAfterDamagedParent, planBackup } from '../set/plan';
import { pruneLocked } from './prune';
import type { OpenedDestination } from '../set/openSetStore';
import { closeDestination, openDestinationFor, setStoreIn } from '../set/openSetStore';
import type { BackupOptions, BackupSettings } from '../settings';
import { toBackupSettings } from '../settings';
import type { SetStore } from '../set/setStore';
import type { BackupReport, BackupSummary, BackupWarning } from '../types';
import { emptyEntryCounts, emptyFileCounts } from '../types';
import type { Tally, WriteJob, WriteResult } from './write';
import { writeBackup } from './write';
import { xattrsUnavailable } from '../store/xattrs';
import type { BackupType } from '../types';
import { recordFailure, withRunRecord } from './runRecords';

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

/**
 * The run's report. `dry` (a dry run): the type the backup would have had (null: it would be
 * skipped); files and stored bytes are then what the scan counted, nothing made, nothing written.
 */
function buildReport(
  settings: BackupSettings, o: Outcome, made: BackupSummary | undefined, skipReason: string | null, retention: BackupReport['retention'], total: number, dry?: { type: BackupType | null },
): BackupReport {
  const finishedAt = made === undefined ? settings.now() : new Date(made.finishedAt);
  const wouldStore = dry !== undefined && dry.type !== null;
  // What this run saw, also when it kept nothing (skipped: nothing stored; a dry run: what it would store).
  const files = { ...(o.tally?.files ?? emptyFileCounts()), stored: made?.files.stored ?? (wouldStore ? (o.tally?.files.stored ?? 0) : 0) };
  const folders = o.tally?.folders ?? emptyEntryCounts();
  const symlinks = o.tally?.symlinks ?? emptyEntryCounts();
  const stored = made?.bytes.stored ?? (wouldStore ? (o.tally?.storedBytes ?? 0) : 0);
  const bytes = { scanned: o.tally?.scannedBytes ?? 0, stored, written: made?.bytes.written ?? 0, destinationTotal: total };
  const report: Omit<BackupReport, 'summary'> = {
    source: o.source, set: o.set, destination: settings.destination, operation: settings.type, type: made?.type ?? dry?.type ?? null, backupId: made?.backupId ?? null,
    skipped: made === undefined && !wouldStore, skipReason, decision: o.decision,
    startedAt: o.startedAt.toISOString(), finishedAt: finishedAt.toISOString(), durationMs: finishedAt.getTime() - o.startedAt.getTime(),
    files, folders, symlinks, bytes,
    sizes: { scanned: humanBytes(bytes.scanned), stored: humanBytes(bytes.stored), written: humanBytes(bytes.written), destinationTotal: humanBytes(total) },
    retention, removedPartials: o.removedPartials, errors: o.tally?.errors ?? [], errorCount: o.tally?.errorCount ?? 0, warnings: o.warnings ?? [],
    notices: xattrNotices(o.tally),
    ...(dry === undefined ? {} : { dryRun: true }),
  };
  return { ...report, summary: summarizeBackup(report) };
}

/** What a skip did, not what it would have done: "skipped: no changes since <id> (<UTC time>)". */
function skippedDecision(plan: BackupPlan): string {
  if (plan.parent === null) return 'skipped: no changes';
  const at = backupIdTime(plan.parent).toISOString().replace('T', ' ').replace(/:\d\d\.\d{3}Z$/, ' UTC');
  return `skipped: no changes since ${plan.parent} (${at})`;
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
 * Every run, made, skipped or failed, ends by replacing the set's run record (runRecord.ts); a
 * dry run (settings.dryRun) goes to dryRun.ts and writes nothing.
 */
export async function backupSource(settings: BackupSettings, source: string, opened?: OpenedDestination): Promise<BackupReport> {
  if (settings.dryRun) return dryRunSource(settings, source, opened);
  const startedAt = settings.now();
  let where = opened;
  let store: SetStore | undefined;
  try {
    try {
      const realSource = await resolveSource(source);
      where ??= await openDestinationFor(settings.destination, settings.destinationOptions);
      store = setStoreIn(where, settings.setName ?? defaultSetName(source));
      if (where.kind === 'local') assertSeparate(realSource, await realpathLoose(where.path));
      const report = await backupInto(settings, store, source, realSource, startedAt);
      return await withRunRecord(settings, store, report);
    } catch (error) {
      await recordFailure(settings, where, store, source, startedAt, error);
      throw error;
    }
  } finally {
    if (opened === undefined && where !== undefined) await closeDestination(where);
  }
}

async function backupInto(settings: BackupSettings, store: SetStore, source: string, realSource: string, startedAt: Date): Promise<BackupReport> {
  const set = store.set;
  await store.prepare();
  const isEmpty = await isEmptyFolder(realSource);

  const lock = await store.lock(`backup of ${source}`, settings.lockTimeoutMs, settings.signal);
  try {
    const removedPartials = await store.removeLeftovers();
    const backups = await store.listBackups();
    // First, before anything is written: the set's encryption must match this run's.
    const key = await keyForBackup(store, backups, settings.passphrase, startedAt);
    const noRetention = { removed: [], keptReferenced: [], kept: [], rules: {} };
    if (settings.skipEmptySource && isEmpty) {
      const o = { source, set, startedAt, decision: 'the source folder has no entries', removedPartials };
      return buildReport(settings, o, undefined, 'source is empty', noRetention, setTotal(backups));
    }
    const planned = planBackup(settings.type, backups, { fullEveryDays: settings.fullEveryDays, differentialEveryDays: settings.differentialEveryDays, now: startedAt });
    const signal = settings.signal === undefined ? lock.lost : AbortSignal.any([settings.signal, lock.lost]);
    const job = { settings, source, realSource, set, store, startedAt, signal, key, confirmLock: lock.confirm };
    const { result, plan, warnings } = await writeOrFullOnDamage(settings, job, planned, backups[backups.length - 1]?.backupId);
    const o: Outcome = { source, set, startedAt, decision: plan.decision, removedPartials, tally: result.tally, warnings };
    if (!result.written) return buildReport(settings, { ...o, decision: skippedDecision(plan) }, undefined, 'no changes', noRetention, setTotal(backups));
    const pruned = await pruneLocked(store, settings.retention, false, [], store.deleteGuard(lock, settings.lockTimeoutMs, 'skip', settings.signal), settings.now());
    const after = await store.listBackups();
    const retention = { removed: pruned.remove, keptReferenced: pruned.keptReferenced, kept: pruned.keep, rules: pruned.rules, ...(pruned.skipped === undefined ? {} : { skipped: pruned.skipped }) };
    return buildReport(settings, o, result.summary, null, retention, setTotal(after));
  } finally {
    await lock.release();
  }
}

/**
 * A dry run: what backupInto would do, reading only. No lock is taken and no reader marker left
 * (both are files in the set: README "Dry run"), no leftovers swept, no key file written, no
 * retention, no run record. The parent manifest is read without the lock: a prune deleting it at
 * that moment fails this dry run with a clear error, and a rerun answers.
 */
async function dryRunSource(settings: BackupSettings, source: string, opened?: OpenedDestination): Promise<BackupReport> {
  const startedAt = settings.now();
  const realSource = await resolveSource(source);
  const where = opened ?? (await openDestinationFor(settings.destination, settings.destinationOptions));
  try {
    if (where.kind === 'local') assertSeparate(realSource, await realpathLoose(where.path));
    const store = setStoreIn(where, settings.setName ?? defaultSetName(source));
    const set = store.set;
    await store.checkWritable();
    const isEmpty = await isEmptyFolder(realSource);
    const backups = await store.listBackups();
    // The same refusals as a backup (passphrase missing or wrong, plain set), but a new set's key is not kept.
    const readOnly: KeyPlace = { set, where: store.where, readKeyText: (id) => store.readKeyText(id), writeKeyText: async () => undefined };
    const key = await keyForBackup(readOnly, backups, settings.passphrase, startedAt);
    const noRetention = { removed: [], keptReferenced: [], kept: [], rules: {} };
    const total = setTotal(backups);
    if (settings.skipEmptySource && isEmpty) {
      const o = { source, set, startedAt, decision: 'the source folder has no entries', removedPartials: [] };
      return buildReport(settings, o, undefined, 'source is empty', noRetention, total, { type: null });
    }
    const planned = planBackup(settings.type, backups, { fullEveryDays: settings.fullEveryDays, differentialEveryDays: settings.differentialEveryDays, now: startedAt });
    const job = { settings, source, realSource, set, store, startedAt, signal: settings.signal, key, dryRun: true };
    const { result, plan, warnings } = await writeOrFullOnDamage(settings, job, planned, backups[backups.length - 1]?.backupId);
    const o: Outcome = { source, set, startedAt, decision: plan.decision, removedPartials: [], tally: result.tally, warnings };
    if (!result.written && result.wouldWrite !== true) return buildReport(settings, { ...o, decision: skippedDecision(plan) }, undefined, 'no changes', noRetention, total, { type: null });
    return buildReport(settings, o, undefined, null, noRetention, total, { type: plan.type });
  } finally {
    if (opened === undefined) await closeDestination(where);
  }
}

/** Backs up every source (each its own set); one source failing does not stop the others. */
export async function runBackup(options: BackupOptions): Promise<SourceOutcome[]> {
  const settings = toBackupSettings(options);
  const outcomes: SourceOutcome[] = [];
  const failed = (source: string, error: unknown): SourceOutcome => ({ ok: false, source, error: error instanceof BackupError ? error : new BackupError('IO_ERROR', errorMessage(error), { cause: error }) });
  let opened: OpenedDestination;
  try {
    opened = await openDestinationFor(settings.destination, settings.destinationOptions);
  } catch (error) {
    // An unreachable or refused destination fails every source the same way.
    return settings.sources.map((source) => failed(source, error));
  }
  try {
    for (const source of settings.sources) {
      try {
        outcomes.push({ ok: true, report: await backupSource(settings, source, opened) });
      } catch (error) {
        const outcome = failed(source, error);
        outcomes.push(outcome);
        if (!outcome.ok && outcome.error.code === 'CANCELLED') break;
      }
    }
  } finally {
    await closeDestination(opened);
  }
  return outcomes;
}
