/**
 * `tar.gz` storage: the bytes of every file a backup stores, as members of ONE streamed
 * `<backup>/data.tar.gz`.
 *
 * Format (version 1 of the on-disk format; the member index beside it is new, see memberIndex.ts):
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
 * - beside it, `data.tar.idx` (memberIndex.ts): where each gzip member and its first tar header
 *   start, so readers resume after a damaged member at a known place.
 *
 * Readers (reader.ts over memberReader.ts) read the archive once, front to back, gzip member by
 * gzip member, and merge-join its members with the manifest entries that point into it, both in
 * walk order: memory stays flat whatever the size of the archive or the tree. A damaged member
 * costs the files whose bytes lie in it, not the rest of the archive.
 */
import { createHash, hash as oneShotHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { closeSync, constants as C, fstatSync, openSync, promises as fsp, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import type { Appender } from '../../destination/appender';
import { openAppender, openLocalAppender } from '../../destination/appender';
import type { Destination } from '../../destination/types';
import type { CopiedFile } from '../../store/copy';
import { DestinationError } from '../../destination/faults';
import { BackupError, destinationError, errorMessage } from '../../errors';
import { isSameFile, swappedSource } from '../../store/fileJobs';
import type { EntryStats } from '../../scan/walk';
import type { SetKey } from '../sealed';
import { SEALED_SUFFIX, Sealer } from '../sealed';
import type { DataSink, StorePlace } from '../../store/sink';
import { BlockGzip, CompressionError, SMALL_FILE } from './blockGzip';
import type { TreeMember } from './header';
import { END_OF_TAR, memberMeta, padded, planHeader, tarHeader, treeHeader, writeHeader } from './header';
import { IndexWriter } from './memberIndex';

export const TAR_FILE = 'data.tar.gz';

/** Where a backup's archive is: `data.tar.gz`, or `data.tar.gz.enc` in an encrypted set. */
export function archivePath(backupDir: string, key: SetKey | undefined): string {
  return path.join(backupDir, key === undefined ? TAR_FILE : `${TAR_FILE}${SEALED_SUFFIX}`);
}

/** The archive's object name in the backup `backupPrefix` (`<set>/<id>`) of a destination. */
export function archiveName(backupPrefix: string, key: SetKey | undefined): string {
  return `${backupPrefix}/${key === undefined ? TAR_FILE : `${TAR_FILE}${SEALED_SUFFIX}`}`;
}

/** What a sealed archive is bound to: its backup and its name. */
const sealLabel = (backupId: string): string => `${backupId}/${TAR_FILE}`;

// O_NOFOLLOW: a source file swapped for a symlink during the run is not followed (ELOOP).
// O_NONBLOCK: a file swapped for a FIFO cannot hang the open.
const SOURCE_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;
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

/** A fault of the store: a remote one keeps its own code and hint (NO_SPACE, DESTINATION_UNAVAILABLE...). */
const writeFault = (error: unknown, where: string): BackupError => (error instanceof DestinationError ? error : destinationError(error, where));

const sha256 = (data: Buffer): string => (typeof oneShotHash === 'function' ? oneShotHash('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex'));

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
  private outputClosed: Promise<number> | undefined;
  private closed: Promise<number> | undefined;
  private readonly gzip: BlockGzip;

  private constructor(
    private readonly file: string,
    private readonly output: Appender,
    level: number,
    sealer: Sealer | undefined,
    private readonly index: IndexWriter,
  ) {
    this.gzip = new BlockGzip(
      level,
      output,
      (error) => {
        if (error instanceof CompressionError) this.fail(new BackupError('IO_ERROR', `Cannot write ${file}: ${errorMessage(error)}`, { cause: error }));
        else this.fail(writeFault(error, file));
      },
      sealer,
      index,
    );
  }

  /**
   * Writes `<backupDir>/data.tar.gz` and its index, created new (`wx`) and fsynced at close. `key`
   * seals the archive (data.tar.gz.enc), bound to the backup id `backupId`.
   */
  static async create(backupDir: string, level: number, key?: SetKey, backupId = ''): Promise<TarGzSink> {
    const file = archivePath(backupDir, key);
    return TarGzSink.start(file, level, key, backupId, () => openLocalAppender(file), () => IndexWriter.create(backupDir, key, backupId));
  }

  /**
   * Writes the archive and its index into the backup `backupPrefix` (`<set>/<id>`) of a
   * destination: a local folder as create() does, elsewhere two streamed uploads (S3: one multipart
   * upload each, memory bounded by part size x concurrency; nothing is listed before close()).
   */
  static async createOn(dest: Destination, backupPrefix: string, level: number, key?: SetKey, backupId = path.posix.basename(backupPrefix)): Promise<TarGzSink> {
    const name = archiveName(backupPrefix, key);
    const where = `${name} in ${dest.describe()}`;
    return TarGzSink.start(where, level, key, backupId, () => openAppender(dest, name), () => IndexWriter.createOn(dest, backupPrefix, key, backupId));
  }

  /** A sink over already opened outputs (the archive's, the index's): `label` names the archive in messages. */
  static async open(label: string, output: Appender, index: IndexWriter, level: number, key?: SetKey, backupId = ''): Promise<TarGzSink> {
    return TarGzSink.start(label, level, key, backupId, () => Promise.resolve(output), () => Promise.resolve(index));
  }

  private static async start(file: string, level: number, key: SetKey | undefined, backupId: string, output: () => Promise<Appender>, index: () => Promise<IndexWriter>): Promise<TarGzSink> {
    const sealer = key === undefined ? undefined : new Sealer(key, sealLabel(backupId));
    let opened: Appender | undefined;
    try {
      opened = await output();
      if (sealer !== undefined) await opened.write(sealer.header);
      return new TarGzSink(file, opened, level, sealer, await index());
    } catch (error) {
      await opened?.abort();
      throw writeFault(error, file);
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

  /** Finalizes the archive, waits until data.tar.gz and its index are written and fsynced (remote: uploaded); returns its size. */
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
      throw this.failure ?? writeFault(error, this.file);
    });
    this.throwIfFailed();
    try {
      // The archive first, then its index: a remote store never lists an index whose archive failed.
      const size = await this.closeOutput(true);
      await this.index.commit();
      return size;
    } catch (error) {
      await this.index.close().catch(() => undefined);
      throw writeFault(error, this.file);
    }
  }

  /** Stops everything; never throws. The caller removes the partial folder. */
  async abort(): Promise<void> {
    this.fail(new BackupError('CANCELLED', 'The archive was abandoned.'));
    await this.gzip.settled();
    await this.closeOutput(false).catch(() => undefined);
    await this.index.close().catch(() => undefined);
  }

  /** strict: finish the output (durable; its size); otherwise abort it (nothing kept remotely). */
  private closeOutput(strict: boolean): Promise<number> {
    this.outputClosed ??= strict ? this.output.finish().then((done) => done.bytes) : this.output.abort().then(() => 0);
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

// Reading: reader.ts (tar members, resynchronising after damage) over memberReader.ts (gzip members).
