import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeNewFileSynced } from '../destination/durable';
import { BackupError, errnoCode } from '../errors';
import { readManifestEnds } from '../formats/manifest';
import { assertSetName } from '../paths';
import type { BackupSummary, BackupType } from '../types';
import type { SetStore } from './setStore';

export { DATA_DIR } from '../store/folderSink';

export const SUMMARY_FILE = 'backup.json';
export const PARTIAL_PREFIX = '.partial-';
/** A backup being deleted by retention: renamed first, so a kill never leaves half a backup listed. */
export const REMOVING_PREFIX = '.removing-';

const ID_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-(full|differential|incremental)$/;

export function isBackupId(name: string): boolean {
  return ID_PATTERN.test(name);
}

/** `YYYYMMDDTHHMMSSmmmZ-<type>`: sorts by time as a string. */
export function formatBackupId(time: Date, type: BackupType): string {
  const iso = time.toISOString(); // 2026-11-26T09:00:00.123Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}${iso.slice(20, 23)}Z-${type}`;
}

export function backupIdTime(id: string): Date {
  const m = ID_PATTERN.exec(id);
  if (m === null) throw new Error(`not a backup id: ${id}`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], +m[7]));
}

/** A new id later than every existing one, even when the clock has not moved (or went back). */
export function nextBackupId(now: Date, type: BackupType, latestId: string | undefined): string {
  let time = now.getTime();
  if (latestId !== undefined) time = Math.max(time, backupIdTime(latestId).getTime() + 1);
  return formatBackupId(new Date(time), type);
}

function typeOfId(id: string): BackupType {
  return id.slice(id.lastIndexOf('-') + 1) as BackupType;
}

/** How a backup that cannot be read (no or a damaged summary and manifest) is listed. */
export function incompleteSummary(set: string, id: string): BackupSummary {
  const zero = { scanned: 0, added: 0, changed: 0, deleted: 0, unchanged: 0, stored: 0 };
  return {
    backupId: id, set, source: '', type: typeOfId(id), base: null, parent: null, storage: 'folder',
    startedAt: backupIdTime(id).toISOString(), finishedAt: '', files: zero, bytes: { scanned: 0, stored: 0, written: 0 }, errorCount: 0, complete: false,
  };
}

/** backup.json of backup `id`, when it is one: whole JSON, the same id, complete. */
export function parseSummary(text: string, id: string): BackupSummary | undefined {
  try {
    const parsed = JSON.parse(text) as BackupSummary;
    return parsed.backupId === id && parsed.complete === true ? parsed : undefined;
  } catch {
    return undefined;
  }
}

async function readSummary(setDir: string, id: string): Promise<BackupSummary> {
  const dir = path.join(setDir, id);
  try {
    const parsed = parseSummary(await fsp.readFile(path.join(dir, SUMMARY_FILE), 'utf8'), id);
    if (parsed !== undefined) return parsed;
  } catch {
    // Missing or unreadable summary: fall back to the manifest, the source of truth (a plain set's;
    // an encrypted backup without its summary lists as incomplete: listing has no key).
  }
  try {
    const { header, trailer } = await readManifestEnds(dir);
    if (header.id !== id) return incompleteSummary(path.basename(setDir), id);
    return {
      backupId: id, set: header.set, source: header.source, type: header.type, base: header.base, parent: header.parent, storage: header.storage,
      startedAt: header.startedAt, finishedAt: trailer.finishedAt, files: trailer.files, bytes: trailer.bytes, errorCount: trailer.errorCount, complete: true,
      references: trailer.references,
      // Per-kind counts only where the backup recorded them (README "Counts": older ones have none).
      ...(trailer.folders === undefined ? {} : { folders: trailer.folders }),
      ...(trailer.symlinks === undefined ? {} : { symlinks: trailer.symlinks }),
    };
  } catch {
    return incompleteSummary(path.basename(setDir), id);
  }
}

/** Names in a folder, or none when the folder does not exist (yet). */
async function namesIn(dir: string): Promise<string[]> {
  try {
    return await fsp.readdir(dir);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw error;
  }
}

/** Every backup folder of a set, oldest first; a damaged one is listed with complete: false. */
export async function listBackups(setDir: string): Promise<BackupSummary[]> {
  const ids = (await namesIn(setDir)).filter(isBackupId).sort();
  return Promise.all(ids.map((id) => readSummary(setDir, id)));
}

/** Names of the sets in a destination: folders holding at least one backup. */
export async function listSets(destination: string): Promise<string[]> {
  const sets: string[] = [];
  for (const name of (await namesIn(destination)).sort()) {
    const inner = await fsp.readdir(path.join(destination, name)).catch(() => [] as string[]);
    if (inner.some(isBackupId)) sets.push(name);
  }
  return sets;
}

export function setDirectory(destination: string, setName: string): string {
  return path.join(destination, assertSetName(setName));
}

/** Resolves `latest` or an id to a complete backup of the set. */
export async function findBackup(store: Pick<SetStore, 'set' | 'where' | 'listBackups'>, backupId: string): Promise<{ summary: BackupSummary; all: BackupSummary[] }> {
  const backups = await store.listBackups();
  const setName = store.set;
  if (backups.length === 0) {
    throw new BackupError('SET_NOT_FOUND', `There is no backup set "${setName}" in ${path.dirname(store.where)}.`, {
      hint: 'Run `n8n-backup list --dest <destination>` to see the set names.',
    });
  }
  if (backupId === 'latest') {
    const complete = backups.filter((b) => b.complete);
    if (complete.length === 0) throw new BackupError('BACKUP_NOT_FOUND', `Set "${setName}" has no complete backup.`);
    return { summary: complete[complete.length - 1], all: backups };
  }
  const found = backups.find((b) => b.backupId === backupId);
  if (found === undefined) {
    throw new BackupError('BACKUP_NOT_FOUND', `Set "${setName}" has no backup ${backupId}.`, { hint: 'Use `latest` or an id that `list` shows.' });
  }
  if (!found.complete) throw new BackupError('BACKUP_INCOMPLETE', `Backup ${backupId} is incomplete or damaged (its manifest has no trailer).`);
  return { summary: found, all: backups };
}

/** backup.json's text. */
export function summaryText(summary: BackupSummary): string {
  return `${JSON.stringify(summary, null, 2)}\n`;
}

/** Creates `<dir>/backup.json`, fsynced. */
export async function writeSummaryText(dir: string, text: string): Promise<void> {
  await writeNewFileSynced(path.join(dir, SUMMARY_FILE), text, 0o644);
}
