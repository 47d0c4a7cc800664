import * as path from 'node:path';
import type { CompareContext, CurrentState, Verdict, WalkPair } from '../scan/compare';
import { decideEntry, modeOrOwnerChanged } from '../scan/compare';
import { hashFile } from './copy';
import type { FilePool } from './copyPool';
import { BackupError, toFileProblem } from '../errors';
import type { EntryStats, ScanEntry } from '../scan/walk';
import type { DataSink, StorePlace } from './sink';
import { isScanProblem } from '../scan/walk';
import type { FileProblem, ManifestEntry } from '../types';
import { readXattrs } from './xattrs';

/** What one path contributes to the new backup. */
export interface EntryOutcome {
  /** The manifest line, or none when the path is gone (deleted, vanished, unsupported). */
  entry?: ManifestEntry;
  counted: 'added' | 'changed' | 'unchanged' | 'deleted' | 'none';
  /** counted `deleted`: the kind the path had in the previous backup (counted per kind, README "Counts"). */
  gone?: ManifestEntry['kind'];
  /** Bytes this backup stored for the entry (0 when it points into an earlier backup). */
  storedBytes: number;
  stored: boolean;
  scannedBytes: number;
  problem?: FileProblem;
}

/** The name of a hard-link group whose entry holds the group's content in this backup. */
export interface LinkHead {
  path: string;
  entry: ManifestEntry;
}

/**
 * Hard-link groups met so far in this run: `dev:ino` -> the group's first name with content (a
 * promise: its copy may still run), and how many of the inode's names were seen (the group is
 * forgotten once all were). Only names inside the source form a group.
 */
export type LinkGroups = Map<string, { head: Promise<LinkHead | undefined>; seen: number }>;

export interface StoreContext {
  sourceRoot: string;
  links: LinkGroups;
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
  return { counted: previous === undefined ? 'none' : 'deleted', gone: previous?.kind, stored: false, storedBytes: 0, scannedBytes: 0, problem };
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
function storeFile(ctx: StoreContext, entry: ScanEntry, previous: ManifestEntry | undefined, place?: StorePlace): EntryOutcome | Promise<EntryOutcome> {
  const cur = currentState(entry as ScanEntry & { kind: 'file' });
  // A previous hard-link entry's bytes lie under another name: this name's content is stored anew.
  const prev = previous?.link === undefined ? previous : undefined;
  const decision = decideEntry(prev, cur, ctx.compare);
  if (decision.verdict === 'unchanged') {
    place?.release();
    return unchangedFile(ctx, entry, prev as ManifestEntry, cur);
  }
  const verdict = decision.verdict === 'added' && previous !== undefined ? 'changed' : decision.verdict;
  return readFile(ctx, entry, prev, cur, verdict, place);
}

async function readFile(
  ctx: StoreContext, entry: ScanEntry, previous: ManifestEntry | undefined, cur: CurrentState, verdict: Exclude<Verdict, 'unchanged'>, given?: StorePlace,
): Promise<EntryOutcome> {
  const s = entry.stats;
  const base = metadataEntry(entry.path, 'file', s);
  // A re-check reads the file before it knows whether to store it: its place in the sink's
  // stream (walk order, which one archive relies on) is kept meanwhile, not taken by a later file.
  const place = given ?? (verdict === 'recheck' ? ctx.sink.reserve() : undefined);
  try {
    if (verdict === 'recheck') {
      const prev = previous as ManifestEntry;
      const seen = await hashFile(ctx.pool, path.join(ctx.sourceRoot, entry.path), s.size);
      if (seen.hash !== prev.hash || seen.size !== prev.size) return await copyChanged(ctx, entry, base, 'changed', place);
      return unchangedFile(ctx, entry, prev, cur);
    }
    return await copyChanged(ctx, entry, base, verdict, place);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    return keepPrevious(previous?.kind === 'file' ? previous : undefined, toFileProblem(entry.path, error));
  } finally {
    place?.release();
  }
}

/** The hard-link group of a file with more than one name, or undefined. */
function groupKey(s: EntryStats): string | undefined {
  return (s.nlink ?? 1) > 1 && s.dev !== undefined && s.ino !== undefined ? `${s.dev}:${s.ino}` : undefined;
}

/** The entry that can stand as its group's content: a file entry of this name, not itself a link. */
function asHead(rel: string, outcome: EntryOutcome): LinkHead | undefined {
  const e = outcome.entry;
  return e !== undefined && e.kind === 'file' && e.link === undefined && e.path === rel ? { path: rel, entry: e } : undefined;
}

/**
 * A file with more than one name. The first name met stores the content as any file; a later
 * name records `link` (and the first name's content fields) and stores nothing, unless the first
 * name could not be stored (then it stores its own content and heads the group from there on).
 * Its place in the sink is kept in walk order while it waits for the group's head.
 */
function storeGroupMember(ctx: StoreContext, entry: ScanEntry, previous: ManifestEntry | undefined, key: string): EntryOutcome | Promise<EntryOutcome> {
  const nlink = entry.stats.nlink ?? 1;
  const group = ctx.links.get(key);
  if (group === undefined) {
    const outcome = storeFile(ctx, entry, previous);
    ctx.links.set(key, { head: Promise.resolve(outcome).then((o) => asHead(entry.path, o), () => undefined), seen: 1 });
    return outcome;
  }
  if (++group.seen >= nlink) ctx.links.delete(key);
  const place = ctx.sink.reserve();
  const outcome = group.head.then((head) => (head === undefined ? storeFile(ctx, entry, previous, place) : linkedName(ctx, entry, previous, head, place)));
  const before = group.head;
  group.head = outcome.then(
    (o) => asHead(entry.path, o) ?? before,
    () => before,
  );
  return outcome;
}

function linkedName(ctx: StoreContext, entry: ScanEntry, previous: ManifestEntry | undefined, head: LinkHead, place: StorePlace): EntryOutcome {
  const s = entry.stats;
  const { size, hash, in: holder } = head.entry;
  // The archive holds a hard-link member only where the first name's bytes are in the same archive.
  if (holder === ctx.backupId) place.link(entry.path, head.path, s);
  else place.release();
  const linked: ManifestEntry = { ...metadataEntry(entry.path, 'file', s), size, hash, in: holder, link: head.path };
  let counted: EntryOutcome['counted'] = 'unchanged';
  if (previous === undefined) counted = 'added';
  else if (previous.kind !== 'file' || previous.link !== head.path || previous.hash !== hash || previous.size !== size || previous.in !== holder) counted = 'changed';
  else if (modeOrOwnerChanged(previous, currentState(entry as ScanEntry & { kind: 'file' })) || previous.mtime !== s.mtimeMs) counted = 'changed';
  return { entry: linked, counted, stored: false, storedBytes: 0, scannedBytes: s.size };
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
    return { counted: 'deleted', gone: previous?.kind, stored: false, storedBytes: 0, scannedBytes: 0 };
  }
  if (isScanProblem(current)) return keepPrevious(previous, current.problem);
  if (current.kind === 'special') {
    const problem = { path: current.path, code: 'ESPECIAL', message: `${current.special ?? 'a special file'} is not backed up` };
    return { counted: previous === undefined ? 'none' : 'deleted', gone: previous?.kind, stored: false, storedBytes: 0, scannedBytes: 0, problem };
  }
  if (current.kind === 'file') {
    const key = groupKey(current.stats);
    return key === undefined ? storeFile(ctx, current, previous) : storeGroupMember(ctx, current, previous, key);
  }
  const entry = metadataEntry(current.path, current.kind, current.stats);
  if (current.kind === 'symlink') entry.target = current.target;
  withXattrs(ctx, entry, previous);
  // In walk order, so `tar xzf` of the archive gives folders and symlinks too.
  ctx.sink.tree(current.path, current.stats, current.kind === 'dir' ? { type: 'dir' } : { type: 'symlink', linkname: current.target });
  const verdict = decideEntry(previous, currentState(current as ScanEntry & { kind: 'dir' | 'symlink' }), ctx.compare).verdict;
  const counted = verdict === 'recheck' ? 'unchanged' : verdict;
  return { entry, counted: counted === 'unchanged' && previous !== undefined && xattrsChanged(ctx, previous, entry) ? 'changed' : counted, stored: false, storedBytes: 0, scannedBytes: 0, problem: current.listProblem };
}
