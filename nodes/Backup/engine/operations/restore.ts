import type { DestinationOptions } from '../destination';
import { DestinationError } from '../destination/faults';
import { createHash } from 'node:crypto';
import { constants as C, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { jobError } from '../store/copy';
import type { FilePool } from '../store/copyPool';
import { sharedFilePool } from '../store/copyPool';
import { BackupError, errnoCode, errorMessage, toFileProblem } from '../errors';
import { DATA_DIR, findBackup, isBackupId } from '../set/catalog';
import { humanBytes, humanDuration, treeCounts } from '../humanize';
import { keyForReading } from '../set/encryption';
import { isSameOrInside, parentOf, realpathLoose } from '../paths';
import { closeDestination, openDestinationFor, setStoreIn } from '../set/openSetStore';
import type { SetStore } from '../set/setStore';
import type { TarMember } from '../formats/tar/reader';
import type { SetKey } from '../formats/sealed';
import { ArchiveDamage, storeFaultOf } from '../formats/tar/damage';
import { TarReader } from '../formats/tar/reader';
import { restoreLinks } from './restoreLinks';
import type { SelectionReport } from './restoreSelection';
import { describeFilters, RestoreSelection } from './restoreSelection';
import { findBackupAsOf } from '../set/asOf';
import { asOfInstant } from './readSet';
import { writeSparse } from '../store/sparse';
import { writeXattrs, XattrRestoreTally } from '../store/xattrs';
import type { BackupSummary, FileProblem, ManifestEntry, Progress, StorageFormat } from '../types';
import { MAX_RECORDED_ERRORS } from '../types';

/** What to do when the target already holds something at a path being restored. */
export type OverwritePolicy = 'fail' | 'overwrite' | 'skip';

export interface RestoreOptions {
  /** A local folder, s3:// or sftp:// (see BackupOptions.destination). */
  destination: string;
  destinationOptions?: DestinationOptions;
  setName: string;
  /** A backup id, or `latest` (default). */
  backupId?: string;
  /**
   * Restore the newest complete backup that started at or before this ISO 8601 date-time instead
   * of `backupId` (which must then be unset or `latest`). Without an offset it is read in `timeZone`.
   */
  asOf?: string;
  /** IANA zone of an `asOf` without offset; UTC by default. */
  timeZone?: string;
  /** Restore only these paths (globs or exact paths, relative to the backup root; see restoreSelection.ts). */
  include?: readonly string[];
  /** Leave these paths out (same patterns), also inside an include. */
  exclude?: readonly string[];
  target: string;
  /** `fail` (default): refuse a target that is not empty. */
  overwrite?: OverwritePolicy;
  /** The set's passphrase, when the set is encrypted (PASSPHRASE_REQUIRED without it). */
  passphrase?: string;
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

export interface RestoreReport {
  set: string;
  backupId: string;
  target: string;
  /**
   * Per kind (README "Counts"). `files.restored`: every file name made, hard links included;
   * `links`: of them, names made as hard links of a file restored before them. `files.folders` and
   * `files.symlinks` are the older names of `folders.restored` and `symlinks.restored`, kept for
   * saved workflows.
   */
  files: { restored: number; skipped: number; links: number; folders: number; symlinks: number };
  folders: { restored: number; skipped: number };
  symlinks: { restored: number; skipped: number };
  bytes: { restored: number };
  sizes: { restored: string };
  errors: FileProblem[];
  errorCount: number;
  /**
   * Restored, but not as the backup describes: a hard link the target could not make (another file
   * system, no hard links there), restored as a separate copy of the same bytes.
   */
  warnings: FileProblem[];
  durationMs: number;
  /** What could not be put back, one sentence each (extended attributes not settable here): the restore still succeeded. */
  notices: string[];
  summary: string;
  /** The --include/--exclude filters used (empty lists: the whole backup), and includes that matched nothing. */
  selection: SelectionReport;
  /** With asOf: the instant it named (UTC), the backup chosen is `backupId`. */
  asOf?: string;
}

interface FolderToFinish {
  abs: string;
  entry: ManifestEntry;
}

const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

function unsafe(entry: ManifestEntry, why: string): BackupError {
  return new BackupError('UNSAFE_PATH', `Refusing to restore ${JSON.stringify(entry.path)}: ${why}. Nothing is written outside the target.`, {
    hint: 'The backup manifest was altered or damaged; restore from another backup.',
    path: entry.path,
  });
}

async function assertTargetUsable(target: string, policy: OverwritePolicy): Promise<void> {
  try {
    await fsp.mkdir(target, { recursive: true });
  } catch (error) {
    throw new BackupError('TARGET_UNUSABLE', `Cannot create the restore target ${target}: ${errorMessage(error)}`, { path: target, cause: error });
  }
  const stats = await fsp.lstat(target);
  if (!stats.isDirectory()) throw new BackupError('TARGET_UNUSABLE', `The restore target ${target} is not a folder.`, { path: target });
  if (policy !== 'fail') return;
  const dir = await fsp.opendir(target);
  const first = await dir.read();
  await dir.close();
  if (first !== null) {
    throw new BackupError('TARGET_NOT_EMPTY', `The restore target ${target} is not empty.`, {
      hint: 'Restore into an empty folder, or allow overwriting (--overwrite) or skipping existing files (--skip-existing).',
      path: target,
    });
  }
}

/**
 * Makes room for `entry` at `abs`. Returns false when the path must be left alone (skip policy).
 * Whatever is there (a symlink planted in the target included) is removed, never written through.
 */
async function clearWay(abs: string, entry: ManifestEntry, policy: OverwritePolicy, targetWasEmpty: boolean): Promise<boolean> {
  if (targetWasEmpty) return true;
  let existing;
  try {
    existing = await fsp.lstat(abs);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return true;
    throw error;
  }
  if (entry.kind === 'dir' && existing.isDirectory()) return true;
  if (policy === 'skip') return false;
  if (policy === 'fail') throw new BackupError('TARGET_NOT_EMPTY', `${abs} already exists.`, { path: abs });
  await fsp.rm(abs, { recursive: true, force: true });
  return true;
}

async function restoreOwner(abs: string, entry: ManifestEntry): Promise<void> {
  if (!IS_ROOT) return;
  await fsp.lchown(abs, entry.uid, entry.gid).catch(() => undefined);
}

const TARGET_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
/** Files being written at once: enough to fill the copy pool's batches. */
const FILES_IN_FLIGHT = 128;
/** From a remote set each folder-format file is a request: a few at once hide the round trips without crowding the server. */
const REMOTE_FILES_IN_FLIGHT = 8;
/** tar.gz members up to this size are read into memory and written in the background, several at once. */
const SMALL_MEMBER = 1 << 20;
/** tar.gz holders read side by side during one pass over the manifest; more holders take more passes. */
const OPEN_ARCHIVES = 8;

function mismatch(message: string): Error {
  return Object.assign(new Error(message), { code: 'ECORRUPT' });
}

/**
 * Known-bad bytes never stay in the target under a file's real name: a restored file that fails
 * its size or sha256 is removed (the stored copy stays in the backup, for a person to look at).
 */
async function removeMismatched(abs: string, where: string, size: number, entry: ManifestEntry): Promise<never> {
  await fsp.unlink(abs).catch(() => undefined);
  throw mismatch(`stored copy in ${where} does not match the manifest (${size} bytes, expected ${entry.size ?? 0}); removed from the target, the stored copy is left as it is`);
}

/**
 * Creates `abs` (O_EXCL|O_NOFOLLOW: never through a symlink, never over anything), fills it from
 * `fill`, gives it the manifest's mode and mtime, then checks size and sha256 against the manifest
 * (a mismatch is reported and the file removed again). Returns the bytes written, or undefined
 * when `skipExisting` and something already stands at `abs`.
 */
export async function writeChecked(
  run: RestoreRun,
  abs: string,
  entry: ManifestEntry,
  where: string,
  skipExisting: boolean,
  fill: (write: (chunk: Buffer) => Promise<void>) => Promise<unknown>,
): Promise<number | undefined> {
  let out: FileHandle;
  try {
    out = await fsp.open(abs, TARGET_FLAGS, 0o600);
  } catch (error) {
    if (skipExisting && errnoCode(error) === 'EEXIST') return undefined;
    throw error;
  }
  let complete = false;
  let size = 0;
  let dataEnd = 0;
  const hash = createHash('sha256');
  try {
    await fill(async (chunk) => {
      hash.update(chunk);
      const at = size;
      size += chunk.length;
      // Zero blocks become holes (sparse.ts); the length is set below when the file ends in one.
      dataEnd = await writeSparse(out, chunk, at);
    });
    if (dataEnd < size) await out.truncate(size);
    complete = true;
    await out.chmod(entry.mode);
    await out.utimes(entry.mtime / 1000, entry.mtime / 1000);
    if (IS_ROOT) await out.chown(entry.uid, entry.gid).catch(() => undefined);
  } finally {
    await out.close();
    // The archive broke inside this member: the file (ours: created with O_EXCL) is removed rather
    // than left cut short under its real name.
    if (!complete) await fsp.unlink(abs).catch(() => undefined);
  }
  if (size !== entry.size || hash.digest('hex') !== entry.hash) return removeMismatched(abs, where, size, entry);
  await restoreXattrs(run, abs, entry);
  return size;
}

/**
 * Copies bytes stored in the folder format into a new file (on the copy pool's threads), giving it
 * the manifest's mode and mtime (and owner, as root), then checks size and sha256 against the
 * manifest (a mismatch is reported and the file removed again, as for tar.gz).
 */
export async function restoreFile(run: RestoreRun, abs: string, entry: ManifestEntry, storedAs = entry.path): Promise<number | undefined> {
  const holder = entry.in as string;
  if (!isBackupId(holder)) throw Object.assign(new Error(`manifest names an invalid location "${holder}"`), { code: 'EBADLOC' });
  if (run.setDir === undefined) return restoreRemoteFile(run, abs, entry, holder, storedAs);
  const stored = path.join(run.setDir, holder, DATA_DIR, storedAs);
  if (!(await isRealStoredFolder(run, path.dirname(stored)))) {
    throw Object.assign(new Error(`its folder in ${holder} is reached through a symlink, out of the backup set; not restored`), { code: 'EBADLOC' });
  }
  const owner = IS_ROOT ? { uid: entry.uid, gid: entry.gid } : {};
  const result = await run.pool.run({ src: stored, dst: abs, sizeHint: entry.size ?? 0, mode: entry.mode, mtimeMs: entry.mtime, ...owner });
  if (!result.ok) {
    if (result.skipped === true) return undefined;
    throw jobError(result);
  }
  if (result.size !== entry.size || result.hash !== entry.hash) return removeMismatched(abs, holder, result.size, entry);
  await restoreXattrs(run, abs, entry);
  return result.size;
}

/**
 * The folder format on a remote store: the stored object streamed into a new file, checked like a
 * tar.gz member (size and sha256; a mismatch is removed). Object names cannot climb out of the set
 * (destination names refuse `..`), so there is no symlink to guard against on this side.
 */
async function restoreRemoteFile(run: RestoreRun, abs: string, entry: ManifestEntry, holder: string, storedAs: string): Promise<number | undefined> {
  const where = `${holder}/${DATA_DIR}/${storedAs}`;
  const written = await writeChecked(run, abs, entry, where, run.policy === 'skip', async (write) => {
    for await (const chunk of await run.store.readStored(holder, storedAs)) await write(chunk as Buffer);
  });
  return written;
}

/**
 * True when `folder` (in a holder's data/) is reached without a symlink, so a file opened there is
 * inside the set: O_NOFOLLOW guards only the last component, and someone who can write the
 * destination could otherwise plant `data/x -> /etc` and have restore copy /etc/shadow into the
 * target. Checked once per folder.
 */
function isRealStoredFolder(run: RestoreRun, folder: string): Promise<boolean> {
  let known = run.realFolders.get(folder);
  if (known === undefined) {
    const setDir = run.setDir as string;
    known = Promise.all([fsp.realpath(setDir), fsp.realpath(folder)]).then(
      ([realSet, real]) => real === path.join(realSet, path.relative(setDir, folder)),
      // Missing: the copy reports the file missing.
      () => true,
    );
    run.realFolders.set(folder, known);
  }
  return known;
}

async function readStorage(store: SetStore, holder: string, key: SetKey | undefined): Promise<StorageFormat> {
  // An encrypted set is tar.gz throughout (a planted folder backup is not read in the clear).
  if (key !== undefined) return 'tar.gz';
  try {
    const summary = JSON.parse((await store.readSummaryText(holder)) ?? '') as Partial<BackupSummary>;
    if (summary.backupId === holder && (summary.storage === 'folder' || summary.storage === 'tar.gz')) return summary.storage;
  } catch {
    // No readable summary: ask the manifest header.
  }
  try {
    const reader = await store.openManifest(holder, undefined);
    await reader.close();
    if (reader.header.id === holder && reader.header.storage === 'tar.gz') return 'tar.gz';
  } catch {
    // Neither: the folder layout, whose files are then reported missing one by one.
  }
  return 'folder';
}

/** How each holder stores its bytes (its backup.json `storage`, else its manifest header), looked up once. */
export class HolderStorage {
  private readonly known = new Map<string, Promise<StorageFormat>>();

  constructor(
    private readonly store: SetStore,
    private readonly key: SetKey | undefined,
  ) {}

  of(holder: string): Promise<StorageFormat> {
    let found = this.known.get(holder);
    if (found === undefined) {
      found = readStorage(this.store, holder, this.key);
      this.known.set(holder, found);
    }
    return found;
  }
}

/**
 * Every entry's parent must be a folder entry met earlier in this manifest (or the target root),
 * so nothing is ever written through a symlink or a file, whatever order a hostile manifest uses.
 * Holds only the chain of open folders: walk order makes that enough.
 */
export class ParentGuard {
  private readonly open: string[] = [''];

  admit(entry: ManifestEntry): void {
    const parent = parentOf(entry.path);
    const open = this.open;
    while (open.length > 1 && parent !== open[open.length - 1] && !parent.startsWith(`${open[open.length - 1]}/`)) open.pop();
    if (open[open.length - 1] !== parent) throw unsafe(entry, `its parent "${parent}" is not a folder of this backup`);
    if (entry.kind === 'dir') open.push(entry.path);
  }
}

/**
 * First pass: the whole manifest is readable, complete and safe before anything is written.
 * Returns the first names of the backup's hard-link groups (the `link` values).
 */
async function checkManifest(store: SetStore, backupId: string, key: SetKey | undefined, selection: RestoreSelection): Promise<Set<string>> {
  const reader = await store.openManifest(backupId, key);
  const guard = new ParentGuard();
  const heads = new Set<string>();
  try {
    for await (const entry of reader.entries()) {
      guard.admit(entry);
      // Only groups with a selected name: an unselected first name is then restored as a copy (restoreLinks).
      if (selection.count(entry.path) && entry.link !== undefined) heads.add(entry.link);
    }
  } finally {
    await reader.close();
  }
  selection.assertSomethingSelected(backupId);
  return heads;
}

/** State shared by the passes of one restore. */
export interface RestoreRun {
  store: SetStore;
  /** The set folder of a local set (fast paths and the symlink guard); undefined for a remote one. */
  setDir: string | undefined;
  target: string;
  backupId: string;
  /** `<set>/<id>` of the backup being restored. */
  key: SetKey | undefined;
  policy: OverwritePolicy;
  targetWasEmpty: boolean;
  concurrency: number;
  options: RestoreOptions;
  report: RestoreReport;
  /** File writes running in the background. */
  inFlight: Set<Promise<void>>;
  /** The target ran out of space or became read-only: stop. */
  fatal: unknown;
  pool: FilePool;
  /** Callers waiting in track() for a place among the writes in flight. */
  placeFreed: (() => void)[];
  /** Folders of stored files checked by isRealStoredFolder(). */
  realFolders: Map<string, Promise<boolean>>;
  /** Extended attributes that could not be set, counted for one notice. */
  xattrs: XattrRestoreTally;
  /** First names of hard-link groups (from the first pass), and those this run restored intact (-> their sha256). */
  heads: Set<string>;
  /** The paths to restore (all, without filters). */
  selection: RestoreSelection;
  madeHeads: Map<string, string>;
  /** When progress was last reported (ms). */
  progressAt: number;
}

/**
 * Sets the entry's extended attributes (ACLs included) on what was just restored at `abs`. After
 * chown, which clears security.capability. A user's read-only file or folder refuses user.*
 * attributes to its owner: it is made owner-writable for the moment and given its mode back.
 * Failures are counted for one notice, never an error per file.
 */
async function restoreXattrs(run: RestoreRun, abs: string, entry: ManifestEntry): Promise<void> {
  const record = entry.xattrs;
  if (record === undefined) return;
  let failed = writeXattrs(abs, record);
  if (failed.includes('EACCES') && !IS_ROOT && entry.kind !== 'symlink' && (entry.mode & 0o200) === 0) {
    await fsp.chmod(abs, entry.mode | 0o200);
    try {
      failed = writeXattrs(abs, record);
    } finally {
      await fsp.chmod(abs, entry.mode);
    }
  }
  run.xattrs.book(failed);
}

export function addProblem(run: RestoreRun, p: FileProblem): void {
  run.report.errorCount++;
  if (run.report.errors.length < MAX_RECORDED_ERRORS) run.report.errors.push(p);
}

export function checkCancelled(run: RestoreRun): void {
  if (run.options.signal?.aborted === true) throw new BackupError('CANCELLED', 'The restore was cancelled; files restored so far were left in place.');
}

/** At most once a second: the node throttles further (UI, n8n log). */
export function reportProgress(run: RestoreRun): void {
  const now = Date.now();
  if (run.options.onProgress === undefined || now - run.progressAt < 1000) return;
  run.progressAt = now;
  const { files, folders, symlinks, bytes } = run.report;
  run.options.onProgress({ source: run.target, phase: 'restore', files: files.restored, folders: folders.restored, symlinks: symlinks.restored, bytes: bytes.restored });
}

/** An entry not restored (overwrite policy skip, or below a folder that was), counted as its kind. */
function countSkipped(report: RestoreReport, entry: ManifestEntry): void {
  if (entry.kind === 'dir') report.folders.skipped++;
  else if (entry.kind === 'symlink') report.symlinks.skipped++;
  else report.files.skipped++;
}

/**
 * Whether an error ends the whole restore (recorded in run.fatal) rather than costing one file: the
 * store failing (unreachable after the retries, refused credentials; storeFaultOf, whether it comes
 * as itself or as archive "damage"), or a full or read-only target. The next file would fail the
 * same way. A stored object that is missing is one file's problem.
 */
export function stopsRestore(run: RestoreRun, error: unknown): boolean {
  const fault = storeFaultOf(error);
  if (fault !== undefined) {
    run.fatal ??= fault;
    return true;
  }
  const code = errnoCode(error);
  if (code !== 'ENOSPC' && code !== 'EDQUOT' && code !== 'EROFS') return false;
  run.fatal ??= error;
  return true;
}

/**
 * Runs one file write in the background (at most `concurrency` at once) and books its outcome.
 * Returns a promise only when it has to wait for a free place, so most files cost no await.
 */
export function track(run: RestoreRun, abs: string, entry: ManifestEntry, write: () => Promise<number | undefined>): Promise<void> | undefined {
  if (run.inFlight.size >= run.concurrency) {
    return new Promise<void>((resolve) => run.placeFreed.push(resolve)).then(() => track(run, abs, entry, write));
  }
  const job: Promise<void> = write()
    .then((size) => {
      if (size === undefined) return;
      run.report.files.restored++;
      run.report.bytes.restored += size;
      if (run.heads.has(entry.path)) run.madeHeads.set(entry.path, entry.hash as string);
    })
    .catch((error: unknown) => {
      if (!stopsRestore(run, error)) addProblem(run, toFileProblem(entry.path, error));
    })
    .finally(() => {
      run.inFlight.delete(job);
      run.placeFreed.shift()?.();
    });
  run.inFlight.add(job);
  return undefined;
}

/**
 * A folder or symlink the target cannot hold (a path too long for it, say): reported, and the
 * restore goes on; a full or read-only target stops it.
 */
function cannotMake(run: RestoreRun, entry: ManifestEntry, error: unknown): void {
  if (!stopsRestore(run, error)) addProblem(run, { path: entry.path, code: errnoCode(error) ?? 'EUNKNOWN', message: `not restored${entry.kind === 'dir' ? ', nor anything below it' : ''}: ${errorMessage(error)}` });
}

export async function isRealFolder(abs: string): Promise<boolean> {
  const stats = await fsp.lstat(abs).catch(() => undefined);
  return stats !== undefined && stats.isDirectory();
}

/**
 * Restores one file from a tar.gz holder: seeks its member (the reader moves forward only), then
 * writes it like a folder-format copy. Small members are buffered and written in the background;
 * large ones are streamed straight from the archive.
 */
async function restoreMember(run: RestoreRun, archive: TarReader, abs: string, entry: ManifestEntry): Promise<void> {
  const where = archive.label;
  const found = await archive.seek(entry.path);
  if ('damage' in found) {
    if (stopsRestore(run, found.damage)) return;
    const code = found.damage.code === 'MISSING' ? 'ENOENT' : 'ECORRUPT';
    addProblem(run, { path: entry.path, code, message: `not restored: ${found.damage.message}` });
    return;
  }
  if ('lost' in found) {
    if (stopsRestore(run, found.lost)) return;
    addProblem(run, { path: entry.path, code: 'ECORRUPT', message: `not restored: its bytes lie in a damaged part of ${where} (${found.lost.message})` });
    return;
  }
  if ('absent' in found) {
    addProblem(run, { path: entry.path, code: 'ENOENT', message: `not restored: missing from ${where}` });
    return;
  }
  const member: TarMember = found.member;
  if (member.type !== 'file') {
    addProblem(run, { path: entry.path, code: 'ECORRUPT', message: `not restored: its member in ${where} is a ${member.type}, not a regular file` });
    return;
  }
  const skipExisting = run.policy === 'skip';
  const damaged = (error: unknown): never => {
    const fault = storeFaultOf(error);
    if (fault !== undefined) throw fault;
    if (error instanceof ArchiveDamage) throw mismatch(`not restored: ${error.message}`);
    throw error;
  };
  if (member.size <= SMALL_MEMBER) {
    const chunks: Buffer[] = [];
    try {
      await member.read((chunk) => chunks.push(chunk));
    } catch (error) {
      if (stopsRestore(run, error)) return;
      addProblem(run, { path: entry.path, code: 'ECORRUPT', message: `not restored: ${errorMessage(error)}` });
      return;
    }
    const content = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    await track(run, abs, entry, () => writeChecked(run, abs, entry, where, skipExisting, (write) => write(content)));
    return;
  }
  // Streamed: the archive cannot move on before this member is written, so wait for it.
  let job: Promise<number | undefined> | undefined;
  await track(run, abs, entry, () => {
    job = writeChecked(run, abs, entry, where, skipExisting, (write) => member.read(write).catch(damaged));
    return job;
  });
  await job?.catch(() => undefined);
}

/**
 * Second phase: files whose bytes live in tar.gz holders. Up to OPEN_ARCHIVES holders per pass;
 * each pass reads the manifest again (in walk order, re-checking it) and every archive of the group
 * once, front to back, merge-joining members with the entries that point into that archive.
 */
async function restoreFromArchives(run: RestoreRun, holders: string[]): Promise<void> {
  for (let first = 0; first < holders.length && run.fatal === undefined; first += OPEN_ARCHIVES) {
    const group = new Map(holders.slice(first, first + OPEN_ARCHIVES).map((id) => [id, run.store.openArchive(id, run.key)]));
    const reader = await run.store.openManifest(run.backupId, run.key);
    try {
      if (reader.header.id !== run.backupId) throw new BackupError('MANIFEST_CORRUPT', `The manifest in ${run.backupId} belongs to ${reader.header.id}.`);
      const guard = new ParentGuard();
      let skippedFolder: string | undefined;
      for await (const entry of reader.entries()) {
        if (run.fatal !== undefined) break;
        checkCancelled(run);
        guard.admit(entry);
        // Subtrees the first pass skipped (counted there) are skipped again, never written through.
        if (skippedFolder !== undefined && entry.path.startsWith(`${skippedFolder}/`)) continue;
        const abs = path.join(run.target, entry.path);
        if (entry.kind === 'dir') {
          if (!run.targetWasEmpty && !(await isRealFolder(abs))) skippedFolder = entry.path;
          continue;
        }
        // Hard links are made once their first names are restored (restoreLinks).
        if (entry.kind !== 'file' || entry.link !== undefined) continue;
        if (!run.selection.selects(entry.path)) continue;
        const archive = group.get(entry.in as string);
        if (archive === undefined) continue;
        await restoreMember(run, archive, abs, entry);
        reportProgress(run);
      }
    } finally {
      await Promise.allSettled([...run.inFlight]);
      await reader.close();
      for (const archive of group.values()) archive.close();
    }
  }
}

/**
 * Restores one backup into `target`: contents, mtimes, modes, symlinks and empty folders. As a
 * registered reader of the set, so retention or prune never deletes a backup it reads (readers.ts).
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreReport> {
  // Filters and the time are checked before the destination is opened: a typo costs no connection.
  const selection = new RestoreSelection({ include: options.include, exclude: options.exclude });
  const asOf = asOfInstant(options.asOf, options.timeZone, options.backupId);
  const purpose = `restore of ${asOf === undefined ? (options.backupId ?? 'latest') : `the backup as of ${asOf.toISOString()}`} into ${options.target}`;
  const opened = await openDestinationFor(options.destination, options.destinationOptions);
  try {
    const store = setStoreIn(opened, options.setName);
    return await store.whileReading(purpose, () => restoreUnguarded(options, store, selection, asOf), { signal: options.signal });
  } finally {
    await closeDestination(opened);
  }
}

async function restoreUnguarded(options: RestoreOptions, store: SetStore, selection: RestoreSelection, asOf: Date | undefined): Promise<RestoreReport> {
  const started = Date.now();
  const policy = options.overwrite ?? 'fail';
  const summary = asOf === undefined ? (await findBackup(store, options.backupId ?? 'latest')).summary : await findBackupAsOf(store, asOf);
  // The key check comes first: a wrong passphrase fails before the target is touched.
  const key = await keyForReading(store, [summary], options.passphrase);
  const setDir = store.localDir;
  const target = await realpathLoose(options.target);
  if (setDir !== undefined && (isSameOrInside(target, await realpathLoose(setDir)) || isSameOrInside(await realpathLoose(setDir), target))) {
    throw new BackupError('TARGET_INSIDE_BACKUP', `The restore target ${target} overlaps the backup set ${setDir}.`, { hint: 'Restore into a folder outside the backup destination.' });
  }
  // Before the target is made: a damaged manifest, or filters that select nothing, leave no trace.
  const heads = await checkManifest(store, summary.backupId, key, selection);
  await assertTargetUsable(target, policy);
  const targetWasEmpty = (await fsp.readdir(target)).length === 0;
  const reader = await store.openManifest(summary.backupId, key);
  if (reader.header.id !== summary.backupId) {
    await reader.close();
    throw new BackupError('MANIFEST_CORRUPT', `The manifest in ${summary.backupId} belongs to ${reader.header.id}.`);
  }

  const report: RestoreReport = {
    set: options.setName, backupId: summary.backupId, target, files: { restored: 0, skipped: 0, links: 0, folders: 0, symlinks: 0 }, folders: { restored: 0, skipped: 0 }, symlinks: { restored: 0, skipped: 0 }, bytes: { restored: 0 },
    sizes: { restored: '' }, errors: [], errorCount: 0, warnings: [], durationMs: 0, notices: [], summary: '', selection: selection.report(),
    ...(asOf === undefined ? {} : { asOf: asOf.toISOString() }),
  };
  const run: RestoreRun = {
    store, setDir, target, backupId: summary.backupId, key, policy, targetWasEmpty, concurrency: options.concurrency ?? (setDir === undefined ? REMOTE_FILES_IN_FLIGHT : FILES_IN_FLIGHT), options, report,
    inFlight: new Set(), fatal: undefined, pool: sharedFilePool(), placeFreed: [], realFolders: new Map(), xattrs: new XattrRestoreTally(), heads, madeHeads: new Map(), selection, progressAt: Number.NEGATIVE_INFINITY,
  };
  // Folders get their mode and mtime last (children first), so writing into them still works.
  const folders: FolderToFinish[] = [];
  // Checked again while writing: the manifest could have been swapped since the first pass.
  const guard = new ParentGuard();
  const storage = new HolderStorage(store, key);
  // tar.gz holders whose files the second phase restores.
  const archived = new Set<string>();
  let skippedFolder: string | undefined;

  // First phase: folders, symlinks, and files stored in the folder format; clears the way for all.
  const firstPhase = async (entry: ManifestEntry): Promise<void> => {
    const abs = path.join(target, entry.path);
    if (skippedFolder !== undefined && entry.path.startsWith(`${skippedFolder}/`)) {
      countSkipped(report, entry);
      return;
    }
    if (!(await clearWay(abs, entry, policy, targetWasEmpty))) {
      // Something else stands where a folder belongs: its whole subtree is skipped, never written through.
      if (entry.kind === 'dir') skippedFolder = entry.path;
      countSkipped(report, entry);
      return;
    }
    if (entry.kind === 'dir') {
      let made = true;
      await fsp.mkdir(abs, { mode: 0o700 }).catch((error: unknown) => {
        if (errnoCode(error) === 'EEXIST') return;
        made = false;
        cannotMake(run, entry, error);
      });
      if (!made) {
        skippedFolder = entry.path;
        return;
      }
      folders.push({ abs, entry });
      report.folders.restored++;
    } else if (entry.kind === 'symlink') {
      try {
        await fsp.symlink(entry.target as string, abs);
        await fsp.lutimes(abs, entry.mtime / 1000, entry.mtime / 1000);
      } catch (error) {
        cannotMake(run, entry, error);
        return;
      }
      await restoreOwner(abs, entry);
      await restoreXattrs(run, abs, entry);
      report.symlinks.restored++;
    } else if (entry.link === undefined) {
      const holder = entry.in as string;
      if (isBackupId(holder) && (await storage.of(holder)) === 'tar.gz') archived.add(holder);
      else {
        const full = track(run, abs, entry, () => restoreFile(run, abs, entry));
        if (full !== undefined) await full;
      }
    }
  };
  // Unselected folders along the current path: made (with their metadata) only once a selected path below them comes.
  const waiting: ManifestEntry[] = [];
  try {
    for await (const entry of reader.entries()) {
      if (run.fatal !== undefined) break;
      checkCancelled(run);
      guard.admit(entry);
      if (selection.active) {
        while (waiting.length > 0 && !entry.path.startsWith(`${waiting[waiting.length - 1].path}/`)) waiting.pop();
        if (!selection.selects(entry.path)) {
          if (entry.kind === 'dir') waiting.push(entry);
          continue;
        }
        for (const folder of waiting.splice(0)) await firstPhase(folder);
      }
      await firstPhase(entry);
      reportProgress(run);
    }
  } finally {
    await Promise.allSettled([...run.inFlight]);
    await reader.close();
  }
  if (run.fatal === undefined && archived.size > 0) await restoreFromArchives(run, [...archived].sort());
  if (run.fatal === undefined && heads.size > 0) await restoreLinks(run, storage);
  if (run.fatal instanceof DestinationError) throw run.fatal;
  if (run.fatal !== undefined) {
    throw new BackupError('NO_SPACE', `The restore target ran out of space or became read-only: ${errorMessage(run.fatal)}`, { cause: run.fatal });
  }
  for (let i = folders.length - 1; i >= 0; i--) {
    const { abs, entry } = folders[i];
    // Before the folder's mode: a read-only folder refuses user.* attributes (restoreXattrs).
    await restoreXattrs(run, abs, entry);
    await fsp.chmod(abs, entry.mode);
    await fsp.utimes(abs, entry.mtime / 1000, entry.mtime / 1000);
    await restoreOwner(abs, entry);
  }
  report.durationMs = Date.now() - started;
  report.sizes.restored = humanBytes(report.bytes.restored);
  const problems = report.errorCount === 0 ? '' : ` ${report.errorCount} error(s): see errors.`;
  const notice = run.xattrs.notice();
  if (notice !== undefined) report.notices.push(notice);
  report.files.folders = report.folders.restored;
  report.files.symlinks = report.symlinks.restored;
  const tree = treeCounts({ files: report.files.restored, links: report.files.links, folders: report.folders.restored, symlinks: report.symlinks.restored });
  const skippedCount = report.files.skipped + report.folders.skipped + report.symlinks.skipped;
  const skipped = skippedCount === 0 ? '' : ` Not restored (already in the target, or below a folder that was): ${treeCounts({ files: report.files.skipped, links: 0, folders: report.folders.skipped, symlinks: report.symlinks.skipped })}.`;
  const copies = report.warnings.length === 0 ? '' : ` ${report.warnings.length} hard link(s) restored as copies: see warnings.`;
  const unmatched = report.selection.unmatched;
  if (unmatched.length > 0) report.notices.push(`The include pattern(s) ${unmatched.join(', ')} matched nothing in ${summary.backupId} (other patterns did).`);
  const filters = selection.active ? ` (only ${describeFilters(report.selection)})` : '';
  const chosen = asOf === undefined ? '' : ` (the newest complete backup at or before ${asOf.toISOString()})`;
  report.summary = `Restored ${summary.backupId}${chosen} of set ${options.setName}${filters} into ${target}: ${tree}; ${report.sizes.restored} of file content in ${humanDuration(report.durationMs)}.${skipped}${problems}${copies}${report.notices.map((n) => ` ${n}`).join('')}`;
  return report;
}

