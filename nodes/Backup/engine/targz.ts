/**
 * `tar.gz` storage: the bytes of every file a backup stores, as members of ONE streamed
 * `<backup>/data.tar.gz`.
 *
 * Format (version 1 of the on-disk format):
 * - one POSIX ustar archive made by archiver 7 (tar-stream), gzip-compressed (level = the backup's
 *   compression level, default 6) in 1 MiB blocks, each block its own gzip member, several blocks
 *   compressed at once. Consecutive members are one valid gzip file (RFC 1952 2.2): gzip -d,
 *   `tar xzf`, Python's tarfile and zlib read it as one stream. Long or non-ASCII names use pax
 *   `path` records; sizes of 8 GiB and more use base-256 size fields (GNU tar and bsdtar read both).
 * - one regular-file member per file this backup stores, named by its exact relative path (posix,
 *   no leading `./`, backslashes and colons kept as they are), in walk order: the manifest's order
 *   (a file whose content is re-checked before it is stored keeps its place: DataSink.reserve()).
 *   There are no folder, symlink or hard-link members: the manifest describes those, and every
 *   file's metadata; a member header carries the file's permission bits, mtime (whole seconds,
 *   clamped to 1970..2038) and uid/gid for people who run `tar xzf` by hand, but restore takes
 *   mode and mtime from the manifest.
 * - a member's bytes are what the manifest's `size` and `hash` (sha256) describe. The size in the
 *   header is the size of the open file (fstat after open), so a file that grows while it is stored
 *   is stored up to that size. A file that shrinks while it is streamed (or whose read fails
 *   midway) cannot be shortened any more once its header is written: the member is padded with
 *   zeros to keep the archive valid, and the file is reported as a per-file problem (so the
 *   manifest keeps the previous version or leaves the file out). No manifest entry points at such
 *   a member; readers ignore members that the manifest does not ask for.
 * - an archive with no file at all still exists (an empty tar), so verify can check it.
 *
 * Readers stream the archive once, front to back (gunzip -> tar-stream extract), and merge-join its
 * members with the manifest entries that point into it, both in walk order: memory stays flat
 * whatever the size of the archive or the tree.
 */
import archiver from 'archiver';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as os from 'node:os';
import type { ReadStream, Stats, WriteStream } from 'node:fs';
import { constants as C, createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import type { TransformCallback } from 'node:stream';
import { Readable, Transform } from 'node:stream';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import type { CopiedFile } from './copy';
import { BackupError, errnoCode, errorMessage, isDestinationFatal } from './errors';
import { compareWalkOrder } from './paths';
import type { DataSink, StorePlace } from './storage';

export const TAR_FILE = 'data.tar.gz';

// O_NOFOLLOW: a source file swapped for a symlink during the run is not followed (ELOOP).
// O_NONBLOCK: a file swapped for a FIFO cannot hang the open.
const SOURCE_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;
/** Files up to this size are read in one go and appended as a buffer. */
const SMALL_FILE = 1 << 20;
/** Read size for larger files, streamed into their member. */
const CHUNK = 1 << 20;
/** Source files open or buffered at once (prefetched ahead of their turn in the archive). */
const PREFETCH = 8;
const MAX_HEADER_SECONDS = 2 ** 31 - 1;
/** Uncompressed bytes per gzip member. */
const GZIP_BLOCK = 1 << 20;
/** gzip members compressed at once on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise). */
const GZIP_PARALLEL = Math.max(1, Math.min(4, os.availableParallelism()));
/** ustar's 7 octal digits for uid/gid. */
const MAX_HEADER_ID = 0o7777777;

// ---------------------------------------------------------------------------------------------
// Writing

/** Entry data handed to archiver; `memberName` and `callback` are read by ExactNameTar / archiver. */
interface MemberData {
  name: string;
  memberName: string;
  type: 'file';
  mode: number;
  date: Date;
  uid: number;
  gid: number;
  stats?: Stats;
  /** archiver 7 calls it once the entry left its queue (written, or dropped on abort/error). */
  callback: () => void;
}

interface ArchiverModule {
  supports: unknown;
  append(source: unknown, data: MemberData, callback: (error?: Error | null) => void): void;
  finalize(): void;
  on(...args: unknown[]): unknown;
  pipe(...args: unknown[]): unknown;
  unpipe(...args: unknown[]): unknown;
}

// archiver's own tar module (tar-stream + zlib gzip). archiver 7 is the last CommonJS line, so this path is stable.
const ArchiverTar = require('archiver/lib/plugins/tar') as new (options: archiver.ArchiverOptions) => ArchiverModule;

/**
 * archiver rewrites entry names for portability (`\` becomes `/`, a leading `C:`-like prefix and
 * `../` are dropped, a trailing `/` makes a folder). Those are legal Linux file names, so this
 * module, registered as an archiver format, gives tar-stream the exact relative path instead.
 */
class ExactNameTar {
  private readonly inner: ArchiverModule;
  readonly supports: unknown;

  constructor(options: archiver.ArchiverOptions) {
    this.inner = new ArchiverTar(options);
    this.supports = this.inner.supports;
  }

  append(source: unknown, data: MemberData, callback: (error?: Error | null) => void): void {
    data.name = data.memberName;
    data.type = 'file';
    this.inner.append(source, data, callback);
  }

  finalize(): void {
    this.inner.finalize();
  }

  on(...args: unknown[]): unknown {
    return this.inner.on(...args);
  }

  pipe(...args: unknown[]): unknown {
    return this.inner.pipe(...args);
  }

  unpipe(...args: unknown[]): unknown {
    return this.inner.unpipe(...args);
  }
}

const FORMAT = 'n8n-backup-tar';
if (!archiver.isRegisteredFormat(FORMAT)) archiver.registerFormat(FORMAT, ExactNameTar);

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

async function openRegularSource(src: string): Promise<{ handle: FileHandle; stats: Stats }> {
  const handle = await fsp.open(src, SOURCE_FLAGS);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw Object.assign(new Error(`${src} is not a regular file`), { code: 'ENOTREG' });
    return { handle, stats };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/** Reads up to `size` bytes from the start (fewer if the file shrank since fstat). */
async function readUpTo(handle: FileHandle, size: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(size);
  let filled = 0;
  while (filled < size) {
    const { bytesRead } = await handle.read(buffer, filled, size - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

function headerDate(mtimeMs: number): Date {
  const seconds = Math.min(Math.max(Math.floor(mtimeMs / 1000), 0), MAX_HEADER_SECONDS);
  return new Date(seconds * 1000);
}

/**
 * The bytes of one larger file as a stream of exactly `size` bytes (the tar header is written
 * before them). Hashes what it delivers. When the file ends early or a read fails, it delivers
 * zeros up to `size` and remembers the problem, which result() then throws.
 */
class FileMember extends Readable {
  private position = 0;
  private readonly hash = createHash('sha256');
  private problem: Error | undefined;
  private complete = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly size: number,
  ) {
    super({ highWaterMark: CHUNK });
  }

  override _read(): void {
    const want = Math.min(CHUNK, this.size - this.position);
    if (want <= 0) {
      this.finish();
      return;
    }
    if (this.problem !== undefined) {
      this.deliver(Buffer.alloc(want));
      return;
    }
    const buffer = Buffer.allocUnsafe(want);
    this.handle.read(buffer, 0, want, this.position).then(
      ({ bytesRead }) => {
        if (bytesRead > 0) {
          this.deliver(buffer.subarray(0, bytesRead));
          return;
        }
        this.problem = Object.assign(
          new Error(`shrank from ${this.size} to ${this.position} bytes while it was being stored; not stored this time (its archive member is padded and unused)`),
          { code: 'ESHRUNK' },
        );
        this.deliver(Buffer.alloc(want));
      },
      (error: unknown) => {
        this.problem = error instanceof Error ? error : new Error(String(error));
        this.deliver(Buffer.alloc(want));
      },
    );
  }

  private deliver(chunk: Buffer): void {
    if (this.problem === undefined) this.hash.update(chunk);
    this.position += chunk.length;
    this.push(chunk);
    if (this.position >= this.size) this.finish();
  }

  private finish(): void {
    if (this.complete) return;
    this.complete = true;
    this.push(null);
  }

  /** The stored bytes' size and sha256; throws the per-file problem when the member is padding. */
  result(): CopiedFile {
    if (this.problem !== undefined) throw this.problem;
    if (!this.complete) throw Object.assign(new Error('the archive stopped before this file was stored'), { code: 'EINCOMPLETE' });
    return { size: this.size, hash: this.hash.digest('hex') };
  }
}

const gzipAsync = promisify(zlib.gzip);

/**
 * gzip in blocks of GZIP_BLOCK bytes, each its own gzip member, up to GZIP_PARALLEL compressed at
 * once: a series of members is one valid gzip file (RFC 1952 section 2.2; gzip, GNU tar, bsdtar and
 * zlib read it as one stream), and compression, the slowest stage by far, uses several cores.
 * Costs a few hundred bytes per MiB against one member. Back-pressure holds: at most
 * GZIP_PARALLEL blocks are in flight, and the Transform stops taking input while its output waits.
 */
class ParallelGzip extends Transform {
  private block: Buffer[] = [];
  private blockBytes = 0;
  private readonly inFlight: Promise<Buffer>[] = [];
  private emitted = false;

  constructor(private readonly level: number) {
    super({ highWaterMark: GZIP_BLOCK });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.block.push(chunk);
    this.blockBytes += chunk.length;
    if (this.blockBytes < GZIP_BLOCK) {
      callback();
      return;
    }
    this.dispatch();
    this.emit_(GZIP_PARALLEL).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.blockBytes > 0 || !this.emitted) this.dispatch();
    this.emit_(1).then(() => callback(), callback);
  }

  private dispatch(): void {
    const input = this.block.length === 1 ? this.block[0] : Buffer.concat(this.block);
    this.block = [];
    this.blockBytes = 0;
    this.emitted = true;
    const compressed = gzipAsync(input, { level: this.level });
    compressed.catch(() => undefined);
    this.inFlight.push(compressed);
  }

  /** Pushes finished members, in order, until fewer than `below` are in flight. */
  private async emit_(below: number): Promise<void> {
    while (this.inFlight.length >= below) this.push(await (this.inFlight.shift() as Promise<Buffer>));
  }
}

/** First come, first served: grants go in the order acquire() was called. */
class Slots {
  private readonly waiting: (() => void)[] = [];

  constructor(private free: number) {}

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.free++;
  }
}

/**
 * `tar.gz` format: every stored file as a member of one streamed `<backup>/data.tar.gz`.
 *
 * store() and reserve() calls arrive in walk order, several at once. Each claims, at call time, a
 * prefetch slot and its turn: it opens and fstats its file (small files are read whole) while
 * earlier files are still being archived, then waits until the previous claim has appended its
 * member (or given up), appends its own, and resolves once archiver has consumed the member's bytes
 * (so the hash is final). At most PREFETCH files are open or buffered at once; archiver writes one
 * member at a time, in claim order, which is walk order.
 */
export class TarGzSink implements DataSink {
  private failure: BackupError | undefined;
  /** Rejecters of every promise a store() or close() is waiting on, so a failure wakes them all. */
  private readonly waiters = new Set<(error: BackupError) => void>();
  private lastTurn: Promise<void> = Promise.resolve();
  private readonly slots = new Slots(PREFETCH);
  private readonly outputClosed: Promise<void>;

  private readonly gzip: ParallelGzip;

  private constructor(
    private readonly file: string,
    private readonly archive: archiver.Archiver,
    private readonly output: WriteStream,
    level: number,
  ) {
    this.gzip = new ParallelGzip(level);
    this.outputClosed = new Promise((resolve) => output.once('close', () => resolve()));
    const internal = (error: Error): void => this.fail(isDestinationFatal(error) ?? new BackupError('IO_ERROR', `Cannot write ${file}: ${errorMessage(error)}`, { cause: error }));
    output.on('error', (error) => this.fail(destinationError(error, file)));
    archive.on('error', internal);
    this.gzip.on('error', internal);
    archive.on('warning', () => undefined);
    // archiver makes the tar stream; gzip is ours, so it can use several cores.
    archive.pipe(this.gzip).pipe(output);
  }

  static async create(backupDir: string, level: number): Promise<TarGzSink> {
    const file = path.join(backupDir, TAR_FILE);
    const output = createWriteStream(file, { flags: 'wx', mode: 0o644 });
    try {
      await once(output, 'open');
    } catch (error) {
      throw destinationError(error, file);
    }
    const archive = archiver.create(FORMAT, { gzip: false });
    return new TarGzSink(file, archive, output, level);
  }

  async store(rel: string, sourceAbs: string, stats: Stats): Promise<CopiedFile> {
    return this.reserve().store(rel, sourceAbs, stats);
  }

  /**
   * Claims, synchronously, a prefetch slot and the next turn in the archive. Both are granted in
   * the order of the claims, so the earliest unfinished claim always gets a slot and can go on:
   * no wait ever depends on a later claim.
   */
  reserve(): StorePlace {
    const slot = this.slots.acquire();
    const previous = this.lastTurn;
    let passTurn!: () => void;
    this.lastTurn = new Promise<void>((resolve) => {
      passTurn = resolve;
    });
    let taken = false;
    return {
      store: (rel, sourceAbs, stats) => {
        if (taken) return Promise.reject(new Error('this place in the archive was already used'));
        taken = true;
        return this.fill(slot, previous, passTurn, rel, sourceAbs, stats);
      },
      release: () => {
        if (taken) return;
        taken = true;
        void previous.then(passTurn);
        void slot.then(() => this.slots.release());
      },
    };
  }

  private async fill(slot: Promise<void>, previous: Promise<void>, passTurn: () => void, rel: string, sourceAbs: string, stats: Stats): Promise<CopiedFile> {
    let holdsSlot = false;
    let appended = false;
    let handle: FileHandle | undefined;
    let member: FileMember | undefined;
    try {
      await this.guard(slot);
      holdsSlot = true;
      this.throwIfFailed();
      // Source errors (vanished, permission denied, not a regular file) are thrown raw: per-file problems.
      const opened = await openRegularSource(sourceAbs);
      handle = opened.handle;
      let small: { buffer: Buffer; copied: CopiedFile } | undefined;
      if (opened.stats.size <= SMALL_FILE) {
        const buffer = await readUpTo(handle, opened.stats.size);
        small = { buffer, copied: { size: buffer.length, hash: createHash('sha256').update(buffer).digest('hex') } };
        await handle.close();
        handle = undefined;
      } else {
        // The header says fstat's size; FileMember delivers exactly that many bytes.
        member = new FileMember(handle, opened.stats.size);
      }
      await this.guard(previous);
      this.throwIfFailed();
      const consumed = this.append(rel, stats, small?.buffer ?? (member as FileMember), opened.stats);
      appended = true;
      passTurn();
      await this.guard(consumed);
      this.throwIfFailed();
      return small?.copied ?? (member as FileMember).result();
    } finally {
      // A file that never made it into the archive still passes its turn, after its predecessor.
      if (!appended) void previous.then(passTurn);
      member?.destroy();
      if (handle !== undefined) await handle.close().catch(() => undefined);
      if (holdsSlot) this.slots.release();
    }
  }

  /** Finalizes the archive, waits until data.tar.gz is written and fsynced; returns its size. */
  async close(): Promise<number> {
    this.throwIfFailed();
    this.archive.finalize().catch(() => undefined);
    await this.guard(this.outputClosed);
    this.throwIfFailed();
    let handle: FileHandle | undefined;
    try {
      handle = await fsp.open(this.file, 'r');
      await handle.sync();
      return (await handle.stat()).size;
    } catch (error) {
      throw destinationError(error, this.file);
    } finally {
      await handle?.close().catch(() => undefined);
    }
  }

  /** Stops everything; never throws. The caller removes the partial folder. */
  async abort(): Promise<void> {
    this.fail(new BackupError('CANCELLED', 'The archive was abandoned.'));
    try {
      this.archive.abort();
      this.archive.unpipe(this.gzip);
      this.archive.destroy();
    } catch {
      // Already finished or torn down.
    }
    this.gzip.destroy();
    this.output.destroy();
    await this.outputClosed;
  }

  private append(rel: string, stats: Stats, source: Buffer | FileMember, fileStats: Stats): Promise<void> {
    return new Promise<void>((resolve) => {
      const data: MemberData = {
        // archiver insists on a name it can normalise; ExactNameTar puts memberName back.
        name: 'member',
        memberName: rel,
        type: 'file',
        mode: stats.mode & 0o7777,
        date: headerDate(stats.mtimeMs),
        uid: stats.uid <= MAX_HEADER_ID ? stats.uid : 0,
        gid: stats.gid <= MAX_HEADER_ID ? stats.gid : 0,
        callback: () => resolve(),
      };
      // archiver's tar module streams a stream source only when it knows the size (else it buffers it whole).
      if (!Buffer.isBuffer(source)) data.stats = fileStats;
      this.archive.append(source, data as unknown as archiver.EntryData);
    });
  }

  private fail(error: BackupError): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    for (const reject of this.waiters) reject(error);
    this.waiters.clear();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** `promise`, or the sink's failure if that comes first. Leaves nothing behind once settled. */
  private guard<T>(promise: Promise<T>): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.waiters.add(reject);
      promise.then(
        (value) => {
          this.waiters.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          this.waiters.delete(reject);
          reject(error);
        },
      );
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

interface ExtractHeader {
  name: string;
  type: string | null;
  size: number | null;
}

interface ExtractEntry extends AsyncIterable<Buffer> {
  header: ExtractHeader;
  resume(): unknown;
}

interface ExtractStream extends NodeJS.WritableStream {
  destroy(error?: Error): void;
  [Symbol.asyncIterator](): AsyncIterator<ExtractEntry>;
}

// The tar-stream that archiver itself writes with (a dependency of archiver 7), wherever npm put it.
const tarStream = require(require.resolve('tar-stream', { paths: [path.dirname(require.resolve('archiver/package.json'))] })) as {
  extract(options?: { filenameEncoding?: string }): ExtractStream;
};

export type ArchiveDamageCode = 'MISSING' | 'TRUNCATED' | 'CORRUPT' | 'UNREADABLE';

/** The archive itself cannot be read (to the end): missing, truncated, damaged or unreadable. */
export class ArchiveDamage extends Error {
  constructor(
    readonly code: ArchiveDamageCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ArchiveDamage';
  }
}

function classify(error: unknown, label: string): ArchiveDamage {
  if (error instanceof ArchiveDamage) return error;
  const code = errnoCode(error);
  const why = errorMessage(error);
  if (code === 'ENOENT') return new ArchiveDamage('MISSING', `${label} is missing`, { cause: error });
  if (code === 'Z_BUF_ERROR' || /unexpected end/i.test(why)) return new ArchiveDamage('TRUNCATED', `${label} is truncated (${why})`, { cause: error });
  if (code !== undefined && /^E[A-Z]+$/.test(code)) return new ArchiveDamage('UNREADABLE', `${label} cannot be read (${why})`, { cause: error });
  return new ArchiveDamage('CORRUPT', `${label} is damaged (${why})`, { cause: error });
}

/** One member met by seek(); read() must be called before the next seek() to get its bytes. */
export interface TarMember {
  readonly name: string;
  /** tar-stream's type: `file` for a regular file. */
  readonly type: string;
  readonly size: number;
  /**
   * Streams the member's bytes to `onChunk` (awaited: back-pressure). Throws ArchiveDamage when
   * the archive breaks; an error from onChunk is rethrown after the member was drained, so the
   * reader can go on to the next member.
   */
  read(onChunk: (chunk: Buffer) => unknown): Promise<void>;
}

export type SeekResult = { member: TarMember } | { absent: true } | { damage: ArchiveDamage };

/**
 * Reads one data.tar.gz front to back, once: seek() names in walk order, and it skips the members
 * before each name unread. Memory stays at a few stream buffers, whatever the archive holds.
 */
export class TarReader {
  private readonly input: ReadStream;
  private readonly gunzip: zlib.Gunzip;
  private readonly extract: ExtractStream;
  private readonly entries: AsyncIterator<ExtractEntry>;
  private peeked: ExtractEntry | undefined;
  private current: ExtractEntry | undefined;
  private ended = false;
  private damage: ArchiveDamage | undefined;

  /** `label` names the archive in messages, e.g. `<id>/data.tar.gz`. */
  constructor(
    readonly file: string,
    readonly label: string,
  ) {
    this.input = createReadStream(file, { highWaterMark: 1 << 16 });
    this.gunzip = zlib.createGunzip();
    this.extract = tarStream.extract();
    // Created before any data flows, so no entry is missed.
    this.entries = this.extract[Symbol.asyncIterator]();
    this.input.on('error', (error) => this.extract.destroy(error));
    this.gunzip.on('error', (error) => this.extract.destroy(error));
    this.extract.on('error', () => undefined);
    this.input.pipe(this.gunzip).pipe(this.extract);
  }

  /** The member named `name`, if the archive holds it. Names must come in walk order. */
  async seek(name: string): Promise<SeekResult> {
    if (this.damage !== undefined) return { damage: this.damage };
    this.skipCurrent();
    try {
      for (;;) {
        if (this.peeked === undefined) {
          if (this.ended) return { absent: true };
          const next = await this.entries.next();
          if (next.done === true) {
            this.ended = true;
            return { absent: true };
          }
          this.peeked = next.value;
        }
        const order = compareWalkOrder(this.peeked.header.name, name);
        if (order > 0) return { absent: true };
        const entry = this.peeked;
        this.peeked = undefined;
        this.current = entry;
        if (order === 0) return { member: this.member(entry) };
        // A member this pass does not need (a later backup replaced the file, or a padded one).
        this.skipCurrent();
      }
    } catch (error) {
      this.damage = classify(error, this.label);
      return { damage: this.damage };
    }
  }

  /** Reads the rest of the archive, so gzip's checksum and the tar structure are checked to the end. */
  async finish(): Promise<ArchiveDamage | undefined> {
    if (this.damage !== undefined) return this.damage;
    this.skipCurrent();
    try {
      if (this.peeked !== undefined) {
        this.peeked.resume();
        this.peeked = undefined;
      }
      while (!this.ended) {
        const next = await this.entries.next();
        if (next.done === true) this.ended = true;
        else next.value.resume();
      }
    } catch (error) {
      this.damage = classify(error, this.label);
    }
    return this.damage;
  }

  close(): void {
    this.input.destroy();
    this.gunzip.destroy();
    this.extract.destroy();
  }

  private skipCurrent(): void {
    this.current?.resume();
    this.current = undefined;
  }

  private member(entry: ExtractEntry): TarMember {
    return {
      name: entry.header.name,
      type: entry.header.type ?? 'file',
      size: entry.header.size ?? 0,
      read: async (onChunk) => {
        let sinkError: { error: unknown } | undefined;
        try {
          for await (const chunk of entry) {
            if (sinkError !== undefined) continue;
            try {
              await onChunk(chunk);
            } catch (error) {
              sinkError = { error };
            }
          }
        } catch (error) {
          this.damage = classify(error, this.label);
          throw this.damage;
        } finally {
          if (this.current === entry) this.current = undefined;
        }
        if (sinkError !== undefined) throw sinkError.error;
      },
    };
  }
}
