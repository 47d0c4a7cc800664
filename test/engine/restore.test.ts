import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupReport, RestoreOptions } from '../../nodes/Backup/engine';
import { BackupError, restoreBackup, runBackup } from '../../nodes/Backup/engine';
import { dirEntry, fileEntry, forgeBackup, linkEntry } from '../helpers/forge';
import { tempDirs, writeTree } from '../helpers/fixtures';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const ID = '20260101T000000000Z-full';

async function restoreError(options: RestoreOptions): Promise<BackupError> {
  const error: unknown = await restoreBackup(options).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof BackupError)) throw new Error(`expected a BackupError, got ${String(error)}`);
  return error;
}

async function exists(p: string): Promise<boolean> {
  return fsp.lstat(p).then(
    () => true,
    () => false,
  );
}

async function realBackup(spec: Record<string, string | null>): Promise<{ root: string; src: string; dest: string; report: BackupReport }> {
  const root = await dirs.make();
  const src = path.join(root, 'src');
  await writeTree(src, spec);
  const dest = path.join(root, 'dest');
  const [outcome] = await runBackup({ sources: [src], destination: dest, type: 'full' });
  if (!outcome.ok) throw outcome.error;
  return { root, src, dest, report: outcome.report };
}

describe('restore refuses hostile manifests and writes nothing outside the target', () => {
  const hostile: [string, Record<string, unknown>[], string][] = [
    ['a path with ..', [fileEntry('../escaped.txt', 'x', ID)], 'UNSAFE_PATH'],
    ['a deeper path with ..', [dirEntry('a'), fileEntry('a/../../escaped.txt', 'x', ID)], 'UNSAFE_PATH'],
    ['an absolute path', [fileEntry('/tmp/escaped.txt', 'x', ID)], 'UNSAFE_PATH'],
    ['a NUL byte', [fileEntry('a\0b', 'x', ID)], 'UNSAFE_PATH'],
    ['a symlink to outside, then a file below it', [linkEntry('a', '/tmp'), fileEntry('a/escaped.txt', 'x', ID)], 'UNSAFE_PATH'],
    ['a file, then a file below it', [fileEntry('a', 'x', ID), fileEntry('a/escaped.txt', 'x', ID)], 'UNSAFE_PATH'],
    ['a file whose parent folder has no entry', [fileEntry('nodir/escaped.txt', 'x', ID)], 'UNSAFE_PATH'],
    ['a duplicate path', [fileEntry('a', 'x', ID), fileEntry('a', 'x', ID)], 'MANIFEST_CORRUPT'],
    ['entries out of walk order', [fileEntry('b', 'x', ID), fileEntry('a', 'x', ID)], 'MANIFEST_CORRUPT'],
    ['a file entry without hash', [{ path: 'a', kind: 'file', mode: 420, mtime: 1, ctime: 1, uid: 0, gid: 0, size: 1, in: ID }], 'MANIFEST_CORRUPT'],
  ];
  test.each(hostile)('%s', async (_name, entries, code) => {
    const root = await dirs.make();
    const dest = path.join(root, 'dest');
    await forgeBackup(path.join(dest, 'set'), ID, entries, { 'a/../../escaped.txt': 'x', 'escaped.txt': 'x', 'a/escaped.txt': 'x' });
    const target = path.join(root, 'target');
    const error = await restoreError({ destination: dest, setName: 'set', target });
    expect(error.code).toBe(code);
    expect(await exists(path.join(root, 'escaped.txt'))).toBe(false);
    expect(await exists('/tmp/escaped.txt')).toBe(false);
    // The manifest is checked whole before anything is written.
    expect(await fsp.readdir(target).catch(() => [])).toEqual([]);
  });

  test('an `in` pointer that is not a backup id is refused per file', async () => {
    const root = await dirs.make();
    const dest = path.join(root, 'dest');
    await forgeBackup(path.join(dest, 'set'), ID, [fileEntry('a', 'x', '../../outside')]);
    const report = await restoreBackup({ destination: dest, setName: 'set', target: path.join(root, 'target') });
    expect(report.errorCount).toBe(1);
    expect(report.errors[0]).toMatchObject({ path: 'a', code: 'EBADLOC' });
  });

  test('a manifest without its trailer is not a backup', async () => {
    const root = await dirs.make();
    const dest = path.join(root, 'dest');
    await forgeBackup(path.join(dest, 'set'), ID, [fileEntry('a', 'x', ID)], { a: 'x' }, { trailer: false, summary: false });
    const error = await restoreError({ destination: dest, setName: 'set', backupId: ID, target: path.join(root, 'target') });
    expect(error.code).toBe('BACKUP_INCOMPLETE');
    expect((await restoreError({ destination: dest, setName: 'set', target: path.join(root, 't2') })).code).toBe('BACKUP_NOT_FOUND');
    // Even when a summary claims the backup is complete, the missing trailer stops the restore.
    await forgeBackup(path.join(dest, 'set2'), ID, [fileEntry('a', 'x', ID)], { a: 'x' }, { trailer: false });
    const claimed = await restoreError({ destination: dest, setName: 'set2', target: path.join(root, 't3') });
    expect(claimed.code).toBe('MANIFEST_CORRUPT');
    expect(claimed.message).toMatch(/no trailer/);
  });
});

describe('restore', () => {
  test('a truncated manifest gives a clear error naming the manifest', async () => {
    const { root, dest, report } = await realBackup({ 'a.txt': 'a'.repeat(5000), 'b.txt': 'b' });
    const manifest = path.join(dest, report.set, report.backupId as string, 'manifest.jsonl.gz');
    const { size } = await fsp.stat(manifest);
    await fsp.truncate(manifest, Math.floor(size / 2));
    await fsp.rm(path.join(dest, report.set, report.backupId as string, 'backup.json'));
    const error = await restoreError({ destination: dest, setName: report.set, backupId: report.backupId as string, target: path.join(root, 'target') });
    expect(['MANIFEST_CORRUPT', 'BACKUP_INCOMPLETE']).toContain(error.code);
    expect(error.message).toMatch(/manifest|incomplete|damaged/i);
  });

  test('with the summary intact, a truncated manifest is still caught while restoring', async () => {
    const { root, dest, report } = await realBackup({ 'a.txt': 'a'.repeat(5000), 'b.txt': 'b' });
    const manifest = path.join(dest, report.set, report.backupId as string, 'manifest.jsonl.gz');
    const { size } = await fsp.stat(manifest);
    await fsp.truncate(manifest, Math.floor(size / 2));
    const error = await restoreError({ destination: dest, setName: report.set, target: path.join(root, 'target') });
    expect(error.code).toBe('MANIFEST_CORRUPT');
    expect(error.message).toMatch(/manifest\.jsonl\.gz/);
  });

  test('a stored file that was altered or deleted is reported, the altered one not left in the target, and the rest is restored', async () => {
    const { root, dest, report } = await realBackup({ 'a.txt': 'aaaa', 'b.txt': 'bbbb', 'c.txt': 'cccc' });
    const data = path.join(dest, report.set, report.backupId as string, 'data');
    await fsp.writeFile(path.join(data, 'a.txt'), 'AAAA');
    await fsp.rm(path.join(data, 'b.txt'));
    const target = path.join(root, 'target');
    const r = await restoreBackup({ destination: dest, setName: report.set, target });
    expect(r.errorCount).toBe(2);
    expect(r.errors.map((e) => [e.path, e.code])).toEqual(expect.arrayContaining([['a.txt', 'ECORRUPT'], ['b.txt', 'ENOENT']]));
    expect(r.errors.find((e) => e.path === 'a.txt')?.message).toMatch(/removed from the target/);
    expect(await fsp.readFile(path.join(target, 'c.txt'), 'utf8')).toBe('cccc');
    // Known-bad bytes are not left under the file's real name (the same rule as tar.gz).
    expect((await fsp.readdir(target)).sort()).toEqual(['c.txt']);
    expect(r.files.restored).toBe(1);
  });

  test('a non-empty target is refused; overwrite replaces; skip-existing leaves existing files alone', async () => {
    const { root, dest, report } = await realBackup({ 'a.txt': 'from backup', 'b.txt': 'b' });
    const target = path.join(root, 'target');
    await writeTree(target, { 'a.txt': 'local edit', 'extra.txt': 'mine' });
    expect((await restoreError({ destination: dest, setName: report.set, target })).code).toBe('TARGET_NOT_EMPTY');
    const skipped = await restoreBackup({ destination: dest, setName: report.set, target, overwrite: 'skip' });
    expect(skipped.files).toMatchObject({ restored: 1, skipped: 1 });
    expect(await fsp.readFile(path.join(target, 'a.txt'), 'utf8')).toBe('local edit');
    const over = await restoreBackup({ destination: dest, setName: report.set, target, overwrite: 'overwrite' });
    expect(over.files.restored).toBe(2);
    expect(await fsp.readFile(path.join(target, 'a.txt'), 'utf8')).toBe('from backup');
    expect(await fsp.readFile(path.join(target, 'extra.txt'), 'utf8')).toBe('mine');
  });

  test('a symlink planted in the target is replaced, never written through', async () => {
    const { root, dest, report } = await realBackup({ 'dir/inner.txt': 'inner', 'top.txt': 'top' });
    const outside = path.join(root, 'outside');
    await fsp.mkdir(outside);
    const target = path.join(root, 'target');
    await fsp.mkdir(target);
    await fsp.symlink(outside, path.join(target, 'dir'));
    await fsp.symlink(path.join(outside, 'top.txt'), path.join(target, 'top.txt'));
    await restoreBackup({ destination: dest, setName: report.set, target, overwrite: 'overwrite' });
    expect(await fsp.readdir(outside)).toEqual([]);
    expect((await fsp.lstat(path.join(target, 'dir'))).isDirectory()).toBe(true);
    expect(await fsp.readFile(path.join(target, 'dir/inner.txt'), 'utf8')).toBe('inner');
    expect((await fsp.lstat(path.join(target, 'top.txt'))).isFile()).toBe(true);
  });

  test('with skip-existing, a symlink standing where a folder belongs skips the subtree instead of writing through it', async () => {
    const { root, dest, report } = await realBackup({ 'dir/inner.txt': 'inner', 'top.txt': 'top' });
    const outside = path.join(root, 'outside');
    await fsp.mkdir(outside);
    const target = path.join(root, 'target');
    await fsp.mkdir(target);
    await fsp.symlink(outside, path.join(target, 'dir'));
    const r = await restoreBackup({ destination: dest, setName: report.set, target, overwrite: 'skip' });
    expect(await fsp.readdir(outside)).toEqual([]);
    expect(r.files).toMatchObject({ restored: 1, skipped: 1 });
    expect(r.folders.skipped).toBe(1);
    expect(await fsp.readFile(path.join(target, 'top.txt'), 'utf8')).toBe('top');
  });

  test('a target inside the backup set is refused', async () => {
    const { dest, report } = await realBackup({ 'a.txt': 'a' });
    const error = await restoreError({ destination: dest, setName: report.set, target: path.join(dest, report.set, 'restore-here') });
    expect(error.code).toBe('TARGET_INSIDE_BACKUP');
  });

  test('unknown set and unknown backup id', async () => {
    const { root, dest, report } = await realBackup({ 'a.txt': 'a' });
    expect((await restoreError({ destination: dest, setName: 'nope', target: path.join(root, 't') })).code).toBe('SET_NOT_FOUND');
    expect((await restoreError({ destination: dest, setName: report.set, backupId: '20200101T000000000Z-full', target: path.join(root, 't') })).code).toBe('BACKUP_NOT_FOUND');
  });

  test('read-only folders are restored with their mode after their contents', async () => {
    const { root, src, dest, report } = await realBackup({ 'ro/a.txt': 'a' });
    await fsp.chmod(path.join(src, 'ro'), 0o555);
    const [again] = await runBackup({ sources: [src], destination: dest, type: 'incremental' });
    expect(again.ok).toBe(true);
    const target = path.join(root, 'target');
    await restoreBackup({ destination: dest, setName: report.set, target });
    expect((await fsp.stat(path.join(target, 'ro'))).mode & 0o777).toBe(0o555);
    expect(await fsp.readFile(path.join(target, 'ro/a.txt'), 'utf8')).toBe('a');
    await fsp.chmod(path.join(src, 'ro'), 0o755);
  });
});
