/**
 * Restore of some paths (include/exclude) and "as of" a time, on real trees: a full and an
 * incremental of one source, in each storage format and encrypted.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { RestoreOptions, RestoreReport, StorageFormat } from '../../nodes/Backup/engine';
import { BackupError, restoreBackup, runBackup } from '../../nodes/Backup/engine';
import { tempDirs, writeTree } from '../helpers/fixtures';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());
/** Chains shared by the tests of one describe (made in beforeAll, removed in afterAll). */
const shared = tempDirs();

const T0 = new Date('2026-11-17T10:00:00.000Z');
const T1 = new Date('2026-11-18T10:00:00.000Z');
const PASSPHRASE = 'correct horse battery staple';

interface Chain {
  root: string;
  src: string;
  dest: string;
  set: string;
  full: string;
  incremental: string;
  base: Omit<RestoreOptions, 'target'>;
}

/** Every path below `root` (folders end with /), sorted. */
async function listTree(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await fsp.readdir(path.join(root, rel))).sort()) {
    const child = rel === '' ? name : `${rel}/${name}`;
    const stats = await fsp.lstat(path.join(root, child));
    if (stats.isDirectory()) out.push(`${child}/`, ...(await listTree(root, child)));
    else out.push(child);
  }
  return out;
}

async function exists(p: string): Promise<boolean> {
  return fsp.lstat(p).then(
    () => true,
    () => false,
  );
}

async function backup(src: string, dest: string, type: 'full' | 'incremental', now: Date, format: StorageFormat, passphrase?: string): Promise<{ id: string; set: string }> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, type, format, passphrase, now: () => now });
  if (!outcome.ok) throw outcome.error;
  return { id: outcome.report.backupId as string, set: outcome.report.set };
}

/**
 * Full at T0: docs/a.txt, docs/sub/b.txt, docs/sub/c.log, photos/p.jpg, old.txt, top.txt.
 * Incremental at T1: docs/a.txt changed, old.txt deleted, new.txt added (photos/ stays in the full).
 */
async function makeChain(format: StorageFormat, passphrase?: string, temp = dirs): Promise<Chain> {
  const root = await temp.make();
  const src = path.join(root, 'src');
  const dest = path.join(root, 'dest');
  await writeTree(src, { 'docs/a.txt': 'a first', 'docs/sub/b.txt': 'b', 'docs/sub/c.log': 'log', 'photos/p.jpg': 'jpeg bytes', 'old.txt': 'old', 'top.txt': 'top' });
  await fsp.chmod(path.join(src, 'docs'), 0o750);
  await fsp.utimes(path.join(src, 'docs'), 1_700_000_000, 1_700_000_000);
  const full = await backup(src, dest, 'full', T0, format, passphrase);
  await fsp.writeFile(path.join(src, 'docs/a.txt'), 'a second, longer');
  await fsp.rm(path.join(src, 'old.txt'));
  await fsp.writeFile(path.join(src, 'new.txt'), 'new');
  await fsp.utimes(path.join(src, 'docs'), 1_700_000_000, 1_700_000_000);
  const incremental = await backup(src, dest, 'incremental', T1, format, passphrase);
  return { root, src, dest, set: full.set, full: full.id, incremental: incremental.id, base: { destination: dest, setName: full.set, passphrase } };
}

async function restoreError(options: RestoreOptions): Promise<BackupError> {
  const error: unknown = await restoreBackup(options).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof BackupError)) throw new Error(`expected a BackupError, got ${String(error)}`);
  return error;
}

async function restoreInto(chain: Chain, options: Partial<RestoreOptions>): Promise<{ target: string; report: RestoreReport; tree: string[] }> {
  const target = path.join(chain.root, `target-${Math.random().toString(36).slice(2)}`);
  const report = await restoreBackup({ ...chain.base, target, ...options });
  expect(report.errors).toEqual([]);
  return { target, report, tree: await listTree(target) };
}

const formats: [string, StorageFormat, string | undefined][] = [
  ['folder', 'folder', undefined],
  ['tar.gz', 'tar.gz', undefined],
  ['encrypted tar.gz', 'tar.gz', PASSPHRASE],
];

describe.each(formats)('restore of some paths (%s)', (_name, format, passphrase) => {
  let chain: Chain;
  beforeAll(async () => {
    chain = await makeChain(format, passphrase, shared);
  });
  afterAll(() => shared.cleanup());

  test('one file: only it, and its parent folder with the recorded mode and mtime', async () => {
    const { target, report, tree } = await restoreInto(chain, { include: ['docs/a.txt'] });
    expect(tree).toEqual(['docs/', 'docs/a.txt']);
    expect(await fsp.readFile(path.join(target, 'docs/a.txt'), 'utf8')).toBe('a second, longer');
    const docs = await fsp.stat(path.join(target, 'docs'));
    expect(docs.mode & 0o777).toBe(0o750);
    expect(docs.mtimeMs).toBe(1_700_000_000_000);
    expect(report.files.restored).toBe(1);
    expect(report.bytes.restored).toBe('a second, longer'.length);
    expect(report.selection).toEqual({ include: ['docs/a.txt'], exclude: [], unmatched: [] });
    expect(report.summary).toContain('(only include docs/a.txt)');
  });

  test('a folder restores with everything under it; a trailing slash is the same', async () => {
    for (const include of ['docs', 'docs/']) {
      const { tree, report } = await restoreInto(chain, { include: [include] });
      expect(tree).toEqual(['docs/', 'docs/a.txt', 'docs/sub/', 'docs/sub/b.txt', 'docs/sub/c.log']);
      expect(report.files.restored).toBe(3);
    }
  });

  test('a glob without / matches a name at any depth; ./name only at the root', async () => {
    expect((await restoreInto(chain, { include: ['*.log'] })).tree).toEqual(['docs/', 'docs/sub/', 'docs/sub/c.log']);
    expect((await restoreInto(chain, { include: ['*.txt'], exclude: ['docs'] })).tree).toEqual(['new.txt', 'top.txt']);
    expect((await restoreInto(chain, { include: ['docs/**/*.txt'] })).tree).toEqual(['docs/', 'docs/a.txt', 'docs/sub/', 'docs/sub/b.txt']);
    expect((await restoreInto(chain, { include: ['./top.txt', './docs/a.txt'] })).tree).toEqual(['docs/', 'docs/a.txt', 'top.txt']);
  });

  test('exclude within an include, and exclude alone', async () => {
    expect((await restoreInto(chain, { include: ['docs'], exclude: ['*.log'] })).tree).toEqual(['docs/', 'docs/a.txt', 'docs/sub/', 'docs/sub/b.txt']);
    expect((await restoreInto(chain, { include: ['docs'], exclude: ['docs/sub'] })).tree).toEqual(['docs/', 'docs/a.txt']);
    expect((await restoreInto(chain, { exclude: ['docs', 'photos/'] })).tree).toEqual(['new.txt', 'top.txt']);
  });

  test('a file whose bytes are in the older backup of the chain, and one that only the older backup has', async () => {
    const latest = await restoreInto(chain, { include: ['photos'] });
    expect(latest.report.backupId).toBe(chain.incremental);
    expect(await fsp.readFile(path.join(latest.target, 'photos/p.jpg'), 'utf8')).toBe('jpeg bytes');
    const older = await restoreInto(chain, { backupId: chain.full, include: ['old.txt', 'docs/a.txt'] });
    expect(older.tree).toEqual(['docs/', 'docs/a.txt', 'old.txt']);
    expect(await fsp.readFile(path.join(older.target, 'docs/a.txt'), 'utf8')).toBe('a first');
  });

  test('an include that matched nothing beside one that did is reported, not fatal', async () => {
    const { report, tree } = await restoreInto(chain, { include: ['top.txt', 'no-such-file'] });
    expect(tree).toEqual(['top.txt']);
    expect(report.selection.unmatched).toEqual(['no-such-file']);
    expect(report.notices.join(' ')).toContain('no-such-file matched nothing');
  });
});

test.each(formats)('filters that select nothing fail with NOTHING_SELECTED and write nothing (%s)', async (_name, format, passphrase) => {
  const chain = await makeChain(format, passphrase);
  for (const filters of [{ include: ['nothing-here'] }, { include: ['./sub'] }, { include: ['docs'], exclude: ['docs'] }, { exclude: ['*'] }]) {
    const target = path.join(chain.root, 'never');
    const error = await restoreError({ ...chain.base, target, ...filters });
    expect(error.code).toBe('NOTHING_SELECTED');
    expect(await exists(target)).toBe(false);
  }
});

test('bad patterns are refused with PATTERN_INVALID before anything is read or written', async () => {
  const root = await dirs.make();
  const target = path.join(root, 'target');
  for (const bad of ['../etc/passwd', 'docs/../../x', '/srv/data/docs', '.', './', 'a//b', 'x\0y']) {
    // The destination does not even exist: the pattern is checked first.
    const error = await restoreError({ destination: path.join(root, 'missing'), setName: 'set', target, include: [bad] });
    expect(error.code).toBe('PATTERN_INVALID');
    const excluded = await restoreError({ destination: path.join(root, 'missing'), setName: 'set', target, exclude: [bad] });
    expect(excluded.code).toBe('PATTERN_INVALID');
  }
  expect(await exists(target)).toBe(false);
});

describe('a restore of some paths reads only the backups that hold them', () => {
  test.each(formats)('%s: the data of the other backup of the chain is gone, the selected files still restore', async (_name, format, passphrase) => {
    const chain = await makeChain(format, passphrase);
    const dataOf = async (id: string): Promise<string[]> => (await fsp.readdir(path.join(chain.dest, chain.set, id))).filter((n) => n.startsWith('data'));
    // Bytes of docs/a.txt and new.txt are in the incremental: remove the full's data.
    for (const name of await dataOf(chain.full)) await fsp.rm(path.join(chain.dest, chain.set, chain.full, name), { recursive: true });
    const { target, tree } = await restoreInto(chain, { include: ['docs/a.txt', 'new.txt'] });
    expect(tree).toEqual(['docs/', 'docs/a.txt', 'new.txt']);
    expect(await fsp.readFile(path.join(target, 'new.txt'), 'utf8')).toBe('new');
    // Without the filter the files stored in the full are reported missing: the removal is real.
    const whole = await restoreBackup({ ...chain.base, target: path.join(chain.root, 'whole') });
    expect(whole.errorCount).toBeGreaterThan(0);
  });
});

describe('hard links and symlinks at the edge of the selection', () => {
  test.each(formats)('%s: a name whose first name is left out is restored as a full copy; a symlink as its text', async (_name, format, passphrase) => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    await writeTree(src, { 'a/first.bin': 'shared bytes', 'b/readme': 'r' });
    await fsp.link(path.join(src, 'a/first.bin'), path.join(src, 'b/second.bin'));
    await fsp.symlink('../a/first.bin', path.join(src, 'b/to-first'));
    const { set } = await backup(src, dest, 'full', T0, format, passphrase);
    const target = path.join(root, 'target');
    const report = await restoreBackup({ destination: dest, setName: set, passphrase, target, include: ['b'] });
    expect(report.errors).toEqual([]);
    expect(await listTree(target)).toEqual(['b/', 'b/readme', 'b/second.bin', 'b/to-first']);
    expect(await fsp.readFile(path.join(target, 'b/second.bin'), 'utf8')).toBe('shared bytes');
    expect((await fsp.stat(path.join(target, 'b/second.bin'))).nlink).toBe(1);
    expect(await fsp.readlink(path.join(target, 'b/to-first'))).toBe('../a/first.bin');
    expect(report.files.links).toBe(0);
    // Both names selected: still one inode, as in the source.
    const both = path.join(root, 'both');
    const all = await restoreBackup({ destination: dest, setName: set, passphrase, target: both, include: ['*.bin'] });
    expect(all.files.links).toBe(1);
    expect((await fsp.stat(path.join(both, 'b/second.bin'))).ino).toBe((await fsp.stat(path.join(both, 'a/first.bin'))).ino);
  });
});

test('skip-existing into a folder that already holds a selected file keeps it and restores the rest of the selection', async () => {
  const chain = await makeChain('folder');
  const target = path.join(chain.root, 'target');
  await writeTree(target, { 'docs/a.txt': 'mine', 'unrelated.txt': 'x' });
  const report = await restoreBackup({ ...chain.base, target, include: ['docs'], overwrite: 'skip' });
  expect(report.files.skipped).toBe(1);
  expect(await fsp.readFile(path.join(target, 'docs/a.txt'), 'utf8')).toBe('mine');
  expect(await listTree(target)).toEqual(['docs/', 'docs/a.txt', 'docs/sub/', 'docs/sub/b.txt', 'docs/sub/c.log', 'unrelated.txt']);
});

describe('restore as of a time', () => {
  let chain: Chain;
  beforeAll(async () => {
    chain = await makeChain('tar.gz', undefined, shared);
  });
  afterAll(() => shared.cleanup());

  const chosen = async (asOf: string, timeZone?: string): Promise<RestoreReport> => (await restoreInto(chain, { asOf, timeZone, include: ['top.txt'] })).report;

  test('the exact start of a backup picks it; a millisecond before picks the one before', async () => {
    expect((await chosen(T1.toISOString())).backupId).toBe(chain.incremental);
    expect((await chosen(new Date(T1.getTime() - 1).toISOString())).backupId).toBe(chain.full);
    expect((await chosen(T0.toISOString())).backupId).toBe(chain.full);
  });

  test('between backups, after the last, with offsets, in a time zone, a date alone (end of that day)', async () => {
    const between = await chosen('2026-11-17T18:00:00Z');
    expect(between.backupId).toBe(chain.full);
    expect(between.asOf).toBe('2026-11-17T18:00:00.000Z');
    expect(between.summary).toContain('at or before 2026-11-17T18:00:00.000Z');
    expect((await chosen('2030-01-01T00:00:00Z')).backupId).toBe(chain.incremental);
    // 11:00 in Berlin (UTC+1 in November) is T1 exactly; +01:00 says the same.
    expect((await chosen('2026-11-18T11:00', 'Europe/Berlin')).backupId).toBe(chain.incremental);
    expect((await chosen('2026-11-18T11:00+01:00')).backupId).toBe(chain.incremental);
    expect((await chosen('2026-11-18T10:59:59.999+01:00')).backupId).toBe(chain.full);
    // Without an offset or zone: UTC.
    expect((await chosen('2026-11-18T09:59')).backupId).toBe(chain.full);
    expect((await chosen('2026-11-17')).backupId).toBe(chain.full);
    expect((await chosen('2026-11-18')).backupId).toBe(chain.incremental);
  });

  test('as of a time and some paths: a file deleted since comes back', async () => {
    const { target, tree, report } = await restoreInto(chain, { asOf: '2026-11-17T12:00:00Z', include: ['old.txt'] });
    expect(report.backupId).toBe(chain.full);
    expect(tree).toEqual(['old.txt']);
    expect(await fsp.readFile(path.join(target, 'old.txt'), 'utf8')).toBe('old');
  });

  test('before the first backup: BACKUP_NOT_FOUND naming the first; not a date: AS_OF_INVALID; with a backup id: INVALID_OPTION', async () => {
    const target = path.join(chain.root, 'never');
    const before = await restoreError({ ...chain.base, target, asOf: new Date(T0.getTime() - 1).toISOString() });
    expect(before.code).toBe('BACKUP_NOT_FOUND');
    expect(before.message).toContain(chain.full);
    for (const bad of ['yesterday', '2026-02-30', '2026-11-17T25:00', '17/11/2026', '2026-11-17T10:00+25:00']) {
      expect((await restoreError({ ...chain.base, target, asOf: bad })).code).toBe('AS_OF_INVALID');
    }
    expect((await restoreError({ ...chain.base, target, asOf: '2026-11-17', timeZone: 'Mars/Olympus' })).code).toBe('AS_OF_INVALID');
    expect((await restoreError({ ...chain.base, target, asOf: '2026-11-17', backupId: chain.full })).code).toBe('INVALID_OPTION');
    expect(await exists(target)).toBe(false);
  });
});
