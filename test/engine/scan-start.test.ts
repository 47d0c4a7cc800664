import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { startScan } from '../../nodes/Backup/engine/scan/walk';
import { tempDirs, writeTree } from '../helpers/fixtures';

const paths = async (batches: AsyncIterable<{ path: string }[]>): Promise<string[]> => {
  const seen: string[] = [];
  for await (const batch of batches) seen.push(...batch.map((item) => item.path));
  return seen;
};

/** startScan walks on its thread from the call, not from the first read; close() ends it either way. */
describe('startScan', () => {
  const temp = tempDirs();
  afterAll(() => temp.cleanup());

  test('the walk runs before the first read (it overlaps with opening the previous manifest)', async () => {
    const root = await temp.make();
    await writeTree(root, { 'a.txt': 'a', 'b.txt': 'b', 'sub/c.txt': 'c' });
    const scan = startScan(root, []);
    // Long enough for a thread to start and walk three entries; a scan started lazily would not see b.txt.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await fsp.rm(path.join(root, 'b.txt'));
    expect(await paths(scan.batches)).toEqual(['a.txt', 'b.txt', 'sub', 'sub/c.txt']);
    await scan.close();
  });

  test('closed before any read, it stops its thread; a later scan still works', async () => {
    const root = await temp.make();
    await writeTree(root, { 'x/y.txt': 'y' });
    const unread = startScan(root, []);
    await unread.close();
    await unread.close();
    const scan = startScan(root, ['*.txt']);
    expect(await paths(scan.batches)).toEqual(['x']);
  });

  test('a root that cannot be listed fails on the first read', async () => {
    const scan = startScan(path.join(await temp.make(), 'missing'), []);
    await expect(paths(scan.batches)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
