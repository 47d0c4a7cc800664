import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { mergeWalk, RACY_WINDOW_MS } from './compare';
import { orderedMap } from './concurrency';
import { BackupError, errnoCode, errorMessage, isDestinationFatal } from './errors';
import { humanBytes, summarizeBackup } from './format';
import { listBackups, nextBackupId, PARTIAL_PREFIX, setDirectory, writeSummary } from './catalog';
import { MANIFEST_FILE, ManifestReader, ManifestWriter } from './manifest';
import { assertSeparate, defaultSetName, realpathLoose } from './paths';
import { planBackup } from './plan';
import { compileExcludes, scanTree } from './scan';
import type { BackupOptions, BackupSettings } from './settings';
import { toBackupSettings } from './settings';
import type { StoreContext } from './store';
import { storeEntry } from './store';
import type { DataSink } from './storage';
import { FolderSink } from './storage';
import type { BackupReport, BackupSummary, FileProblem, ManifestEntry, ManifestHeader } from './types';
import { emptyFileCounts, FORMAT_VERSION, HASH_ALGORITHM, MANIFEST_MAGIC, MAX_RECORDED_ERRORS } from './types';

/** Result for one source: its report, or the fatal error that stopped it. */
export type SourceOutcome = { ok: true; report: BackupReport } | { ok: false; source: string; error: BackupError };

const PROGRESS_EVERY = 1000;

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

async function isEmptyFolder(dir: string): Promise<boolean> {
  try {
    const handle = await fsp.opendir(dir);
    try {
      return (await handle.read()) === null;
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new BackupError('SOURCE_UNREADABLE', `Cannot list the source folder ${dir}: ${errorMessage(error)}`, { path: dir, cause: error });
  }
}

async function* noEntries(): AsyncGenerator<ManifestEntry> {}

async function destinationTotal(setDir: string): Promise<number> {
  return (await listBackups(setDir)).reduce((sum, b) => sum + (b.complete ? b.bytes.written : 0), 0);
}

interface Tally {
  files: ReturnType<typeof emptyFileCounts>;
  scannedBytes: number;
  storedBytes: number;
  errors: FileProblem[];
  errorCount: number;
  entries: number;
  references: Set<string>;
}

function record(tally: Tally, problem: FileProblem | undefined): void {
  if (problem === undefined) return;
  tally.errorCount++;
  if (tally.errors.length < MAX_RECORDED_ERRORS) tally.errors.push(problem);
}

function skippedReport(settings: BackupSettings, source: string, set: string, startedAt: Date, reason: string, decision: string, total: number, tally?: Tally): BackupReport {
  const finishedAt = settings.now();
  const files = tally?.files ?? emptyFileCounts();
  const bytes = { scanned: tally?.scannedBytes ?? 0, stored: 0, written: 0, destinationTotal: total };
  const report: Omit<BackupReport, 'summary'> = {
    source, set, destination: settings.destination, operation: settings.type, type: null, backupId: null, skipped: true, skipReason: reason, decision,
    startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(), durationMs: finishedAt.getTime() - startedAt.getTime(),
    files: { ...files, stored: 0 }, bytes, sizes: { scanned: humanBytes(bytes.scanned), stored: humanBytes(0), written: humanBytes(0), destinationTotal: humanBytes(total) },
    retention: { removed: [], keptReferenced: [] }, errors: tally?.errors ?? [], errorCount: tally?.errorCount ?? 0,
  };
  return { ...report, summary: summarizeBackup(report) };
}

/** Backs up one source into its set: scan -> decide -> store -> record, then an atomic rename. */
export async function backupSource(settings: BackupSettings, source: string): Promise<BackupReport> {
  const startedAt = settings.now();
  const realSource = await resolveSource(source);
  const realDestination = await realpathLoose(settings.destination);
  assertSeparate(realSource, realDestination);
  const set = settings.setName ?? defaultSetName(source);
  const setDir = setDirectory(settings.destination, set);
  await prepareSetDir(setDir);

  const backups = await listBackups(setDir);
  if (settings.skipEmptySource && (await isEmptyFolder(realSource))) {
    return skippedReport(settings, source, set, startedAt, 'source is empty', 'the source folder has no entries', await destinationTotal(setDir));
  }
  const plan = planBackup(settings.type, backups);
  const backupId = nextBackupId(startedAt, plan.type, backups[backups.length - 1]?.backupId);
  const partial = path.join(setDir, `${PARTIAL_PREFIX}${backupId}`);
  const header: ManifestHeader = {
    manifest: MANIFEST_MAGIC, version: FORMAT_VERSION, id: backupId, type: plan.type, base: plan.base, parent: plan.parent,
    source, set, storage: 'folder', hash: HASH_ALGORITHM, startedAt: startedAt.toISOString(), exclude: settings.exclude,
  };

  let writer: ManifestWriter | undefined;
  let sink: DataSink | undefined;
  let previous: ManifestReader | undefined;
  try {
    await fsp.mkdir(partial, { recursive: true });
    sink = await FolderSink.create(partial);
    previous = plan.parent === null ? undefined : await ManifestReader.open(path.join(setDir, plan.parent, MANIFEST_FILE));
    const parentStart = previous === undefined ? Infinity : Date.parse(previous.header.startedAt);
    const ctx: StoreContext = {
      sourceRoot: realSource, sink, backupId, signal: settings.signal,
      compare: { racySinceMs: parentStart - RACY_WINDOW_MS, compareContent: settings.compareContent },
    };
    writer = await ManifestWriter.create(path.join(partial, MANIFEST_FILE), header);
    const tally: Tally = { files: emptyFileCounts(), scannedBytes: 0, storedBytes: 0, errors: [], errorCount: 0, entries: 0, references: new Set() };
    const pairs = mergeWalk(scanTree(realSource, compileExcludes(settings.exclude)), previous === undefined ? noEntries() : previous.entries());
    for await (const outcome of orderedMap(pairs, settings.concurrency, (pair) => storeEntry(ctx, pair))) {
      record(tally, outcome.problem);
      if (outcome.counted !== 'none') tally.files[outcome.counted]++;
      if (outcome.entry === undefined) continue;
      await writer.writeEntry(outcome.entry);
      if (outcome.entry.in !== undefined && outcome.entry.in !== backupId) tally.references.add(outcome.entry.in);
      tally.entries++;
      tally.files.scanned++;
      tally.scannedBytes += outcome.scannedBytes;
      if (outcome.stored) {
        tally.files.stored++;
        tally.storedBytes += outcome.storedBytes;
      }
      if (tally.entries % PROGRESS_EVERY === 0) settings.onProgress({ source, phase: 'scan', entries: tally.entries, bytes: tally.scannedBytes });
    }
    const f = tally.files;
    if (settings.skipUnchanged && plan.parent !== null && f.added + f.changed + f.deleted === 0) {
      await writer.abort();
      await sink.abort();
      await fsp.rm(partial, { recursive: true, force: true });
      return skippedReport(settings, source, set, startedAt, 'no changes', `${plan.decision}; nothing changed`, await destinationTotal(setDir), tally);
    }
    const finishedAt = settings.now();
    const bytes = { scanned: tally.scannedBytes, stored: tally.storedBytes, written: await sink.close() };
    const references = [...tally.references].sort();
    const manifestBytes = await writer.finish({
      trailer: true, complete: true, finishedAt: finishedAt.toISOString(), entries: tally.entries, files: f, bytes, errorCount: tally.errorCount, references, errors: tally.errors,
    });
    bytes.written += manifestBytes;
    const summary: BackupSummary = {
      backupId, set, source, type: plan.type, base: plan.base, parent: plan.parent, storage: 'folder', startedAt: header.startedAt,
      finishedAt: finishedAt.toISOString(), files: f, bytes, errorCount: tally.errorCount, complete: true, references,
    };
    // The summary counts its own size only approximately (a few hundred bytes); it is a cache of header and trailer.
    bytes.written += await writeSummary(partial, summary);
    // The rename is the commit point: before it, the backup does not exist.
    await fsp.rename(partial, path.join(setDir, backupId));
    await fsyncDir(setDir);
    const total = await destinationTotal(setDir);
    const report: Omit<BackupReport, 'summary'> = {
      source, set, destination: settings.destination, operation: settings.type, type: plan.type, backupId, skipped: false, skipReason: null, decision: plan.decision,
      startedAt: header.startedAt, finishedAt: finishedAt.toISOString(), durationMs: finishedAt.getTime() - startedAt.getTime(),
      files: f, bytes: { ...bytes, destinationTotal: total },
      sizes: { scanned: humanBytes(bytes.scanned), stored: humanBytes(bytes.stored), written: humanBytes(bytes.written), destinationTotal: humanBytes(total) },
      retention: { removed: [], keptReferenced: [] }, errors: tally.errors, errorCount: tally.errorCount,
    };
    return { ...report, summary: summarizeBackup(report) };
  } catch (error) {
    await writer?.abort();
    await sink?.abort();
    await fsp.rm(partial, { recursive: true, force: true }).catch(() => undefined);
    if (error instanceof BackupError) throw error;
    throw isDestinationFatal(error) ?? new BackupError('IO_ERROR', `Backup of ${source} failed: ${errorMessage(error)}`, { cause: error });
  } finally {
    await previous?.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
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
