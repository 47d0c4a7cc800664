/**
 * The member index of a tar.gz archive: `<backup>/data.tar.idx` (sealed as `data.tar.idx.enc` in
 * an encrypted set). It says where each gzip member of data.tar.gz starts, in the compressed and in
 * the uncompressed (tar) stream, and where the first tar header that starts inside it lies, so a
 * reader that lost a damaged member resumes at the next good one at a known tar position instead of
 * guessing. Written beside the archive, member by member, as the archive is written.
 *
 * Format (index version 1; the archive itself is unchanged, so readers of older releases ignore it):
 *   header  16 bytes: "N8NBTIDX" | version (1) | 7 zero bytes
 *   records 24 bytes each, one per gzip member, in archive order:
 *           compressed offset | uncompressed offset | offset of the first tar header starting in
 *           the member (NO_HEADER when none does: the member holds the middle of a large file)
 *           (u64 big-endian each; compressed offsets count the gzip stream, not its sealed form)
 *   end     one more record: compressed size | uncompressed size | NO_HEADER
 *   trailer 32 bytes: sha256 of everything before it (a damaged index is ignored, never trusted)
 * Backups written before the index (no file) are read by scanning for the gzip member magic and
 * for tar headers instead (memberReader.ts). 24 bytes per MiB of archive: a reader loads it whole.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type { Appender } from '../../destination/appender';
import { openAppender, openLocalAppender } from '../../destination/appender';
import { DestinationError } from '../../destination/faults';
import type { Destination } from '../../destination/types';
import type { SetKey } from '../sealed';
import { openStream, SEALED_SUFFIX, Sealer } from '../sealed';

export const INDEX_FILE = 'data.tar.idx';
const MAGIC = Buffer.from('N8NBTIDX', 'latin1');
export const INDEX_VERSION = 1;
const HEADER_BYTES = 16;
const RECORD_BYTES = 24;
const TRAILER_BYTES = 32;
/** Records buffered before they are written. */
const FLUSH_RECORDS = 2048;
export const NO_HEADER = Number.MAX_SAFE_INTEGER;

/** Where a backup's index is: `data.tar.idx`, or `data.tar.idx.enc` in an encrypted set. */
export function indexPath(backupDir: string, key: SetKey | undefined): string {
  return path.join(backupDir, key === undefined ? INDEX_FILE : `${INDEX_FILE}${SEALED_SUFFIX}`);
}

/** The index's object name in the backup `backupPrefix` of a destination. */
export function indexName(backupPrefix: string, key: SetKey | undefined): string {
  return `${backupPrefix}/${key === undefined ? INDEX_FILE : `${INDEX_FILE}${SEALED_SUFFIX}`}`;
}

/** What a sealed index is bound to: its backup and its name. */
export const indexSealLabel = (backupId: string): string => `${backupId}/${INDEX_FILE}`;

export interface MemberRecord {
  /** Offset of the member in the gzip stream. */
  compressed: number;
  /** Offset of its first byte in the tar stream. */
  uncompressed: number;
  /** Tar offset of the first header starting in it, or NO_HEADER. */
  header: number;
}

function putRecord(buffer: Buffer, at: number, r: MemberRecord): void {
  buffer.writeBigUInt64BE(BigInt(r.compressed), at);
  buffer.writeBigUInt64BE(BigInt(r.uncompressed), at + 8);
  buffer.writeBigUInt64BE(BigInt(r.header), at + 16);
}

/** Writes the index as the archive's members are written, in order; finish() seals it with its hash. */
export class IndexWriter {
  private readonly hash = createHash('sha256');
  private records: Buffer = Buffer.alloc(FLUSH_RECORDS * RECORD_BYTES);
  private count = 0;
  private closed = false;

  private constructor(
    private readonly output: Appender,
    private readonly sealer: Sealer | undefined,
  ) {}

  /** Creates `indexPath(backupDir, key)` (never over an existing file). */
  static async create(backupDir: string, key: SetKey | undefined, backupId: string): Promise<IndexWriter> {
    return IndexWriter.open(await openLocalAppender(indexPath(backupDir, key)), key, backupId);
  }

  /** Writes `indexName(backupPrefix, key)` on a destination. */
  static async createOn(dest: Destination, backupPrefix: string, key: SetKey | undefined, backupId: string): Promise<IndexWriter> {
    return IndexWriter.open(await openAppender(dest, indexName(backupPrefix, key)), key, backupId);
  }

  /** Writes the index to `output`; on failure here `output` is aborted. */
  static async open(output: Appender, key: SetKey | undefined, backupId: string): Promise<IndexWriter> {
    const writer = new IndexWriter(output, key === undefined ? undefined : new Sealer(key, indexSealLabel(backupId)));
    try {
      if (writer.sealer !== undefined) await output.write(writer.sealer.header);
      const header = Buffer.alloc(HEADER_BYTES);
      MAGIC.copy(header, 0);
      header[8] = INDEX_VERSION;
      await writer.writePlain(header);
    } catch (error) {
      await output.abort();
      throw error;
    }
    return writer;
  }

  async add(record: MemberRecord): Promise<void> {
    putRecord(this.records, this.count++ * RECORD_BYTES, record);
    if (this.count === FLUSH_RECORDS) await this.flush();
  }

  /** The end record, the hash, then durable (local: fsync, close; remote: the upload completed). */
  async finish(compressedSize: number, uncompressedSize: number): Promise<void> {
    await this.end(compressedSize, uncompressedSize);
    await this.commit();
  }

  /** Writes the end record and the hash: the index is whole, not durable yet (commit()). */
  async end(compressedSize: number, uncompressedSize: number): Promise<void> {
    try {
      await this.add({ compressed: compressedSize, uncompressed: uncompressedSize, header: NO_HEADER });
      await this.flush();
      await this.writePlain(this.hash.copy().digest(), false);
      if (this.sealer !== undefined) await this.output.write(this.sealer.finish());
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /**
   * Makes the index durable after end(): the sink calls it once the archive itself is, so a remote
   * store never lists an index whose archive failed.
   */
  async commit(): Promise<void> {
    if (this.closed) throw new Error('the index was already closed');
    this.closed = true;
    await this.output.finish();
  }

  /** Gives the index up (an abandoned archive): nothing is kept of it on a remote store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.output.abort();
  }

  private async flush(): Promise<void> {
    if (this.count === 0) return;
    const bytes = Buffer.from(this.records.subarray(0, this.count * RECORD_BYTES));
    this.count = 0;
    await this.writePlain(bytes);
  }

  private async writePlain(bytes: Buffer, hashed = true): Promise<void> {
    if (hashed) this.hash.update(bytes);
    if (this.sealer === undefined) return this.output.write(bytes);
    for (const sealed of this.sealer.seal(bytes)) await this.output.write(sealed);
  }
}

/** A loaded index: records by number, and a lookup by compressed offset. */
export class MemberIndex {
  constructor(private readonly records: Buffer) {}

  /** Members in the archive (the end record not counted). */
  get members(): number {
    return this.records.length / RECORD_BYTES - 1;
  }

  /** Record `i`; `i === members` is the end record (the archive's sizes). */
  record(i: number): MemberRecord {
    const at = i * RECORD_BYTES;
    return {
      compressed: Number(this.records.readBigUInt64BE(at)),
      uncompressed: Number(this.records.readBigUInt64BE(at + 8)),
      header: Number(this.records.readBigUInt64BE(at + 16)),
    };
  }
}

async function readWhole(file: string, key: SetKey | undefined, label: string): Promise<Buffer> {
  if (key === undefined) return fsp.readFile(file);
  return openWhole(createReadStream(file), key, label, path.basename(file));
}

async function openWhole(input: Readable, key: SetKey, label: string, name: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  const opener = openStream(key, label, name);
  input.on('error', (error) => opener.destroy(error));
  for await (const part of input.pipe(opener) as AsyncIterable<Buffer>) parts.push(part);
  return Buffer.concat(parts);
}

async function readWholeOn(dest: Destination, name: string, key: SetKey | undefined, label: string): Promise<Buffer> {
  const input = await dest.read(name);
  if (key !== undefined) return openWhole(input, key, label, path.posix.basename(name));
  const parts: Buffer[] = [];
  for await (const part of input) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** Records must grow, headers lie inside their member: anything else is a damaged index. */
function plausible(index: MemberIndex): boolean {
  let previous: MemberRecord | undefined;
  for (let i = 0; i <= index.members; i++) {
    const r = index.record(i);
    if (previous !== undefined) {
      if (r.compressed <= previous.compressed || r.uncompressed < previous.uncompressed) return false;
      if (previous.header !== NO_HEADER && (previous.header < previous.uncompressed || previous.header >= r.uncompressed)) return false;
    }
    previous = r;
  }
  return index.members >= 0 && (index.members === 0 || index.record(0).compressed === 0);
}

/**
 * The index of the backup folder `backupDir`: `absent` for a backup written before the index,
 * `damaged` when it does not open or fails its hash (readers then scan, as for an old backup).
 */
export async function readIndex(backupDir: string, key: SetKey | undefined, backupId: string): Promise<IndexFound> {
  const file = indexPath(backupDir, key);
  let bytes: Buffer;
  try {
    bytes = await readWhole(file, key, indexSealLabel(backupId));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { absent: true };
    return { damaged: `${path.basename(file)} cannot be read (${(error as Error).message})` };
  }
  return parseIndex(bytes, path.basename(file));
}

export type IndexFound = { index: MemberIndex } | { absent: true } | { damaged: string };

/**
 * The index of the backup `backupPrefix` on a destination (one whole read: 24 bytes per MiB of
 * archive). A fault of the destination itself (a connection that keeps failing) is thrown, not
 * taken for a damaged index.
 */
export async function readIndexOn(dest: Destination, backupPrefix: string, key: SetKey | undefined, backupId: string): Promise<IndexFound> {
  const name = indexName(backupPrefix, key);
  const local = dest.localPath?.(name);
  if (local !== undefined) return readIndex(path.dirname(local), key, backupId);
  let bytes: Buffer;
  try {
    bytes = await readWholeOn(dest, name, key, indexSealLabel(backupId));
  } catch (error) {
    if (error instanceof DestinationError) {
      if (error.code === 'OBJECT_NOT_FOUND') return { absent: true };
      throw error;
    }
    return { damaged: `${path.posix.basename(name)} cannot be read (${(error as Error).message})` };
  }
  return parseIndex(bytes, path.posix.basename(name));
}

function parseIndex(bytes: Buffer, name: string): IndexFound {
  const body = bytes.length - TRAILER_BYTES;
  if (body < HEADER_BYTES + RECORD_BYTES || (body - HEADER_BYTES) % RECORD_BYTES !== 0) return { damaged: `${name} has an impossible size` };
  if (!bytes.subarray(0, 8).equals(MAGIC) || bytes[8] !== INDEX_VERSION) return { damaged: `${name} is not a version ${INDEX_VERSION} member index` };
  if (!createHash('sha256').update(bytes.subarray(0, body)).digest().equals(bytes.subarray(body))) return { damaged: `${name} fails its sha256` };
  const index = new MemberIndex(bytes.subarray(HEADER_BYTES, body));
  if (!plausible(index)) return { damaged: `${name} holds impossible offsets` };
  return { index };
}
