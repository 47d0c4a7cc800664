/**
 * `tar.gz` storage: the bytes of every file a backup stores, as members of ONE streamed
 * `<backup>/data.tar.gz`.
 *
 * Format (version 1 of the on-disk format; the member index beside it is new, see tarIndex.ts):
 * - one POSIX ustar archive whose headers are byte for byte what tar-stream 3 writes for the same
 *   entries (this module writes them itself; test/engine/tar-headers.test.ts compares), gzip-compressed (level = the backup's compression level, default 6) in
 *   blocks of about 1 MiB, each block its own gzip member, several blocks compressed at once.
 *   Consecutive members are one valid gzip file (RFC 1952 2.2): gzip -d, `tar xzf`, Python's
 *   tarfile and zlib read it as one stream. Long or non-ASCII names use pax
 *   `path` records; sizes of 8 GiB and more use base-256 size fields (GNU tar and bsdtar read both).
 * - one regular-file member per file this backup stores, named by its exact relative path (posix,
 *   no leading `./`, backslashes and colons kept as they are), in walk order: the manifest's order
 *   (a file whose content is re-checked before it is stored keeps its place: DataSink.reserve()).
 *   Between them, in the same order, a member without data for every folder (type 5) and symlink
 *   (type 2, the link text as link name), and a hard-link member (type 1, link name: the group's
 *   first name) for each further name of a hard-link group whose first name's bytes are in this
 *   archive, so `tar xzf` of a full backup gives the whole tree. Headers carry permission bits,
 *   mtime (whole seconds, clamped to 1970..2038) and uid/gid for people who extract by hand;
 *   restore takes everything but file bytes from the manifest and reads regular-file members only.
 * - a member's bytes are what the manifest's `size` and `hash` (sha256) describe. The size in the
 *   header is the size of the open file (fstat after open), so a file that grows while it is stored
 *   is stored up to that size. A file that shrinks while it is streamed (or whose read fails
 *   midway) cannot be shortened any more once its header is written: the member is padded with
 *   zeros to keep the archive valid, and the file is reported as a per-file problem (so the
 *   manifest keeps the previous version or leaves the file out). No manifest entry points at such
 *   a member; readers ignore members that the manifest does not ask for.
 * - an archive with no file at all still exists (an empty tar), so verify can check it.
 *
 * - beside it, `data.tar.idx` (tarIndex.ts): where each gzip member and its first tar header
 *   start, so readers resume after a damaged member at a known place.
 *
 * Readers (tarReader.ts over memberReader.ts) read the archive once, front to back, gzip member by
 * gzip member, and merge-join its members with the manifest entries that point into it, both in
 * walk order: memory stays flat whatever the size of the archive or the tree. A damaged member
 * costs the files whose bytes lie in it, not the rest of the archive.
 */
import { createHash, hash as oneShotHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { closeSync, constants as C, fstatSync, openSync, promises as fsp, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { CopiedFile } from './copy';
import { writeAll } from './durable';
import { BackupError, destinationError, errorMessage } from './errors';
import { isSameFile, swappedSource } from './fileJobs';
import type { EntryStats } from './scan';
import type { SetKey } from './sealed';
import { SEALED_SUFFIX, Sealer } from './sealed';
import type { DataSink, StorePlace } from './storage';
import { IndexWriter, NO_HEADER } from './tarIndex';

export const TAR_FILE = 'data.tar.gz';

/** Where a backup's archive is: `data.tar.gz`, or `data.tar.gz.enc` in an encrypted set. */
export function archivePath(backupDir: string, key: SetKey | undefined): string {
  return path.join(backupDir, key === undefined ? TAR_FILE : `${TAR_FILE}${SEALED_SUFFIX}`);
}

/** What a sealed archive is bound to: its backup and its name. */
const sealLabel = (backupId: string): string => `${backupId}/${TAR_FILE}`;

// O_NOFOLLOW: a source file swapped for a symlink during the run is not followed (ELOOP).
// O_NONBLOCK: a file swapped for a FIFO cannot hang the open.
const SOURCE_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;
/** Files up to this size are read whole, synchronously, straight into the block being filled. */
const SMALL_FILE = 1 << 20;
const MAX_HEADER_SECONDS = 2 ** 31 - 1;
/** ustar's 7 octal digits for uid/gid. */
const MAX_HEADER_ID = 0o7777777;
const TAR_BLOCK = 512;
/** Two zero blocks end a tar archive. */
const END_OF_TAR = Buffer.alloc(2 * TAR_BLOCK);
/** Uncompressed bytes per gzip member: a block is compressed once it holds at least this much. */
const GZIP_BLOCK = 1 << 20;
/** A block buffer holds a block plus the largest small-file member, so a small file never straddles two. */
const BLOCK_CAPACITY = GZIP_BLOCK + SMALL_FILE + 64 * 1024;
/**
 * gzip members compressed at once on libuv's thread pool: one per core, but always leaving a pool
 * thread (4 unless UV_THREADPOOL_SIZE says otherwise) free for file reads and the archive's writes.
 */
const GZIP_PARALLEL = Math.max(1, Math.min(os.availableParallelism(), (Number(process.env.UV_THREADPOOL_SIZE) || 4) - 1));
/** Blocks handed to gzip and not yet written: past this, filling waits (back-pressure). */
const MAX_PENDING = GZIP_PARALLEL + 2;
/** Small files read in a row before the event loop gets a turn. */
const YIELD_EVERY = 256;

// ---------------------------------------------------------------------------------------------
// Writing

function notRegular(src: string): Error {
  return Object.assign(new Error(`${src} is not a regular file`), { code: 'ENOTREG' });
}

async function openRegularSource(src: string, seen: EntryStats): Promise<{ handle: FileHandle; stats: Stats }> {
  const handle = await fsp.open(src, SOURCE_FLAGS);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw notRegular(src);
    if (!isSameFile(handle.fd, src, seen, stats)) throw swappedSource();
    return { handle, stats };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

const sha256 = (data: Buffer): string => (typeof oneShotHash === 'function' ? oneShotHash('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex'));

/** `size` rounded up to whole 512-byte tar blocks. */
const padded = (size: number): number => size + ((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK);

// Tar headers, byte for byte what tar-stream 3 (which archiver 7 wrote with in earlier versions of
// this module) writes for the same entries, so archives of every version are alike: ustar, a pax `path` record when the
// name is not ASCII or does not fit ustar's name/prefix split, base-256 sizes past 11 octal digits.

const OCTAL_ZEROS = '0000000000000000000';
const OCTAL_SEVENS = '7777777777777777777';

/** tar-stream's encodeOct: `digits` octal digits and a space; all sevens when it does not fit. */
function octal(value: number, digits: number): string {
  const text = value.toString(8);
  if (text.length > digits) return `${OCTAL_SEVENS.slice(0, digits)} `;
  return `${OCTAL_ZEROS.slice(0, digits - text.length)}${text} `;
}

/** What a member header says besides name and size. */
interface MemberMeta {
  mode: number;
  uid: number;
  gid: number;
  /** Whole seconds. */
  mtime: number;
}

/** What of a file's stats a member header says. */
type HeaderStats = Pick<EntryStats, 'mode' | 'uid' | 'gid' | 'mtimeMs'>;

function memberMeta(stats: HeaderStats): MemberMeta {
  return {
    // tar-stream writes 0644 for a mode of 0.
    mode: stats.mode & 0o7777 || 0o644,
    uid: stats.uid <= MAX_HEADER_ID ? stats.uid : 0,
    gid: stats.gid <= MAX_HEADER_ID ? stats.gid : 0,
    // Clamped to 1970..2038.
    mtime: Math.min(Math.max(Math.floor(stats.mtimeMs / 1000), 0), MAX_HEADER_SECONDS),
  };
}

/** The header(s) one member needs: a ustar name/prefix split, or a pax `path` record. */
interface HeaderPlan {
  ustar?: [name: string, prefix: string];
  pax?: Buffer;
  /** Hard link or symlink: the link name (in the ustar field, or as a pax `linkpath`). */
  linkname?: string;
  /** Bytes of header before the member's data. */
  length: number;
}

/** tar-stream's split: leading folders move to the prefix until the name fits 100 bytes. */
function ustarName(rel: string): [string, string] | undefined {
  if (Buffer.byteLength(rel) !== rel.length) return undefined; // not ASCII
  let name = rel;
  let prefix = '';
  while (name.length > 100) {
    const i = name.indexOf('/');
    if (i === -1) return undefined;
    prefix += prefix ? `/${name.slice(0, i)}` : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (prefix.length > 155) return undefined;
  return [name, prefix];
}

/** A pax record, `<length> <text>`, its length counting itself (tar-stream's addLength). */
function paxRecord(text: string): string {
  const len = Buffer.byteLength(text);
  let digits = Math.floor(Math.log(len) / Math.log(10)) + 1;
  if (len + digits >= Math.pow(10, digits)) digits++;
  return `${len + digits}${text}`;
}

function planHeader(rel: string, linkname?: string): HeaderPlan {
  const ustar = ustarName(rel);
  // tar-stream: a link name over 100 bytes (or a name that does not fit ustar) takes the pax form, `path` and `linkpath`.
  if (ustar !== undefined && (linkname === undefined || Buffer.byteLength(linkname) <= 100)) return { ustar, linkname, length: TAR_BLOCK };
  const pax = Buffer.from(paxRecord(` path=${rel}\n`) + (linkname ? paxRecord(` linkpath=${linkname}\n`) : ''));
  return { pax, linkname, length: 2 * TAR_BLOCK + padded(pax.length) };
}

/** ustar type flags the archive uses: a regular file, a hard link, a symlink, a folder, a pax header. */
const TYPE_FILE = 0;
const TYPE_LINK = 1;
const TYPE_SYMLINK = 2;
const TYPE_DIR = 5;
const TYPE_PAX = 72;

/** One 512-byte ustar header at `buffer[at]`. */
function writeUstar(buffer: Buffer, at: number, name: string, prefix: string, meta: MemberMeta, size: number, typeflag: number, linkname?: string): void {
  buffer.fill(0, at, at + TAR_BLOCK);
  buffer.write(name, at, 'latin1');
  buffer.write(octal(meta.mode, 6), at + 100, 'latin1');
  buffer.write(octal(meta.uid, 6), at + 108, 'latin1');
  buffer.write(octal(meta.gid, 6), at + 116, 'latin1');
  if (size.toString(8).length > 11) {
    // base-256 (GNU), as tar-stream does for 8 GiB and more
    buffer[at + 124] = 0x80;
    let num = size;
    for (let i = 11; i > 0; i--) {
      buffer[at + 124 + i] = num & 0xff;
      num = Math.floor(num / 0x100);
    }
  } else {
    buffer.write(octal(size, 11), at + 124, 'latin1');
  }
  buffer.write(octal(meta.mtime, 11), at + 136, 'latin1');
  buffer[at + 156] = 0x30 + typeflag;
  if (linkname) buffer.write(linkname, at + 157, 100, 'utf8');
  buffer.write('ustar\u000000', at + 257, 'latin1');
  buffer.write(octal(0, 6), at + 329, 'latin1');
  buffer.write(octal(0, 6), at + 337, 'latin1');
  if (prefix) buffer.write(prefix, at + 345, 'latin1');
  // The checksum counts its own field as spaces.
  let sum = 8 * 0x20;
  for (let i = at; i < at + 148; i++) sum += buffer[i];
  for (let i = at + 156; i < at + TAR_BLOCK; i++) sum += buffer[i];
  buffer.write(octal(sum, 6), at + 148, 'latin1');
}

/** Writes `plan.length` bytes of header for a member of `size` bytes (type `typeflag`) at `buffer[at]`. */
function writeHeader(buffer: Buffer, at: number, plan: HeaderPlan, meta: MemberMeta, size: number, typeflag = TYPE_FILE): void {
  if (plan.ustar !== undefined) {
    writeUstar(buffer, at, plan.ustar[0], plan.ustar[1], meta, size, typeflag, plan.linkname);
    return;
  }
  // tar-stream's pax form: a `PaxHeader` header, the record, padding, then the member's header, also
  // named `PaxHeader` (both with the link name `PaxHeader` when the member has a link name).
  const pax = plan.pax as Buffer;
  const linkname = plan.linkname ? 'PaxHeader' : undefined;
  writeUstar(buffer, at, 'PaxHeader', '', meta, pax.length, TYPE_PAX, linkname);
  pax.copy(buffer, at + TAR_BLOCK);
  const next = at + TAR_BLOCK + padded(pax.length);
  buffer.fill(0, at + TAR_BLOCK + pax.length, next);
  writeUstar(buffer, next, 'PaxHeader', '', meta, size, typeflag, linkname);
}

/** The header bytes (ustar, or pax and ustar) that precede a member of `size` bytes named `rel`. */
export function tarHeader(rel: string, stats: HeaderStats, size: number): Buffer {
  const plan = planHeader(rel);
  const header = Buffer.allocUnsafe(plan.length);
  writeHeader(header, 0, plan, memberMeta(stats), size);
  return header;
}

/**
 * A member without data: a folder, a symlink (`linkname`: its text) or a hard link (`linkname`:
 * the path of the first name of the inode, a member earlier in the same archive).
 */
export interface TreeMember {
  type: 'dir' | 'symlink' | 'link';
  linkname?: string;
}

const TREE_TYPES = { dir: TYPE_DIR, symlink: TYPE_SYMLINK, link: TYPE_LINK } as const;

/** The header bytes of a folder, symlink or hard-link member, as tar-stream writes them. */
export function treeHeader(rel: string, stats: HeaderStats, member: TreeMember): Buffer {
  const plan = planHeader(rel, member.linkname);
  const header = Buffer.allocUnsafe(plan.length);
  writeHeader(header, 0, plan, treeMeta(stats, member.type), 0, TREE_TYPES[member.type]);
  return header;
}

/** tar-stream writes 0755 for a folder of mode 0 (and 0644 for anything else). */
function treeMeta(stats: HeaderStats, type: TreeMember['type']): MemberMeta {
  const meta = memberMeta(stats);
  return type === 'dir' && (stats.mode & 0o7777) === 0 ? { ...meta, mode: 0o755 } : meta;
}

/** A compression error (as opposed to a write error): the archive is broken, not the destination. */
class CompressionError extends Error {}

/**
 * The tar stream, cut into blocks of about GZIP_BLOCK bytes, each gzip-compressed as its own gzip
 * member, up to GZIP_PARALLEL at once on the thread pool, and written to `output` in order. A
 * series of members is one valid gzip file (RFC 1952 section 2.2; gzip, GNU tar, bsdtar and zlib
 * read it as one stream); compression, the slowest stage by far, uses several cores. Each block is
 * compressed in one zlib call (an output buffer big enough for all of it). The filler writes into
 * the current block in place (space/commit) and waits on room() while MAX_PENDING blocks are not
 * written yet.
 */
class BlockGzip {
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
    private readonly output: FileHandle,
    private readonly onError: (error: unknown) => void,
    /** Seals the compressed stream on its way to the file (an encrypted set). */
    private readonly sealer: Sealer | undefined,
    /** Records where each member and its first tar header start (tarIndex.ts). */
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

  /** Sends off the last block; the returned promise settles once everything (index included) is written. */
  finish(): Promise<void> {
    if (this.used > 0) this.dispatch();
    const sealer = this.sealer;
    this.written = this.written.then(async () => {
      if (this.stopped) return;
      if (sealer !== undefined) await writeAll(this.output, sealer.finish());
      await this.index.finish(this.compressedSize, this.base);
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
    if (this.sealer === undefined) return writeAll(this.output, out);
    for (const sealed of this.sealer.seal(out)) await writeAll(this.output, sealed);
  }


  private wake(): void {
    if (this.full) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

const OPEN = 0;
const FILLED = 1;
const DONE = 2;

/** One place in the archive, claimed in walk order by store() or reserve(). */
interface Claim {
  state: typeof OPEN | typeof FILLED | typeof DONE;
  rel: string;
  source: string;
  stats: EntryStats | undefined;
  /** A folder, symlink or hard link: a header without data (nothing to read, nothing to resolve). */
  tree?: TreeMember;
  resolve: (copied: CopiedFile) => void;
  reject: (error: unknown) => void;
}

const nothing = (): void => undefined;

/**
 * `tar.gz` format: every stored file as a member of one streamed `<backup>/data.tar.gz`.
 *
 * store() and reserve() calls arrive in walk order, several at once. Each claims, at call time,
 * its place in a queue; one pump appends the members in queue order, one at a time, and waits at a
 * place that is reserved but not filled yet (released places are skipped). A small file (up to
 * SMALL_FILE) is read synchronously, straight into the block being filled (open, fstat, read,
 * close: no thread-pool round trip per file), and its store() resolves as soon as its bytes are in
 * the block (its hash is final). A larger file is streamed in with async reads, chunk by chunk, a
 * block at a time. Compression runs on other threads meanwhile (BlockGzip).
 */
export class TarGzSink implements DataSink {
  private failure: BackupError | undefined;
  /** Rejecters of every promise close() is waiting on, so a failure wakes them all. */
  private readonly waiters = new Set<(error: BackupError) => void>();
  private claims: (Claim | undefined)[] = [];
  private head = 0;
  private pumping = false;
  private closing = false;
  private drained: (() => void) | undefined;
  private outputClosed: Promise<void> | undefined;
  private closed: Promise<number> | undefined;
  private readonly gzip: BlockGzip;

  private constructor(
    private readonly file: string,
    private readonly output: FileHandle,
    level: number,
    sealer: Sealer | undefined,
    private readonly index: IndexWriter,
  ) {
    this.gzip = new BlockGzip(
      level,
      output,
      (error) => {
        if (error instanceof CompressionError) this.fail(new BackupError('IO_ERROR', `Cannot write ${file}: ${errorMessage(error)}`, { cause: error }));
        else this.fail(destinationError(error, file));
      },
      sealer,
      index,
    );
  }

  /** `key` seals the archive (data.tar.gz.enc), bound to the backup id `backupId`. */
  static async create(backupDir: string, level: number, key?: SetKey, backupId = ''): Promise<TarGzSink> {
    const file = archivePath(backupDir, key);
    const sealer = key === undefined ? undefined : new Sealer(key, sealLabel(backupId));
    let output: FileHandle | undefined;
    try {
      output = await fsp.open(file, 'wx', 0o644);
      if (sealer !== undefined) await output.writeFile(sealer.header);
      const index = await IndexWriter.create(backupDir, key, backupId);
      return new TarGzSink(file, output, level, sealer, index);
    } catch (error) {
      await output?.close().catch(() => undefined);
      throw destinationError(error, file);
    }
  }

  async store(rel: string, sourceAbs: string, stats: EntryStats): Promise<CopiedFile> {
    return this.reserve().store(rel, sourceAbs, stats);
  }

  /**
   * Claims, synchronously, the next place in the archive. Places are filled in the order of the
   * claims, so the earliest unfinished claim always goes on: no wait ever depends on a later claim.
   */
  reserve(): StorePlace {
    const claim: Claim = { state: OPEN, rel: '', source: '', stats: undefined, resolve: nothing, reject: nothing };
    this.claims.push(claim);
    return {
      store: (rel, sourceAbs, stats) => {
        if (claim.state !== OPEN) return Promise.reject(new Error('this place in the archive was already used'));
        if (this.failure !== undefined) {
          claim.state = DONE;
          return Promise.reject(this.failure);
        }
        if (this.closing) {
          claim.state = DONE;
          return Promise.reject(new Error('the archive was already closed'));
        }
        const stored = new Promise<CopiedFile>((resolve, reject) => {
          claim.resolve = resolve;
          claim.reject = reject;
        });
        claim.rel = rel;
        claim.source = sourceAbs;
        claim.stats = stats;
        claim.state = FILLED;
        this.kick();
        return stored;
      },
      release: () => {
        if (claim.state !== OPEN) return;
        claim.state = DONE;
        this.kick();
      },
      link: (rel, firstName, stats) => this.fillTree(claim, rel, stats, { type: 'link', linkname: firstName }),
    };
  }

  /** A folder or symlink, in walk order: a member without data. */
  tree(rel: string, stats: EntryStats, member: TreeMember): void {
    const claim: Claim = { state: OPEN, rel: '', source: '', stats: undefined, resolve: nothing, reject: nothing };
    this.claims.push(claim);
    this.fillTree(claim, rel, stats, member);
  }

  private fillTree(claim: Claim, rel: string, stats: EntryStats, member: TreeMember): void {
    if (claim.state !== OPEN) return;
    if (this.failure !== undefined || this.closing) {
      claim.state = DONE;
      return;
    }
    claim.rel = rel;
    claim.stats = stats;
    claim.tree = member;
    claim.state = FILLED;
    this.kick();
  }

  /** Finalizes the archive, waits until data.tar.gz is written and fsynced; returns its size. */
  close(): Promise<number> {
    this.closed ??= this.finishArchive();
    return this.closed;
  }

  private async finishArchive(): Promise<number> {
    this.throwIfFailed();
    this.closing = true;
    const drained = new Promise<void>((resolve) => {
      this.drained = resolve;
    });
    this.kick();
    await this.guard(drained);
    this.throwIfFailed();
    this.gzip.write(END_OF_TAR);
    await this.guard(this.gzip.finish()).catch((error: unknown) => {
      throw this.failure ?? destinationError(error, this.file);
    });
    this.throwIfFailed();
    try {
      await this.output.sync();
      const size = (await this.output.stat()).size;
      await this.closeOutput(true);
      return size;
    } catch (error) {
      throw destinationError(error, this.file);
    }
  }

  /** Stops everything; never throws. The caller removes the partial folder. */
  async abort(): Promise<void> {
    this.fail(new BackupError('CANCELLED', 'The archive was abandoned.'));
    await this.gzip.settled();
    await this.closeOutput(false).catch(() => undefined);
    await this.index.close().catch(() => undefined);
  }

  private closeOutput(strict: boolean): Promise<void> {
    if (this.outputClosed === undefined) {
      this.outputClosed = this.output.close();
      if (!strict) this.outputClosed = this.outputClosed.catch(() => undefined);
    }
    return this.outputClosed;
  }

  private kick(): void {
    if (!this.pumping) void this.pump();
  }

  /** Appends filled places in claim order until it reaches a place that is not filled yet. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      let inARow = 0;
      while (this.failure === undefined) {
        const claim = this.claims[this.head];
        if (claim === undefined) break;
        if (claim.state === OPEN) {
          if (!this.closing) break;
          // Closing: a place nobody filled is given up.
          claim.state = DONE;
        }
        this.claims[this.head++] = undefined;
        if (this.head >= 1024 && this.head * 2 >= this.claims.length) {
          this.claims = this.claims.slice(this.head);
          this.head = 0;
        }
        if (claim.state !== FILLED) continue;
        claim.state = DONE;
        if (this.gzip.full || ++inARow >= YIELD_EVERY) {
          inARow = 0;
          await (this.gzip.full ? this.gzip.room() : new Promise<void>((resolve) => setImmediate(resolve)));
          if (this.failure !== undefined) {
            claim.reject(this.failure);
            break;
          }
        }
        if (claim.tree !== undefined) this.storeTree(claim, claim.tree);
        else if (!this.storeSmall(claim)) await this.storeLarge(claim);
      }
      if (this.closing && this.failure === undefined && this.head >= this.claims.length) this.drained?.();
    } catch (error) {
      this.fail(new BackupError('IO_ERROR', `Cannot write ${this.file}: ${errorMessage(error)}`, { cause: error }));
    } finally {
      this.pumping = false;
    }
  }

  /** Appends the header of a folder, symlink or hard link (no data), straight into the block. */
  private storeTree(claim: Claim, member: TreeMember): void {
    const header = treeHeader(claim.rel, claim.stats as EntryStats, member);
    const place = this.gzip.space(header.length);
    if (place === undefined) {
      this.gzip.markHeader();
      this.gzip.write(header);
      return;
    }
    header.copy(place[0], place[1]);
    this.gzip.markHeader(place[1]);
    this.gzip.commit(header.length);
  }

  /**
   * Appends a file of up to SMALL_FILE bytes, read synchronously and whole into the block, header
   * first (its size is what was read). Source errors reject the claim raw. Returns false, having
   * done nothing, for a larger file.
   */
  private storeSmall(claim: Claim): boolean {
    const stats = claim.stats as EntryStats;
    if (stats.size > SMALL_FILE) return false;
    let fd: number | undefined;
    try {
      fd = openSync(claim.source, SOURCE_FLAGS);
      const opened = fstatSync(fd);
      if (!opened.isFile()) throw notRegular(claim.source);
      if (!isSameFile(fd, claim.source, stats, opened)) throw swappedSource();
      const size = opened.size;
      if (size > SMALL_FILE) return false;
      const plan = planHeader(claim.rel);
      const total = plan.length + padded(size);
      // Straight into the block; a member too big for any block (a huge pax name) goes through a buffer of its own.
      const place = this.gzip.space(total);
      const buffer = place?.[0] ?? Buffer.allocUnsafe(total);
      const at = place?.[1] ?? 0;
      if (place !== undefined) this.gzip.markHeader(at);
      const dataAt = at + plan.length;
      let read = 0;
      while (read < size) {
        const n = readSync(fd, buffer, dataAt + read, size - read, read);
        if (n === 0) break; // shrank since fstat: stored as read
        read += n;
      }
      const copied: CopiedFile = { size: read, hash: sha256(buffer.subarray(dataAt, dataAt + read)) };
      writeHeader(buffer, at, plan, memberMeta(stats), read);
      const end = dataAt + padded(read);
      buffer.fill(0, dataAt + read, end);
      if (place !== undefined) this.gzip.commit(end - at);
      else {
        this.gzip.markHeader();
        this.gzip.write(buffer.subarray(0, end));
      }
      claim.resolve(copied);
    } catch (error) {
      // Source errors (vanished, permission denied, not a regular file) are per-file problems.
      claim.reject(error);
    } finally {
      if (fd !== undefined) {
        try {
          closeSync(fd);
        } catch {
          // Read-only descriptor: nothing was lost.
        }
      }
    }
    return true;
  }

  /**
   * Streams a larger file in, straight into the blocks. The header says fstat's size and exactly
   * that many bytes follow: when the file ends early or a read fails, zeros make up the rest and
   * the claim is rejected with the problem (the member stays, padded and unused).
   */
  private async storeLarge(claim: Claim): Promise<void> {
    let handle: FileHandle | undefined;
    try {
      let opened: { handle: FileHandle; stats: Stats };
      try {
        opened = await openRegularSource(claim.source, claim.stats as EntryStats);
      } catch (error) {
        claim.reject(error);
        return;
      }
      handle = opened.handle;
      if (this.failure !== undefined) {
        claim.reject(this.failure);
        return;
      }
      const size = opened.stats.size;
      const header = tarHeader(claim.rel, claim.stats as EntryStats, size);
      this.gzip.markHeader();
      this.gzip.write(header);
      const hash = createHash('sha256');
      let problem: Error | undefined;
      let position = 0;
      while (position < size) {
        if (this.gzip.full) await this.gzip.room();
        if (this.failure !== undefined) {
          claim.reject(this.failure);
          return;
        }
        const [buffer, at, left] = this.gzip.space(1) as [Buffer, number, number];
        let n = Math.min(size - position, left);
        if (problem === undefined) {
          try {
            const { bytesRead } = await handle.read(buffer, at, n, position);
            if (bytesRead > 0) {
              n = bytesRead;
              hash.update(buffer.subarray(at, at + n));
            } else {
              problem = Object.assign(
                new Error(`shrank from ${size} to ${position} bytes while it was being stored; not stored this time (its archive member is padded and unused)`),
                { code: 'ESHRUNK' },
              );
            }
          } catch (error) {
            problem = error instanceof Error ? error : new Error(String(error));
          }
          if (this.failure !== undefined) {
            claim.reject(this.failure);
            return;
          }
        }
        if (problem !== undefined) buffer.fill(0, at, at + n);
        this.gzip.commit(n);
        position += n;
      }
      this.gzip.zeros(padded(size) - size);
      if (problem !== undefined) claim.reject(problem);
      else claim.resolve({ size, hash: hash.digest('hex') });
    } catch (error) {
      // Not a source problem (those are handled above): the pump fails the archive.
      claim.reject(error);
      throw error;
    } finally {
      if (handle !== undefined) await handle.close().catch(() => undefined);
    }
  }

  private fail(error: BackupError): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.gzip.stop();
    for (const reject of this.waiters) reject(error);
    this.waiters.clear();
    // Filled places still waiting for their turn fail with the archive.
    for (let i = this.head; i < this.claims.length; i++) {
      const claim = this.claims[i];
      if (claim?.state !== FILLED) continue;
      claim.state = DONE;
      claim.reject(error);
    }
    this.claims = [];
    this.head = 0;
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

// Reading: tarReader.ts (tar members, resynchronising after damage) over memberReader.ts (gzip members).
export { ArchiveDamage } from './archiveDamage';
export type { ArchiveDamageCode } from './archiveDamage';
export { TarReader } from './tarReader';
export type { SeekResult, TarMember } from './tarReader';
