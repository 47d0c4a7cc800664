import type { JobRunner } from './copyPool';
import { destinationError } from '../errors';
import type { FileJobResult } from './fileJobs';

export interface CopiedFile {
  size: number;
  hash: string;
}

export interface FileTimes {
  mode: number;
  mtimeMs: number;
  atimeMs: number;
  /** The file the scan saw; the copy refuses another one (ESWAPPED). */
  dev?: number;
  ino?: number;
}

/** The error a failed job stands for, with its errno code, as fs would have thrown it. */
export function jobError(result: Extract<FileJobResult, { side: string }>): Error & { code: string } {
  return Object.assign(new Error(result.message), { code: result.code });
}

function copiedOrThrow(result: FileJobResult, dst: string | undefined): CopiedFile {
  if (result.ok) return { size: result.size, hash: result.hash };
  if (result.skipped === true) throw Object.assign(new Error(`${dst ?? ''} already exists`), { code: 'EEXIST' });
  if (result.side === 'destination') throw destinationError(jobError(result), dst ?? '');
  throw jobError(result);
}

/** Hashes a source file without copying it (to re-check a file whose metadata cannot be trusted). */
export async function hashFile(pool: JobRunner, src: string, sizeHint: number): Promise<CopiedFile> {
  return copiedOrThrow(await pool.run({ src, sizeHint }), undefined);
}

/**
 * Copies one source file to a new destination file, hashing the bytes actually copied, and
 * gives the copy the source's mtime and mode (plus owner-read, so the backup stays readable).
 * Source-side errors are thrown as they are (per-file problems); destination-side ones as BackupError.
 */
export async function copyFileHashed(pool: JobRunner, src: string, dst: string, sizeHint: number, times: FileTimes): Promise<CopiedFile> {
  const result = await pool.run({ src, dst, sizeHint, mode: (times.mode & 0o7777) | 0o400, atimeMs: times.atimeMs, mtimeMs: times.mtimeMs, dev: times.dev, ino: times.ino });
  return copiedOrThrow(result, dst);
}
