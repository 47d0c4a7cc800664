/**
 * Backup Set > List Files, Compare Backups and Find File Versions through the node's parameters
 * (the unit-test route of harness.ts) on real trees: one item per path, change or version, the
 * summary first, Return All / Limit, and a bad input as the node's error.
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { nodeError, runNode } from './harness';

const temp = tempDirs('n8n-backup-node-browse-');
afterAll(temp.cleanup);

let dest: string;
let set: string;
const ids: string[] = [];

beforeAll(async () => {
  const src = await temp.make();
  await writeTree(src, { 'docs/a.txt': 'a', 'docs/b.txt': 'bb', 'old.txt': 'old' });
  dest = await temp.make();
  for (const operation of ['full', 'incremental']) {
    if (operation === 'incremental') {
      await fsp.rm(path.join(src, 'old.txt'));
      await fsp.writeFile(path.join(src, 'docs/a.txt'), 'a, longer');
    }
    const [item] = await runNode({ params: { resource: 'backup', operation, sourcePaths: src, destinationPath: dest } });
    set = String(item.json.set);
    ids.push(String(item.json.backupId));
  }
});

const params = (operation: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ resource: 'backupSet', operation, destinationPath: dest, setName: set, ...extra });

test('List Files: one item per path with the summary first and a local twin of mtime; Limit stops early', async () => {
  const all = await runNode({ params: params('listFiles', { returnAll: true }), timeZone: 'Europe/Berlin' });
  expect(all.map((i) => i.json.path)).toEqual(['docs', 'docs/a.txt', 'docs/b.txt']);
  expect(Object.keys(all[1].json)[0]).toBe('summary');
  expect(all[1].json).toMatchObject({ summary: `docs/a.txt: file, 9 B, bytes in ${ids[1]}`, set, backupId: ids[1], kind: 'file', size: 9, in: ids[1], timeZone: 'Europe/Berlin' });
  expect(all[1].json.mtimeLocal).toMatch(/Europe\/Berlin$/);
  expect(all[2].json).toMatchObject({ in: ids[0] });
  const limited = await runNode({ params: params('listFiles', { returnAll: false, limit: 2, backupId: ids[0], includePaths: '*.txt' }) });
  expect(limited.map((i) => i.json.path)).toEqual(['docs/a.txt', 'docs/b.txt']);
});

test('Compare Backups: previous -> latest by default, one item per change with the resolved ids', async () => {
  const items = await runNode({ params: params('diff', { returnAll: true }) });
  expect(items.map((i) => i.json.summary)).toEqual(['changed: docs/a.txt (+8 B)', 'deleted: old.txt (-3 B)']);
  expect(items[0].json).toMatchObject({ from: ids[0], to: ids[1], change: 'changed', before: { size: 1 }, after: { size: 9 } });
});

test('Find File Versions: one item per version, oldest first', async () => {
  const items = await runNode({ params: params('find', { returnAll: true, findPaths: 'docs/a.txt\nold.txt' }) });
  expect(items.map((i) => i.json.summary)).toEqual([
    `docs/a.txt added in ${ids[0]}: 1 B`, `old.txt added in ${ids[0]}: 3 B`, `docs/a.txt changed in ${ids[1]}: 9 B`, `old.txt deleted in ${ids[1]}`,
  ]);
  expect(items[0].json.backupStartedAtLocal).toEqual(expect.any(String));
});

test('bad input: the engine code reaches the node error (or an error item under Continue On Fail)', async () => {
  const error = await nodeError({ params: params('find', { findPaths: '../etc/passwd' }) });
  expect(error.message).toContain('".."');
  const [item] = await runNode({ params: params('listFiles', { setName: 'nope' }), continueOnFail: true });
  expect(item.json).toMatchObject({ code: 'SET_NOT_FOUND' });
});

describe('Restore To: Binary Data', () => {
  const tempLeft = (): string[] => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('n8n-backup-binary-'));

  test('one item per selected file, its bytes in the binary field (hash-checked restore), no folder of the user written, no temp left', async () => {
    const items = await runNode({ params: params('restore', { restoreTo: 'binary', includePaths: 'docs', binaryPropertyName: 'file', backupId: ids[0] }) });
    expect(items.map((i) => [i.json.path, i.json.size, Buffer.from(String(i.binary?.file?.data), 'base64').toString(), i.binary?.file?.fileName])).toEqual([
      ['docs/a.txt', 1, 'a', 'a.txt'], ['docs/b.txt', 2, 'bb', 'b.txt'],
    ]);
    expect(items[0].json).toMatchObject({ summary: `docs/a.txt: 1 B from ${ids[0]}, in binary field "file"`, backupId: ids[0], set });
    expect(tempLeft()).toEqual([]);
  });

  test('refused before anything is restored: over Max Total Size, more than 100 files, nothing selected', async () => {
    const src = await temp.make();
    await writeTree(src, Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`many/f${i}.txt`, 'x'])));
    await fsp.writeFile(path.join(src, 'big.bin'), Buffer.alloc(2 * 1024 * 1024 + 1));
    const bigDest = await temp.make();
    const [made] = await runNode({ params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: bigDest } });
    const restore = (extra: Record<string, unknown>): Record<string, unknown> => ({ resource: 'backupSet', operation: 'restore', destinationPath: bigDest, setName: made.json.set, restoreTo: 'binary', ...extra });
    const big = await nodeError({ params: restore({ includePaths: 'big.bin', binaryMaxMiB: 2 }) });
    expect(big.message).toContain('more than 2.00 MiB');
    expect(big.description).toContain('[BINARY_TOO_LARGE]');
    const many = await nodeError({ params: restore({ includePaths: 'many' }) });
    expect([many.message, many.description]).toEqual([expect.stringContaining('more than 100 files'), expect.stringContaining('[BINARY_TOO_LARGE]')]);
    const [none] = await runNode({ params: restore({ includePaths: 'no-such-file' }), continueOnFail: true });
    expect(none.json).toMatchObject({ code: 'NOTHING_SELECTED' });
    expect(tempLeft()).toEqual([]);
  });
});
