import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ManifestReader, ManifestWriter } from '../../nodes/Backup/engine/formats/manifest';
import type { ManifestEntry, ManifestHeader, ManifestTrailer } from '../../nodes/Backup/engine/types';
import { FORMAT_VERSION, MANIFEST_MAGIC } from '../../nodes/Backup/engine/types';

const ID = '20261201T020000000Z-full';
const FLUSH_CHARS = 1 << 20;
// Four-byte characters (two UTF-16 units each): a cut between the two units of one would be
// written as two U+FFFD and the path would come back different.
const NAME_TAIL = '\u{1F600}'.repeat(60); // 240 bytes: a name may have 255

function header(source: string): ManifestHeader {
  return {
    manifest: MANIFEST_MAGIC, version: FORMAT_VERSION, id: ID, type: 'full', base: null, parent: null, source, set: 'held-0123abcd',
    storage: 'folder', hash: 'sha256', startedAt: new Date().toISOString(), exclude: [],
  };
}

/**
 * A held manifest (an auto run that may still be thrown away) goes to gzip in slices once released,
 * each cut after a newline: the text comes back exactly, whatever the length of what came before.
 */
describe.each([['/src'], ['/src2']])('held manifest text (header source %s)', (source) => {
  test('goes to gzip in slices of about 1 MiB, and every path reads back unchanged', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'manifest-held-'));
    try {
      const writer = await ManifestWriter.create(dir, header(source));
      const gzip = (writer as unknown as { gzip: { write: (chunk: string) => boolean } }).gzip;
      const writes: number[] = [];
      const write = gzip.write.bind(gzip);
      gzip.write = (chunk: string): boolean => {
        writes.push(chunk.length);
        return write(chunk);
      };
      const paths = Array.from({ length: 12_000 }, (_, i) => `${String(i).padStart(6, '0')}-${NAME_TAIL}`);
      writer.hold();
      for (const p of paths) {
        writer.writeEntry({ path: p, kind: 'file', mode: 0o644, mtime: 1, size: 0, hash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', in: ID } as ManifestEntry);
      }
      await writer.flushIfFull(); // held: under 16 MiB nothing goes yet
      expect(writes).toEqual([]);
      writer.release();
      await writer.flushIfFull();
      const trailer = { trailer: true, complete: true, finishedAt: new Date().toISOString(), entries: paths.length, files: {}, bytes: {}, errorCount: 0, references: [], errors: [] };
      await writer.finish(trailer as unknown as ManifestTrailer);

      // About 4 M characters held: several slices, none much over 1 MiB.
      expect(writes.length).toBeGreaterThan(3);
      expect(Math.max(...writes)).toBeLessThan(FLUSH_CHARS + 1000);

      const reader = await ManifestReader.open(dir);
      const read: string[] = [];
      for await (const entry of reader.entries()) read.push(entry.path);
      await reader.close();
      expect(read.length).toBe(paths.length);
      expect(read).toEqual(paths);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
