/**
 * The last phase of a restore: hard links. A manifest entry with `link` is a further name of the
 * inode whose first name is `link` (earlier in walk order); its bytes are that name's, stored in
 * backup `in` under that name. Once every file is written, each such name is made with link() to
 * the first name restored by this run. Where that cannot be (the target cannot hard-link: another
 * file system below the target, a file system without hard links), the name becomes a separate
 * copy of the restored bytes, reported in `warnings`. Where the first name was not restored by
 * this run (damaged, or left alone by --skip-existing), the bytes are restored from the backup.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { isBackupId } from '../set/catalog';
import { jobError } from '../store/copy';
import { BackupError, errnoCode, errorMessage, toFileProblem } from '../errors';
import { compareWalkOrder } from '../paths';
import type { HolderStorage, RestoreRun } from './restore';
import { addProblem, checkCancelled, isRealFolder, ParentGuard, restoreFile, stopsRestore, track, writeChecked } from './restore';
import { TarReader } from '../formats/tar/reader';
import type { ManifestEntry } from '../types';

const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

/** A further name whose first name this run did not restore, to be restored from an archive. */
interface FromArchive {
  abs: string;
  entry: ManifestEntry & { link: string };
}

function stop(run: RestoreRun, entry: ManifestEntry, error: unknown): void {
  if (!stopsRestore(run, error)) addProblem(run, toFileProblem(entry.path, error));
}

/**
 * A separate copy of the restored file `first` (created with O_EXCL|O_NOFOLLOW, on the copy pool),
 * with the entry's mode and mtime, checked against its size and sha256.
 */
async function copyRestored(run: RestoreRun, first: string, abs: string, entry: ManifestEntry): Promise<number | undefined> {
  const owner = IS_ROOT ? { uid: entry.uid, gid: entry.gid } : {};
  const result = await run.pool.run({ src: first, dst: abs, sizeHint: entry.size ?? 0, mode: entry.mode, mtimeMs: entry.mtime, skipExisting: run.policy === 'skip', ...owner });
  if (!result.ok) {
    if (result.skipped === true) return undefined;
    throw jobError(result);
  }
  if (result.size !== entry.size || result.hash !== entry.hash) {
    await fsp.unlink(abs).catch(() => undefined);
    throw Object.assign(new Error(`the copy of ${entry.link ?? ''} does not match the manifest; removed from the target`), { code: 'ECORRUPT' });
  }
  return result.size;
}

/** Links `abs` to the restored `first`; a copy (reported) where the target cannot link. */
async function linkOrCopy(run: RestoreRun, first: string, abs: string, entry: ManifestEntry): Promise<void> {
  try {
    await fsp.link(first, abs);
    run.report.files.restored++;
    run.report.files.links++;
    return;
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EEXIST' && run.policy === 'skip') return; // counted as skipped by the first phase
    if (stopsRestore(run, error)) return;
    const why = `restored as a separate copy of ${entry.link ?? ''}: the target could not make it a hard link (${errorMessage(error)})`;
    const full = track(run, abs, entry, async () => {
      const size = await copyRestored(run, first, abs, entry);
      if (size !== undefined) run.report.warnings.push({ path: entry.path, code: code ?? 'EUNKNOWN', message: why });
      return size;
    });
    if (full !== undefined) await full;
  }
}

/**
 * Third phase (after folders, symlinks and files): every name with `link`, in walk order, under
 * the same guards as the other phases (parents are folders of this backup, skipped subtrees stay
 * skipped).
 */
export async function restoreLinks(run: RestoreRun, storage: HolderStorage): Promise<void> {
  const fromArchives: FromArchive[] = [];
  /** First name -> a further name restored from the backup's bytes, for the group's other names to link to. */
  const standIns = new Map<string, string>();
  const reader = await run.store.openManifest(run.backupId, run.key);
  try {
    if (reader.header.id !== run.backupId) throw new BackupError('MANIFEST_CORRUPT', `The manifest in ${run.backupId} belongs to ${reader.header.id}.`);
    const guard = new ParentGuard();
    let skippedFolder: string | undefined;
    for await (const entry of reader.entries()) {
      if (run.fatal !== undefined) break;
      checkCancelled(run);
      guard.admit(entry);
      if (skippedFolder !== undefined && entry.path.startsWith(`${skippedFolder}/`)) continue;
      const abs = path.join(run.target, entry.path);
      if (entry.kind === 'dir') {
        if (!run.targetWasEmpty && !(await isRealFolder(abs))) skippedFolder = entry.path;
        continue;
      }
      const link = entry.link;
      if (entry.kind !== 'file' || link === undefined) continue;
      // Names outside --include/--exclude are left out. A selected name whose first name is left out
      // gets the bytes from the backup (below), a separate file: nothing links out of the selection.
      if (!run.selection.selects(entry.path)) continue;
      // Linked only to a first name restored with the same bytes (an entry carried over from an
      // earlier backup, below a folder that could not be listed, may name a first name since changed).
      const bytes = `${entry.in ?? ''}:${entry.hash ?? ''}:${link}`;
      const first = run.madeHeads.get(link) === entry.hash ? path.join(run.target, link) : standIns.get(bytes);
      if (first !== undefined) {
        await linkOrCopy(run, first, abs, entry);
        continue;
      }
      const holder = entry.in as string;
      if (isBackupId(holder) && (await storage.of(holder)) === 'tar.gz') {
        fromArchives.push({ abs, entry: { ...entry, link } });
        continue;
      }
      // Folder format: the group's bytes, stored under its first name.
      try {
        const size = await restoreFile(run, abs, entry, link);
        if (size === undefined) continue;
        run.report.files.restored++;
        run.report.bytes.restored += size;
        standIns.set(bytes, abs);
      } catch (error) {
        stop(run, entry, error);
      }
    }
  } finally {
    await Promise.allSettled([...run.inFlight]);
    await reader.close();
  }
  if (run.fatal === undefined && fromArchives.length > 0) await restoreFromArchives(run, fromArchives);
}

/**
 * Further names whose first name this run did not restore, from tar.gz holders: one read of each
 * holder's archive, seeking the first names in walk order; the first further name of a group
 * gets the member's bytes, the group's other names link to it.
 */
async function restoreFromArchives(run: RestoreRun, pending: FromArchive[]): Promise<void> {
  const byHolder = new Map<string, FromArchive[]>();
  for (const item of pending) {
    const list = byHolder.get(item.entry.in as string) ?? [];
    list.push(item);
    byHolder.set(item.entry.in as string, list);
  }
  for (const [holder, items] of [...byHolder].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    items.sort((a, b) => compareWalkOrder(a.entry.link, b.entry.link) || compareWalkOrder(a.entry.path, b.entry.path));
    const archive = run.store.openArchive(holder, run.key);
    try {
      let madeFor: { link: string; abs: string | undefined } | undefined;
      for (const { abs, entry } of items) {
        if (run.fatal !== undefined) return;
        if (madeFor?.link === entry.link) {
          if (madeFor.abs !== undefined) await linkOrCopy(run, madeFor.abs, abs, entry);
          else addProblem(run, { path: entry.path, code: 'ECORRUPT', message: `not restored: the bytes of its first name ${entry.link} could not be restored` });
          continue;
        }
        madeFor = { link: entry.link, abs: (await fromMember(run, archive, abs, entry)) ? abs : undefined };
      }
    } finally {
      archive.close();
    }
  }
}

/** Writes the member of `entry.link` to `abs`; true when the file was restored intact. */
async function fromMember(run: RestoreRun, archive: TarReader, abs: string, entry: FromArchive['entry']): Promise<boolean> {
  const found = await archive.seek(entry.link);
  let why: string | undefined;
  if ('damage' in found) why = found.damage.message;
  else if ('lost' in found) why = `its bytes lie in a damaged part of ${archive.label} (${found.lost.message})`;
  else if ('absent' in found) why = `its first name ${entry.link} is missing from ${archive.label}`;
  else if (found.member.type !== 'file') why = `the member of its first name in ${archive.label} is a ${found.member.type}, not a regular file`;
  if ('damage' in found && stopsRestore(run, found.damage)) return false;
  if ('lost' in found && stopsRestore(run, found.lost)) return false;
  if (why !== undefined || !('member' in found)) {
    addProblem(run, { path: entry.path, code: 'ECORRUPT', message: `not restored: ${why ?? ''}` });
    return false;
  }
  const member = found.member;
  try {
    const size = await writeChecked(run, abs, entry, archive.label, run.policy === 'skip', (write) => member.read(write));
    if (size === undefined) return false;
    run.report.files.restored++;
    run.report.bytes.restored += size;
    return true;
  } catch (error) {
    stop(run, entry, error);
    return false;
  }
}
