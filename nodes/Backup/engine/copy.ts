import { createHash } from 'node:crypto';
import { constants as C, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { BackupError, errorMessage, isDestinationFatal } from './errors';

// O_NOFOLLOW: a source file swapped for a symlink during the run is not followed (ELOOP).
// O_NONBLOCK: a file swapped for a FIFO cannot hang the open.
const SOURCE_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;
const CHUNK = 1 << 20;

export interface CopiedFile {
  size: number;
  hash: string;
}

export interface FileTimes {
  mode: number;
  mtimeMs: number;
  atimeMs: number;
}

/** Marks an error on the destination side, which aborts the run (unlike a source-side problem). */
function destinationError(error: unknown, where: string): BackupError {
  return (
    isDestinationFatal(error) ??
    new BackupError('DESTINATION_UNUSABLE', `Cannot write ${where}: ${errorMessage(error)}`, {
      hint: 'Check that the destination exists, is writable and has free space.',
      cause: error,
    })
  );
}

async function openRegularSource(src: string): Promise<FileHandle> {
  const handle = await fsp.open(src, SOURCE_FLAGS);
  const stats = await handle.stat();
  if (!stats.isFile()) {
    await handle.close();
    throw Object.assign(new Error(`${src} is not a regular file`), { code: 'ENOTREG' });
  }
  return handle;
}

/** Reads `handle` to EOF in chunks, passing each to `sink`; returns the byte count and sha256. */
async function drain(handle: FileHandle, sizeHint: number, sink?: (chunk: Buffer) => Promise<void>): Promise<CopiedFile> {
  const hash = createHash('sha256');
  // One read for a small file: the spare byte shows the end without a second call.
  const buffer = Buffer.allocUnsafe(Math.min(Math.max(sizeHint + 1, 1), CHUNK));
  let size = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, size);
    if (bytesRead === 0) break;
    const chunk = buffer.subarray(0, bytesRead);
    hash.update(chunk);
    if (sink !== undefined) await sink(chunk);
    size += bytesRead;
    // A short read of a regular file is its end at this moment; bytes appended later belong to the next backup.
    if (bytesRead < buffer.length) break;
  }
  return { size, hash: hash.digest('hex') };
}

/** Hashes a source file without copying it (to re-check a file whose metadata cannot be trusted). */
export async function hashFile(src: string, sizeHint: number): Promise<CopiedFile> {
  const handle = await openRegularSource(src);
  try {
    return await drain(handle, sizeHint);
  } finally {
    await handle.close();
  }
}

/**
 * Copies one source file to a new destination file, hashing the bytes actually copied, and
 * gives the copy the source's mtime and mode (plus owner-read, so the backup stays readable).
 * Source-side errors are thrown as they are (per-file problems); destination-side ones as BackupError.
 */
export async function copyFileHashed(src: string, dst: string, sizeHint: number, times: FileTimes): Promise<CopiedFile> {
  const source = await openRegularSource(src);
  let target: FileHandle | undefined;
  try {
    try {
      target = await fsp.open(dst, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    } catch (error) {
      throw destinationError(error, dst);
    }
    const out = target;
    const copied = await drain(source, sizeHint, async (chunk) => {
      try {
        await out.write(chunk, 0, chunk.length);
      } catch (error) {
        throw destinationError(error, dst);
      }
    });
    try {
      await out.chmod((times.mode & 0o7777) | 0o400);
      await out.utimes(times.atimeMs / 1000, times.mtimeMs / 1000);
    } catch (error) {
      throw destinationError(error, dst);
    }
    return copied;
  } finally {
    await source.close();
    if (target !== undefined) await target.close().catch(() => undefined);
  }
}
