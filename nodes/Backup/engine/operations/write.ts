import { summaryText } from '../set/catalog';
import { mergeWalk } from '../scan/compare';
import { OrderedWindow } from '../concurrency';
import { sharedFilePool } from '../store/copyPool';
import { BackupError, DamagedParentError, errorMessage, isDestinationFatal } from '../errors';
import { ManifestReader, ManifestWriter } from '../formats/manifest';
import type { BackupPlan } from '../set/plan';
import type { SetKey } from '../formats/sealed';
import type { ScanStream } from '../scan/walk';
import { startScan } from '../scan/walk';
import type { BackupSettings } from '../settings';
import type { BackupOutput, SetStore } from '../set/setStore';
import { openSink } from '../store/openSink';
import type { DataSink } from '../store/sink';
import type { EntryOutcome, StoreContext, XattrScan } from '../store/storeEntry';
import { storeEntry } from '../store/storeEntry';
import { CountingSink } from '../store/countingSink';
import type { BackupSummary, EntryCounts, EntryKind, FileCounts, FileProblem, ManifestEntry, ManifestHeader } from '../types';
import { emptyEntryCounts, emptyFileCounts, FORMAT_VERSION, HASH_ALGORITHM, MANIFEST_MAGIC, MAX_RECORDED_ERRORS } from '../types';
import { xattrsUnavailable } from '../store/xattrs';

/** What one run found, whether or not it was kept. */
export interface Tally {
  /** Per kind (README "Counts"): files never count folders or symlinks. */
  files: FileCounts & { links: number };
  folders: EntryCounts;
  symlinks: EntryCounts;
  scannedBytes: number;
  storedBytes: number;
  errors: FileProblem[];
  errorCount: number;
  entries: number;
  references: Set<string>;
  xattrs: XattrScan;
}

/** `wouldWrite`: a dry run found changes (or a full to make): the backup it would have written. */
export type WriteResult = { written: true; summary: BackupSummary; tally: Tally } | { written: false; tally: Tally; wouldWrite?: boolean };

export interface WriteJob {
  settings: BackupSettings;
  source: string;
  realSource: string;
  set: string;
  store: SetStore;
  backupId: string;
  plan: BackupPlan;
  startedAt: Date;
  signal: AbortSignal | undefined;
  /** The set's key when it is encrypted: manifest and archive are sealed, key.json is copied in. */
  key: SetKey | undefined;
  /** Throws unless this run still holds the set's lock (LOCK_LOST): called right before the commit. */
  confirmLock?: () => Promise<void>;
  /** Scan, compare and read what would be stored, writing nothing: no backup folder, no manifest (CountingSink). */
  dryRun?: boolean;
}

/** Progress at most this often: the node throttles further (UI, n8n log), the cost here is one clock read per entry. */
const PROGRESS_EVERY_MS = 1000;

function countsOf(tally: Tally, kind: EntryKind): EntryCounts {
  return kind === 'file' ? tally.files : kind === 'dir' ? tally.folders : tally.symlinks;
}

/** Added, changed or deleted entries of any kind: none means the source did not change. */
function changedEntries(tally: Pick<Tally, 'files' | 'folders' | 'symlinks'>): number {
  return [tally.files, tally.folders, tally.symlinks].reduce((sum, c) => sum + c.added + c.changed + c.deleted, 0);
}
/** Results held in walk order behind a file still being copied (a large one, say). */
const HELD_RESULTS = 4096;

function record(tally: Tally, problem: FileProblem | undefined): void {
  if (problem === undefined) return;
  tally.errorCount++;
  if (tally.errors.length < MAX_RECORDED_ERRORS) tally.errors.push(problem);
}

async function* noEntries(): AsyncGenerator<ManifestEntry[]> {}

/** A damaged parent manifest (bad gzip, no trailer, a forged line) says which backup it is, so auto can make a full instead. */
function asDamagedParent(error: unknown, parentId: string): unknown {
  const damaged = error instanceof BackupError && (error.code === 'MANIFEST_CORRUPT' || error.code === 'UNSAFE_PATH');
  return damaged && !(error instanceof DamagedParentError) ? new DamagedParentError(parentId, error) : error;
}

async function openParent(store: SetStore, parentId: string, key: SetKey | undefined): Promise<ManifestReader> {
  try {
    return await store.openManifest(parentId, key);
  } catch (error) {
    throw asDamagedParent(error, parentId);
  }
}

async function* parentBatches(reader: ManifestReader, parentId: string): AsyncGenerator<ManifestEntry[]> {
  try {
    yield* reader.batches();
  } catch (error) {
    throw asDamagedParent(error, parentId);
  }
}

/** The manifest of the backup being written, beside its data. */
function createManifest(output: BackupOutput, header: ManifestHeader, key: SetKey | undefined): Promise<ManifestWriter> {
  if (output.localDir !== undefined) return ManifestWriter.create(output.localDir, header, key);
  if (output.remote === undefined) throw new Error('a backup output is local or remote');
  return ManifestWriter.createOn(output.remote.dest, output.remote.backupPrefix, header, key);
}

/**
 * Writes one backup: scan -> decide -> store -> record, into what store.beginBackup() gives (local:
 * `.partial-<id>`), then commits it (local: the rename to `<id>`; remote: backup.json written last).
 * Returns written: false, leaving nothing, when skipUnchanged finds no change. On any error what
 * was written is removed before the error is raised.
 */
export async function writeBackup(job: WriteJob): Promise<WriteResult> {
  const { settings, plan, backupId, store } = job;
  const header: ManifestHeader = {
    manifest: MANIFEST_MAGIC, version: FORMAT_VERSION, id: backupId, type: plan.type, base: plan.base, parent: plan.parent,
    source: job.source, set: job.set, storage: settings.format, hash: HASH_ALGORITHM, startedAt: job.startedAt.toISOString(), exclude: settings.exclude,
  };
  const readXattrs = xattrsUnavailable() === undefined;
  if (readXattrs) header.xattrs = true;
  const xattrs: XattrScan = { read: readXattrs, carry: false, unreadable: 0, codes: new Set() };
  const tally: Tally = { files: emptyFileCounts(), folders: emptyEntryCounts(), symlinks: emptyEntryCounts(), scannedBytes: 0, storedBytes: 0, errors: [], errorCount: 0, entries: 0, references: new Set(), xattrs };
  let writer: ManifestWriter | undefined;
  let sink: DataSink | undefined;
  let previous: ManifestReader | undefined;
  let output: BackupOutput | undefined;
  let scan: ScanStream | undefined;
  try {
    // First: its thread starts while the backup folder, the sink and the previous manifest open.
    scan = startScan(job.realSource, settings.exclude);
    const key = job.key;
    const pool = sharedFilePool();
    if (job.dryRun === true) sink = new CountingSink(pool);
    else {
      output = await store.beginBackup(backupId);
      // Every backup carries the key file, so one backup folder copied alone can still be restored.
      if (key !== undefined) await output.writeKeyText(key.keyFileText);
      sink = await openSink(settings.format, output, settings.compressionLevel, pool, key === undefined ? undefined : { key, backupId });
    }
    previous = plan.parent === null ? undefined : await openParent(store, plan.parent, key);
    xattrs.carry = readXattrs && previous?.header.xattrs === true;
    const ctx: StoreContext = {
      sourceRoot: job.realSource, links: new Map(), sink, pool, backupId, signal: job.signal,
      compare: { previousStartMs: previous === undefined ? Infinity : Date.parse(previous.header.startedAt), compareContent: settings.compareContent },
      xattrs,
    };
    if (output !== undefined) writer = await createManifest(output, header, key);
    // Until something changes, this run may end up discarded (skipUnchanged): compress nothing yet.
    const mayDiscard = settings.skipUnchanged && plan.parent !== null;
    if (mayDiscard) writer?.hold();
    const results = new OrderedWindow<EntryOutcome>(settings.concurrency, HELD_RESULTS);
    let progressAt = Number.NEGATIVE_INFINITY; // the first entry reports at once: the run has started
    const book = (outcome: EntryOutcome): void => {
      const problem = outcome.problem;
      if (problem !== undefined) record(tally, problem);
      const entry = outcome.entry;
      // A deleted path is counted as the kind it was; any other as the kind it is now.
      const kind = outcome.counted === 'deleted' ? outcome.gone : entry?.kind;
      if (outcome.counted !== 'none' && kind !== undefined) {
        countsOf(tally, kind)[outcome.counted]++;
        if (mayDiscard && outcome.counted !== 'unchanged') writer?.release();
      }
      if (entry === undefined) return;
      writer?.writeEntry(entry);
      if (entry.in !== undefined && entry.in !== backupId) tally.references.add(entry.in);
      tally.entries++;
      countsOf(tally, entry.kind).scanned++;
      if (entry.link !== undefined) tally.files.links++;
      tally.scannedBytes += outcome.scannedBytes;
      if (outcome.stored) {
        tally.files.stored++;
        tally.storedBytes += outcome.storedBytes;
      }
      const now = Date.now();
      if (now - progressAt >= PROGRESS_EVERY_MS) {
        progressAt = now;
        settings.onProgress({ source: job.source, phase: 'backup', files: tally.files.scanned, folders: tally.folders.scanned, symlinks: tally.symlinks.scanned, bytes: tally.scannedBytes });
      }
    };
    try {
      for await (const pairs of mergeWalk(scan.batches, previous === undefined || plan.parent === null ? noEntries() : parentBatches(previous, plan.parent))) {
        for (const pair of pairs) {
          const full = results.push(storeEntry(ctx, pair), book);
          if (full !== undefined) await full;
        }
        await writer?.flushIfFull();
      }
      await results.finish(book);
    } catch (error) {
      await results.settle();
      throw error;
    }
    const { files: f, folders, symlinks } = tally;
    if (settings.skipUnchanged && plan.parent !== null && changedEntries(tally) === 0) {
      await writer?.abort();
      await sink.abort();
      await output?.discard();
      return { written: false, tally };
    }
    if (output === undefined || writer === undefined) return { written: false, tally, wouldWrite: true };
    const finishedAt = settings.now();
    const references = [...tally.references].sort();
    // Data first, then the manifest, then the summary, then the rename: a crash never leaves a
    // backup folder whose manifest names bytes that were not written.
    const bytes = { scanned: tally.scannedBytes, stored: tally.storedBytes, written: await sink.close() };
    bytes.written += await writer.finish({
      trailer: true, complete: true, finishedAt: finishedAt.toISOString(), entries: tally.entries, files: f, folders, symlinks, bytes, errorCount: tally.errorCount, references, errors: tally.errors,
    });
    const summary: BackupSummary = {
      backupId, set: job.set, source: job.source, type: plan.type, base: plan.base, parent: plan.parent, storage: settings.format, startedAt: header.startedAt,
      finishedAt: finishedAt.toISOString(), files: f, folders, symlinks, bytes, errorCount: tally.errorCount, complete: true, references,
    };
    // backup.json is not encrypted (listing and retention need no key): the source path stays in the sealed manifest.
    const onDisk: BackupSummary = key === undefined ? summary : { ...summary, source: '', encrypted: true };
    if (job.signal?.aborted === true) {
      const reason: unknown = job.signal.reason; // a LOCK_LOST BackupError when the lock was lost
      throw reason instanceof BackupError ? reason : new BackupError('CANCELLED', 'The backup was cancelled; its partial folder was removed.');
    }
    await output.commit(summaryText(onDisk), job.confirmLock);
    return { written: true, summary, tally };
  } catch (error) {
    await writer?.abort();
    await sink?.abort();
    await output?.discard();
    if (error instanceof BackupError) throw error;
    throw isDestinationFatal(error) ?? new BackupError('IO_ERROR', `Backup of ${job.source} failed: ${errorMessage(error)}`, { cause: error });
  } finally {
    await scan?.close();
    await previous?.close();
  }
}
