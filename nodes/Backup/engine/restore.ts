import { createHash } from 'node:crypto';
import { constants as C, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { BackupError, errnoCode, errorMessage, toFileProblem } from './errors';
import { DATA_DIR, findBackup, isBackupId } from './catalog';
import { humanBytes, humanDuration } from './format';
import { MANIFEST_FILE, ManifestReader } from './manifest';
import { isSameOrInside, parentOf, realpathLoose } from './paths';
import type { FileProblem, ManifestEntry, Progress } from './types';
import { MAX_RECORDED_ERRORS } from './types';

/** What to do when the target already holds something at a path being restored. */
export type OverwritePolicy = 'fail' | 'overwrite' | 'skip';

export interface RestoreOptions {
  destination: string;
  setName: string;
  /** A backup id, or `latest` (default). */
  backupId?: string;
  target: string;
  /** `fail` (default): refuse a target that is not empty. */
  overwrite?: OverwritePolicy;
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

export interface RestoreReport {
  set: string;
  backupId: string;
  target: string;
  files: { restored: number; skipped: number; folders: number; symlinks: number };
  bytes: { restored: number };
  sizes: { restored: string };
  errors: FileProblem[];
  errorCount: number;
  durationMs: number;
  summary: string;
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

/** Copies stored bytes into a new file (O_EXCL|O_NOFOLLOW), checking them against the manifest hash. */
async function restoreFile(setDir: string, abs: string, entry: ManifestEntry): Promise<number> {
  const holder = entry.in as string;
  if (!isBackupId(holder)) throw Object.assign(new Error(`manifest names an invalid location "${holder}"`), { code: 'EBADLOC' });
  const stored = path.join(setDir, holder, DATA_DIR, entry.path);
  const source = await fsp.open(stored, C.O_RDONLY | C.O_NOFOLLOW);
  let out: FileHandle | undefined;
  try {
    out = await fsp.open(abs, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(Math.min(Math.max((entry.size ?? 0) + 1, 1), 1 << 20));
    let size = 0;
    for (;;) {
      const { bytesRead } = await source.read(buffer, 0, buffer.length, size);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      await out.write(buffer, 0, bytesRead);
      size += bytesRead;
      if (bytesRead < buffer.length) break;
    }
    await out.chmod(entry.mode);
    await out.utimes(entry.mtime / 1000, entry.mtime / 1000);
    if (size !== entry.size || hash.digest('hex') !== entry.hash) {
      throw Object.assign(new Error(`stored copy in ${holder} does not match the manifest (${size} bytes, expected ${entry.size ?? 0}); restored as found`), { code: 'ECORRUPT' });
    }
    return size;
  } finally {
    await source.close();
    await out?.close();
  }
}

/**
 * Every entry's parent must be a folder entry met earlier in this manifest (or the target root),
 * so nothing is ever written through a symlink or a file, whatever order a hostile manifest uses.
 * Holds only the chain of open folders: walk order makes that enough.
 */
class ParentGuard {
  private readonly open: string[] = [''];

  admit(entry: ManifestEntry): void {
    const parent = parentOf(entry.path);
    const open = this.open;
    while (open.length > 1 && parent !== open[open.length - 1] && !parent.startsWith(`${open[open.length - 1]}/`)) open.pop();
    if (open[open.length - 1] !== parent) throw unsafe(entry, `its parent "${parent}" is not a folder of this backup`);
    if (entry.kind === 'dir') open.push(entry.path);
  }
}

/** First pass: the whole manifest is readable, complete and safe before anything is written. */
async function checkManifest(file: string): Promise<void> {
  const reader = await ManifestReader.open(file);
  const guard = new ParentGuard();
  try {
    for await (const entry of reader.entries()) guard.admit(entry);
  } finally {
    await reader.close();
  }
}

/** Restores one backup into `target`: contents, mtimes, modes, symlinks and empty folders. */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreReport> {
  const started = Date.now();
  const policy = options.overwrite ?? 'fail';
  const destination = path.resolve(options.destination);
  const { setDir, summary } = await findBackup(destination, options.setName, options.backupId ?? 'latest');
  const target = await realpathLoose(options.target);
  if (isSameOrInside(target, await realpathLoose(setDir)) || isSameOrInside(await realpathLoose(setDir), target)) {
    throw new BackupError('TARGET_INSIDE_BACKUP', `The restore target ${target} overlaps the backup set ${setDir}.`, { hint: 'Restore into a folder outside the backup destination.' });
  }
  await assertTargetUsable(target, policy);
  const targetWasEmpty = (await fsp.readdir(target)).length === 0;
  const manifestFile = path.join(setDir, summary.backupId, MANIFEST_FILE);
  await checkManifest(manifestFile);
  const reader = await ManifestReader.open(manifestFile);
  if (reader.header.id !== summary.backupId) {
    await reader.close();
    throw new BackupError('MANIFEST_CORRUPT', `The manifest in ${summary.backupId} belongs to ${reader.header.id}.`);
  }

  const report: RestoreReport = {
    set: options.setName, backupId: summary.backupId, target, files: { restored: 0, skipped: 0, folders: 0, symlinks: 0 }, bytes: { restored: 0 },
    sizes: { restored: '' }, errors: [], errorCount: 0, durationMs: 0, summary: '',
  };
  const problem = (p: FileProblem): void => {
    report.errorCount++;
    if (report.errors.length < MAX_RECORDED_ERRORS) report.errors.push(p);
  };
  // Folders get their mode and mtime last (children first), so writing into them still works.
  const folders: FolderToFinish[] = [];
  // Checked again while writing: the manifest could have been swapped since the first pass.
  const guard = new ParentGuard();
  const inFlight = new Set<Promise<void>>();
  const concurrency = options.concurrency ?? 16;
  let fatal: unknown;
  let skippedFolder: string | undefined;

  const startCopy = (abs: string, entry: ManifestEntry): void => {
    const job = restoreFile(setDir, abs, entry)
      .then(async (size) => {
        await restoreOwner(abs, entry);
        report.files.restored++;
        report.bytes.restored += size;
      })
      .catch((error: unknown) => {
        const code = errnoCode(error);
        if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EROFS') fatal ??= error;
        else problem(toFileProblem(entry.path, error));
      })
      .finally(() => inFlight.delete(job));
    inFlight.add(job);
  };

  try {
    for await (const entry of reader.entries()) {
      if (fatal !== undefined) break;
      if (options.signal?.aborted === true) throw new BackupError('CANCELLED', 'The restore was cancelled; files restored so far were left in place.');
      guard.admit(entry);
      const abs = path.join(target, entry.path);
      if (skippedFolder !== undefined && entry.path.startsWith(`${skippedFolder}/`)) {
        report.files.skipped++;
        continue;
      }
      if (!(await clearWay(abs, entry, policy, targetWasEmpty))) {
        // Something else stands where a folder belongs: its whole subtree is skipped, never written through.
        if (entry.kind === 'dir') skippedFolder = entry.path;
        report.files.skipped++;
        continue;
      }
      if (entry.kind === 'dir') {
        await fsp.mkdir(abs, { mode: 0o700 }).catch((error: unknown) => {
          if (errnoCode(error) !== 'EEXIST') throw error;
        });
        folders.push({ abs, entry });
        report.files.folders++;
      } else if (entry.kind === 'symlink') {
        await fsp.symlink(entry.target as string, abs);
        await fsp.lutimes(abs, entry.mtime / 1000, entry.mtime / 1000);
        await restoreOwner(abs, entry);
        report.files.symlinks++;
      } else {
        while (inFlight.size >= concurrency) await Promise.race(inFlight);
        startCopy(abs, entry);
      }
      const done = report.files.restored + report.files.folders + report.files.symlinks;
      if (done % 1000 === 0) options.onProgress?.({ source: target, phase: 'restore', entries: done, bytes: report.bytes.restored });
    }
  } finally {
    await Promise.allSettled([...inFlight]);
    await reader.close();
  }
  if (fatal !== undefined) {
    throw new BackupError('NO_SPACE', `The restore target ran out of space or became read-only: ${errorMessage(fatal)}`, { cause: fatal });
  }
  for (let i = folders.length - 1; i >= 0; i--) {
    const { abs, entry } = folders[i];
    await fsp.chmod(abs, entry.mode);
    await fsp.utimes(abs, entry.mtime / 1000, entry.mtime / 1000);
    await restoreOwner(abs, entry);
  }
  report.durationMs = Date.now() - started;
  report.sizes.restored = humanBytes(report.bytes.restored);
  const problems = report.errorCount === 0 ? '' : ` ${report.errorCount} error(s): see errors.`;
  report.summary = `Restored ${summary.backupId} of set ${options.setName} into ${target}: ${report.files.restored} files (${report.sizes.restored}), ${report.files.folders} folders, ${report.files.symlinks} symlinks in ${humanDuration(report.durationMs)}.${problems}`;
  return report;
}
