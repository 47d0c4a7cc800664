import type { TreeMember } from '../formats/tar/header';
import type { EntryStats } from '../scan/walk';
import type { CopiedFile } from './copy';

/** A place kept in a sink's stream: store() fills it; release() gives it up (a no-op once stored). */
export interface StorePlace {
  store(rel: string, sourceAbs: string, stats: EntryStats): Promise<CopiedFile>;
  release(): void;
  /**
   * Fills the place with a hard link to `firstName`, a file stored earlier in this backup: a tar
   * hard-link member in tar.gz; nothing in the folder format (the manifest says it).
   */
  link(rel: string, firstName: string, stats: EntryStats): void;
}

/**
 * Where one backup puts the bytes of the files it stores. Calls to store() and reserve() arrive in
 * walk order, several in flight; a sink may run them concurrently (folder) or keep their order in
 * one stream (tar.gz).
 */
export interface DataSink {
  /** Copies one source file in; returns the bytes stored and their sha256. Source errors are thrown raw. */
  store(rel: string, sourceAbs: string, stats: EntryStats): Promise<CopiedFile>;
  /**
   * Keeps the next place for a file whose store() call must wait for something first (a content
   * re-check): call it where store() would have been called, then store() or release() the place.
   */
  reserve(): StorePlace;
  /**
   * A folder or symlink, in walk order: tar.gz writes it as a member without data, so plain
   * `tar xzf` gives the whole tree; the folder format keeps these in the manifest only.
   */
  tree(rel: string, stats: EntryStats, member: TreeMember): void;
  /** Flushes everything; returns bytes written to the destination. */
  close(): Promise<number>;
  abort(): Promise<void>;
}
