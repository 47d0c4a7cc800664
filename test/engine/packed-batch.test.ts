import type { ScanItem } from '../../nodes/Backup/engine/scan/walk';
import { packBatch, transferables, unpackBatch } from '../../nodes/Backup/engine/scan/packedBatch';

// The scan's batches cross threads packed (numbers in one typed array, paths in one string): every field comes back.
const stats = { size: 7575, mtimeMs: 1704132480000, ctimeMs: 1796219706074.123, atimeMs: 1796219706074.5, mode: 0o100644, uid: 1000, gid: 100, dev: 2049, ino: 2 ** 40 + 3, nlink: 2 };

describe('packed scan batches', () => {
  test('files, folders, symlinks, specials, listing problems and lstat problems round-trip exactly', () => {
    const items: ScanItem[] = [
      { path: 'a file.txt', kind: 'file', stats },
      { path: 'dir', kind: 'dir', stats: { ...stats, mode: 0o40755, nlink: 3 }, listProblem: { path: 'dir', code: 'EACCES', message: 'permission denied' } },
      { path: 'dir/link', kind: 'symlink', stats: { ...stats, mode: 0o120777 }, target: '../a file.txt' },
      { path: 'dir/fifo', kind: 'special', stats: { ...stats, mode: 0o10644 }, special: 'a FIFO' },
      { path: 'dir/gone', problem: { path: 'dir/gone', code: 'ENOENT', message: 'vanished' } },
      { path: 'dir/line\nbreak and ünïcödé 😀', kind: 'file', stats: { size: 0, mtimeMs: 1, ctimeMs: 2, atimeMs: 3, mode: 0o100600, uid: 0, gid: 0 } },
    ];
    const packed = packBatch(items);
    expect(transferables(packed)).toHaveLength(2);
    expect(unpackBatch(structuredClone(packed))).toEqual(items);
  });

  test('an empty batch stays empty', () => {
    expect(unpackBatch(packBatch([]))).toEqual([]);
  });
});
