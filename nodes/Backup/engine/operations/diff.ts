/**
 * What changed between two backups of a set: both manifests are read side by side in walk order
 * (a merge join, like the backup's own scan against the previous manifest), so memory stays flat
 * however large the backups are.
 */
import { BackupError } from '../errors';
import { humanBytes } from '../humanize';
import { compareWalkOrder } from '../paths';
import { findBackup } from '../set/catalog';
import { keyForReading } from '../set/encryption';
import type { ManifestEntry } from '../types';
import type { EntryView, Visit } from './files';
import { viewOf } from './files';
import type { SetReadOptions } from './readSet';
import { checkCancelled, openManifestOf, readingSet } from './readSet';
import type { SelectionPatterns, SelectionReport } from './restoreSelection';
import { RestoreSelection } from './restoreSelection';

/**
 * added / deleted: the path is only in the newer / older backup. changed: its content or its kind
 * (a file's size or hash, a symlink's target, a file that became a folder). metadata: only its
 * mode, owner, mtime, extended attributes or hard-link pairing (restic's "U"; shown on request).
 */
export type ChangeKind = 'added' | 'deleted' | 'changed' | 'metadata';

export interface EntryChange {
  path: string;
  change: ChangeKind;
  /** The path in the older backup (absent when added). */
  before?: ManifestEntry;
  /** The path in the newer backup (absent when deleted). */
  after?: ManifestEntry;
}

/** How one path differs between two manifest entries; undefined when it is the same. */
export function classifyChange(before: ManifestEntry, after: ManifestEntry): ChangeKind | undefined {
  if (before.kind !== after.kind) return 'changed';
  if (after.kind === 'file' && (before.hash !== after.hash || before.size !== after.size)) return 'changed';
  if (after.kind === 'symlink' && before.target !== after.target) return 'changed';
  const same = before.mode === after.mode && before.uid === after.uid && before.gid === after.gid && before.mtime === after.mtime && before.link === after.link && JSON.stringify(before.xattrs ?? {}) === JSON.stringify(after.xattrs ?? {});
  return same ? undefined : 'metadata';
}

/** The changes from `older` to `newer`, both in walk order, in walk order; unchanged paths are left out. */
export async function* diffEntries(older: AsyncIterable<ManifestEntry>, newer: AsyncIterable<ManifestEntry>): AsyncGenerator<EntryChange> {
  const a = older[Symbol.asyncIterator]();
  const b = newer[Symbol.asyncIterator]();
  let before = await a.next();
  let after = await b.next();
  while (before.done !== true || after.done !== true) {
    const order = before.done === true ? 1 : after.done === true ? -1 : compareWalkOrder(before.value.path, after.value.path);
    if (order < 0 && before.done !== true) {
      yield { path: before.value.path, change: 'deleted', before: before.value };
      before = await a.next();
    } else if (order > 0 && after.done !== true) {
      yield { path: after.value.path, change: 'added', after: after.value };
      after = await b.next();
    } else if (before.done !== true && after.done !== true) {
      const change = classifyChange(before.value, after.value);
      if (change !== undefined) yield { path: after.value.path, change, before: before.value, after: after.value };
      before = await a.next();
      after = await b.next();
    }
  }
}

/** One changed path as `diff` shows it. */
export interface PathChange {
  path: string;
  change: ChangeKind;
  before?: EntryView;
  after?: EntryView;
  /** file: size after minus size before (the whole size for added, minus it for deleted). */
  sizeDelta?: number;
}

export function pathChangeOf(c: EntryChange): PathChange {
  const out: PathChange = { path: c.path, change: c.change };
  if (c.before !== undefined) out.before = viewOf(c.before);
  if (c.after !== undefined) out.after = viewOf(c.after);
  const sizeOf = (e: ManifestEntry | undefined): number => (e?.kind === 'file' ? (e.size ?? 0) : 0);
  if (c.before?.kind === 'file' || c.after?.kind === 'file') out.sizeDelta = sizeOf(c.after) - sizeOf(c.before);
  return out;
}

export interface DiffOptions extends SetReadOptions, SelectionPatterns {
  /** The older backup: an id, or `previous` (the complete backup before `to`). */
  from?: string;
  /** The newer backup: an id or `latest` (default). */
  to?: string;
  /** Report paths whose metadata alone changed too (counted either way). */
  metadata?: boolean;
  /** Told the ids `from` and `to` resolve to, before the first change. */
  onBackups?: (from: string, to: string) => void;
}

export interface DiffReport {
  set: string;
  from: string;
  to: string;
  added: number;
  deleted: number;
  changed: number;
  /** Paths whose mode, owner, mtime or attributes alone changed. */
  metadata: number;
  /** Bytes of files added, of files deleted, and the net change in the size of the selected files. */
  bytes: { added: number; deleted: number; net: number };
  selection: SelectionReport;
  /** The callback asked to stop: the counts are of the changes seen until then. */
  stopped: boolean;
  summary: string;
}

/** Calls `onChange` for every path that differs from backup `from` to backup `to`, in walk order. */
export async function diffBackups(options: DiffOptions, onChange: (change: PathChange) => Visit | Promise<Visit>): Promise<DiffReport> {
  const selection = new RestoreSelection({ include: options.include, exclude: options.exclude });
  return readingSet(options, `diff of ${options.from ?? 'previous'} and ${options.to ?? 'latest'}`, async (store) => {
    const { summary: to, all } = await findBackup(store, options.to ?? 'latest');
    let from;
    if (options.from === undefined || options.from === 'previous') {
      from = all.filter((b) => b.complete && b.backupId < to.backupId).pop();
      if (from === undefined) throw new BackupError('BACKUP_NOT_FOUND', `Set "${options.setName}" has no complete backup before ${to.backupId} to compare it with.`, { hint: 'Give --from an id that `list` shows.' });
    } else from = (await findBackup(store, options.from)).summary;
    const key = await keyForReading(store, [from, to], options.passphrase);
    options.onBackups?.(from.backupId, to.backupId);
    const counts = { added: 0, deleted: 0, changed: 0, metadata: 0 };
    const bytes = { added: 0, deleted: 0, net: 0 };
    let stopped = false;
    const older = await openManifestOf(store, from.backupId, key);
    try {
      const newer = await openManifestOf(store, to.backupId, key);
      try {
        for await (const c of diffEntries(older.entries(), newer.entries())) {
          checkCancelled(options.signal);
          if (!selection.selects(c.path)) continue;
          counts[c.change]++;
          const change = pathChangeOf(c);
          bytes.net += change.sizeDelta ?? 0;
          if (c.change === 'added') bytes.added += change.sizeDelta ?? 0;
          if (c.change === 'deleted') bytes.deleted -= change.sizeDelta ?? 0;
          if ((c.change !== 'metadata' || options.metadata === true) && (await onChange(change)) === 'stop') {
            stopped = true;
            break;
          }
        }
      } finally {
        await newer.close();
      }
    } finally {
      await older.close();
    }
    const net = `${bytes.net < 0 ? '-' : '+'}${humanBytes(Math.abs(bytes.net))}`;
    return {
      set: options.setName, from: from.backupId, to: to.backupId, ...counts, bytes, selection: selection.report(), stopped,
      summary: `${from.backupId} -> ${to.backupId}: ${stopped ? 'at least ' : ''}${counts.added} added, ${counts.changed} changed, ${counts.deleted} deleted, ${counts.metadata} with new metadata only (${net})`,
    };
  });
}
