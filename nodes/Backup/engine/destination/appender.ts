import { once } from 'node:events';
import { constants as C, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { writeAll } from './durable';
import { DestinationError } from './faults';
import type { Destination } from './types';

/**
 * A stored object written front to back, the way the formats write archives and manifests.
 * write() resolves once the bytes are taken (back-pressure: a slow store holds the writer back);
 * finish() once they are durable; abort() leaves nothing under the name.
 */
export interface Appender {
  write(bytes: Buffer): Promise<void>;
  /** Local: fsynced and closed. Remote: the upload completed (one S3 upload, or the temp file renamed into place). */
  finish(): Promise<{ bytes: number }>;
  /** Stops; never throws. Local: the file closed (and removed when opened through a destination). Remote: the upload aborted. */
  abort(): Promise<void>;
}

export interface AppenderOptions {
  /** Refuse a name that exists already (local: created with O_EXCL, as the formats always did). Default: true. */
  exclusive?: boolean;
}

/** Bytes queued towards a remote upload before write() waits: the upload's parts are the real buffer. */
const QUEUED_BYTES = 1024 * 1024;

/**
 * A local file: created (`wx` when exclusive), written with writeAll (the same syscalls as the
 * formats always made), fsynced at finish. `removeOnAbort`: unlink on abort (the path-based
 * entries leave that to the caller, which removes the whole partial folder).
 */
export async function openLocalAppender(file: string, options: AppenderOptions & { removeOnAbort?: boolean } = {}): Promise<Appender> {
  const flags = C.O_WRONLY | C.O_CREAT | (options.exclusive === false ? C.O_TRUNC : C.O_EXCL);
  const handle: FileHandle = await fsp.open(file, flags, 0o644);
  let bytes = 0;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => (closed ??= handle.close());
  return {
    async write(chunk) {
      await writeAll(handle, chunk);
      bytes += chunk.length;
    },
    async finish() {
      try {
        await handle.sync();
      } finally {
        await close();
      }
      return { bytes };
    },
    async abort() {
      await close().catch(() => undefined);
      if (options.removeOnAbort === true) await fsp.unlink(file).catch(() => undefined);
    },
  };
}

/**
 * A remote object written from a stream: one `dest.write(name, stream)` started at open (S3: one
 * multipart upload, memory bounded by part size x concurrency; SFTP: a temp file renamed into place
 * at the end), fed by write(). Nothing is listed under the name before finish() resolves.
 */
class RemoteAppender implements Appender {
  private readonly stream = new PassThrough({ highWaterMark: QUEUED_BYTES });
  private readonly upload: Promise<unknown>;
  private failure: unknown;
  private bytes = 0;
  private aborted = false;

  constructor(dest: Destination, name: string) {
    // abort() destroys the body with an error: the upload learns of it through its own listener,
    // which it may not have attached yet (an SFTP temp file still being opened). Without one here,
    // that 'error' would be an uncaught exception.
    this.stream.on('error', () => undefined);
    this.upload = dest.write(name, this.stream);
    this.upload.catch((error: unknown) => {
      this.failure ??= error;
    });
  }

  async write(bytes: Buffer): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (this.aborted) throw new Error('write after abort');
    this.bytes += bytes.length;
    if (!this.stream.write(bytes)) {
      // Room comes back, or the upload failed (then no room ever will: its error is the answer).
      const drained = once(this.stream, 'drain');
      const ended = this.upload.then(() => Promise.reject(new Error('the upload ended before its body did')));
      // The loser of the race settles later with nobody listening: not an unhandled rejection.
      drained.catch(() => undefined);
      ended.catch(() => undefined);
      try {
        await Promise.race([drained, ended]);
      } catch (error) {
        // An upload that gives up leaves its body first (Node destroys it with an AbortError, which
        // fails the wait for room) and reports its own fault a moment later: that fault says what
        // happened (DESTINATION_UNAVAILABLE, NO_SPACE...), the abort does not. The upload settles
        // once its body is gone.
        await this.upload.catch(() => undefined);
        throw this.failure ?? error;
      }
    }
    if (this.failure !== undefined) throw this.failure;
  }

  async finish(): Promise<{ bytes: number }> {
    if (this.failure !== undefined) throw this.failure;
    this.stream.end();
    await this.upload;
    return { bytes: this.bytes };
  }

  async abort(): Promise<void> {
    if (this.aborted) return;
    this.aborted = true;
    // The upload reads an error from its body: S3 aborts the multipart upload, a file tree removes its temp file.
    this.stream.destroy(new Error('the write was abandoned'));
    await this.upload.catch(() => undefined);
  }
}

/**
 * Opens `name` for writing front to back: the local file itself where the destination is a local
 * folder (created `wx` when exclusive, fsynced at finish: what the formats always did), a streamed
 * upload elsewhere. `exclusive` on a remote store is checked with a stat before the upload (the
 * set's lock keeps other writers out; S3 has no exclusive multipart upload).
 */
export async function openAppender(dest: Destination, name: string, options: AppenderOptions = {}): Promise<Appender> {
  const exclusive = options.exclusive ?? true;
  const local = dest.localPath?.(name);
  if (local !== undefined) {
    await fsp.mkdir(path.dirname(local), { recursive: true });
    return openLocalAppender(local, { exclusive, removeOnAbort: true });
  }
  if (exclusive && (await dest.stat(name)) !== undefined) {
    throw new DestinationError('IO_ERROR', `${name} already exists in ${dest.describe()}; it was not overwritten.`);
  }
  return new RemoteAppender(dest, name);
}
