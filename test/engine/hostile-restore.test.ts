import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { RestoreOptions, RestoreReport } from '../../nodes/Backup/engine';
import { BackupError, restoreBackup, runBackup, verifyBackups } from '../../nodes/Backup/engine';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { dirEntry, fileEntry, linkEntry } from '../helpers/forge';
import type { ForgedMember, ForgedStorage } from '../helpers/forgeArchive';
import { forgeStored, tarGz } from '../helpers/forgeArchive';
import { listTree } from '../helpers/tree';

/**
 * Restore of hostile backups (issue 7): a manifest or archive written by someone who controls the
 * destination must never make restore write outside its target. Every test keeps an `outside`
 * folder holding one sentinel file next to the target and checks it is exactly as it was.
 * Existing tests this file does not repeat: restore.test.ts "restore refuses hostile manifests..."
 * (folder format) and targz.test.ts "members that do not match the manifest...".
 */

const dirs = tempDirs('n8n-backup-hostile-restore-');
afterEach(() => dirs.cleanup());

const ID = '20260101T000000000Z-full';
const SET = 'set';
const FORMATS: ForgedStorage[] = ['folder', 'tar.gz'];
const SENTINEL = 'sentinel: must stay exactly like this';
/** An absolute member name: outside every target. */
const ABSOLUTE_MEMBER = '/tmp/n8n-backup-hostile-absolute/abs.txt';

interface Scene {
  root: string;
  dest: string;
  target: string;
  outside: string;
}

async function scene(): Promise<Scene> {
  const root = await dirs.make();
  const outside = path.join(root, 'outside');
  await writeTree(outside, { 'sentinel.txt': SENTINEL });
  return { root, dest: path.join(root, 'dest'), target: path.join(root, 'target'), outside };
}

/** The outside folder holds its sentinel and nothing else; nothing appeared beside the target either. */
async function expectOutsideUntouched(s: Scene): Promise<void> {
  expect(await listTree(s.outside)).toEqual([{ path: 'sentinel.txt', kind: 'file' }]);
  expect(await fsp.readFile(path.join(s.outside, 'sentinel.txt'), 'utf8')).toBe(SENTINEL);
  const besides = (await fsp.readdir(s.root)).filter((n) => !['dest', 'target', 'outside', 'fake-data'].includes(n));
  expect(besides).toEqual([]);
}

async function restoreError(options: RestoreOptions): Promise<BackupError> {
  const error: unknown = await restoreBackup(options).then(
    (report) => new Error(`expected a refusal, restore reported ${JSON.stringify(report.summary)}`),
    (e: unknown) => e,
  );
  if (!(error instanceof BackupError)) throw new Error(`expected a BackupError, got ${String(error)}`);
  return error;
}

/** Forges the same hostile entries in both formats: files under data/ or members of data.tar.gz. */
async function forge(s: Scene, storage: ForgedStorage, entries: Record<string, unknown>[], files: Record<string, string>): Promise<void> {
  const members: ForgedMember[] = Object.entries(files).map(([name, data]) => ({ name, data }));
  await forgeStored(path.join(s.dest, SET), ID, storage, entries, { files, members });
}

describe.each(FORMATS)('%s: hostile manifests are refused before anything is written', (storage) => {
  // `out` is filled in per test: the absolute path of the scene's outside folder.
  const cases: [string, (out: string) => Record<string, unknown>[], string][] = [
    ['a path with ..', () => [fileEntry('../outside/escaped.txt', 'x', ID)], 'UNSAFE_PATH'],
    ['a path with .. after a folder', () => [dirEntry('a'), fileEntry('a/../../outside/escaped.txt', 'x', ID)], 'UNSAFE_PATH'],
    ['an absolute path into the outside folder', (out) => [fileEntry(`${out}/escaped.txt`, 'x', ID)], 'UNSAFE_PATH'],
    ['a NUL byte in a path', () => [fileEntry('escaped.txt\0.png', 'x', ID)], 'UNSAFE_PATH'],
    ['a `.` component', () => [dirEntry('a'), fileEntry('a/./escaped.txt', 'x', ID)], 'UNSAFE_PATH'],
    ['an empty component', () => [dirEntry('a'), fileEntry('a//escaped.txt', 'x', ID)], 'UNSAFE_PATH'],
    ['a trailing slash', () => [dirEntry('a/')], 'UNSAFE_PATH'],
    ['a component longer than 255 bytes', () => [fileEntry('x'.repeat(256), 'x', ID)], 'UNSAFE_PATH'],
    ['a symlink to the outside folder, then a file below it', (out) => [linkEntry('a', out), fileEntry('a/escaped.txt', 'x', ID)], 'UNSAFE_PATH'],
    ['a relative symlink climbing out, then a file below it', () => [linkEntry('a', '../outside'), fileEntry('a/escaped.txt', 'x', ID)], 'UNSAFE_PATH'],
    ['a symlink, then a folder and a file below it', (out) => [linkEntry('a', out), dirEntry('a/sub'), fileEntry('a/sub/escaped.txt', 'x', ID)], 'UNSAFE_PATH'],
    ['a symlink, then a folder of the same name (duplicate)', (out) => [linkEntry('a', out), dirEntry('a'), fileEntry('a/escaped.txt', 'x', ID)], 'MANIFEST_CORRUPT'],
    ['a symlink after a file of the same name (duplicate)', (out) => [fileEntry('a', 'x', ID), linkEntry('a', out)], 'MANIFEST_CORRUPT'],
    ['a file entry twice', () => [fileEntry('a', 'x', ID), fileEntry('a', 'y', ID)], 'MANIFEST_CORRUPT'],
    ['a folder entry twice', () => [dirEntry('a'), dirEntry('a')], 'MANIFEST_CORRUPT'],
  ];

  test.each(cases)('%s', async (_name, entriesFor, code) => {
    const s = await scene();
    const entries = entriesFor(s.outside);
    const files: Record<string, string> = {};
    for (const e of entries) if (e.kind === 'file' && !(e.path as string).includes('\0')) files[e.path as string] = 'x';
    // Keep the forged data files inside the backup folder (forgeBackup joins them under data/).
    for (const p of Object.keys(files)) if (path.isAbsolute(p) || p.includes('..') || p.length > 255) delete files[p];
    await forge(s, storage, entries, files);
    const error = await restoreError({ destination: s.dest, setName: SET, target: s.target });
    expect(error.code).toBe(code);
    expect(error.message).toMatch(/Refusing to restore|unsafe path|duplicated or out of order/);
    // The manifest is checked whole before the first write: the target stays empty.
    expect(await fsp.readdir(s.target).catch(() => [])).toEqual([]);
    await expectOutsideUntouched(s);
    // With --overwrite into a target that is not empty, the same refusal.
    await writeTree(s.target, { 'mine.txt': 'mine' });
    expect((await restoreError({ destination: s.dest, setName: SET, target: s.target, overwrite: 'overwrite' })).code).toBe(code);
    expect(await fsp.readdir(s.target)).toEqual(['mine.txt']);
    await expectOutsideUntouched(s);
  });

  test('a symlink entry pointing outside is restored as a link, and nothing is written through it', async () => {
    const s = await scene();
    await forge(s, storage, [linkEntry('a', s.outside), fileEntry('b.txt', 'b', ID)], { 'b.txt': 'b' });
    const report = await restoreBackup({ destination: s.dest, setName: SET, target: s.target });
    expect(report.errors).toEqual([]);
    expect(await fsp.readlink(path.join(s.target, 'a'))).toBe(s.outside);
    expect(await fsp.readFile(path.join(s.target, 'b.txt'), 'utf8')).toBe('b');
    await expectOutsideUntouched(s);
  });
});

describe.each(FORMATS)('%s: symlink targets a forged manifest may hold', (storage) => {
  // A symlink's target is text written into the link, never a path the restore writes to; but it
  // must not crash the restore either.
  const targets: [string, string][] = [
    ['a NUL byte', 'evil\0target'],
    ['an empty target', ''],
    ['a target longer than PATH_MAX', 'x/'.repeat(3000)],
  ];
  test.each(targets)('%s: refused before anything is written (MANIFEST_CORRUPT), never a crash midway', async (_name, target) => {
    const s = await scene();
    await forge(s, storage, [fileEntry('0-first.txt', 'f', ID), linkEntry('a', target), fileEntry('b.txt', 'b', ID)], { '0-first.txt': 'f', 'b.txt': 'b' });
    const outcome: unknown = await restoreBackup({ destination: s.dest, setName: SET, target: s.target }).catch((e: unknown) => e);
    // (Errors from Node's fs are not `instanceof Error` inside jest's sandbox: say what came back.)
    if (!(outcome instanceof BackupError)) throw new Error(`expected a refusal, got ${String((outcome as RestoreReport).summary ?? outcome).slice(0, 300)}`);
    expect(outcome.code).toBe('MANIFEST_CORRUPT');
    expect(outcome.message).toMatch(/symlink entry "a" has an impossible target/);
    expect(await fsp.readdir(s.target).catch(() => [])).toEqual([]);
    await expectOutsideUntouched(s);
  });
});

describe.each(FORMATS)('%s: symlinks planted in the target before the restore', (storage) => {
  /** A real backup of { dir/inner.txt, top.txt, new.txt } in `storage` format, and its set name. */
  async function realBackup(s: Scene): Promise<void> {
    const src = path.join(s.root, 'src');
    await writeTree(src, { 'dir/inner.txt': 'inner', 'top.txt': 'top', 'new.txt': 'new' });
    const [outcome] = await runBackup({ sources: [src], destination: s.dest, type: 'full', setName: SET, format: storage });
    if (!outcome.ok) throw outcome.error;
    await fsp.rm(src, { recursive: true });
  }

  /** target/dir -> outside (a folder), target/top.txt -> outside/sentinel.txt, target/new.txt -> outside/created.txt (dangling). */
  async function plant(s: Scene): Promise<void> {
    await fsp.mkdir(s.target);
    await fsp.symlink(s.outside, path.join(s.target, 'dir'));
    await fsp.symlink(path.join(s.outside, 'sentinel.txt'), path.join(s.target, 'top.txt'));
    await fsp.symlink(path.join(s.outside, 'created.txt'), path.join(s.target, 'new.txt'));
  }

  test('default policy: TARGET_NOT_EMPTY, nothing written', async () => {
    const s = await scene();
    await realBackup(s);
    await plant(s);
    expect((await restoreError({ destination: s.dest, setName: SET, target: s.target })).code).toBe('TARGET_NOT_EMPTY');
    expect((await fsp.readdir(s.target)).sort()).toEqual(['dir', 'new.txt', 'top.txt']);
    await expectOutsideUntouched(s);
  });

  test('overwrite: every planted link is replaced, none is written through', async () => {
    const s = await scene();
    await realBackup(s);
    await plant(s);
    const report = await restoreBackup({ destination: s.dest, setName: SET, target: s.target, overwrite: 'overwrite' });
    expect(report.errors).toEqual([]);
    expect(report.files.restored).toBe(3);
    expect(await listTree(s.target)).toEqual([
      { path: 'dir', kind: 'dir' },
      { path: 'dir/inner.txt', kind: 'file' },
      { path: 'new.txt', kind: 'file' },
      { path: 'top.txt', kind: 'file' },
    ]);
    expect(await fsp.readFile(path.join(s.target, 'top.txt'), 'utf8')).toBe('top');
    await expectOutsideUntouched(s);
  });

  test('skip-existing: planted links are left alone (dangling ones too), never written through', async () => {
    const s = await scene();
    await realBackup(s);
    await plant(s);
    const report = await restoreBackup({ destination: s.dest, setName: SET, target: s.target, overwrite: 'skip' });
    expect(report.errors).toEqual([]);
    expect(report.files.restored).toBe(0);
    for (const name of ['dir', 'new.txt', 'top.txt']) expect((await fsp.lstat(path.join(s.target, name))).isSymbolicLink()).toBe(true);
    await expectOutsideUntouched(s);
  });
});

describe('tar.gz: members that do not match the manifest', () => {
  // targz.test.ts already covers `../escaped.txt`, an absolute name, a symlink member, a wrong size,
  // a missing member and an extra one. Here: the other non-file types, a name climbing out through
  // a pax record, and a member claiming more bytes than the manifest.
  const hostile: [string, ForgedMember][] = [
    ['a hard link to a file outside', { name: 'a.bin', type: 'link', linkname: '../outside/sentinel.txt' }],
    ['a hard link by absolute path', { name: 'a.bin', type: 'link', linkname: '/etc/passwd' }],
    ['a character device (/dev/zero)', { name: 'a.bin', type: 'character-device', devmajor: 1, devminor: 5 }],
    ['a block device', { name: 'a.bin', type: 'block-device', devmajor: 7, devminor: 0 }],
    ['a FIFO', { name: 'a.bin', type: 'fifo' }],
    ['a folder', { name: 'a.bin', type: 'directory' }],
  ];

  async function forgedTarScene(members: ForgedMember[]): Promise<Scene> {
    const s = await scene();
    await forgeStored(path.join(s.dest, SET), ID, 'tar.gz', [fileEntry('a.bin', 'aaaa', ID), fileEntry('b.txt', 'bbbb', ID)], { members });
    return s;
  }

  test.each(hostile)('%s in place of a file: reported per file, nothing created for it, the rest restored', async (_name, member) => {
    const s = await forgedTarScene([member, { name: 'b.txt', data: 'bbbb' }]);
    const report = await restoreBackup({ destination: s.dest, setName: SET, target: s.target });
    expect(report.errors).toEqual([expect.objectContaining({ path: 'a.bin', code: 'ECORRUPT' })]);
    expect(report.errors[0].message).toMatch(/is a .*not a regular file/);
    expect(await listTree(s.target)).toEqual([{ path: 'b.txt', kind: 'file' }]);
    expect(await fsp.readFile(path.join(s.target, 'b.txt'), 'utf8')).toBe('bbbb');
    await expectOutsideUntouched(s);
    const verified = await verifyBackups({ destination: s.dest, setName: SET, full: true });
    expect(verified.problems).toEqual([expect.objectContaining({ path: 'a.bin' })]);
  });

  test('members named ../x, ../../x and an absolute path, besides the right ones: ignored, nothing escapes', async () => {
    const s = await forgedTarScene([
      { name: '../outside/sentinel.txt', data: 'overwritten!' },
      { name: '../../x', data: 'escaped' },
      { name: ABSOLUTE_MEMBER, data: 'escaped' },
      { name: 'a.bin', data: 'aaaa' },
      { name: 'b.txt', data: 'bbbb' },
      { name: 'b.txt/../../outside/sentinel.txt', data: 'overwritten!' },
    ]);
    const report = await restoreBackup({ destination: s.dest, setName: SET, target: s.target });
    expect(report.errors).toEqual([]);
    expect(await listTree(s.target)).toEqual([
      { path: 'a.bin', kind: 'file' },
      { path: 'b.txt', kind: 'file' },
    ]);
    await expectOutsideUntouched(s);
    expect(await fsp.lstat(ABSOLUTE_MEMBER).catch(() => undefined)).toBeUndefined();
  });

  test('a name given by a pax record that climbs out (../outside/sentinel.txt) is never written', async () => {
    const s = await scene();
    // A name over 100 bytes goes into a pax record (or ustar's prefix field); readers join it back.
    const long = `${'a'.repeat(120)}/../`;
    await forgeStored(path.join(s.dest, SET), ID, 'tar.gz', [fileEntry('b.txt', 'bbbb', ID)], {
      members: [
        { name: `${long}../outside/sentinel.txt`, data: 'overwritten!' },
        { name: 'b.txt', data: 'bbbb' },
      ],
    });
    const report = await restoreBackup({ destination: s.dest, setName: SET, target: s.target });
    expect(report.errors).toEqual([]);
    expect(await listTree(s.target)).toEqual([{ path: 'b.txt', kind: 'file' }]);
    await expectOutsideUntouched(s);
  });

  test('a member longer than the manifest says: the extra bytes are not trusted (ECORRUPT), nothing else written', async () => {
    const s = await forgedTarScene([
      { name: 'a.bin', data: 'aaaa and then a lot more that the manifest never mentioned' },
      { name: 'b.txt', data: 'bbbb' },
    ]);
    const report = await restoreBackup({ destination: s.dest, setName: SET, target: s.target });
    expect(report.errors).toEqual([expect.objectContaining({ path: 'a.bin', code: 'ECORRUPT', message: expect.stringMatching(/removed from the target/) })]);
    // a.bin failed its hash: removed again, not left with bytes nobody vouched for.
    expect(await listTree(s.target)).toEqual([{ path: 'b.txt', kind: 'file' }]);
    await expectOutsideUntouched(s);
  });

  test('the forging helper itself writes what it is asked (so the tests above test the engine)', async () => {
    const gz = await tarGz([{ name: '../x', data: 'x' }, { name: 'l', type: 'link', linkname: '/etc/passwd' }]);
    const { execFileSync } = await import('node:child_process');
    const root = await dirs.make();
    await fsp.writeFile(path.join(root, 't.tar.gz'), gz);
    const listed = execFileSync('tar', ['-tvzf', path.join(root, 't.tar.gz')]).toString('utf8');
    expect(listed).toMatch(/\.\.\/x/);
    expect(listed).toMatch(/l link to \/?etc\/passwd/);
  });
});

describe('folder format: a stored file reached through a symlink planted in the backup', () => {
  // Someone who can write the destination but not read the secret: data/x -> outside folder.
  test.each([
    ['a folder inside data/', 'x'],
    ['data/ itself', ''],
  ])('%s: the restore does not copy a file from outside the backup set into the target', async (_what, linked) => {
    const s = await scene();
    const dir = await forgeStored(path.join(s.dest, SET), ID, 'folder', [dirEntry('x'), fileEntry('x/sentinel.txt', 'guess', ID), fileEntry('y.txt', 'y', ID)], { files: linked === '' ? {} : { 'y.txt': 'y' } });
    if (linked === '') {
      // data/ -> a folder outside holding x/sentinel.txt (the secret) and y.txt.
      await fsp.rm(path.join(dir, 'data'), { recursive: true, force: true });
      const fake = path.join(s.root, 'fake-data');
      await writeTree(fake, { 'y.txt': 'y' });
      await fsp.symlink(s.outside, path.join(fake, 'x'));
      await fsp.symlink(fake, path.join(dir, 'data'));
    } else {
      await fsp.symlink(s.outside, path.join(dir, 'data', linked));
    }
    const report = await restoreBackup({ destination: s.dest, setName: SET, target: s.target });
    const refused = linked === '' ? ['x/sentinel.txt', 'y.txt'] : ['x/sentinel.txt'];
    // (Files are restored concurrently: problems come in any order.)
    expect(report.errors.map((e) => [e.path, e.code]).sort()).toEqual(refused.map((p) => [p, 'EBADLOC']));
    expect(report.errors[0].message).toMatch(/reached through a symlink, out of the backup set; not restored/);
    if (linked !== '') expect(await fsp.readFile(path.join(s.target, 'y.txt'), 'utf8')).toBe('y');
    const copied = await fsp.readFile(path.join(s.target, 'x', 'sentinel.txt'), 'utf8').catch(() => undefined);
    expect(copied).not.toBe(SENTINEL);
    await expectOutsideUntouched(s);
  });
});
