/**
 * Memory stays bounded writing (and reading back) a ~200 MiB archive of incompressible data to S3
 * (moto_server): the archive is streamed into one multipart upload, never held whole, never a temp
 * file. The bound checked is on the growth of the process's RSS while the archive is written.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withRetries } from '../../nodes/Backup/engine/destination/retry';
import type { Destination } from '../../nodes/Backup/engine/destination/types';
import { TarReader } from '../../nodes/Backup/engine/formats/tar/reader';
import { TarGzSink } from '../../nodes/Backup/engine/formats/tar/sink';
import { s3Subject } from '../helpers/destinations';

const MiB = 1024 * 1024;
const FILES = 50;
const FILE_BYTES = 4 * MiB;
/**
 * What the write may add to RSS: the upload's parts (5 MiB x (2 in flight + 1 filling) in the
 * tests; 8 MiB x 5 by default), the index's part, the gzip blocks in flight (about 2 MiB each, up
 * to 5) and their compressed copies, the SDK's sockets. A fraction of the archive's 200 MiB.
 */
const WRITE_BOUND = 96 * MiB;
/**
 * Reading it back (two read-ahead windows of 4 MiB, a gzip member or two) is measured from the same
 * base: RSS rarely shrinks after the write, so a growth of its own would say nothing.
 */
async function peakGrowth<T>(run: () => Promise<T>, base = process.memoryUsage.rss()): Promise<{ value: T; growth: number }> {
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  try {
    const value = await run();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { value, growth: peak - base };
  } finally {
    clearInterval(timer);
  }
}

const subject = s3Subject();
const maybe = subject.unavailable === undefined ? test : test.skip;

describe('memory writing a large archive to S3', () => {
  let dest: Destination;
  let root = '';

  beforeAll(async () => {
    if (subject.unavailable !== undefined) return;
    await subject.start();
    await subject.fresh();
    // moto on a busy machine can take more than the helper's 5 s for a 5 MiB part.
    dest = withRetries(await subject.open({ requestTimeoutMs: 60_000 }), { attempts: 5, baseDelayMs: 100, maxDelayMs: 1_000 });
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'n8n-backup-fmt-memory-'));
    for (let i = 0; i < FILES; i++) await fsp.writeFile(path.join(root, `f${String(i).padStart(3, '0')}.bin`), randomBytes(FILE_BYTES));
  }, 120_000);
  afterAll(async () => {
    if (subject.unavailable !== undefined) return;
    await dest.close();
    await subject.stop();
    await fsp.rm(root, { recursive: true, force: true });
  });

  maybe(`a ~200 MiB archive of incompressible data: RSS grows by less than ${WRITE_BOUND / MiB} MiB writing it and reading it back`, async () => {
    const names = (await fsp.readdir(root)).sort();
    const base = process.memoryUsage.rss();
    const written = await peakGrowth(async () => {
      const sink = await TarGzSink.createOn(dest, 'set/20261201T020000000Z-full', 1);
      for (const name of names) await sink.store(name, path.join(root, name), await fsp.stat(path.join(root, name)));
      return sink.close();
    }, base);
    expect(written.value).toBeGreaterThan(FILES * FILE_BYTES);
    expect((await dest.stat('set/20261201T020000000Z-full/data.tar.gz'))?.size).toBe(written.value);
    process.stdout.write(`archive ${(written.value / MiB).toFixed(0)} MiB; RSS growth writing it: ${(written.growth / MiB).toFixed(1)} MiB\n`);
    expect(written.growth).toBeLessThan(WRITE_BOUND);

    const read = await peakGrowth(async () => {
      const reader = TarReader.onDestination(dest, 'set/20261201T020000000Z-full', undefined);
      try {
        let bytes = 0;
        for (const name of names) {
          const found = await reader.seek(name);
          if (!('member' in found)) throw new Error(`${name}: ${JSON.stringify(found)}`);
          await found.member.read((chunk) => {
            bytes += chunk.length;
          });
        }
        expect(await reader.finish()).toBeUndefined();
        return bytes;
      } finally {
        reader.close();
      }
    }, base);
    process.stdout.write(`RSS growth (same base) while reading it back: ${(read.growth / MiB).toFixed(1)} MiB\n`);
    expect(read.value).toBe(FILES * FILE_BYTES);
    expect(read.growth).toBeLessThan(WRITE_BOUND);
  }, 300_000);
});
