import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { DestinationError } from './faults';
import type { Destination } from './types';

/**
 * Positioned reads of one stored object, the way the formats read archives: `read()` has the
 * signature of a Node FileHandle's, so a local file is read with exactly the syscalls it always was.
 * A read at or past `size` reads nothing, as a file does.
 */
export interface RandomAccess {
  /** The object's size when it was opened. */
  readonly size: number;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

/** Bytes fetched per range request; one more window is fetched ahead while the current one is read. */
export const READ_AHEAD_BYTES = 4 * 1024 * 1024;

/** A local file as RandomAccess: the FileHandle itself does the reads (one pread each), its size from one fstat. */
export async function openLocalRandomAccess(file: string): Promise<RandomAccess & { handle: FileHandle }> {
  const handle = await fsp.open(file, 'r');
  try {
    const { size } = await handle.stat();
    return { handle, size, read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position), close: () => handle.close() };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

function changed(where: string, name: string, why: string): DestinationError {
  return new DestinationError('OBJECT_CHANGED', `${name} in ${where} changed while it was being read (${why}).`, {
    hint: 'Another process rewrote or removed it: make sure only one run writes to this set, then read again.',
  });
}

interface Window {
  at: number;
  bytes: Promise<Buffer>;
}

/**
 * An object of a remote destination as RandomAccess. Reads go through range requests of
 * `windowBytes`: a reader going front to back finds its bytes in the current window while the next
 * one is already on its way (two windows in memory at most), and a jump elsewhere costs one range
 * request. The object is pinned by what open() saw: a range that comes back with another length
 * than that size implies fails with OBJECT_CHANGED (the destination's read may check more, e.g. the
 * S3 ETag).
 */
export class RemoteRandomAccess implements RandomAccess {
  private current: Window | undefined;
  private ahead: Window | undefined;
  /** Where the last read ended: a read starting there is sequential. */
  private lastEnd = 0;
  private closed = false;

  private constructor(
    private readonly dest: Destination,
    private readonly name: string,
    readonly size: number,
    private readonly windowBytes: number,
    /** The version stat() saw at open: every range is read pinned to it (S3 If-Match), so two versions never mix. */
    private readonly version: string,
  ) {}

  static async open(dest: Destination, name: string, windowBytes = READ_AHEAD_BYTES): Promise<RemoteRandomAccess> {
    const info = await dest.stat(name);
    if (info === undefined) throw new DestinationError('OBJECT_NOT_FOUND', `${name} in ${dest.describe()} does not exist.`);
    return new RemoteRandomAccess(dest, name, info.size, Math.max(64 * 1024, windowBytes), info.version);
  }

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    if (this.closed) throw new Error(`${this.name}: read after close`);
    let done = 0;
    const sequential = position === this.lastEnd;
    // A read may straddle two windows: served from both, so a caller never sees a short read before the end.
    while (done < length && position + done < this.size) {
      const at = position + done;
      const window = this.windowAt(at, sequential);
      const bytes = await window.bytes;
      const n = bytes.copy(buffer, offset + done, at - window.at, Math.min(bytes.length, at - window.at + length - done));
      if (n === 0) throw changed(this.dest.describe(), this.name, `no bytes at offset ${at}`);
      done += n;
    }
    this.lastEnd = position + done;
    return { bytesRead: done };
  }

  /**
   * The window holding `at`: the current one, the one fetched ahead, or a new one. The next window
   * is fetched ahead only while the reads go front to back (a read starting where the last one
   * ended): a jump elsewhere (the index's resync, a seek) costs one range request, not two.
   */
  private windowAt(at: number, sequential: boolean): Window {
    const holds = (w: Window | undefined): w is Window => w !== undefined && at >= w.at && at < Math.min(w.at + this.windowBytes, this.size);
    if (!holds(this.current)) {
      if (holds(this.ahead)) {
        this.current = this.ahead;
      } else {
        this.discard(this.ahead);
        this.current = this.fetch(at);
      }
      this.ahead = undefined;
    }
    const next = this.current.at + this.windowBytes;
    if (sequential && this.ahead === undefined && next < this.size) this.ahead = this.fetch(next);
    return this.current;
  }

  private fetch(at: number): Window {
    const length = Math.min(this.windowBytes, this.size - at);
    const bytes = (async () => {
      const parts: Buffer[] = [];
      let got = 0;
      for await (const chunk of await this.dest.read(this.name, { offset: at, length }, { ifVersion: this.version })) {
        parts.push(chunk as Buffer);
        got += (chunk as Buffer).length;
        if (got > length) break;
      }
      if (got !== length) throw changed(this.dest.describe(), this.name, `bytes ${at}..${at + length - 1} of the ${this.size} seen at open came back as ${got}`);
      return Buffer.concat(parts, got);
    })();
    bytes.catch(() => undefined); // a read-ahead nobody asks for must not become an unhandled rejection
    return { at, bytes };
  }

  private discard(window: Window | undefined): void {
    window?.bytes.catch(() => undefined);
  }

  close(): Promise<void> {
    this.closed = true;
    this.current = undefined;
    this.ahead = undefined;
    return Promise.resolve();
  }
}

/**
 * Opens `name` for positioned reads: a FileHandle where the destination is a local folder (the same
 * syscalls as before destinations existed), range requests with read-ahead elsewhere.
 * OBJECT_NOT_FOUND when it does not exist.
 */
export async function openRandomAccess(dest: Destination, name: string, options: { windowBytes?: number } = {}): Promise<RandomAccess> {
  const local = dest.localPath?.(name);
  if (local !== undefined) return openLocalRandomAccess(local);
  return RemoteRandomAccess.open(dest, name, options.windowBytes);
}
