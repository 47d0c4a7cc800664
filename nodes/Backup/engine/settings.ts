import * as path from 'node:path';
import { BackupError } from './errors';
import type { BackupType, Progress } from './types';

/** Public options of a backup run (CLI flags and node parameters map onto these). */
export interface BackupOptions {
  /** Folders to back up; each becomes its own set in the destination. */
  sources: string[];
  destination: string;
  type: BackupType;
  /** Globs of paths to leave out, relative to the source; a glob without `/` matches a name at any depth. */
  exclude?: string[];
  /** Set name instead of `<basename>-<hash of path>`; only with a single source. */
  setName?: string;
  /** Hash every file and compare content, not just size/mtime/ctime. Default false. */
  compareContent?: boolean;
  /** Skip a source with nothing in it (no backup written). Default true. */
  skipEmptySource?: boolean;
  /** Skip writing a backup when nothing changed since the one compared with. Default false. */
  skipUnchanged?: boolean;
  /** Files copied at once. Default 16. */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** Clock, injectable for tests. */
  now?: () => Date;
}

/** The validated, defaulted form the engine reads (fast-glob's Options -> Settings idea). */
export interface BackupSettings {
  sources: string[];
  destination: string;
  type: BackupType;
  exclude: string[];
  setName: string | undefined;
  compareContent: boolean;
  skipEmptySource: boolean;
  skipUnchanged: boolean;
  concurrency: number;
  signal: AbortSignal | undefined;
  onProgress: (progress: Progress) => void;
  now: () => Date;
}

const TYPES: readonly BackupType[] = ['full', 'differential', 'incremental'];

function invalid(message: string): BackupError {
  return new BackupError('INVALID_OPTION', message);
}

export function toBackupSettings(options: BackupOptions): BackupSettings {
  const sources = options.sources.map((s) => s.trim()).filter((s) => s.length > 0);
  if (sources.length === 0) throw invalid('No source folder given.');
  if (options.destination.trim() === '') throw invalid('No destination folder given.');
  if (!TYPES.includes(options.type)) throw invalid(`Unknown backup type "${String(options.type)}"; use full, differential or incremental.`);
  if (options.setName !== undefined && options.setName !== '' && sources.length > 1) {
    throw invalid('A set name can only be given with a single source: each source is its own set.');
  }
  const concurrency = options.concurrency ?? 16;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw invalid('Concurrency must be a whole number from 1 to 256.');
  return {
    sources: sources.map((s) => path.resolve(s)),
    destination: path.resolve(options.destination),
    type: options.type,
    exclude: (options.exclude ?? []).map((g) => g.trim()).filter((g) => g.length > 0),
    setName: options.setName === '' ? undefined : options.setName,
    compareContent: options.compareContent ?? false,
    skipEmptySource: options.skipEmptySource ?? true,
    skipUnchanged: options.skipUnchanged ?? false,
    concurrency,
    signal: options.signal,
    onProgress: options.onProgress ?? (() => undefined),
    now: options.now ?? (() => new Date()),
  };
}
