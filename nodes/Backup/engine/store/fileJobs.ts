import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { writeSparseSync } from './sparse';

/**
 * The per-file work of a backup or restore, done with synchronous system calls inside a worker
 * thread (see copyPool.ts). Measured on the 50,000-file bench set: one promise and one thread-pool
 * round trip per open/fstat/read/write/chmod/utimes/close made copying ~5x slower than `cp -a`;
 * the same calls made synchronously, a batch of files per message, run at `cp -a` speed.
 */

const C = fs.constants;
// O_NOFOLLOW: a source swapped for a symlink during the run is not followed (ELOOP).
// O_NONBLOCK: a source swapped for a FIFO cannot hang the open.
const SOURCE_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;
// O_EXCL|O_NOFOLLOW: never writes through a symlink, never over anything that is already there.
const TARGET_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
const CHUNK = 1 << 20;

/** Copy `src` into a new file `dst`, hashing the bytes copied; or only hash `src` (no dst). */
export interface FileJob {
  src: string;
  dst?: string;
  /** Mode given to dst once written. */
  mode?: number;
  /** Times (ms) given to dst once written. */
  atimeMs?: number;
  mtimeMs?: number;
  /** Owner given to dst (restore as root); a failure is ignored. */
  uid?: number;
  gid?: number;
  /** Size expected (a hint for the first read). */
  sizeHint: number;
  /** The file the scan saw (lstat): a source that is another file once opened is refused (ESWAPPED). */
  dev?: number;
  ino?: number;
  /** dst already existing is an outcome (`skipped`), not an error. */
  skipExisting?: boolean;
}

/** Which side an error came from: a source problem is per file, a destination one may be fatal. */
export type FileJobSide = 'source' | 'destination';

export type FileJobResult =
  | { ok: true; size: number; hash: string }
  | { ok: false; skipped: true }
  | { ok: false; skipped?: false; side: FileJobSide; code: string; message: string };

class SideError extends Error {
  constructor(
    readonly side: FileJobSide,
    readonly cause: unknown,
  ) {
    super('side');
  }
}

function onSide<T>(side: FileJobSide, action: () => T): T {
  try {
    return action();
  } catch (error) {
    throw new SideError(side, error);
  }
}

/**
 * The error for a source that is not the file the scan saw. O_NOFOLLOW guards only the last
 * component: a folder above the file swapped for a symlink would lead the open outside the source.
 */
export function swappedSource(): Error {
  return Object.assign(new Error('was replaced during the backup (by another file, or a folder above it by a symlink); not stored'), { code: 'ESWAPPED' });
}

/** Linux: the path an open descriptor really has; undefined where /proc cannot tell. */
let procWorks: boolean | undefined;
function openedPath(fd: number): string | undefined {
  if (procWorks === false) return undefined;
  try {
    const where = fs.readlinkSync(`/proc/self/fd/${fd}`);
    procWorks = true;
    return where;
  } catch {
    procWorks ??= false;
    return undefined;
  }
}

/**
 * True when the regular file open as `fd` (fstat: `opened`) is the one the scan saw at `src`
 * (lstat: `seen`, no check when it has no inode): same device and inode, and (Linux) really at
 * `src`. The scan itself may have looked through a folder swapped for a symlink while it listed
 * it (then the inode matches the outside file): /proc/self/fd shows where the open really went.
 */
export function isSameFile(fd: number, src: string, seen: { dev?: number; ino?: number }, opened: { dev: number; ino: number }): boolean {
  if (seen.ino === undefined || seen.dev === undefined) return true;
  if (seen.ino !== opened.ino || seen.dev !== opened.dev) return false;
  const where = openedPath(fd);
  return where === undefined || where === src || where === `${src} (deleted)`;
}

function openRegularSource(src: string, seen: { dev?: number; ino?: number }): number {
  const fd = fs.openSync(src, SOURCE_FLAGS);
  const opened = fs.fstatSync(fd);
  if (!opened.isFile()) {
    fs.closeSync(fd);
    throw Object.assign(new Error(`${src} is not a regular file`), { code: 'ENOTREG' });
  }
  if (!isSameFile(fd, src, seen, opened)) {
    fs.closeSync(fd);
    throw swappedSource();
  }
  return fd;
}

/** Runs one job with the given scratch buffer. Never throws: errors are results. */
export function runFileJob(job: FileJob, scratch: Buffer): FileJobResult {
  let source: number | undefined;
  let target: number | undefined;
  try {
    source = onSide('source', () => openRegularSource(job.src, job));
    if (job.dst !== undefined) {
      const dst = job.dst;
      try {
        target = fs.openSync(dst, TARGET_FLAGS, 0o600);
      } catch (error) {
        if (job.skipExisting === true && (error as { code?: string }).code === 'EEXIST') return { ok: false, skipped: true };
        throw new SideError('destination', error);
      }
    }
    const hash = createHash('sha256');
    // One read for a small file: the spare byte shows the end without a second call.
    const length = Math.min(Math.max(job.sizeHint + 1, 1), Math.max(CHUNK, scratch.length));
    const buffer = length <= scratch.length ? scratch : Buffer.allocUnsafe(length);
    let size = 0;
    let dataEnd = 0;
    for (;;) {
      const fd = source;
      const bytesRead = onSide('source', () => fs.readSync(fd, buffer, 0, length, size));
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      if (target !== undefined) {
        const out = target;
        const at = size;
        // Zero blocks are skipped (holes), so a sparse file stays sparse: see sparse.ts.
        dataEnd = onSide('destination', () => writeSparseSync(out, chunk, at));
      }
      size += bytesRead;
      // A short read of a regular file is its end at this moment; bytes appended later belong to the next backup.
      if (bytesRead < length) break;
    }
    if (target !== undefined) {
      const out = target;
      onSide('destination', () => {
        // A file ending in a hole gets its length here; only then, so a dense file costs no extra call.
        if (dataEnd < size) fs.ftruncateSync(out, size);
        if (job.mode !== undefined) fs.fchmodSync(out, job.mode);
        if (job.mtimeMs !== undefined) fs.futimesSync(out, (job.atimeMs ?? job.mtimeMs) / 1000, job.mtimeMs / 1000);
      });
      if (job.uid !== undefined && job.gid !== undefined) {
        try {
          fs.fchownSync(out, job.uid, job.gid);
        } catch {
          // Ownership is best effort (as `cp -a` does for a user who may not chown).
        }
      }
    }
    if (target !== undefined) {
      const out = target;
      target = undefined;
      // close() can be where a network file system reports a failed write.
      onSide('destination', () => fs.closeSync(out));
    }
    return { ok: true, size, hash: hash.digest('hex') };
  } catch (error) {
    const side = error instanceof SideError ? error.side : 'source';
    const cause = error instanceof SideError ? error.cause : error;
    const code = (cause as { code?: unknown }).code;
    return { ok: false, side, code: typeof code === 'string' ? code : 'EUNKNOWN', message: cause instanceof Error ? cause.message : String(cause) };
  } finally {
    if (source !== undefined) fs.closeSync(source);
    if (target !== undefined) {
      try {
        fs.closeSync(target);
      } catch {
        // The job already failed; its first error is the one reported.
      }
    }
  }
}
