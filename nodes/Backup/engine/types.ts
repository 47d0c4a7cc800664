/**
 * The engine's data model: one place for the on-disk manifest schema, the catalog summary
 * and the result item that the CLI prints and the n8n node outputs.
 */

export type BackupType = 'full' | 'differential' | 'incremental';
/** What was asked for: a type, or `auto` (the rules decide). */
export type BackupOperation = BackupType | 'auto';
export type EntryKind = 'file' | 'dir' | 'symlink';
export type StorageFormat = 'folder' | 'tar.gz';

export const MANIFEST_MAGIC = 'n8n-backup';
export const FORMAT_VERSION = 1;
export const HASH_ALGORITHM = 'sha256';

/** First line of `manifest.jsonl.gz`. */
export interface ManifestHeader {
  manifest: typeof MANIFEST_MAGIC;
  version: number;
  id: string;
  type: BackupType;
  /** Id of the chain's full backup (null for a full). */
  base: string | null;
  /** Id of the backup this one was compared with (null for a full). */
  parent: string | null;
  source: string;
  set: string;
  storage: StorageFormat;
  hash: typeof HASH_ALGORITHM;
  startedAt: string;
  /** Exclude globs in force for this backup. */
  exclude: string[];
  /** true: entries carry their extended attributes (absent: not read, as in backups made before, or where the library cannot load). */
  xattrs?: boolean;
}

/** One line per file, folder or symlink, in walk order. */
export interface ManifestEntry {
  path: string;
  kind: EntryKind;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  /** Modification time in milliseconds since the epoch, as fs.Stats.mtimeMs gives it. */
  mtime: number;
  /** Status-change time (ms) at scan: a changed ctime makes the next run re-check the content. */
  ctime: number;
  uid: number;
  gid: number;
  /** file: bytes stored. */
  size?: number;
  /** file: hex sha256 of the stored bytes. */
  hash?: string;
  /** file: id of the backup whose data holds the bytes. */
  in?: string;
  /** symlink: the link text, stored as is and never followed. */
  target?: string;
  /** Extended attributes (POSIX ACLs included), name -> base64 value; absent when it has none or they were not read. */
  xattrs?: Record<string, string>;
  /**
   * file: a hard link. The path of the first name of the same inode in this manifest (earlier in
   * walk order); the content fields above are that name's, and the bytes are stored in backup
   * `in` under that path, not this one. Restore links this name to the first one (a copy where
   * the target cannot link). Absent in backups made before hard links were kept.
   */
  link?: string;
}

/**
 * One kind of entry (files, folders or symlinks) a backup saw, compared with the backup it was
 * compared with. Each kind is counted on its own (README "Counts"): `files` never counts folders.
 */
export interface EntryCounts {
  scanned: number;
  added: number;
  changed: number;
  deleted: number;
  unchanged: number;
}

/**
 * Regular files, hard links included. In a backup made before per-kind counts (its summary has no
 * `folders`), these counted every entry, folders and symlinks too, and `links` is absent.
 */
export interface FileCounts extends EntryCounts {
  /** Files whose bytes this backup holds (a hard link's bytes are stored once, under its first name). */
  stored: number;
  /** Names among `scanned` that are hard links of an earlier name. */
  links?: number;
}

export interface ByteCounts {
  /** Sum of the sizes of every file in the source. */
  scanned: number;
  /** Bytes of file content this backup holds. */
  stored: number;
  /** Bytes this backup wrote to the destination (content, manifest, summary). */
  written: number;
}

/** A per-file problem: recorded, and the run goes on. */
export interface FileProblem {
  path: string;
  code: string;
  message: string;
}

/** Last line of `manifest.jsonl.gz`: without it the manifest does not describe a backup. */
export interface ManifestTrailer {
  trailer: true;
  complete: true;
  finishedAt: string;
  entries: number;
  files: FileCounts;
  /** Absent in backups made before per-kind counts (their `files` counted every entry). */
  folders?: EntryCounts;
  symlinks?: EntryCounts;
  bytes: ByteCounts;
  errorCount: number;
  /** Other backups whose data this manifest points into (its distinct `in` values but its own id). */
  references: string[];
  /** The first problems (at most MAX_RECORDED_ERRORS); errorCount has them all. */
  errors: FileProblem[];
}

/** `<id>/backup.json`: header and trailer facts, so listing a set never reads whole manifests. */
export interface BackupSummary {
  backupId: string;
  set: string;
  source: string;
  type: BackupType;
  base: string | null;
  parent: string | null;
  storage: StorageFormat;
  startedAt: string;
  finishedAt: string;
  files: FileCounts;
  /** Absent in backups made before per-kind counts: their `files` counted every entry (README "Counts"). */
  folders?: EntryCounts;
  symlinks?: EntryCounts;
  bytes: ByteCounts;
  errorCount: number;
  complete: boolean;
  /** Other backups whose data this one's manifest points into (its `in` values). */
  references?: string[];
  /** The backup's manifest and data are encrypted (`source` is then left empty here: it is in the sealed manifest). */
  encrypted?: boolean;
}

/**
 * Something a person should look at although the backup was made. Not a per-file problem, so not
 * in `errors` (which the manifest's trailer records and --fail-on-file-errors counts).
 */
export interface BackupWarning {
  /**
   * PREVIOUS_MANIFEST_CORRUPT: auto mode made a full because the backup it would build on is damaged.
   * RUN_RECORD_NOT_WRITTEN: the run's record (last-run.json, for status) could not be written; the backup itself is good.
   */
  code: 'PREVIOUS_MANIFEST_CORRUPT' | 'RUN_RECORD_NOT_WRITTEN';
  /** The backup the warning is about ('' when the run made none). */
  backupId: string;
  message: string;
}

export interface HumanSizes {
  scanned: string;
  stored: string;
  written: string;
  destinationTotal: string;
}

/** Output item of a backup operation (DESIGN.md "Output item"). */
export interface BackupReport {
  source: string;
  set: string;
  destination: string;
  operation: BackupOperation;
  type: BackupType | null;
  backupId: string | null;
  skipped: boolean;
  skipReason: string | null;
  decision: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Regular files only (hard links included, `links` of them); folders and symlinks have their own counts. */
  files: FileCounts & { links: number };
  folders: EntryCounts;
  symlinks: EntryCounts;
  bytes: ByteCounts & { destinationTotal: number };
  sizes: HumanSizes;
  /**
   * `skipped` (only when set): why retention deleted nothing although its policy asked (readers were reading the set).
   * `kept`: ids that stay (oldest first); `rules`: id -> every rule that keeps it (`daily #3`, `reference of <id>`).
   */
  retention: { removed: string[]; keptReferenced: string[]; kept: string[]; rules: Record<string, string[]>; skipped?: string };
  /** Ids of `.partial-*` folders left by an interrupted run and removed before this one. */
  removedPartials: string[];
  errors: FileProblem[];
  errorCount: number;
  /** Problems with the set, not with a file (e.g. a damaged previous manifest auto worked around). */
  warnings: BackupWarning[];
  /** What this run did not keep, one sentence each (extended attributes not read): not alerts, see README. */
  notices: string[];
  /**
   * Only on a dry run (true): nothing was written; `type`, `files` and `bytes.stored` say what the
   * backup would have made (file content, uncompressed for tar.gz), `backupId` is null, `bytes.written` 0.
   */
  dryRun?: boolean;
  summary: string;
}

/** How far a run is: entries done so far, per kind, and the bytes of file content. */
export interface Progress {
  /** The source folder (backup) or the restore target. */
  source: string;
  /** backup: entries scanned and stored, `bytes` scanned; restore: entries restored, `bytes` written. */
  phase: 'backup' | 'restore';
  files: number;
  folders: number;
  symlinks: number;
  bytes: number;
}

export const MAX_RECORDED_ERRORS = 1000;

export function emptyEntryCounts(): EntryCounts {
  return { scanned: 0, added: 0, changed: 0, deleted: 0, unchanged: 0 };
}

export function emptyFileCounts(): FileCounts & { links: number } {
  return { ...emptyEntryCounts(), stored: 0, links: 0 };
}
