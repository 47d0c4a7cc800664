import type { Readable } from 'node:stream';

/**
 * What a backup store can do, reduced to what object storage can promise (in the spirit of
 * restic's backend): names are relative POSIX paths (`set/id/manifest.jsonl.gz`), bytes go in
 * whole or not at all, and everything above this layer sees names and bytes only.
 */
export interface Destination {
  /** What this store promises beyond the common contract. */
  readonly capabilities: Capabilities;
  /** A display name without secrets: `/backups`, `s3://bucket/prefix`, `sftp://user@host:22/path`. */
  describe(): string;
  /**
   * Writes `name` from `body`, replacing what was there: visible whole or not at all (a temp file
   * renamed into place, or one S3 upload). A stream body is read once with bounded memory.
   */
  write(name: string, body: Body, options?: WriteOptions): Promise<ObjectInfo>;
  /** Creates `name` unless it exists (the commit marker, a lock): its info, or undefined when it existed. */
  create(name: string, body: SmallBody): Promise<ObjectInfo | undefined>;
  /**
   * Replaces `name` if its version is still `expected` (S3 `If-Match`; file trees: see
   * fileTree.ts, weaker). The new info, or undefined when it changed or is gone.
   */
  replace(name: string, expected: string, body: SmallBody): Promise<ObjectInfo | undefined>;
  /**
   * The bytes of `name`, whole or `range`, and the version they are of; OBJECT_NOT_FOUND when it
   * does not exist. With `ifVersion`, only that version is read (S3 `If-Match`; file trees compare
   * the open file's version): OBJECT_CHANGED when the object is another one now, or gone. A
   * resumed read and the ranged reads that follow a first one pass it, so bytes of two versions
   * are never mixed.
   */
  read(name: string, range?: ByteRange, options?: ReadOptions): Promise<ObjectStream>;
  /** Its info, or undefined when it does not exist. */
  stat(name: string): Promise<ObjectInfo | undefined>;
  /**
   * Everything whose name starts with `prefix`, page by page (flat memory), in no promised order.
   * With `delimiter: true`, names below the next `/` are folded into one `kind: 'prefix'` entry.
   */
  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry>;
  /** Removes `name`; a missing one is not an error. */
  delete(name: string): Promise<void>;
  /** Removes every object under the folder `prefix` (which ends with `/`), the folder too where there are folders. */
  deleteAll(prefix: string): Promise<number>;
  /**
   * Removes interrupted uploads older than `olderThanMs` (S3 multipart uploads, temp files); how
   * many. With `prefix` (a set's folder, `set/`), only uploads meant for names under it: sweeping
   * one set never touches another set's upload in progress.
   */
  sweep(olderThanMs: number, prefix?: string): Promise<number>;
  /** Drops connections; the destination may not be used afterwards. */
  close(): Promise<void>;
  /**
   * Local folders only: the file that holds `name`, so the formats read and write it with a
   * FileHandle as before destinations existed (randomAccess.ts, appender.ts). Absent elsewhere.
   */
  localPath?(name: string): string | undefined;
}

export interface Capabilities {
  /** `strong`: create/replace are checked by the server (S3). `compare-token`: checked by this client, see fileTree.ts. */
  conditionalWrites: 'strong' | 'compare-token';
  /** Folders exist (local, SFTP): an empty folder may list as a prefix. */
  folders: boolean;
}

/**
 * Bytes to write. A Buffer, a string or a function that opens the stream again can be sent again
 * after a fault (the retry wrapper does); a Readable is read once.
 */
export type Body = SmallBody | Readable | (() => Readable);
export type SmallBody = Uint8Array | string;

export interface WriteOptions {
  /**
   * Runs one replayable piece of a one-shot stream (an S3 part held in memory) with the retry
   * policy: set by the retry wrapper, so a fault in part 7 of an archive does not lose the archive.
   */
  retryPiece?: <T>(attempt: () => Promise<T>) => Promise<T>;
  /** Local only: skip the per-file fsync (the caller syncs the whole tree once, see durable.ts). */
  noSync?: boolean;
}

export interface ReadOptions {
  /** Only this version (an ObjectInfo's or an ObjectStream's `version`); OBJECT_CHANGED otherwise. */
  ifVersion?: string;
}

/**
 * Bytes read, with the version of the object they come from (as ObjectInfo.version): the retry
 * wrapper pins a resumed read to it. Absent only from a destination that cannot tell; such a read
 * is not resumed.
 */
export type ObjectStream = Readable & { version?: string };

export interface ByteRange {
  offset: number;
  /** Bytes from offset; to the end when absent. */
  length?: number;
}

export interface ObjectInfo {
  name: string;
  size: number;
  mtimeMs: number;
  /** What replace() compares: the S3 ETag; for file trees see fileTree.ts. */
  version: string;
}

/** A listed object carries no version (computing one can cost a read on a file tree): stat() it. */
export type ListEntry = { kind: 'object'; name: string; size: number; mtimeMs: number } | { kind: 'prefix'; name: string };

export interface ListOptions {
  delimiter?: boolean;
  /** Names asked for per request (S3 allows up to 1000): tests use a small one to cross pages. */
  pageSize?: number;
}
