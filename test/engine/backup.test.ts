import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupOptions, BackupReport } from '../../nodes/Backup/engine';
import { BackupError, listDestination, restoreBackup, runBackup } from '../../nodes/Backup/engine';
import { readManifestLines, tempDirs, writeTree } from '../helpers/fixtures';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

async function setup(spec: Record<string, string | Buffer | null>): Promise<{ src: string; dest: string; root: string }> {
  const root = await dirs.make();
  const src = path.join(root, 'src');
  await fsp.mkdir(src);
  await writeTree(src, spec);
  return { src, dest: path.join(root, 'dest'), root };
}

async function backup(src: string, dest: string, type: BackupOptions['type'], extra: Partial<BackupOptions> = {}): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, type, ...extra });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

async function expectFatal(promise: Promise<unknown>, code: string): Promise<BackupError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BackupError);
  expect((error as BackupError).code).toBe(code);
  return error as BackupError;
}

async function fatalOf(src: string, dest: string, extra: Partial<BackupOptions> = {}): Promise<BackupError> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, type: 'full', ...extra });
  if (outcome.ok) throw new Error('expected the backup to fail');
  return outcome.error;
}

async function entriesOf(dest: string, r: BackupReport): Promise<Record<string, Record<string, unknown>>> {
  const lines = await readManifestLines(path.join(dest, r.set, r.backupId as string));
  return Object.fromEntries(lines.slice(1, -1).map((e) => [e.path as string, e]));
}

async function leftovers(dest: string, set: string): Promise<string[]> {
  return (await fsp.readdir(path.join(dest, set))).filter((n) => n.startsWith('.partial-'));
}

describe('full, differential, incremental', () => {
  test('a full backup stores every file at its relative path under data/, with mtime and mode', async () => {
    const { src, dest } = await setup({ 'a/x.txt': 'x', 'b.txt': 'bee', 'empty/': null });
    await fsp.utimes(path.join(src, 'b.txt'), 1_000_000, 1_000_000);
    await fsp.chmod(path.join(src, 'b.txt'), 0o640);
    const r = await backup(src, dest, 'full');
    expect(r).toMatchObject({ type: 'full', skipped: false, errorCount: 0 });
    // Files a/x.txt and b.txt; the folders a and empty counted as folders (issue 16: never as files).
    expect(r.files).toEqual({ scanned: 2, added: 2, changed: 0, deleted: 0, unchanged: 0, stored: 2, links: 0 });
    expect(r.folders).toEqual({ scanned: 2, added: 2, changed: 0, deleted: 0, unchanged: 0 });
    const data = path.join(dest, r.set, r.backupId as string, 'data');
    expect(await fsp.readFile(path.join(data, 'b.txt'), 'utf8')).toBe('bee');
    const st = await fsp.stat(path.join(data, 'b.txt'));
    expect(st.mtimeMs).toBe(1_000_000_000);
    expect(st.mode & 0o777).toBe(0o640);
    expect(await fsp.readFile(path.join(data, 'a/x.txt'), 'utf8')).toBe('x');
  });

  test('the manifest has a header, one entry per path in walk order with `in` pointers and hashes, and a trailer', async () => {
    const { src, dest } = await setup({ 'a/x': '1', 'a.txt': '2', 'a-b': '3' });
    await fsp.symlink('a.txt', path.join(src, 'link'));
    const r = await backup(src, dest, 'full');
    const lines = await readManifestLines(path.join(dest, r.set, r.backupId as string));
    expect(lines[0]).toMatchObject({ manifest: 'n8n-backup', version: 1, id: r.backupId, type: 'full', base: null, parent: null, source: src, storage: 'folder', hash: 'sha256' });
    expect(lines.slice(1, -1).map((e) => e.path)).toEqual(['a', 'a/x', 'a-b', 'a.txt', 'link']);
    expect(lines[2]).toMatchObject({ kind: 'file', size: 1, in: r.backupId, hash: '6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b' });
    expect(lines[5]).toMatchObject({ kind: 'symlink', target: 'a.txt' });
    expect(lines[lines.length - 1]).toMatchObject({ trailer: true, complete: true, entries: 5, errorCount: 0 });
  });

  test('incremental stores only changes since the newest backup; differential all changes since the full', async () => {
    const { src, dest } = await setup({ 'keep.txt': 'k', 'edit.txt': 'e', 'gone.txt': 'g' });
    const full = await backup(src, dest, 'full');
    await fsp.writeFile(path.join(src, 'edit.txt'), 'edited');
    await fsp.rm(path.join(src, 'gone.txt'));
    await fsp.writeFile(path.join(src, 'new.txt'), 'n');
    const inc1 = await backup(src, dest, 'incremental');
    expect(inc1).toMatchObject({ type: 'incremental' });
    expect(inc1.files).toMatchObject({ added: 1, changed: 1, deleted: 1, unchanged: 1, stored: 2 });
    await fsp.writeFile(path.join(src, 'later.txt'), 'l');
    const inc2 = await backup(src, dest, 'incremental');
    expect(inc2.files).toMatchObject({ added: 1, changed: 0, deleted: 0, stored: 1 });
    const diff = await backup(src, dest, 'differential');
    expect(diff.files).toMatchObject({ added: 2, changed: 1, deleted: 1, stored: 3 });

    const listed = await listDestination(dest, full.set);
    expect(listed.map((b) => [b.type, b.base, b.parent])).toEqual([
      ['full', null, null],
      ['incremental', full.backupId, full.backupId],
      ['incremental', full.backupId, inc1.backupId],
      ['differential', full.backupId, full.backupId],
    ]);
    const entries = await entriesOf(dest, inc2);
    expect(entries['keep.txt'].in).toBe(full.backupId);
    expect(entries['edit.txt'].in).toBe(inc1.backupId);
    expect(entries['later.txt'].in).toBe(inc2.backupId);
    expect(entries['gone.txt']).toBeUndefined();
  });

  test('differential or incremental with no full yet makes a full and says why', async () => {
    const { src, dest } = await setup({ 'a.txt': 'a' });
    const r = await backup(src, dest, 'incremental');
    expect(r.type).toBe('full');
    expect(r.operation).toBe('incremental');
    expect(r.decision).toMatch(/no complete full backup yet/);
  });

  test('a file moved in with an old mtime is caught (compare with the manifest, not "newer than")', async () => {
    const { src, dest, root } = await setup({ 'a.txt': 'a' });
    await backup(src, dest, 'full');
    await fsp.writeFile(path.join(root, 'old.txt'), 'from 2001');
    await fsp.utimes(path.join(root, 'old.txt'), new Date('2001-01-01'), new Date('2001-01-01'));
    await fsp.rename(path.join(root, 'old.txt'), path.join(src, 'old.txt'));
    const r = await backup(src, dest, 'incremental');
    expect(r.files).toMatchObject({ added: 1, stored: 1 });
  });

  test('a rename is a delete plus an add', async () => {
    const { src, dest } = await setup({ 'dir/a.txt': 'a' });
    await backup(src, dest, 'full');
    await fsp.rename(path.join(src, 'dir'), path.join(src, 'moved'));
    const r = await backup(src, dest, 'incremental');
    // The folder and its file: each counted as its kind.
    expect(r.files).toMatchObject({ added: 1, deleted: 1 });
    expect(r.folders).toMatchObject({ added: 1, deleted: 1 });
  });

  test('a same-size rewrite right after a backup is caught (racy mtime)', async () => {
    const { src, dest } = await setup({ 'f.txt': 'AAAA' });
    const full = await backup(src, dest, 'full');
    await fsp.writeFile(path.join(src, 'f.txt'), 'BBBB');
    const r = await backup(src, dest, 'incremental');
    expect(r.files).toMatchObject({ changed: 1, stored: 1 });
    const restored = path.join(path.dirname(src), 'restored');
    await restoreBackup({ destination: dest, setName: full.set, target: restored });
    expect(await fsp.readFile(path.join(restored, 'f.txt'), 'utf8')).toBe('BBBB');
  });

  test('content rewritten with the old mtime put back is caught through ctime', async () => {
    const { src, dest } = await setup({ 'f.txt': 'AAAA' });
    const file = path.join(src, 'f.txt');
    await fsp.utimes(file, new Date('2020-01-01'), new Date('2020-01-01'));
    await backup(src, dest, 'full');
    await fsp.writeFile(file, 'BBBB');
    await fsp.utimes(file, new Date('2020-01-01'), new Date('2020-01-01'));
    const r = await backup(src, dest, 'incremental');
    expect(r.files).toMatchObject({ changed: 1, stored: 1 });
  });

  test('a chmod alone is recorded without storing the bytes again', async () => {
    const { src, dest } = await setup({ 'f.txt': 'AAAA' });
    const file = path.join(src, 'f.txt');
    await fsp.utimes(file, new Date('2020-01-01'), new Date('2020-01-01'));
    const full = await backup(src, dest, 'full');
    await fsp.chmod(file, 0o600);
    const r = await backup(src, dest, 'incremental');
    expect(r.files).toMatchObject({ changed: 1, stored: 0 });
    expect((await entriesOf(dest, r))['f.txt']).toMatchObject({ mode: 0o600, in: full.backupId });
  });

  test('content mode re-reads unchanged-looking files but stores nothing when they are equal', async () => {
    const { src, dest } = await setup({ 'f.txt': 'AAAA' });
    await fsp.utimes(path.join(src, 'f.txt'), new Date('2020-01-01'), new Date('2020-01-01'));
    await backup(src, dest, 'full');
    const r = await backup(src, dest, 'incremental', { compareContent: true });
    expect(r.files).toMatchObject({ unchanged: 1, stored: 0 });
  });

  test('several sources in one call: each its own set; a failing one does not stop the others', async () => {
    const { src, dest, root } = await setup({ 'a.txt': 'a' });
    const other = path.join(root, 'other');
    await writeTree(other, { 'b.txt': 'b' });
    const outcomes = await runBackup({ sources: [src, path.join(root, 'missing'), other], destination: dest, type: 'full' });
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, true]);
    const sets = new Set(outcomes.flatMap((o) => (o.ok ? [o.report.set] : [])));
    expect(sets.size).toBe(2);
    expect(outcomes[1]).toMatchObject({ ok: false, error: { code: 'SOURCE_MISSING' } });
  });
});

describe('skips, excludes and what is never followed', () => {
  test('an empty source is skipped with a reason, unless told otherwise', async () => {
    const { src, dest } = await setup({});
    const r = await backup(src, dest, 'full');
    expect(r).toMatchObject({ skipped: true, skipReason: 'source is empty', backupId: null, type: null });
    expect(r.summary).toMatch(/skipped: source is empty/);
    const made = await backup(src, dest, 'full', { skipEmptySource: false });
    expect(made.skipped).toBe(false);
  });

  test('skipUnchanged skips a backup when nothing changed and writes nothing', async () => {
    const { src, dest } = await setup({ 'a.txt': 'a' });
    await fsp.utimes(path.join(src, 'a.txt'), new Date('2020-01-01'), new Date('2020-01-01'));
    const full = await backup(src, dest, 'full');
    const r = await backup(src, dest, 'incremental', { skipUnchanged: true });
    expect(r).toMatchObject({ skipped: true, skipReason: 'no changes' });
    expect(await listDestination(dest, full.set)).toHaveLength(1);
    expect(await leftovers(dest, full.set)).toEqual([]);
  });

  test('exclude globs: names at any depth, and paths relative to the source', async () => {
    const { src, dest } = await setup({ 'a.log': '1', 'deep/b.log': '2', 'cache/x': '3', 'keep.txt': '4', 'deep/cache/y': '5' });
    const r = await backup(src, dest, 'full', { exclude: ['*.log', 'cache/**'] });
    expect(Object.keys(await entriesOf(dest, r)).sort()).toEqual(['deep', 'deep/cache', 'deep/cache/y', 'keep.txt']);
    const anchored = await backup(src, dest, 'full', { exclude: ['/deep/cache'] });
    expect(Object.keys(await entriesOf(dest, anchored)).sort()).toEqual(['a.log', 'cache', 'cache/x', 'deep', 'deep/b.log', 'keep.txt']);
  });

  test('symlinks are stored as links and never followed, even to outside folders or in loops', async () => {
    const { src, dest, root } = await setup({ 'a.txt': 'a' });
    await writeTree(root, { 'outside/secret.txt': 'secret' });
    await fsp.symlink(path.join(root, 'outside'), path.join(src, 'out'));
    await fsp.symlink('loop', path.join(src, 'loop'));
    const r = await backup(src, dest, 'full');
    const entries = await entriesOf(dest, r);
    expect(entries.out).toMatchObject({ kind: 'symlink', target: path.join(root, 'outside') });
    expect(entries.loop).toMatchObject({ kind: 'symlink', target: 'loop' });
    expect(Object.keys(entries).some((p) => p.includes('secret'))).toBe(false);
  });

  test('a FIFO is recorded as a per-file problem and does not hang the run', async () => {
    const { src, dest } = await setup({ 'a.txt': 'a' });
    execFileSync('mkfifo', [path.join(src, 'pipe')]);
    const r = await backup(src, dest, 'full');
    expect(r.errorCount).toBe(1);
    expect(r.errors[0]).toMatchObject({ path: 'pipe', code: 'ESPECIAL' });
    expect(Object.keys(await entriesOf(dest, r))).toEqual(['a.txt']);
  });

  test('a source given through a symlink is backed up (the root link is resolved)', async () => {
    const { src, dest, root } = await setup({ 'a.txt': 'a' });
    await fsp.symlink(src, path.join(root, 'via-link'));
    const r = await backup(path.join(root, 'via-link'), dest, 'full');
    expect(r.files.stored).toBe(1);
  });
});

describe('refusals', () => {
  test('missing source, file as source, destination inside source, source inside destination', async () => {
    const { src, dest, root } = await setup({ 'a.txt': 'a', 'sub/b.txt': 'b' });
    expect((await fatalOf(path.join(root, 'nope'), dest)).code).toBe('SOURCE_MISSING');
    expect((await fatalOf(path.join(src, 'a.txt'), dest)).code).toBe('SOURCE_NOT_DIRECTORY');
    const inside = await fatalOf(src, path.join(src, 'backups'));
    expect(inside.code).toBe('DESTINATION_INSIDE_SOURCE');
    expect(inside.message).toMatch(/inside the source/);
    expect((await fatalOf(src, src)).code).toBe('DESTINATION_INSIDE_SOURCE');
    expect((await fatalOf(path.join(src, 'sub'), src)).code).toBe('SOURCE_INSIDE_DESTINATION');
    await fsp.symlink(path.join(src, 'sub'), path.join(root, 'sneaky'));
    expect((await fatalOf(src, path.join(root, 'sneaky', 'backups'))).code).toBe('DESTINATION_INSIDE_SOURCE');
    await expect(fsp.access(path.join(src, 'backups'))).rejects.toThrow();
  });

  test('a destination whose name starts with two dots (src/..bk, src/...) is still inside the source', async () => {
    const { src, root } = await setup({ 'a.txt': 'a' });
    expect((await fatalOf(src, path.join(src, '..bk'))).code).toBe('DESTINATION_INSIDE_SOURCE');
    expect((await fatalOf(src, path.join(src, '...'))).code).toBe('DESTINATION_INSIDE_SOURCE');
    expect((await fatalOf(src, `${src}/..bk/`)).code).toBe('DESTINATION_INSIDE_SOURCE');
    await expect(fsp.access(path.join(src, '..bk'))).rejects.toThrow();
    // `src/..bk/..` is src itself; `src/../..bk` is a sibling of src and fine.
    expect((await fatalOf(src, `${src}/..bk/..`)).code).toBe('DESTINATION_INSIDE_SOURCE');
    expect((await backup(src, path.join(src, '..', '..bk'), 'full')).files.stored).toBe(1);
    await expect(fsp.access(path.join(root, '..bk'))).resolves.toBeUndefined();
  });

  test('a destination that is a file is unusable', async () => {
    const { src, root } = await setup({ 'a.txt': 'a' });
    await fsp.writeFile(path.join(root, 'file'), 'x');
    expect((await fatalOf(src, path.join(root, 'file'))).code).toBe('DESTINATION_UNUSABLE');
  });

  test('invalid options are refused before anything is written', async () => {
    await expectFatal(runBackup({ sources: ['/a', '/b'], destination: '/tmp/x', type: 'full', setName: 'one' }), 'INVALID_OPTION');
    await expectFatal(runBackup({ sources: [], destination: '/tmp/x', type: 'full' }), 'INVALID_OPTION');
    const { src, dest } = await setup({ 'a.txt': 'a' });
    expect((await fatalOf(src, dest, { setName: '../evil' })).code).toBe('SET_NAME_INVALID');
  });

  test('cancellation removes the partial backup and leaves no backup behind', async () => {
    const spec: Record<string, string> = {};
    for (let i = 0; i < 200; i++) spec[`f${i}.txt`] = `file ${i}`;
    const { src, dest } = await setup(spec);
    const controller = new AbortController();
    controller.abort();
    const error = await fatalOf(src, dest, { signal: controller.signal });
    expect(error.code).toBe('CANCELLED');
    const sets = await fsp.readdir(dest);
    expect(await leftovers(dest, sets[0])).toEqual([]);
    expect(await listDestination(dest)).toEqual([]);
  });
});
