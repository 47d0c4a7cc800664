import * as os from 'node:os';
import * as zlib from 'node:zlib';
import type { Appender } from '../../destination/appender';
import { errorMessage } from '../../errors';
import type { Sealer } from '../sealed';
import type { IndexWriter } from './memberIndex';
import { NO_HEADER } from './memberIndex';

/** Files up to this size are read whole, synchronously, straight into the block being filled. */
export const SMALL_FILE = 1 << 20;
/** Uncompressed bytes per gzip member: a block is compressed once it holds at least this much. */
export const GZIP_BLOCK = 1 << 20;
/** A block buffer holds a block plus the largest small-file member, so a small file never straddles two. */
const BLOCK_CAPACITY = GZIP_BLOCK + SMALL_FILE + 64 * 1024;
/**
 * gzip members compressed at once on libuv's thread pool: one per core, but always leaving a pool
 * thread (4 unless UV_THREADPOOL_SIZE says otherwise) free for file reads and the archive's writes.
 */
const GZIP_PARALLEL = Math.max(1, Math.min(os.availableParallelism(), (Number(process.env.UV_THREADPOOL_SIZE) || 4) - 1));
/** Blocks handed to gzip and not yet written: past this, filling waits (back-pressure). */
const MAX_PENDING = GZIP_PARALLEL + 2;

/** A compression error (as opposed to a write error): the archive is broken, not the destination. */
export class CompressionError extends Error {}

/**
 * The tar stream, cut into blocks of about GZIP_BLOCK bytes, each gzip-compressed as its own gzip
 * member, up to GZIP_PARALLEL at once on the thread pool, and written to `output` in order. A
 * series of members is one valid gzip file (RFC 1952 section 2.2; gzip, GNU tar, bsdtar and zlib
 * read it as one stream); compression, the slowest stage by far, uses several cores. Each block is
 * compressed in one zlib call (an output buffer big enough for all of it). The filler writes into
 * the current block in place (space/commit) and waits on room() while MAX_PENDING blocks are not
 * written yet.
 */
export class BlockGzip {
  private block: Buffer = Buffer.allocUnsafe(BLOCK_CAPACITY);
  private used = 0;
  /** Block buffers whose compression finished, for reuse. */
  private readonly spare: Buffer[] = [];
  private running = 0;
  private readonly queued: (() => void)[] = [];
  private pending = 0;
  private written: Promise<void> = Promise.resolve();
  private roomWaiters: (() => void)[] = [];
  private stopped = false;
  /** Tar offset of the current block's first byte. */
  private base = 0;
  /** Tar offset of the first header starting in the current block (NO_HEADER: none yet). */
  private blockHeader = NO_HEADER;
  /** gzip bytes written so far: where the next member starts. */
  private compressedSize = 0;

  constructor(
    private readonly level: number,
    /** The archive's bytes, in order: a local file (writeAll) or a remote upload (destination/appender.ts). */
    private readonly output: Pick<Appender, 'write'>,
    private readonly onError: (error: unknown) => void,
    /** Seals the compressed stream on its way to the file (an encrypted set). */
    private readonly sealer: Sealer | undefined,
    /** Records where each member and its first tar header start (memberIndex.ts). */
    private readonly index: IndexWriter,
  ) {}

  /**
   * A tar header starts at `at` in the current block (default: the next byte written), so the
   * index can name it as the place to resume after a damaged member.
   */
  markHeader(at = this.used): void {
    if (this.blockHeader === NO_HEADER) this.blockHeader = this.base + at;
  }

  /** Too many blocks are waiting for compression or their write: wait for room() before filling more. */
  get full(): boolean {
    return this.pending >= MAX_PENDING && !this.stopped;
  }

  room(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /**
   * At least `min` contiguous free bytes in the current block (which is sent off first if it has
   * no room for them): [buffer, offset, bytes left before the block is full]. Undefined when no
   * block can hold `min` bytes.
   */
  space(min: number): [Buffer, number, number] | undefined {
    if (this.used + min > BLOCK_CAPACITY) {
      if (min > BLOCK_CAPACITY) return undefined;
      this.dispatch();
    }
    return [this.block, this.used, Math.max(GZIP_BLOCK - this.used, 1)];
  }

  /** `n` bytes were written at the offset space() gave. */
  commit(n: number): void {
    this.used += n;
    if (this.used >= GZIP_BLOCK) this.dispatch();
  }

  write(bytes: Buffer): void {
    let done = 0;
    while (done < bytes.length) {
      const [buffer, at, left] = this.space(1) as [Buffer, number, number];
      const n = Math.min(bytes.length - done, left);
      bytes.copy(buffer, at, done, done + n);
      this.commit(n);
      done += n;
    }
  }

  zeros(count: number): void {
    while (count > 0) {
      const [buffer, at, left] = this.space(1) as [Buffer, number, number];
      const n = Math.min(count, left);
      buffer.fill(0, at, at + n);
      this.commit(n);
      count -= n;
    }
  }

  /**
   * Sends off the last block; the returned promise settles once everything is written, the index's
   * end included (the index is made durable by the sink, after the archive: IndexWriter.commit()).
   */
  finish(): Promise<void> {
    if (this.used > 0) this.dispatch();
    const sealer = this.sealer;
    this.written = this.written.then(async () => {
      if (this.stopped) return;
      if (sealer !== undefined) await this.output.write(sealer.finish());
      await this.index.end(this.compressedSize, this.base);
    });
    return this.written;
  }

  /** Settles once nothing is being compressed or written any more. */
  settled(): Promise<void> {
    return this.written.catch(() => undefined);
  }

  /** After a failure: compress and write nothing more; wake whoever waits for room. */
  stop(): void {
    this.stopped = true;
    this.wake();
  }

  private dispatch(): void {
    const buffer = this.block;
    const input = buffer.subarray(0, this.used);
    const record = { uncompressed: this.base, header: this.blockHeader };
    this.base += this.used;
    this.blockHeader = NO_HEADER;
    this.block = this.spare.pop() ?? Buffer.allocUnsafe(BLOCK_CAPACITY);
    this.used = 0;
    this.pending++;
    const compressed = this.compress(input).finally(() => this.spare.push(buffer));
    compressed.catch(() => undefined);
    this.written = this.written
      .then(async () => {
        const out = await compressed;
        if (this.stopped) return;
        await this.index.add({ compressed: this.compressedSize, ...record });
        this.compressedSize += out.length;
        await this.writeOut(out);
      })
      .finally(() => {
        this.pending--;
        this.wake();
      });
    // Every later link rejects with the same error; the sink keeps the first.
    this.written.catch(this.onError);
  }

  private compress(input: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const start = (): void => {
        if (this.stopped) {
          reject(new CompressionError('the archive was abandoned'));
          this.queued.shift()?.();
          return;
        }
        this.running++;
        // One deflate call per member: Z_FINISH from the first write (zlib.gzip would write with
        // Z_NO_FLUSH, then finish in a second call and concatenate), into an output buffer that
        // holds the whole member (the default 16 KiB means dozens of thread-pool round trips).
        const options = { level: this.level, flush: zlib.constants.Z_FINISH, chunkSize: input.length + (input.length >>> 3) + 1024 };
        zlib.gzip(input, options, (error, out) => {
          this.running--;
          this.queued.shift()?.();
          if (error === null) resolve(out);
          else reject(new CompressionError(errorMessage(error), { cause: error }));
        });
      };
      if (this.running < GZIP_PARALLEL) start();
      else this.queued.push(start);
    });
  }

  private async writeOut(out: Buffer): Promise<void> {
    if (this.sealer === undefined) return this.output.write(out);
    for (const sealed of this.sealer.seal(out)) await this.output.write(sealed);
  }


  private wake(): void {
    if (this.full) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

