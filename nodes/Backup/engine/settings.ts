import * as path from 'node:path';
import type { DestinationOptions } from './destination';
import { parseDestinationUrl } from './destination/url';
import { BackupError } from './errors';
import type { RetentionPolicy } from './set/retention';
import type { CalendarRules } from './set/calendar';
import { isTimeZone, parseDuration } from './set/calendar';
import type { BackupOperation, Progress, StorageFormat } from './types';

/**
 * restic's calendar rules (README "Retention"), on top of keepFull/keepDifferential/keepIncremental.
 * Counts: 0 or absent = no rule. Shared by backup (retention after it) and prune.
 */
export interface CalendarOptions {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  /** Keep every backup within this duration of the newest one: `30d`, `2w`, `1y2m`, `2y5m7d3h`. */
  keepWithin?: string;
  /** IANA time zone the hours, days, weeks, months and years are counted in. Default `UTC`. */
  timeZone?: string;
}

/** Public options of a backup run (CLI flags and node parameters map onto these). */
export interface BackupOptions extends CalendarOptions {
  /** Folders to back up; each becomes its own set in the destination. */
  sources: string[];
  /** A local folder, `s3://<bucket>/<prefix>` or `sftp://<user>@<host>[:port]/<path>`. */
  destination: string;
  /** Settings of a remote destination (endpoint, region, credentials, keys, known hosts); no effect on a folder. */
  destinationOptions?: DestinationOptions;
  /** full, differential, incremental, or auto (the rules below decide). */
  type: BackupOperation;
  /** auto: a new full when the newest full is this many days old (0 = only when there is none). Default 7. */
  fullEveryDays?: number;
  /** auto: a differential when the newest full/differential is this many days old (0 = never). Default 0. */
  differentialEveryDays?: number;
  /** Globs of paths to leave out, relative to the source; a glob without `/` matches a name at any depth. */
  exclude?: string[];
  /** Set name instead of `<basename>-<hash of path>`; only with a single source. */
  setName?: string;
  /** Hash every file and compare content, not just size/mtime/ctime. Default false. */
  compareContent?: boolean;
  /** Skip a source with nothing in it (no backup written). Default true. */
  skipEmptySource?: boolean;
  /** Write no backup when nothing changed since the one compared with. Default: true for auto, false otherwise. */
  skipUnchanged?: boolean;
  /** Retention after a successful backup, per type; 0 = keep all. Default 0 (keep all). */
  keepFull?: number;
  keepDifferential?: number;
  keepIncremental?: number;
  /** `folder` (default) or `tar.gz`. */
  format?: StorageFormat;
  /** gzip level for tar.gz, 0-9. Default 6. */
  compressionLevel?: number;
  /** How long to wait for another run holding the set's lock. Default 60 s. */
  lockTimeoutSeconds?: number;
  /**
   * Encrypts the set (AES-256-GCM, key from scrypt): the manifest and data.tar.gz of every backup.
   * Needs format tar.gz. A set that is encrypted refuses a run without it (PASSPHRASE_REQUIRED).
   */
  passphrase?: string;
  /**
   * Report what the backup would store (type, counts, bytes of file content) and write nothing to
   * the destination: no backup, no lock, no run record, no retention, no sweep. Default false.
   */
  dryRun?: boolean;
  /** Files being copied or hashed at once (they go to the copy threads in batches). Default 128. */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** Clock, injectable for tests. */
  now?: () => Date;
}

/** The validated, defaulted form the engine reads (fast-glob's Options -> Settings idea). */
export interface BackupSettings {
  sources: string[];
  /** A resolved local path, or the remote URL as given. */
  destination: string;
  destinationOptions: DestinationOptions;
  type: BackupOperation;
  fullEveryDays: number;
  differentialEveryDays: number;
  exclude: string[];
  setName: string | undefined;
  compareContent: boolean;
  skipEmptySource: boolean;
  skipUnchanged: boolean;
  retention: RetentionPolicy;
  format: StorageFormat;
  compressionLevel: number;
  lockTimeoutMs: number;
  passphrase: string | undefined;
  concurrency: number;
  dryRun: boolean;
  signal: AbortSignal | undefined;
  onProgress: (progress: Progress) => void;
  now: () => Date;
}

const OPERATIONS: readonly BackupOperation[] = ['auto', 'full', 'differential', 'incremental'];
const FORMATS: readonly StorageFormat[] = ['folder', 'tar.gz'];

export function invalidOption(message: string): BackupError {
  return new BackupError('INVALID_OPTION', message);
}

/** A whole number in [min, max], or the default when not given. */
export function wholeNumber(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw invalidOption(`${name} must be a whole number from ${min} to ${max} (got ${String(value)}).`);
  return v;
}

const MAX_KEEP = 100_000;

function toCalendarRules(o: CalendarOptions): CalendarRules {
  const within = o.keepWithin === undefined || o.keepWithin.trim() === '' ? null : parseDuration(o.keepWithin);
  if (within === null && o.keepWithin !== undefined && o.keepWithin.trim() !== '') {
    throw invalidOption(`keepWithin must be a duration such as 30d, 2w, 1y2m or 2y5m7d3h (years, months, weeks, days, hours; got "${o.keepWithin}").`);
  }
  const timeZone = o.timeZone === undefined || o.timeZone.trim() === '' ? 'UTC' : o.timeZone.trim();
  if (!isTimeZone(timeZone)) throw invalidOption(`timeZone must be an IANA time zone name such as UTC or Europe/Berlin (got "${o.timeZone ?? ''}").`);
  return {
    keepLast: wholeNumber('keepLast', o.keepLast, 0, 0, MAX_KEEP),
    keepHourly: wholeNumber('keepHourly', o.keepHourly, 0, 0, MAX_KEEP),
    keepDaily: wholeNumber('keepDaily', o.keepDaily, 0, 0, MAX_KEEP),
    keepWeekly: wholeNumber('keepWeekly', o.keepWeekly, 0, 0, MAX_KEEP),
    keepMonthly: wholeNumber('keepMonthly', o.keepMonthly, 0, 0, MAX_KEEP),
    keepYearly: wholeNumber('keepYearly', o.keepYearly, 0, 0, MAX_KEEP),
    keepWithin: within,
    timeZone,
  };
}

export function toRetentionPolicy(o: { keepFull?: number; keepDifferential?: number; keepIncremental?: number } & CalendarOptions): RetentionPolicy {
  return {
    keepFull: wholeNumber('keepFull', o.keepFull, 0, 0, MAX_KEEP),
    keepDifferential: wholeNumber('keepDifferential', o.keepDifferential, 0, 0, MAX_KEEP),
    keepIncremental: wholeNumber('keepIncremental', o.keepIncremental, 0, 0, MAX_KEEP),
    calendar: toCalendarRules(o),
  };
}

/** A folder resolved to an absolute path; a remote URL checked and kept as given (it names no secret: the parser refuses one). */
export function destinationText(destination: string): string {
  const url = parseDestinationUrl(destination);
  return url.kind === 'local' ? url.path : destination.trim();
}

export function toBackupSettings(options: BackupOptions): BackupSettings {
  const sources = options.sources.map((s) => s.trim()).filter((s) => s.length > 0);
  if (sources.length === 0) throw invalidOption('No source folder given.');
  if (options.destination.trim() === '') throw invalidOption('No destination folder given.');
  if (!OPERATIONS.includes(options.type)) throw invalidOption(`Unknown backup type "${String(options.type)}"; use auto, full, differential or incremental.`);
  const format = options.format ?? 'folder';
  if (!FORMATS.includes(format)) throw invalidOption(`Unknown format "${String(format)}"; use folder or tar.gz.`);
  const passphrase = options.passphrase === '' ? undefined : options.passphrase;
  if (passphrase !== undefined && format !== 'tar.gz') {
    throw new BackupError('ENCRYPTION_NEEDS_TARGZ', 'Encryption needs the tar.gz format: a folder backup keeps every file readable as it is.', {
      hint: 'Choose the tar.gz format for an encrypted set (CLI: --format tar.gz; node: Options > Format > Tar.gz).',
    });
  }
  if (options.setName !== undefined && options.setName !== '' && sources.length > 1) {
    throw invalidOption('A set name can only be given with a single source: each source is its own set.');
  }
  return {
    sources: sources.map((s) => path.resolve(s)),
    destination: destinationText(options.destination),
    destinationOptions: options.destinationOptions ?? {},
    type: options.type,
    fullEveryDays: wholeNumber('fullEveryDays', options.fullEveryDays, 7, 0, 36_500),
    differentialEveryDays: wholeNumber('differentialEveryDays', options.differentialEveryDays, 0, 0, 36_500),
    exclude: (options.exclude ?? []).map((g) => g.trim()).filter((g) => g.length > 0),
    setName: options.setName === '' ? undefined : options.setName,
    compareContent: options.compareContent ?? false,
    skipEmptySource: options.skipEmptySource ?? true,
    skipUnchanged: options.skipUnchanged ?? options.type === 'auto',
    retention: toRetentionPolicy(options),
    format,
    compressionLevel: wholeNumber('compressionLevel', options.compressionLevel, 6, 0, 9),
    lockTimeoutMs: wholeNumber('lockTimeoutSeconds', options.lockTimeoutSeconds, 60, 0, 86_400) * 1000,
    passphrase,
    concurrency: wholeNumber('concurrency', options.concurrency, 128, 1, 1024),
    dryRun: options.dryRun ?? false,
    signal: options.signal,
    onProgress: options.onProgress ?? (() => undefined),
    now: options.now ?? (() => new Date()),
  };
}
