import type { CopiedFile } from './copy';
import { hashFile } from './copy';
import type { JobRunner } from './copyPool';
import type { DataSink, StorePlace } from './sink';
import type { EntryStats } from '../scan/walk';

/**
 * The sink of a dry run: every file a backup would store is read and hashed as the real sinks do
 * (so an unreadable file, a hard link's content and the bytes counted are what the backup would
 * meet), and nothing is written anywhere. The sizes are of file content: for tar.gz the
 * uncompressed bytes (what the archive would hold before gzip).
 */
export class CountingSink implements DataSink {
  constructor(private readonly pool: JobRunner) {}

  store(_rel: string, sourceAbs: string, stats: EntryStats): Promise<CopiedFile> {
    return hashFile(this.pool, sourceAbs, stats.size);
  }

  /** No stream order to keep: a kept place is a later store() call. */
  reserve(): StorePlace {
    return { store: (rel, sourceAbs, stats) => this.store(rel, sourceAbs, stats), release: () => undefined, link: () => undefined };
  }

  tree(): void {}

  /** Nothing was written. */
  async close(): Promise<number> {
    return 0;
  }

  async abort(): Promise<void> {}
}
