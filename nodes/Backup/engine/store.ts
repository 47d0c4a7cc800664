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
import { readXattrs } from './xattrs';

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
  xattrs: XattrScan;
}

/** How this run keeps extended attributes, and what it could not read. */
export interface XattrScan {
  /** The library loaded: read the attributes of new and changed entries. */
  read: boolean;
  /** The previous manifest recorded attributes (header `xattrs`): an entry whose ctime did not move keeps its previous ones. */
  carry: boolean;
  /** Entries whose attributes could not be read (their errno names in `codes`). */
  unreadable: number;
  codes: Set<string>;
}

/**
 * True when only the attributes changed (a backup is then due, even with skipUnchanged). Only
 * when the previous manifest recorded them: the first run after an upgrade is not a change.
 */
function xattrsChanged(ctx: StoreContext, prev: ManifestEntry, cur: ManifestEntry): boolean {
  if (!ctx.xattrs.carry) return false;
  return JSON.stringify(prev.xattrs ?? {}) !== JSON.stringify(cur.xattrs ?? {});
}

/**
 * Gives `entry` its extended attributes: those of `previous` when its ctime shows no change since
 * (setting or removing an xattr moves ctime), so an unchanged tree costs no system call per
 * entry; otherwise read from the source (one llistxattr, plus one read per attribute).
 */
function withXattrs(ctx: StoreContext, entry: ManifestEntry, previous: ManifestEntry | undefined): ManifestEntry {
  const x = ctx.xattrs;
  if (!x.read) return entry;
  if (x.carry && previous !== undefined && previous.kind === entry.kind && previous.ctime === entry.ctime) {
    if (previous.xattrs !== undefined) entry.xattrs = previous.xattrs;
    return entry;
  }
  const got = readXattrs(path.join(ctx.sourceRoot, entry.path));
  if ('failed' in got) {
    x.unreadable++;
    x.codes.add(got.failed);
  } else if (got.xattrs !== undefined) entry.xattrs = got.xattrs;
  return entry;
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

function unchangedFile(ctx: StoreContext, entry: ScanEntry, prev: ManifestEntry, cur: CurrentState): EntryOutcome {
  const s = entry.stats;
  const counted = modeOrOwnerChanged(prev, cur) ? 'changed' : 'unchanged';
  // Nothing recorded about it differs: the previous entry (and its manifest line) is reused as is;
  // unless its attributes were never read (a previous manifest without them) and can be now.
  const xattrsKnown = ctx.xattrs.carry || !ctx.xattrs.read;
  if (counted === 'unchanged' && prev.kind === 'file' && prev.mtime === s.mtimeMs && prev.ctime === s.ctimeMs && xattrsKnown) {
    return { entry: prev, counted, stored: false, storedBytes: 0, scannedBytes: s.size };
  }
  const kept: ManifestEntry = { path: entry.path, kind: 'file', mode: cur.mode, mtime: s.mtimeMs, ctime: s.ctimeMs, uid: s.uid, gid: s.gid, size: prev.size, hash: prev.hash, in: prev.in };
  withXattrs(ctx, kept, prev);
  return { entry: kept, counted: counted === 'unchanged' && xattrsChanged(ctx, prev, kept) ? 'changed' : counted, stored: false, storedBytes: 0, scannedBytes: s.size };
}

/** Synchronous for an unchanged file (most of a no-change run); a promise when bytes must be read. */
function storeFile(ctx: StoreContext, entry: ScanEntry, previous: ManifestEntry | undefined): EntryOutcome | Promise<EntryOutcome> {
  const cur = currentState(entry as ScanEntry & { kind: 'file' });
  const decision = decideEntry(previous, cur, ctx.compare);
  if (decision.verdict === 'unchanged') return unchangedFile(ctx, entry, previous as ManifestEntry, cur);
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
      return unchangedFile(ctx, entry, prev, cur);
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
  // Read, never carried: its content changed, so its ctime moved anyway.
  const stored = withXattrs(ctx, { ...base, size: copied.size, hash: copied.hash, in: ctx.backupId }, undefined);
  return { entry: stored, counted, stored: true, storedBytes: copied.size, scannedBytes: s.size };
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
  withXattrs(ctx, entry, previous);
  const verdict = decideEntry(previous, currentState(current as ScanEntry & { kind: 'dir' | 'symlink' }), ctx.compare).verdict;
  const counted = verdict === 'recheck' ? 'unchanged' : verdict;
  return { entry, counted: counted === 'unchanged' && previous !== undefined && xattrsChanged(ctx, previous, entry) ? 'changed' : counted, stored: false, storedBytes: 0, scannedBytes: 0, problem: current.listProblem };
}
