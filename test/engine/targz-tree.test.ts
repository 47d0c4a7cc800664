/**
 * The tar.gz archive holds the whole tree (README "How to restore by hand"): a person with only
 * `tar xzf` (GNU tar) or Python's tarfile gets every folder (empty ones too), symlink (relative,
 * absolute, dangling) and hard link of a full backup, with modes and mtimes. The members that are
 * not regular files do not upset the reader: it resynchronises after a damaged gzip member between
 * them, and a hard link's bytes are never taken from a member that is not a regular file.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupOptions, BackupReport } from '../../nodes/Backup/engine';
import { restoreBackup, runBackup, verifyBackups } from '../../nodes/Backup/engine';
import { readIndex } from '../../nodes/Backup/engine/formats/tar/memberIndex';
import { testIf } from '../helpers/capabilities';
import { tempDirs, textPattern, writeTree } from '../helpers/fixtures';
import { forgeStored } from '../helpers/forgeArchive';
import { fileEntry } from '../helpers/forge';
import type { TreeSnapshot } from '../helpers/tree';
import { expectSameTree, listTree, snapshotTree } from '../helpers/tree';

const dirs = tempDirs('n8n-backup-tartree-');
afterEach(() => dirs.cleanup());

const SET = 'set';
const T0 = Date.UTC(2019, 5, 1) / 1000;

async function backup(src: string, dest: string, extra: Partial<BackupOptions> = {}): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, type: 'full', setName: SET, format: 'tar.gz', ...extra });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

const archiveOf = (dest: string, report: BackupReport): string => path.join(dest, SET, report.backupId as string, 'data.tar.gz');

/** Groups of paths sharing an inode (regular files with more than one name below root), sorted. */
async function linkGroups(root: string): Promise<string[][]> {
  const byInode = new Map<string, string[]>();
  for (const { path: rel, kind } of await listTree(root)) {
    if (kind !== 'file') continue;
    const s = await fsp.lstat(path.join(root, rel));
    byInode.set(`${s.ino}`, [...(byInode.get(`${s.ino}`) ?? []), rel]);
  }
  return [...byInode.values()].filter((g) => g.length > 1).map((g) => g.sort()).sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/**
 * Empty folders (nested too), a private folder, symlinks (relative, absolute, dangling, to a
 * folder), a hard-link group across folders, modes; every mtime in whole seconds (tar keeps seconds).
 */
async function wholeTree(src: string): Promise<void> {
  await writeTree(src, {
    'docs/readme.txt': 'read me\n',
    'docs/private/key.txt': 'secret\n',
    'empty': null,
    'nested/empty/deeper': null,
    'bin/tool.sh': '#!/bin/sh\necho hi\n',
    'shared/original.txt': 'one inode, three names\n',
  });
  await fsp.link(path.join(src, 'shared/original.txt'), path.join(src, 'docs/same.txt'));
  await fsp.link(path.join(src, 'shared/original.txt'), path.join(src, 'zz-last-name.txt'));
  await fsp.symlink('../docs/readme.txt', path.join(src, 'bin/relative-link'));
  await fsp.symlink('/etc/hostname', path.join(src, 'absolute-link'));
  await fsp.symlink('does/not/exist', path.join(src, 'dangling-link'));
  await fsp.symlink('docs', path.join(src, 'folder-link'));
  await fsp.chmod(path.join(src, 'bin/tool.sh'), 0o755);
  await fsp.chmod(path.join(src, 'docs/private/key.txt'), 0o600);
  await fsp.chmod(path.join(src, 'docs/private'), 0o700);
  await fsp.chmod(path.join(src, 'shared/original.txt'), 0o640);
  // Deepest first, so a folder's mtime is not moved by setting its children's.
  const entries = (await listTree(src)).reverse();
  for (const [i, { path: rel, kind }] of entries.entries()) {
    const t = T0 + i * 3600;
    if (kind === 'symlink') await fsp.lutimes(path.join(src, rel), t, t);
    else await fsp.utimes(path.join(src, rel), t, t);
  }
}

/** The snapshot without symlinks' modes and mtimes (Python's tarfile sets neither on a symlink). */
function withoutSymlinkTimes(tree: TreeSnapshot): TreeSnapshot {
  return new Map([...tree].map(([p, e]) => [p, e.kind === 'symlink' ? { ...e, mtimeMs: 0, mode: 0 } : e]));
}

function hasPython(): string | undefined {
  try {
    execFileSync('python3', ['-c', 'import tarfile'], { stdio: 'pipe' });
    return undefined;
  } catch {
    return 'python3 is not installed';
  }
}

describe('plain tar tools extract a full backup as the whole tree', () => {
  test('GNU tar (tar xzf): folders, empty folders, symlinks, hard links, modes and mtimes', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await wholeTree(src);
    const dest = path.join(root, 'dest');
    const full = await backup(src, dest);
    expect(full.errors).toEqual([]);
    const out = path.join(root, 'extracted');
    await fsp.mkdir(out);
    // -p: modes as stored (root gets that by default; other users would get the umask applied).
    execFileSync('tar', ['-xpzf', archiveOf(dest, full), '-C', out]);
    expectSameTree(await snapshotTree(out), await snapshotTree(src), 'tar xzf of the full backup');
    expect(await linkGroups(out)).toEqual([['docs/same.txt', 'shared/original.txt', 'zz-last-name.txt']]);
  });

  testIf(hasPython())("Python's tarfile: the same tree (symlinks' own mode and mtime aside, which tarfile does not set)", async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await wholeTree(src);
    const dest = path.join(root, 'dest');
    const full = await backup(src, dest);
    const out = path.join(root, 'extracted');
    const script = [
      'import sys, tarfile',
      'with tarfile.open(sys.argv[1]) as t:',
      "    kw = {'filter': 'fully_trusted'} if hasattr(tarfile, 'fully_trusted_filter') else {}",
      '    t.extractall(sys.argv[2], **kw)',
    ].join('\n');
    execFileSync('python3', ['-c', script, archiveOf(dest, full), out]);
    expectSameTree(withoutSymlinkTimes(await snapshotTree(out)), withoutSymlinkTimes(await snapshotTree(src)), "tarfile's extraction");
    expect(await linkGroups(out)).toEqual([['docs/same.txt', 'shared/original.txt', 'zz-last-name.txt']]);
  });

  test('an encrypted backup: the opened stream is the same kind of tar (GNU tar extracts it whole)', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await wholeTree(src);
    const dest = path.join(root, 'dest');
    const passphrase = 'correct horse battery staple';
    const full = await backup(src, dest, { passphrase });
    const { keyForReading } = await import('../../nodes/Backup/engine/set/encryption');
    const { listBackups } = await import('../../nodes/Backup/engine/set/catalog');
    const { openStream } = await import('../../nodes/Backup/engine/formats/sealed');
    const setDir = path.join(dest, SET);
    const key = await keyForReading(setDir, await listBackups(setDir), passphrase);
    const opened: Buffer[] = [];
    const { createReadStream } = await import('node:fs');
    const sealed = path.join(setDir, full.backupId as string, 'data.tar.gz.enc');
    for await (const part of createReadStream(sealed).pipe(openStream(key as NonNullable<typeof key>, `${full.backupId}/data.tar.gz`, 'data.tar.gz.enc')) as AsyncIterable<Buffer>) opened.push(part);
    const plain = path.join(root, 'opened.tar.gz');
    await fsp.writeFile(plain, Buffer.concat(opened));
    const out = path.join(root, 'extracted');
    await fsp.mkdir(out);
    execFileSync('tar', ['-xpzf', plain, '-C', out]);
    expectSameTree(await snapshotTree(out), await snapshotTree(src), 'tar xzf of the opened archive');
    expect(await linkGroups(out)).toEqual([['docs/same.txt', 'shared/original.txt', 'zz-last-name.txt']]);
  });
});

describe('members that are not regular files and a damaged gzip member', () => {
  test.each([
    ['with its member index', true],
    ['without it (found by scanning for headers)', false],
  ])('the reader resumes past the damage among folder, symlink and hard-link members (%s); only files in the damaged member are lost', async (_title, keepIndex) => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const spec: Record<string, Buffer | null> = {};
    // 30 folders, each with a ~100 KiB file, an empty subfolder, and (below) a symlink and a hard link.
    for (let i = 0; i < 30; i++) {
      spec[`d${String(i).padStart(2, '0')}/file.txt`] = textPattern(100 * 1024 + i, i + 1);
      spec[`d${String(i).padStart(2, '0')}/empty`] = null;
    }
    await writeTree(src, spec);
    for (let i = 0; i < 30; i++) {
      const dir = path.join(src, `d${String(i).padStart(2, '0')}`);
      await fsp.symlink('file.txt', path.join(dir, 'link'));
      await fsp.link(path.join(dir, 'file.txt'), path.join(dir, 'twin.txt'));
    }
    const dest = path.join(root, 'dest');
    const full = await backup(src, dest);
    const backupDir = path.join(dest, SET, full.backupId as string);
    const found = await readIndex(backupDir, undefined, full.backupId as string);
    if (!('index' in found)) throw new Error('no index');
    const index = found.index;
    expect(index.members).toBeGreaterThanOrEqual(3);
    // Damage the magic of a gzip member in the middle.
    const k = Math.floor(index.members / 2);
    const archive = archiveOf(dest, full);
    const bytes = await fsp.readFile(archive);
    bytes[index.record(k).compressed] ^= 0xff;
    await fsp.writeFile(archive, bytes);
    if (!keepIndex) await fsp.rm(path.join(backupDir, 'data.tar.idx'));

    const target = path.join(root, 'target');
    const report = await restoreBackup({ destination: dest, setName: SET, target });
    const lost = report.errors.map((e) => e.path);
    expect(lost.length).toBeGreaterThan(0);
    // At most the files of two folders (the damaged member is ~1 MiB: about ten files), and each
    // lost file's twin is lost with it (its bytes are the same member's), nothing else.
    expect(lost.length).toBeLessThanOrEqual(2 * 12);
    for (const p of lost) expect(p).toMatch(/^d\d\d\/(file|twin)\.txt$/);
    for (let i = 0; i < 30; i++) {
      const d = `d${String(i).padStart(2, '0')}`;
      // Folders and symlinks live in the manifest: all restored.
      expect((await fsp.lstat(path.join(target, d, 'empty'))).isDirectory()).toBe(true);
      expect(await fsp.readlink(path.join(target, d, 'link'))).toBe('file.txt');
      if (lost.includes(`${d}/file.txt`)) {
        expect(lost).toContain(`${d}/twin.txt`);
        await expect(fsp.lstat(path.join(target, d, 'file.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
        await expect(fsp.lstat(path.join(target, d, 'twin.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
        continue;
      }
      const content = spec[`${d}/file.txt`] as Buffer;
      const [a, b] = await Promise.all([fsp.readFile(path.join(target, d, 'file.txt')), fsp.stat(path.join(target, d, 'twin.txt'))]);
      expect(createHash('sha256').update(a).digest('hex')).toBe(createHash('sha256').update(content).digest('hex'));
      expect(b.ino).toBe((await fsp.stat(path.join(target, d, 'file.txt'))).ino);
    }
    const verified = await verifyBackups({ destination: dest, setName: SET, full: true });
    const named = verified.problems.map((p) => p.path).filter((p) => !p.startsWith('data.tar'));
    expect(named.sort()).toEqual([...lost].sort());
  });

  test("a hard link whose first name's member is a symlink: refused per file, nothing created for either name", async () => {
    const root = await dirs.make();
    const dest = path.join(root, 'dest');
    const id = '20240101T000000000Z-full';
    const outside = path.join(root, 'outside.txt');
    await fsp.writeFile(outside, 'aaaa');
    await forgeStored(path.join(dest, SET), id, 'tar.gz', [fileEntry('a', 'aaaa', id), { ...fileEntry('b', 'aaaa', id), link: 'a' }, fileEntry('c', 'cccc', id)], {
      members: [{ name: 'a', type: 'symlink', linkname: outside }, { name: 'b', type: 'link', linkname: 'a' }, { name: 'c', data: 'cccc' }],
    });
    const target = path.join(root, 'target');
    const report = await restoreBackup({ destination: dest, setName: SET, target });
    expect(report.errors.map((e) => [e.path, e.code])).toEqual([['a', 'ECORRUPT'], ['b', 'ECORRUPT']]);
    expect(await listTree(target)).toEqual([{ path: 'c', kind: 'file' }]);
    expect(await fsp.readFile(outside, 'utf8')).toBe('aaaa');
  });
});
