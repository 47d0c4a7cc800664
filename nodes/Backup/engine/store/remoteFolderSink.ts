import { createHash } from 'node:crypto';
import { constants as C, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import type { Destination } from '../destination/types';
import { BackupError } from '../errors';
import type { EntryStats } from '../scan/walk';
import type { CopiedFile } from './copy';
import { isSameFile, swappedSource } from './fileJobs';
import type { DataSink, StorePlace } from './sink';

/** Uploads in flight at once: enough to hide a round trip per file, few enough to bound memory (S3: a part each). */
export const REMOTE_FILES_IN_FLIGHT = 4;
// As the tar sink: a source swapped for a symlink is not followed, one swapped for a FIFO cannot hang the open.
const SOURCE_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;

/** Hashes and counts what passes, and stops at `limit` bytes (a file that grew is stored at its size when opened). */
function hashing(limit: number): { stream: Transform; result: () => CopiedFile } {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      const part = chunk.subarray(0, Math.max(0, limit - size));
      size += part.length;
      hash.update(part);
      callback(null, part.length > 0 ? part : undefined);
    },
  });
  return { stream, result: () => ({ size, hash: hash.digest('hex') }) };
}

/**
 * The folder format on a remote destination: each stored file its own object,
 * `<backup>/data/<rel>`, uploaded from a stream that hashes it on the way (one pass over the
 * source, no temp copy), a few at once. The store keeps no mode or mtime: the manifest has them
 * and restore sets them. Source problems are thrown raw (per-file), destination faults as
 * DestinationError (they fail the backup). A file that shrinks while it is read is stored as read:
 * its size and hash are what was uploaded.
 */
export class RemoteFolderSink implements DataSink {
  private written = 0;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopped: BackupError | undefined;

  constructor(
    private readonly dest: Destination,
    /** `<set>/<id>` (no trailing slash). */
    private readonly backupPrefix: string,
    private readonly concurrency = REMOTE_FILES_IN_FLIGHT,
  ) {}

  store(rel: string, sourceAbs: string, stats: EntryStats): Promise<CopiedFile> {
    const stored = this.upload(rel, sourceAbs, stats);
    const tracked = stored.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(tracked);
    void tracked.then(() => this.inFlight.delete(tracked));
    return stored;
  }

  reserve(): StorePlace {
    return { store: (rel, sourceAbs, stats) => this.store(rel, sourceAbs, stats), release: () => undefined, link: () => undefined };
  }

  /** Folders and symlinks live in the manifest only, as in the local folder format. */
  tree(): void {}

  /** Called once every store() has resolved; each object was complete when its store() resolved. */
  async close(): Promise<number> {
    await Promise.all(this.inFlight);
    if (this.stopped !== undefined) throw this.stopped;
    return this.written;
  }

  /** Starts nothing more and waits for the uploads in flight to settle; the caller removes the backup's prefix. */
  async abort(): Promise<void> {
    this.stopped ??= new BackupError('CANCELLED', 'The backup was abandoned.');
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.all(this.inFlight);
  }

  private async slot(): Promise<void> {
    while (this.running >= this.concurrency && this.stopped === undefined) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.stopped !== undefined) throw this.stopped;
    this.running++;
  }

  private release(): void {
    this.running--;
    this.waiting.shift()?.();
  }

  private async upload(rel: string, sourceAbs: string, stats: EntryStats): Promise<CopiedFile> {
    await this.slot();
    let handle: FileHandle | undefined;
    try {
      handle = await fsp.open(sourceAbs, SOURCE_FLAGS);
      const opened = await handle.stat();
      if (!opened.isFile()) throw Object.assign(new Error(`${sourceAbs} is not a regular file`), { code: 'ENOTREG' });
      if (!isSameFile(handle.fd, sourceAbs, stats, opened)) throw swappedSource();
      const { stream, result } = hashing(opened.size);
      const source = handle.createReadStream({ start: 0, highWaterMark: 1 << 20, autoClose: false });
      let sourceError: unknown;
      source.on('error', (error) => {
        sourceError = error;
        stream.destroy(error);
      });
      try {
        await this.dest.write(`${this.backupPrefix}/data/${rel}`, source.pipe(stream));
      } catch (error) {
        // A read error of the source reaches the upload as its body's error: it stays a per-file problem.
        throw sourceError ?? error;
      }
      const copied = result();
      this.written += copied.size;
      return copied;
    } finally {
      await handle?.close().catch(() => undefined);
      this.release();
    }
  }
}
