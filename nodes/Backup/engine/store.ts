import * as path from 'node:path';
import type { CompareContext, CurrentState, Verdict, WalkPair } from './compare';
import { decideEntry, modeOrOwnerChanged } from './compare';
import { hashFile } from './copy';
import type { FilePool } from './copyPool';
import { BackupError, toFileProblem } from './errors';
import type { EntryStats, ScanEntry } from './scan';
import type { DataSink, StorePlace } from './storage';
import { isScanProblem } from './scan';
import type { FileProblem, ManifestEntry } from './types';

/** What one path contributes to the new backup. */
export interface EntryOutcome {
  /** The manifest line, or none when the path is gone (deleted, vanished, unsupported). */
  entry?: ManifestEntry;
  counted: 'added' | 'changed' | 'unchanged' | 'deleted' | 'none';
  /** Bytes this backup stored for the entry (0 when it points into an earlier backup). */
  storedBytes: number;
  stored: boolean;
  scannedBytes: number;
  problem?: FileProblem;
}

export interface StoreContext {
  sourceRoot: string;
  sink: DataSink;
  pool: FilePool;
  backupId: string;
  compare: CompareContext;
  signal: AbortSignal | undefined;
}

function currentState(entry: ScanEntry & { kind: 'file' | 'dir' | 'symlink' }): CurrentState {
  const s = entry.stats;
  return { kind: entry.kind, size: entry.kind === 'file' ? s.size : 0, mtime: s.mtimeMs, ctime: s.ctimeMs, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, target: entry.target };
}

function metadataEntry(rel: string, kind: ManifestEntry['kind'], s: EntryStats): ManifestEntry {
  return { path: rel, kind, mode: s.mode & 0o7777, mtime: s.mtimeMs, ctime: s.ctimeMs, uid: s.uid, gid: s.gid };
}

const KEPT_NOTE = 'kept the version from the previous backup';

/** A file that could not be read this time: keep the previous version when there is one. */
function keepPrevious(previous: ManifestEntry | undefined, problem: FileProblem): EntryOutcome {
  if (previous !== undefined && problem.code !== 'ENOENT') {
    return { entry: previous, counted: 'unchanged', stored: false, storedBytes: 0, scannedBytes: previous.size ?? 0, problem: { ...problem, message: `${problem.message}; ${KEPT_NOTE}` } };
  }
  return { counted: previous === undefined ? 'none' : 'deleted', stored: false, storedBytes: 0, scannedBytes: 0, problem };
}

function unchangedFile(entry: ScanEntry, prev: ManifestEntry, cur: CurrentState): EntryOutcome {
  const s = entry.stats;
  const counted = modeOrOwnerChanged(prev, cur) ? 'changed' : 'unchanged';
  // Nothing recorded about it differs: the previous entry (and its manifest line) is reused as is.
  if (counted === 'unchanged' && prev.kind === 'file' && prev.mtime === s.mtimeMs && prev.ctime === s.ctimeMs) {
    return { entry: prev, counted, stored: false, storedBytes: 0, scannedBytes: s.size };
  }
  const kept: ManifestEntry = { path: entry.path, kind: 'file', mode: cur.mode, mtime: s.mtimeMs, ctime: s.ctimeMs, uid: s.uid, gid: s.gid, size: prev.size, hash: prev.hash, in: prev.in };
  return { entry: kept, counted, stored: false, storedBytes: 0, scannedBytes: s.size };
}

/** Synchronous for an unchanged file (most of a no-change run); a promise when bytes must be read. */
function storeFile(ctx: StoreContext, entry: ScanEntry, previous: ManifestEntry | undefined): EntryOutcome | Promise<EntryOutcome> {
  const cur = currentState(entry as ScanEntry & { kind: 'file' });
  const decision = decideEntry(previous, cur, ctx.compare);
  if (decision.verdict === 'unchanged') return unchangedFile(entry, previous as ManifestEntry, cur);
  return readFile(ctx, entry, previous, cur, decision.verdict);
}

async function readFile(ctx: StoreContext, entry: ScanEntry, previous: ManifestEntry | undefined, cur: CurrentState, verdict: Exclude<Verdict, 'unchanged'>): Promise<EntryOutcome> {
  const s = entry.stats;
  const base = metadataEntry(entry.path, 'file', s);
  // A re-check reads the file before it knows whether to store it: its place in the sink's
  // stream (walk order, which one archive relies on) is kept meanwhile, not taken by a later file.
  const place = verdict === 'recheck' ? ctx.sink.reserve() : undefined;
  try {
    if (verdict === 'recheck') {
      const prev = previous as ManifestEntry;
      const seen = await hashFile(ctx.pool, path.join(ctx.sourceRoot, entry.path), s.size);
      if (seen.hash !== prev.hash || seen.size !== prev.size) return await copyChanged(ctx, entry, base, 'changed', place);
      return unchangedFile(entry, prev, cur);
    }
    return await copyChanged(ctx, entry, base, verdict);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    return keepPrevious(previous?.kind === 'file' ? previous : undefined, toFileProblem(entry.path, error));
  } finally {
    place?.release();
  }
}

async function copyChanged(ctx: StoreContext, entry: ScanEntry, base: ManifestEntry, counted: 'added' | 'changed', place?: StorePlace): Promise<EntryOutcome> {
  const s = entry.stats;
  const copied = await (place ?? ctx.sink).store(entry.path, path.join(ctx.sourceRoot, entry.path), s);
  return { entry: { ...base, size: copied.size, hash: copied.hash, in: ctx.backupId }, counted, stored: true, storedBytes: copied.size, scannedBytes: s.size };
}

/** Decides and stores one path of the merged walk. Throws only for problems that abort the run. */
export function storeEntry(ctx: StoreContext, pair: WalkPair): EntryOutcome | Promise<EntryOutcome> {
  if (ctx.signal?.aborted === true) {
    // The reason is a BackupError when the set's lock was lost; otherwise the user cancelled.
    const reason: unknown = ctx.signal.reason;
    throw reason instanceof BackupError ? reason : new BackupError('CANCELLED', 'The backup was cancelled; its partial folder was removed.');
  }
  const { current, previous } = pair;
  if (current === undefined) {
    if (pair.carried === true) return { entry: previous, counted: 'unchanged', stored: false, storedBytes: 0, scannedBytes: previous?.size ?? 0 };
    return { counted: 'deleted', stored: false, storedBytes: 0, scannedBytes: 0 };
  }
  if (isScanProblem(current)) return keepPrevious(previous, current.problem);
  if (current.kind === 'special') {
    const problem = { path: current.path, code: 'ESPECIAL', message: `${current.special ?? 'a special file'} is not backed up` };
    return { counted: previous === undefined ? 'none' : 'deleted', stored: false, storedBytes: 0, scannedBytes: 0, problem };
  }
  if (current.kind === 'file') return storeFile(ctx, current, previous);
  const entry = metadataEntry(current.path, current.kind, current.stats);
  if (current.kind === 'symlink') entry.target = current.target;
  const verdict = decideEntry(previous, currentState(current as ScanEntry & { kind: 'dir' | 'symlink' }), ctx.compare).verdict;
  return { entry, counted: verdict === 'recheck' ? 'unchanged' : verdict, stored: false, storedBytes: 0, scannedBytes: 0, problem: current.listProblem };
}
