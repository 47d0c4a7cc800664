/**
 * Hard links (README "What is stored"): a group of names of one inode inside the source is stored
 * once, recorded with `link` on every name but the first, and restored as names of one inode, in
 * both formats (encrypted tar.gz too), across full, differential and incremental backups whose
 * groups change; a target that cannot link gets reported copies; old backups restore as before.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupOptions, BackupReport, BackupType, RestoreReport, StorageFormat } from '../../nodes/Backup/engine';
import { restoreBackup, runBackup, verifyBackups } from '../../nodes/Backup/engine';
import { testIf, tmpfsUnavailable } from '../helpers/capabilities';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { forgeStored } from '../helpers/forgeArchive';
import { fileEntry } from '../helpers/forge';
import type { TreeSnapshot } from '../helpers/tree';
import { expectSameTree, snapshotTree } from '../helpers/tree';

const dirs = tempDirs('n8n-backup-links-');
afterEach(() => dirs.cleanup());

const SET = 'set';
const PASS = 'correct horse battery staple';

interface Variant {
  title: string;
  format: StorageFormat;
  passphrase?: string;
}

const VARIANTS: Variant[] = [
  { title: 'folder', format: 'folder' },
  { title: 'tar.gz', format: 'tar.gz' },
  { title: 'encrypted tar.gz', format: 'tar.gz', passphrase: PASS },
];

async function backup(v: Variant, src: string, dest: string, type: BackupType, extra: Partial<BackupOptions> = {}): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, type, setName: SET, format: v.format, passphrase: v.passphrase, skipUnchanged: false, ...extra });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

async function restore(v: Variant, dest: string, backupId: string, target: string, extra: { overwrite?: 'overwrite' | 'skip' } = {}): Promise<RestoreReport> {
  return restoreBackup({ destination: dest, setName: SET, backupId, target, passphrase: v.passphrase, ...extra });
}

/** The hard-link groups of a tree: sets of relative paths sharing an inode (groups of one left out), sorted. */
async function linkGroups(root: string): Promise<string[][]> {
  const byInode = new Map<string, string[]>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await fsp.readdir(path.join(root, rel))).sort()) {
      const child = rel === '' ? name : `${rel}/${name}`;
      const stats = await fsp.lstat(path.join(root, child));
      if (stats.isDirectory()) await walk(child);
      else if (stats.isFile()) byInode.set(`${stats.dev}:${stats.ino}`, [...(byInode.get(`${stats.dev}:${stats.ino}`) ?? []), child]);
    }
  };
  await walk('');
  return [...byInode.values()].filter((g) => g.length > 1).map((g) => g.sort()).sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/** What a restore must reproduce: every entry (content, mode, mtime, symlink text) and the link groups. */
async function expectRestored(target: string, want: { tree: TreeSnapshot; groups: string[][] }, context: string): Promise<void> {
  expectSameTree(await snapshotTree(target), want.tree, context);
  expect(await linkGroups(target)).toEqual(want.groups);
}

async function capture(src: string): Promise<{ tree: TreeSnapshot; groups: string[][] }> {
  return { tree: await snapshotTree(src), groups: await linkGroups(src) };
}

/** The manifest's entries (header and trailer left out), decrypted with the engine's own reader. */
async function manifestEntries(v: Variant, dest: string, id: string): Promise<Record<string, unknown>[]> {
  const { ManifestReader } = await import('../../nodes/Backup/engine/formats/manifest');
  const { keyForReading } = await import('../../nodes/Backup/engine/set/encryption');
  const { listBackups } = await import('../../nodes/Backup/engine/set/catalog');
  const setDir = path.join(dest, SET);
  const key = v.passphrase === undefined ? undefined : await keyForReading(setDir, await listBackups(setDir), v.passphrase);
  const reader = await ManifestReader.open(path.join(setDir, id), key);
  const out: Record<string, unknown>[] = [];
  try {
    for await (const entry of reader.entries()) out.push({ ...entry });
  } finally {
    await reader.close();
  }
  return out;
}

async function makeSource(root: string): Promise<string> {
  const src = path.join(root, 'src');
  await writeTree(src, {
    'a/first.txt': 'the shared bytes\n',
    'a/alone.txt': 'alone\n',
    'b/deeper/other.bin': Buffer.alloc(300_000, 7),
    'c/x.txt': 'second group\n',
    'empty': null,
  });
  await fsp.link(path.join(src, 'a/first.txt'), path.join(src, 'b/second.txt'));
  await fsp.link(path.join(src, 'a/first.txt'), path.join(src, 'third.txt'));
  await fsp.link(path.join(src, 'b/deeper/other.bin'), path.join(src, 'c/big-twin.bin'));
  await fsp.link(path.join(src, 'c/x.txt'), path.join(src, 'c/y.txt'));
  // A name outside the source: inside, the file is an ordinary file (its group has one name here).
  await fsp.link(path.join(src, 'a/alone.txt'), path.join(root, 'outside.txt'));
  await fsp.symlink('a/first.txt', path.join(src, 'sym'));
  return src;
}

describe.each(VARIANTS)('$title: hard links', (v) => {
  test('a full backup stores a group once and restore makes its names one inode again', async () => {
    const root = await dirs.make();
    const src = await makeSource(root);
    const dest = path.join(root, 'dest');
    const want = await capture(src);
    expect(want.groups).toEqual([['a/first.txt', 'b/second.txt', 'third.txt'], ['b/deeper/other.bin', 'c/big-twin.bin'], ['c/x.txt', 'c/y.txt']]);

    const made = await backup(v, src, dest, 'full');
    expect(made.errors).toEqual([]);
    // Bytes stored once per group: 17 + 6 + 300,000 + 13.
    expect(made.bytes.stored).toBe(17 + 6 + 300_000 + 13);
    expect(made.files.stored).toBe(4);
    const entries = await manifestEntries(v, dest, made.backupId as string);
    const byPath = new Map(entries.map((e) => [e.path as string, e]));
    expect(byPath.get('b/second.txt')).toMatchObject({ kind: 'file', link: 'a/first.txt', size: 17, in: made.backupId, hash: byPath.get('a/first.txt')?.hash });
    expect(byPath.get('third.txt')).toMatchObject({ link: 'a/first.txt' });
    expect(byPath.get('c/big-twin.bin')).toMatchObject({ link: 'b/deeper/other.bin', size: 300_000 });
    expect(byPath.get('c/y.txt')).toMatchObject({ link: 'c/x.txt' });
    for (const first of ['a/first.txt', 'a/alone.txt', 'b/deeper/other.bin', 'c/x.txt']) expect(byPath.get(first)?.link).toBeUndefined();
    if (v.format === 'folder') {
      // Nothing is stored under a further name.
      await expect(fsp.stat(path.join(dest, SET, made.backupId as string, 'data', 'b/second.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    }

    const target = path.join(root, 'restored');
    const report = await restore(v, dest, made.backupId as string, target);
    expect(report.errors).toEqual([]);
    expect(report.warnings).toEqual([]);
    // Every name is a file restored (4 with their bytes, 4 linked to them).
    expect(report.files).toMatchObject({ restored: 8, links: 4, symlinks: 1 });
    await expectRestored(target, want, 'restored full');

    const verified = await verifyBackups({ destination: dest, setName: SET, full: true, passphrase: v.passphrase });
    expect(verified.problems).toEqual([]);
  });

  test('groups that change between backups: differential and incremental chains restore every backup as it was', async () => {
    const root = await dirs.make();
    const src = await makeSource(root);
    const dest = path.join(root, 'dest');
    const states: { id: string; want: { tree: TreeSnapshot; groups: string[][] } }[] = [];
    const step = async (type: BackupType): Promise<BackupReport> => {
      const want = await capture(src);
      const made = await backup(v, src, dest, type);
      expect(made.errors).toEqual([]);
      states.push({ id: made.backupId as string, want });
      return made;
    };
    await step('full');

    // A new name joins an old group; the first name of another group goes (its second name heads it now).
    await fsp.link(path.join(src, 'a/first.txt'), path.join(src, 'b/fourth.txt'));
    await fsp.rm(path.join(src, 'c/x.txt'));
    const inc1 = await step('incremental');
    expect(inc1.files).toMatchObject({ added: 1, deleted: 1 });
    const e1 = new Map((await manifestEntries(v, dest, inc1.backupId as string)).map((e) => [e.path as string, e]));
    // c/y.txt was a further name: its bytes lay under c/x.txt, so it is stored again, now as a first name.
    expect(e1.get('c/y.txt')).toMatchObject({ in: inc1.backupId });
    expect(e1.get('c/y.txt')?.link).toBeUndefined();
    // The unchanged group's new name points at bytes of the full backup.
    expect(e1.get('b/fourth.txt')).toMatchObject({ link: 'a/first.txt', in: states[0].id });

    // A link is broken: third.txt becomes a copy of its own (same bytes, same mtime) - a separate file now.
    const third = path.join(src, 'third.txt');
    const { mtime } = await fsp.stat(third);
    await fsp.rm(third);
    await fsp.writeFile(third, 'the shared bytes\n');
    await fsp.utimes(third, mtime, mtime);
    // A new group appears among files that were separate.
    await fsp.link(path.join(src, 'a/alone.txt'), path.join(src, 'empty/alone-too.txt'));
    const diff = await step('differential');
    const e2 = new Map((await manifestEntries(v, dest, diff.backupId as string)).map((e) => [e.path as string, e]));
    expect(e2.get('third.txt')?.link).toBeUndefined();
    expect(e2.get('third.txt')).toMatchObject({ in: diff.backupId });
    expect(e2.get('empty/alone-too.txt')).toMatchObject({ link: 'a/alone.txt' });

    // The group's content changes through one name: every name sees it.
    await fsp.writeFile(path.join(src, 'b/second.txt'), 'new shared bytes, longer\n');
    await step('incremental');

    for (const { id, want } of states) {
      const target = path.join(root, `restored-${id}`);
      const report = await restore(v, dest, id, target);
      expect(report.errors).toEqual([]);
      await expectRestored(target, want, `restore of ${id}`);
    }
    for (const backupId of ['all', 'latest']) {
      const verified = await verifyBackups({ destination: dest, setName: SET, backupId, full: true, passphrase: v.passphrase });
      expect(verified.problems).toEqual([]);
    }
  });

  test('an excluded first name leaves the next name to hold the bytes', async () => {
    const root = await dirs.make();
    const src = await makeSource(root);
    const dest = path.join(root, 'dest');
    const made = await backup(v, src, dest, 'full', { exclude: ['a/**'] });
    const byPath = new Map((await manifestEntries(v, dest, made.backupId as string)).map((e) => [e.path as string, e]));
    expect(byPath.has('a/first.txt')).toBe(false);
    expect(byPath.get('b/second.txt')?.link).toBeUndefined();
    expect(byPath.get('third.txt')).toMatchObject({ link: 'b/second.txt' });
    const target = path.join(root, 'restored');
    expect((await restore(v, dest, made.backupId as string, target)).errors).toEqual([]);
    expect(await linkGroups(target)).toEqual([['b/deeper/other.bin', 'c/big-twin.bin'], ['b/second.txt', 'third.txt'], ['c/x.txt', 'c/y.txt']]);
  });

  test('a first name left alone by --skip-existing: the further names get the backed-up bytes, linked to each other', async () => {
    const root = await dirs.make();
    const src = await makeSource(root);
    const dest = path.join(root, 'dest');
    const made = await backup(v, src, dest, 'full');
    const target = path.join(root, 'restored');
    await writeTree(target, { 'a/first.txt': 'something else that was there\n' });
    const report = await restore(v, dest, made.backupId as string, target, { overwrite: 'skip' });
    expect(report.errors).toEqual([]);
    expect(await fsp.readFile(path.join(target, 'a/first.txt'), 'utf8')).toBe('something else that was there\n');
    expect(await fsp.readFile(path.join(target, 'b/second.txt'), 'utf8')).toBe('the shared bytes\n');
    expect((await linkGroups(target))[0]).toEqual(['b/deeper/other.bin', 'c/big-twin.bin']);
    expect(await linkGroups(target)).toContainEqual(['b/second.txt', 'third.txt']);
  });
});

describe('restore into a target that cannot link the names of a group', () => {
  testIf(tmpfsUnavailable())('another file system below the target: the name becomes a copy, reported in warnings', async () => {
    const root = await dirs.make();
    const src = await makeSource(root);
    const dest = path.join(root, 'dest');
    const v = VARIANTS[1];
    const made = await backup(v, src, dest, 'full');
    const target = path.join(root, 'restored');
    await fsp.mkdir(path.join(target, 'b'), { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', path.join(target, 'b')]);
    try {
      const report = await restore(v, dest, made.backupId as string, target, { overwrite: 'overwrite' });
      expect(report.errors).toEqual([]);
      // a/first.txt (root fs) -> b/second.txt (tmpfs), b/deeper/other.bin (tmpfs) -> c/big-twin.bin: EXDEV, copies.
      expect(report.warnings).toEqual([expect.objectContaining({ path: 'b/second.txt', code: 'EXDEV' }), expect.objectContaining({ path: 'c/big-twin.bin', code: 'EXDEV' })]);
      expect(report.summary).toMatch(/2 hard link\(s\) restored as copies/);
      expect(await fsp.readFile(path.join(target, 'c/big-twin.bin'))).toEqual(Buffer.alloc(300_000, 7));
      expect(await fsp.readFile(path.join(target, 'b/second.txt'), 'utf8')).toBe('the shared bytes\n');
      const [first, second] = await Promise.all([fsp.stat(path.join(target, 'a/first.txt')), fsp.stat(path.join(target, 'b/second.txt'))]);
      expect(second.ino).not.toBe(first.ino);
      expect(second.mode & 0o7777).toBe(first.mode & 0o7777);
      expect(second.mtimeMs).toBeCloseTo(first.mtimeMs, -1);
      // Names on the same file system are still linked.
      expect(await linkGroups(target)).toContainEqual(['a/first.txt', 'third.txt']);
    } finally {
      execFileSync('umount', [path.join(target, 'b')]);
    }
  });
});

describe('backups made before hard links were kept', () => {
  // Written by the release before this change (n8n-backup backup --type full, both formats) from a
  // tree where a/first, b/second and third were one inode: each name is its own file there.
  const FIXTURES = path.join(__dirname, '..', 'fixtures', 'pre-hardlinks');

  test.each(['folder', 'tar.gz'])('%s: restore as separate files, exactly as before', async (format) => {
    const root = await dirs.make();
    const dest = path.join(root, 'dest');
    await fsp.cp(path.join(FIXTURES, `old-${format}`), dest, { recursive: true });
    const target = path.join(root, 'restored');
    const report = await restoreBackup({ destination: dest, setName: 'old', target });
    expect(report.errors).toEqual([]);
    expect(report.files).toMatchObject({ restored: 4, links: 0, symlinks: 1 });
    for (const name of ['a/first', 'b/second', 'third']) expect(await fsp.readFile(path.join(target, name), 'utf8')).toBe('shared bytes\n');
    expect(await linkGroups(target)).toEqual([]);
    expect((await verifyBackups({ destination: dest, setName: 'old', full: true })).problems).toEqual([]);
  });
});

describe('a hard link whose first name now has other bytes (an entry carried over from an older backup)', () => {
  // What a backup writes when a folder cannot be listed: its old entries are carried over as they
  // were, and may name a first name that has changed since. The link must get its own old bytes.
  test.each(['folder', 'tar.gz'] as const)('%s: the name gets the bytes the manifest says, from the backup holding them', async (storage) => {
    const root = await dirs.make();
    const setDir = path.join(root, 'dest', SET);
    const older = '20240101T000000000Z-full';
    const newer = '20240102T000000000Z-incremental';
    await forgeStored(setDir, older, storage, [fileEntry('a', 'old bytes', older)], { files: { a: 'old bytes' }, members: [{ name: 'a', data: 'old bytes' }] });
    await forgeStored(setDir, newer, storage, [fileEntry('a', 'new bytes', newer), { ...fileEntry('z', 'old bytes', older), link: 'a' }], {
      files: { a: 'new bytes' }, members: [{ name: 'a', data: 'new bytes' }],
    });
    const target = path.join(root, 'restored');
    const report = await restoreBackup({ destination: path.join(root, 'dest'), setName: SET, backupId: newer, target });
    expect(report.errors).toEqual([]);
    expect(await fsp.readFile(path.join(target, 'a'), 'utf8')).toBe('new bytes');
    expect(await fsp.readFile(path.join(target, 'z'), 'utf8')).toBe('old bytes');
    expect(report.files).toMatchObject({ restored: 2, links: 0 });
    expect((await verifyBackups({ destination: path.join(root, 'dest'), setName: SET, backupId: newer, full: true })).problems).toEqual([]);
  });
});

describe('a manifest whose hard links are impossible is refused before anything is written', () => {
  const cases: [string, string][] = [
    ['a first name after the link in walk order', 'z'],
    ['the link itself', 'b'],
    ['an unsafe path', '../outside'],
  ];
  test.each(cases)('%s', async (_title, link) => {
    const root = await dirs.make();
    const setDir = path.join(root, 'dest', SET);
    const id = '20240101T000000000Z-full';
    await forgeStored(setDir, id, 'folder', [fileEntry('a', 'x', id), { ...fileEntry('b', 'x', id), link }, fileEntry('z', 'x', id)], { files: { a: 'x', z: 'x' } });
    const target = path.join(root, 'restored');
    await expect(restoreBackup({ destination: path.join(root, 'dest'), setName: SET, target })).rejects.toMatchObject({ code: 'MANIFEST_CORRUPT' });
    expect(await fsp.readdir(target).catch(() => [])).toEqual([]);
  });
});
