import type { DestinationOptions } from '../destination';
import { createHash } from 'node:crypto';
import { constants as C, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { findBackup, isBackupId } from '../set/catalog';
import { BackupError, errnoCode, errorMessage } from '../errors';
import { humanBytes, humanDuration, storedFiles } from '../humanize';
import { keyForReading } from '../set/encryption';
import type { ManifestReader } from '../formats/manifest';
import { manifestPath } from '../formats/manifest';
import { compareWalkOrder } from '../paths';
import { closeDestination, openDestinationFor, setStoreIn } from '../set/openSetStore';
import type { SetStore } from '../set/setStore';
import type { SetKey } from '../formats/sealed';
import { DATA_DIR } from '../store/folderSink';
import type { ArchiveDamage } from '../formats/tar/damage';
import { throwIfStoreFault } from '../formats/tar/damage';
import { TarReader } from '../formats/tar/reader';
import { archivePath } from '../formats/tar/sink';
import type { BackupSummary, ManifestEntry, StorageFormat } from '../types';
import { MAX_RECORDED_ERRORS } from '../types';

export interface VerifyOptions {
  /** A local folder, s3:// or sftp:// (see BackupOptions.destination). */
  destination: string;
  destinationOptions?: DestinationOptions;
  setName: string;
  /** `all` (default): every backup checks its own stored files; an id or `latest`: every file that backup needs. */
  backupId?: string;
  /** Re-read every stored byte and compare hashes; otherwise presence and size only. */
  full?: boolean;
  /** The set's passphrase, when the set is encrypted (PASSPHRASE_REQUIRED without it). */
  passphrase?: string;
  signal?: AbortSignal;
}

export type VerifyProblemCode = 'MISSING' | 'TRUNCATED' | 'CORRUPT' | 'UNREADABLE' | 'MANIFEST_CORRUPT' | 'INCOMPLETE' | 'MISSING_REFERENCE';

export interface VerifyProblem {
  backupId: string;
  path: string;
  code: VerifyProblemCode;
  message: string;
}

export interface VerifyReport {
  set: string;
  mode: 'quick' | 'full';
  checked: string[];
  ok: boolean;
  filesChecked: number;
  bytesChecked: number;
  problems: VerifyProblem[];
  problemCount: number;
  durationMs: number;
  summary: string;
}

async function hashStored(file: string): Promise<{ size: number; hash: string }> {
  const handle = await fsp.open(file, C.O_RDONLY | C.O_NOFOLLOW);
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(1 << 20);
    let size = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, size);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      size += bytesRead;
    }
    return { size, hash: hash.digest('hex') };
  } finally {
    await handle.close();
  }
}

/** A remote stored file's size and sha256, streamed. */
async function hashRemote(store: SetStore, holder: string, rel: string): Promise<{ size: number; hash: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of await store.readStored(holder, rel)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, hash: hash.digest('hex') };
}

/** Checks one file stored in the folder format against its manifest entry; returns the problem, if any. */
async function checkStoredFile(store: SetStore, entry: ManifestEntry, full: boolean): Promise<Omit<VerifyProblem, 'backupId'> | undefined> {
  const holder = entry.in as string;
  if (!isBackupId(holder)) return { path: entry.path, code: 'CORRUPT', message: `manifest names an invalid location "${holder}"` };
  const setDir = store.localDir;
  const file = setDir === undefined ? undefined : path.join(setDir, holder, DATA_DIR, entry.path);
  const missing = { path: entry.path, code: 'MISSING', message: `stored copy in ${holder} is missing` } as const;
  try {
    if (!full) {
      if (file === undefined) {
        const stat = await store.statStored(holder, entry.path);
        if (stat === undefined) return missing;
        if (stat.size !== entry.size) return { path: entry.path, code: 'TRUNCATED', message: `stored copy in ${holder} has ${stat.size} bytes, manifest says ${entry.size ?? 0}` };
        return undefined;
      }
      const stats = await fsp.lstat(file);
      if (!stats.isFile()) return { path: entry.path, code: 'CORRUPT', message: `stored copy in ${holder} is not a regular file` };
      if (stats.size !== entry.size) return { path: entry.path, code: 'TRUNCATED', message: `stored copy in ${holder} has ${stats.size} bytes, manifest says ${entry.size ?? 0}` };
      return undefined;
    }
    const seen = file === undefined ? await hashRemote(store, holder, entry.path) : await hashStored(file);
    if (seen.size !== entry.size) return { path: entry.path, code: 'TRUNCATED', message: `stored copy in ${holder} has ${seen.size} bytes, manifest says ${entry.size ?? 0}` };
    if (seen.hash !== entry.hash) return { path: entry.path, code: 'CORRUPT', message: `stored copy in ${holder} does not match its sha256` };
    return undefined;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || (error instanceof BackupError && error.code === 'OBJECT_NOT_FOUND')) return missing;
    throwIfStoreFault(error);
    return { path: entry.path, code: 'UNREADABLE', message: errorMessage(error) };
  }
}

/** tar.gz holders read side by side during one pass over a manifest; more holders take more passes. */
const OPEN_ARCHIVES = 8;

type Found = Omit<VerifyProblem, 'backupId'>;

interface ArchiveCheck {
  id: string;
  store: SetStore;
  key: SetKey | undefined;
  full: boolean;
  mine: (entry: ManifestEntry) => boolean;
  signal: AbortSignal | undefined;
  report: VerifyReport;
  problem: (p: VerifyProblem) => void;
}

interface OpenArchive {
  reader: TarReader;
  /** Path the problems about the archive itself use: relative to the backup being verified. */
  where: string;
  reported: boolean;
}

/** Records what is wrong with an archive, once; a store that failed ends the check with its error instead. */
function archiveProblem(check: ArchiveCheck, archive: OpenArchive, damage: ArchiveDamage): void {
  throwIfStoreFault(damage);
  if (archive.reported) return;
  archive.reported = true;
  check.problem({ backupId: check.id, path: archive.where, code: damage.code, message: damage.message });
}

/**
 * Checks one file held in a tar.gz archive: present, the right size and (full) the right sha256.
 * Quick mode hashes too when the file's bytes came from a gzip member that failed its check: those
 * bytes were inflated anyway, and only the hash tells a file that survived from one that did not.
 */
async function checkMember(check: ArchiveCheck, archive: OpenArchive, entry: ManifestEntry): Promise<Found | undefined> {
  const found = await archive.reader.seek(entry.path);
  const label = archive.reader.label;
  if ('damage' in found) {
    archiveProblem(check, archive, found.damage);
    return { path: entry.path, code: 'MISSING', message: `cannot be read: ${found.damage.message}` };
  }
  if ('lost' in found) {
    archiveProblem(check, archive, found.lost);
    return { path: entry.path, code: found.lost.code === 'TRUNCATED' ? 'TRUNCATED' : 'CORRUPT', message: `its bytes lie in a damaged part of ${label}: ${found.lost.message}` };
  }
  if ('absent' in found) return { path: entry.path, code: 'MISSING', message: `missing from ${label}` };
  const member = found.member;
  if (member.type !== 'file') return { path: entry.path, code: 'CORRUPT', message: `its member in ${label} is a ${member.type}, not a regular file` };
  if (member.size !== entry.size) return { path: entry.path, code: 'TRUNCATED', message: `its member in ${label} has ${member.size} bytes, manifest says ${entry.size ?? 0}` };
  const hash = createHash('sha256');
  let damaged: boolean;
  try {
    ({ damaged } = await member.read((chunk) => hash.update(chunk)));
  } catch (error) {
    const damage = error as ArchiveDamage;
    archiveProblem(check, archive, damage);
    return { path: entry.path, code: damage.code === 'TRUNCATED' ? 'TRUNCATED' : 'CORRUPT', message: `its member in ${label} cannot be read to the end: ${damage.message}` };
  }
  if ((check.full || damaged) && hash.digest('hex') !== entry.hash) {
    return { path: entry.path, code: 'CORRUPT', message: `its member in ${label} does not match its sha256${damaged ? ' (it lies in a damaged gzip member)' : ''}` };
  }
  return undefined;
}

/**
 * Checks files held in tar.gz archives: up to OPEN_ARCHIVES archives per pass over the manifest,
 * each read once, front to back (merge-joined with the entries pointing into it), then to its end.
 */
async function checkArchives(check: ArchiveCheck, holders: string[]): Promise<void> {
  const name = path.basename(archivePath('', check.key));
  for (let first = 0; first < holders.length; first += OPEN_ARCHIVES) {
    const group = new Map<string, OpenArchive>();
    for (const holder of holders.slice(first, first + OPEN_ARCHIVES)) {
      const where = holder === check.id ? name : `${holder}/${name}`;
      group.set(holder, { reader: check.store.openArchive(holder, check.key), where, reported: false });
    }
    let manifest: ManifestReader | undefined;
    try {
      manifest = await check.store.openManifest(check.id, check.key);
      for await (const entry of manifest.entries()) {
        if (check.signal?.aborted === true) throw new BackupError('CANCELLED', 'Verification was cancelled.');
        // Hard links are checked with their first names (checkLinks).
        if (entry.kind !== 'file' || entry.link !== undefined || !check.mine(entry)) continue;
        const archive = group.get(entry.in as string);
        if (archive === undefined) continue;
        const found = await checkMember(check, archive, entry);
        check.report.filesChecked++;
        check.report.bytesChecked += entry.size ?? 0;
        if (found !== undefined) check.problem({ backupId: check.id, ...found });
      }
      // Quick or full, an archive must read to its end: gzip's checksum and the tar structure.
      for (const archive of group.values()) {
        const damage = await archive.reader.finish();
        if (damage !== undefined) archiveProblem(check, archive, damage);
      }
    } finally {
      await manifest?.close();
      for (const archive of group.values()) archive.reader.close();
    }
  }
}

type LinkEntry = ManifestEntry & { link: string };

/** What says a first name's entry holds the same bytes as a hard link to it. */
const contentKey = (e: ManifestEntry): string => `${e.in ?? ''}:${e.hash ?? ''}:${e.size ?? 0}`;

/**
 * Hard links: each names its group's first name, whose entry (earlier in the same manifest) must
 * describe the same stored bytes; those bytes were checked with it (and a link to a name that
 * failed is reported as well). A link whose first name is not
 * there with the same bytes (a folder that could not be listed carried an older entry) has its
 * bytes checked where the manifest says they are: in backup `in`, under the first name.
 */
async function checkLinks(check: ArchiveCheck, storage: Map<string, StorageFormat>, links: LinkEntry[], failed: ReadonlySet<string>): Promise<void> {
  const wanted = new Set(links.map((l) => l.link));
  const heads = new Map<string, string>();
  const manifest = await check.store.openManifest(check.id, check.key);
  try {
    for await (const entry of manifest.entries()) {
      if (entry.kind === 'file' && entry.link === undefined && wanted.has(entry.path)) heads.set(entry.path, contentKey(entry));
    }
  } finally {
    await manifest.close();
  }
  const archived = new Map<string, LinkEntry[]>();
  for (const entry of links) {
    if (heads.get(entry.link) === contentKey(entry)) {
      // Restore could not make this name either: it is named too, so the list is what a restore would lose.
      if (failed.has(entry.link)) {
        check.problem({ backupId: check.id, path: entry.path, code: 'CORRUPT', message: `a hard link to ${entry.link}, whose stored bytes failed their check` });
      }
      continue;
    }
    const holder = entry.in as string;
    if (storage.get(holder) === 'tar.gz') {
      archived.set(holder, [...(archived.get(holder) ?? []), entry]);
      continue;
    }
    const found = await checkStoredFile(check.store, { ...entry, path: entry.link }, check.full);
    check.report.filesChecked++;
    check.report.bytesChecked += entry.size ?? 0;
    if (found !== undefined) check.problem({ backupId: check.id, ...found, path: entry.path, message: `(its first name ${entry.link}) ${found.message}` });
  }
  for (const [holder, entries] of archived) {
    const name = path.basename(archivePath('', check.key));
    const archive: OpenArchive = { reader: check.store.openArchive(holder, check.key), where: holder === check.id ? name : `${holder}/${name}`, reported: false };
    try {
      entries.sort((a, b) => compareWalkOrder(a.link, b.link));
      let last: { link: string; found: Found | undefined } | undefined;
      for (const entry of entries) {
        // The reader moves forward only: names of one group share the first name's result.
        if (last?.link !== entry.link) last = { link: entry.link, found: await checkMember(check, archive, { ...entry, path: entry.link }) };
        check.report.filesChecked++;
        check.report.bytesChecked += entry.size ?? 0;
        if (last.found !== undefined) check.problem({ backupId: check.id, ...last.found, path: entry.path, message: `(its first name ${entry.link}) ${last.found.message}` });
      }
    } finally {
      archive.reader.close();
    }
  }
}

/**
 * Verifies backups of a set: every manifest complete and well-formed, every stored file present
 * with the right size (quick) or the right sha256 (full), every referenced backup present.
 */
export async function verifyBackups(options: VerifyOptions): Promise<VerifyReport> {
  const opened = await openDestinationFor(options.destination, options.destinationOptions);
  try {
    const store = setStoreIn(opened, options.setName);
    // As a registered reader: retention or prune never deletes a backup while it is being verified.
    return await store.whileReading(`verify of ${options.backupId ?? 'all'}`, () => verifyUnguarded(options, store), { signal: options.signal });
  } finally {
    await closeDestination(opened);
  }
}

/** Verification of a set already opened; the caller registers as a reader (verifyBackups, status). */
export async function verifyUnguarded(options: VerifyOptions, store: SetStore): Promise<VerifyReport> {
  const started = Date.now();
  const full = options.full ?? false;
  const which = options.backupId ?? 'all';
  const all = await store.listBackups();
  if (all.length === 0) throw new BackupError('SET_NOT_FOUND', `There is no backup set "${options.setName}" in ${path.dirname(store.where)}.`);
  const key = await keyForReading(store, all, options.passphrase);
  // In an encrypted set every backup is tar.gz, whatever a (plain, unauthenticated) backup.json claims.
  const manifestName = path.basename(manifestPath('', key));
  let targets: BackupSummary[] = all;
  if (which === 'latest') targets = [(await findBackup(store, which)).summary];
  else if (which !== 'all') {
    const named = all.find((b) => b.backupId === which);
    if (named === undefined) throw new BackupError('BACKUP_NOT_FOUND', `Set "${options.setName}" has no backup ${which}.`, { hint: 'Use `all`, `latest` or an id that `list` shows.' });
    targets = [named];
  }
  const present = new Set(all.filter((b) => b.complete).map((b) => b.backupId));
  const storage = new Map<string, StorageFormat>(all.filter((b) => b.complete).map((b) => [b.backupId, key === undefined ? b.storage : 'tar.gz']));
  const report: VerifyReport = {
    set: options.setName, mode: full ? 'full' : 'quick', checked: [], ok: true, filesChecked: 0, bytesChecked: 0, problems: [], problemCount: 0, durationMs: 0, summary: '',
  };
  const problem = (p: VerifyProblem): void => {
    report.problemCount++;
    if (report.problems.length < MAX_RECORDED_ERRORS) report.problems.push(p);
  };

  for (const target of targets) {
    const id = target.backupId;
    report.checked.push(id);
    if (!target.complete) {
      problem({ backupId: id, path: manifestName, code: 'INCOMPLETE', message: 'the manifest is missing, damaged or has no trailer: this backup cannot be restored' });
      continue;
    }
    // With `all`, each backup checks the bytes it holds; a single backup checks everything it needs.
    const mine = (e: ManifestEntry): boolean => which !== 'all' || e.in === id;
    // Paths of this backup that failed their check: a hard link to one of them fails with it.
    const failed = new Set<string>();
    const fileProblem = (p: VerifyProblem): void => {
      failed.add(p.path);
      problem(p);
    };
    let reader: ManifestReader | undefined;
    // tar.gz archives to read: this backup's own (even when it holds no file), and those of holders it needs.
    const archives = new Set<string>(storage.get(id) === 'tar.gz' ? [id] : []);
    try {
      reader = await store.openManifest(id, key);
      const missingRefs = new Set<string>();
      const links: LinkEntry[] = [];
      for await (const entry of reader.entries()) {
        if (options.signal?.aborted === true) throw new BackupError('CANCELLED', 'Verification was cancelled.');
        if (entry.kind !== 'file') continue;
        const holder = entry.in as string;
        if (holder !== id && !present.has(holder)) {
          if (!missingRefs.has(holder)) problem({ backupId: id, path: entry.path, code: 'MISSING_REFERENCE', message: `needs backup ${holder}, which is missing or damaged` });
          missingRefs.add(holder);
          continue;
        }
        if (!mine(entry)) continue;
        if (entry.link !== undefined) {
          // A hard link: its bytes are its first name's; checked below, once, with that name.
          links.push(entry as LinkEntry);
          continue;
        }
        if (storage.get(holder) === 'tar.gz') {
          archives.add(holder);
          continue;
        }
        const found = await checkStoredFile(store, entry, full);
        report.filesChecked++;
        report.bytesChecked += entry.size ?? 0;
        if (found !== undefined) fileProblem({ backupId: id, ...found });
      }
      await reader.close();
      reader = undefined;
      const check: ArchiveCheck = { id, store, key, full, mine, signal: options.signal, report, problem: fileProblem };
      if (archives.size > 0) await checkArchives(check, [...archives].sort());
      if (links.length > 0) await checkLinks(check, storage, links, failed);
    } catch (error) {
      if (error instanceof BackupError && error.code === 'CANCELLED') throw error;
      // The store failing is not the backup's fault: verify cannot say, so it fails (not "corrupt").
      throwIfStoreFault(error);
      problem({ backupId: id, path: manifestName, code: 'MANIFEST_CORRUPT', message: errorMessage(error) });
    } finally {
      await reader?.close();
    }
  }
  report.ok = report.problemCount === 0;
  report.durationMs = Date.now() - started;
  const scope = `${report.checked.length} backup${report.checked.length === 1 ? '' : 's'} of set ${options.setName}`;
  report.summary = report.ok
    ? `Verified (${report.mode}) ${scope}: ${storedFiles(report.filesChecked)}, ${humanBytes(report.bytesChecked)} of file content, all intact (${humanDuration(report.durationMs)}).`
    : `Verification (${report.mode}) of ${scope} found ${report.problemCount} problem${report.problemCount === 1 ? '' : 's'}: ${report.problems
        .slice(0, 3)
        .map((p) => `${p.backupId} ${p.path} ${p.code.toLowerCase()}`)
        .join('; ')}${report.problemCount > 3 ? '; ...' : ''}.`;
  return report;
}
