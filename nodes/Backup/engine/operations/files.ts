/**
 * The paths of one backup as its manifest records them, filtered with restore's patterns and
 * streamed to a callback: a million-entry backup is never held in memory.
 */
import { countOf, humanBytes } from '../humanize';
import { findBackupAsOf } from '../set/asOf';
import { findBackup } from '../set/catalog';
import { keyForReading } from '../set/encryption';
import type { EntryKind, ManifestEntry } from '../types';
import type { SetReadOptions } from './readSet';
import { asOfInstant, checkCancelled, openManifestOf, readingSet } from './readSet';
import type { SelectionPatterns, SelectionReport } from './restoreSelection';
import { RestoreSelection } from './restoreSelection';

/** One path of a backup, as `files`, `diff` and `find` show it. */
export interface EntryView {
  path: string;
  kind: EntryKind;
  /** file: its size in bytes. */
  size?: number;
  /** Modification time, ISO 8601 UTC. */
  mtime: string;
  /** Permission bits in octal, `0644`. */
  mode: string;
  /** file: hex sha256 of its content. */
  hash?: string;
  /** file: the backup whose data holds its bytes (this one, or an earlier one of its chain). */
  in?: string;
  /** symlink: the link text. */
  target?: string;
  /** file: a hard link to this earlier path of the same backup. */
  link?: string;
}

export function viewOf(entry: ManifestEntry): EntryView {
  const view: EntryView = { path: entry.path, kind: entry.kind, mtime: new Date(entry.mtime).toISOString(), mode: entry.mode.toString(8).padStart(4, '0') };
  if (entry.kind === 'file') Object.assign(view, { size: entry.size ?? 0, hash: entry.hash, in: entry.in }, entry.link === undefined ? {} : { link: entry.link });
  if (entry.kind === 'symlink') view.target = entry.target;
  return view;
}

export interface FilesOptions extends SetReadOptions, SelectionPatterns {
  /** A backup id or `latest` (default). */
  backupId?: string;
  /** Instead of an id: the newest complete backup made at or before this time (restore's --as-of). */
  asOf?: string;
  timeZone?: string;
}

export interface FilesReport {
  set: string;
  backupId: string;
  /** Paths the filters selected, by kind. */
  files: number;
  folders: number;
  symlinks: number;
  /** Total size of the selected files. */
  bytes: number;
  size: string;
  selection: SelectionReport;
  /** The callback asked to stop (a limit reached): the counts are of the paths seen until then. */
  stopped: boolean;
  summary: string;
}

/** What a browse callback returns: `stop` ends the reading early (the node's Limit). */
export type Visit = void | 'stop';

/** Calls `onEntry` for every selected path of the backup (and the backup's id), in walk order; returns the totals. */
export async function listFiles(options: FilesOptions, onEntry: (entry: EntryView, backupId: string) => Visit | Promise<Visit>): Promise<FilesReport> {
  const selection = new RestoreSelection({ include: options.include, exclude: options.exclude });
  const asOf = asOfInstant(options.asOf, options.timeZone, options.backupId);
  return readingSet(options, `listing of the files of ${options.backupId ?? 'latest'}`, async (store) => {
    const summary = asOf === undefined ? (await findBackup(store, options.backupId ?? 'latest')).summary : await findBackupAsOf(store, asOf);
    const key = await keyForReading(store, [summary], options.passphrase);
    const totals = { files: 0, folders: 0, symlinks: 0, bytes: 0 };
    let stopped = false;
    const reader = await openManifestOf(store, summary.backupId, key);
    try {
      for await (const entry of reader.entries()) {
        checkCancelled(options.signal);
        if (!selection.selects(entry.path)) continue;
        if (entry.kind === 'file') {
          totals.files++;
          totals.bytes += entry.size ?? 0;
        } else if (entry.kind === 'dir') totals.folders++;
        else totals.symlinks++;
        if ((await onEntry(viewOf(entry), summary.backupId)) === 'stop') {
          stopped = true;
          break;
        }
      }
    } finally {
      await reader.close();
    }
    const size = humanBytes(totals.bytes);
    const filtered = selection.active ? ' selected' : '';
    return {
      set: options.setName, backupId: summary.backupId, ...totals, size, selection: selection.report(), stopped,
      summary: `${summary.backupId}: ${stopped ? 'the first ' : ''}${countOf(totals.files, 'file')} (${size}), ${countOf(totals.folders, 'folder')}, ${countOf(totals.symlinks, 'symlink')}${filtered}`,
    };
  });
}
