import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { restoreBackup, runBackup } from '../../nodes/Backup/engine';
import { dataRuns, HOLE_BLOCK } from '../../nodes/Backup/engine/store/sparse';
import { tempDirs } from '../helpers/fixtures';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const MiB = 1 << 20;
const LOGICAL = 200 * MiB;
/** Disk a file of a few written blocks may use: its data blocks plus file system metadata. */
const SMALL_ON_DISK = 1 * MiB;

/** A 200 MiB file holding three short writes (head, middle, an unaligned one near the end) and holes elsewhere. */
async function makeSparse(file: string): Promise<void> {
  const handle = await fsp.open(file, 'w');
  try {
    await handle.truncate(LOGICAL);
    await handle.write(Buffer.from('head'), 0, 4, 0);
    await handle.write(Buffer.alloc(10_000, 7), 0, 10_000, 100 * MiB);
    await handle.write(Buffer.from('near the end'), 0, 12, LOGICAL - 5000);
  } finally {
    await handle.close();
  }
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await fsp.open(file, 'r');
  try {
    for await (const chunk of handle.createReadStream()) hash.update(chunk as Buffer);
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

async function onDisk(file: string): Promise<number> {
  return (await fsp.stat(file)).blocks * 512;
}

describe('dataRuns', () => {
  test('leaves out aligned all-zero blocks, keeps data and the runs between', () => {
    const chunk = Buffer.alloc(4 * HOLE_BLOCK);
    chunk[5] = 1;
    chunk[3 * HOLE_BLOCK + 9] = 2;
    expect(dataRuns(chunk, 0)).toEqual([
      [0, HOLE_BLOCK],
      [3 * HOLE_BLOCK, 4 * HOLE_BLOCK],
    ]);
  });

  test('blocks are aligned in the file, not in the chunk', () => {
    const chunk = Buffer.alloc(2 * HOLE_BLOCK);
    chunk[chunk.length - 1] = 1;
    // At file offset 100: bytes [0, HOLE_BLOCK-100) are the end of the file's first block (zero, left out).
    expect(dataRuns(chunk, 100)).toEqual([[2 * HOLE_BLOCK - 100, 2 * HOLE_BLOCK]]);
  });

  test('a dense chunk is one run; an all-zero one none', () => {
    expect(dataRuns(Buffer.alloc(3 * HOLE_BLOCK + 17, 0xff), 0)).toEqual([[0, 3 * HOLE_BLOCK + 17]]);
    expect(dataRuns(Buffer.alloc(3 * HOLE_BLOCK + 17), 0)).toEqual([]);
  });
});

describe('sparse files', () => {
  // The disk-use checks need a file system with holes (ext4, xfs, btrfs, tmpfs all have them).
  test.each(['folder', 'tar.gz'] as const)('a 200 MiB file using a few KiB stays small in the %s backup and after restore', async (format) => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await fsp.mkdir(src);
    const file = path.join(src, 'disk.img');
    await makeSparse(file);
    expect(await onDisk(file)).toBeLessThan(SMALL_ON_DISK);
    const want = await sha256(file);
    const dest = path.join(root, 'dest');
    const [outcome] = await runBackup({ sources: [src], destination: dest, type: 'full', setName: 'set', format });
    if (!outcome.ok) throw outcome.error;
    const backupDir = path.join(dest, 'set', outcome.report.backupId ?? 'none');
    if (format === 'folder') {
      const stored = path.join(backupDir, 'data', 'disk.img');
      expect((await fsp.stat(stored)).size).toBe(LOGICAL);
      expect(await onDisk(stored)).toBeLessThan(SMALL_ON_DISK);
    } else {
      // gzip squeezes the zero runs (about 1,000:1): the archive is well under 1 MiB.
      expect((await fsp.stat(path.join(backupDir, 'data.tar.gz'))).size).toBeLessThan(SMALL_ON_DISK);
    }
    const target = path.join(root, 'target');
    const report = await restoreBackup({ destination: dest, setName: 'set', target });
    expect(report.errors).toEqual([]);
    const restored = path.join(target, 'disk.img');
    expect((await fsp.stat(restored)).size).toBe(LOGICAL);
    expect(await onDisk(restored)).toBeLessThan(SMALL_ON_DISK);
    expect(await sha256(restored)).toBe(want);
  }, 60_000);

  test('a dense file with a real zero run gets a hole after restore, the same bytes, and a trailing hole keeps the length', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await fsp.mkdir(src);
    // Written out in full (dense on disk): data, 8 MiB of zeros, data, then 1 MiB of zeros at the end.
    const content = Buffer.concat([Buffer.alloc(MiB, 0x61), Buffer.alloc(8 * MiB), Buffer.alloc(MiB + 123, 0x62), Buffer.alloc(MiB)]);
    const file = path.join(src, 'zeros.bin');
    await fsp.writeFile(file, content);
    expect(await onDisk(file)).toBeGreaterThanOrEqual(content.length);
    for (const format of ['folder', 'tar.gz'] as const) {
      const dest = path.join(root, `dest-${format}`);
      const [outcome] = await runBackup({ sources: [src], destination: dest, type: 'full', setName: 'set', format });
      if (!outcome.ok) throw outcome.error;
      const target = path.join(root, `target-${format}`);
      const report = await restoreBackup({ destination: dest, setName: 'set', target });
      expect(report.errors).toEqual([]);
      const restored = path.join(target, 'zeros.bin');
      // equals(), not toEqual: jest compares a Buffer byte by byte in JS (minutes for 12 MiB).
      expect((await fsp.readFile(restored)).equals(content)).toBe(true);
      // About 3 MiB of data; the 9 MiB of zeros are holes.
      expect(await onDisk(restored)).toBeLessThan(4 * MiB);
    }
  }, 60_000);

  test('a file of zeros only restores as one hole of the right length', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await fsp.mkdir(src);
    await fsp.writeFile(path.join(src, 'small'), Buffer.alloc(100));
    await fsp.writeFile(path.join(src, 'empty'), '');
    const dest = path.join(root, 'dest');
    const [outcome] = await runBackup({ sources: [src], destination: dest, type: 'full', setName: 'set' });
    if (!outcome.ok) throw outcome.error;
    const target = path.join(root, 'target');
    await restoreBackup({ destination: dest, setName: 'set', target });
    expect((await fsp.readFile(path.join(target, 'small'))).equals(Buffer.alloc(100))).toBe(true);
    expect(await onDisk(path.join(target, 'small'))).toBe(0);
    expect((await fsp.stat(path.join(target, 'empty'))).size).toBe(0);
  });
});
