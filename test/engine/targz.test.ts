import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { BackupOptions, BackupReport, BackupType, StorageFormat } from '../../nodes/Backup/engine';
import { restoreBackup, runBackup, verifyBackups } from '../../nodes/Backup/engine';
import { TarReader } from '../../nodes/Backup/engine/formats/tar/reader';
import { TarGzSink } from '../../nodes/Backup/engine/formats/tar/sink';
import { testIf, tmpfsUnavailable } from '../helpers/capabilities';
import { readManifestLines, tempDirs, textPattern, writeTree } from '../helpers/fixtures';
import type { TreeSnapshot } from '../helpers/tree';
import { expectSameTree, snapshotTree } from '../helpers/tree';

const dirs = tempDirs('n8n-backup-targz-');
afterEach(async () => {
  jest.restoreAllMocks();
  await dirs.cleanup();
});

const SET = 'set';
const KiB = 1024;
const MiB = 1024 * 1024;
const OLD = Date.UTC(2001, 0, 1) / 1000;

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');


async function backup(src: string, dest: string, type: BackupType, extra: Partial<BackupOptions> = {}): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, type, setName: SET, format: 'tar.gz', ...extra });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

function backupDir(dest: string, report: BackupReport): string {
  return path.join(dest, SET, report.backupId as string);
}

function archiveOf(dest: string, report: BackupReport): string {
  return path.join(backupDir(dest, report), 'data.tar.gz');
}

async function restoreTo(dest: string, backupId: string, target: string): Promise<TreeSnapshot> {
  const report = await restoreBackup({ destination: dest, setName: SET, backupId, target });
  expect(report.errors).toEqual([]);
  return snapshotTree(target);
}

/** Paths of the files a backup's manifest says it holds itself, in manifest order. */
async function heldFiles(dest: string, report: BackupReport): Promise<string[]> {
  const lines = await readManifestLines(backupDir(dest, report));
  return lines.filter((l) => l.kind === 'file' && l.in === report.backupId).map((l) => l.path as string);
}

/**
 * The members a backup's archive holds, in manifest order: every folder and symlink, and every file
 * whose bytes the backup holds (a hard link's name as a hard-link member).
 */
async function archivedNames(dest: string, report: BackupReport): Promise<string[]> {
  const lines = await readManifestLines(backupDir(dest, report));
  return lines.filter((l) => l.kind === 'dir' || l.kind === 'symlink' || (l.kind === 'file' && l.in === report.backupId)).map((l) => l.path as string);
}

/** What GNU tar lists (names with no newline in them). */
function tarList(file: string): string[] {
  const out = execFileSync('tar', ['--quoting-style=literal', '-tzf', file]).toString('utf8');
  return out.split('\n').filter((l) => l.length > 0);
}

// tar-stream (a dev dependency, independent of the engine's own reader) to take archives apart and forge damaged ones.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const tarStream = require('tar-stream') as {
  extract(): NodeJS.WritableStream & AsyncIterable<AsyncIterable<Buffer> & { header: TarHeader }>;
  pack(): NodeJS.ReadableStream & { entry(header: TarHeader, data: Buffer, cb?: (e?: Error) => void): void; finalize(): void };
};

interface TarHeader {
  name: string;
  type?: string;
  size?: number;
  mode?: number;
  mtime?: Date;
  linkname?: string;
}

interface Member {
  header: TarHeader;
  data: Buffer;
}

async function readMembers(file: string): Promise<Member[]> {
  const extract = tarStream.extract();
  extract.end(gunzipSync(await fsp.readFile(file)));
  const out: Member[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk);
    out.push({ header: { ...entry.header }, data: Buffer.concat(chunks) });
  }
  return out;
}

async function writeMembers(file: string, members: Member[]): Promise<void> {
  const pack = tarStream.pack();
  for (const m of members) pack.entry({ ...m.header, size: m.data.length }, m.data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  await fsp.writeFile(file, gzipSync(Buffer.concat(chunks)));
  // The member index described the archive this one replaces: without it, this is an archive as
  // backups before the index were written (one gzip stream here), read by scanning.
  await fsp.rm(path.join(path.dirname(file), 'data.tar.idx'), { force: true });
}

async function exists(p: string): Promise<boolean> {
  return fsp.lstat(p).then(
    () => true,
    () => false,
  );
}

// Sizes around every boundary the code has: 64 KiB (stream buffers), 1 MiB (read chunk and the
// small-file limit), 512-byte tar blocks, and an empty file.
const SIZES = [0, 1, 511, 512, 513, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, MiB - 1, MiB, MiB + 1, 3 * MiB + 7];

// Names tar tools like to rewrite: backslashes, a drive-letter-like prefix, a trailing
// backslash, NFC and NFD forms, characters outside the BMP, spaces, a leading dash and dot, a long
// path (ustar prefix field) and a 250-byte name (pax header).
const NAMES = ['with space.txt', ' lead', '-dash', '.hidden', 'back\\slash', 'C:colon', 'trail\\', 'é', 'e\u0301', '日本語/ファイル.txt', '😀.txt', 'ｆ', `${'long-folder-name/'.repeat(7)}leaf.txt`, `${'n'.repeat(246)}.txt`];

/** A tree with every kind of entry, odd names, boundary sizes, modes and old mtimes. */
async function richTree(src: string): Promise<void> {
  const spec: Record<string, Buffer | string | null> = { 'empty-folder': null, 'deep/er/empty': null };
  for (const [i, size] of SIZES.entries()) spec[`sizes/f-${String(size).padStart(8, '0')}.bin`] = textPattern(size, i);
  for (const [i, name] of NAMES.entries()) spec[`names/${name}`] = `content of name ${i}`;
  spec['names/new\nline'] = 'newline in the name';
  spec['random.bin'] = randomBytes(2 * MiB + 3);
  await writeTree(src, spec);
  await fsp.symlink('../random.bin', path.join(src, 'names/link-up'));
  await fsp.symlink('/nonexistent/dangling', path.join(src, 'dangling'));
  await fsp.symlink('sizes', path.join(src, 'link-to-folder'));
  await fsp.chmod(path.join(src, 'names/with space.txt'), 0o600);
  await fsp.chmod(path.join(src, 'names/-dash'), 0o755);
  await fsp.chmod(path.join(src, 'names/é'), 0o444);
  await fsp.chmod(path.join(src, 'deep'), 0o750);
  await fsp.utimes(path.join(src, 'names/ｆ'), OLD, OLD + 0.25);
  await fsp.lutimes(path.join(src, 'dangling'), OLD, OLD);
  await fsp.utimes(path.join(src, 'deep/er/empty'), OLD, OLD + 1);
  await fsp.utimes(path.join(src, 'deep/er'), OLD, OLD + 2);
}

describe('tar.gz round trips', () => {
  test('a full backup holds every file in one data.tar.gz and restores the tree exactly', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    await richTree(src);
    const before = await snapshotTree(src);
    const full = await backup(src, dest, 'full');
    expect(full).toMatchObject({ type: 'full', errorCount: 0 });
    const entries = await fsp.readdir(backupDir(dest, full));
    expect(entries.sort()).toEqual(['backup.json', 'data.tar.gz', 'data.tar.idx', 'manifest.jsonl.gz']);
    const summary = JSON.parse(await fsp.readFile(path.join(backupDir(dest, full), 'backup.json'), 'utf8')) as { storage: StorageFormat };
    expect(summary.storage).toBe('tar.gz');
    expect((await readManifestLines(backupDir(dest, full)))[0]).toMatchObject({ storage: 'tar.gz' });
    const files = [...before].filter(([, e]) => e.kind === 'file');
    expect(full.files.stored).toBe(files.length);
    expect(full.bytes.stored).toBe(files.reduce((n, [, e]) => n + (e.size ?? 0), 0));

    // Members in manifest (walk) order, named exactly: one per stored file, folder and symlink.
    const members = await readMembers(archiveOf(dest, full));
    expect(members.map((m) => m.header.name)).toEqual(await archivedNames(dest, full));
    expect(members.filter((m) => m.header.type === 'file').map((m) => m.header.name)).toEqual(await heldFiles(dest, full));
    for (const m of members) {
      const source = before.get(m.header.name);
      const types: Record<string, string> = { file: 'file', dir: 'directory', symlink: 'symlink' };
      expect(m.header.type).toBe(types[source?.kind ?? 'other']);
      expect(m.header.mode).toBe(source?.mode);
      expect(m.header.mtime?.getTime()).toBe(Math.floor((source?.mtimeMs ?? 0) / 1000) * 1000);
      if (m.header.type === 'file') expect(m.data.equals(source?.content as Buffer)).toBe(true);
      if (m.header.type === 'symlink') expect(m.header.linkname).toBe(source?.target);
    }
    expect(members.find((m) => m.header.name === 'names/ｆ')?.header.mtime?.getTime()).toBe(OLD * 1000);

    const restored = await restoreTo(dest, full.backupId as string, path.join(root, 'target'));
    expectSameTree(restored, before, 'restore of the full backup');
    expect(restored.get('sizes/f-00000000.bin')).toMatchObject({ kind: 'file', size: 0 });
  });

  test('data.tar.gz is a standard tar.gz: tar lists exactly the stored files and extracts them', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    const spec: Record<string, string | Buffer> = { 'a.txt': 'a', 'sub/b.bin': textPattern(70 * KiB, 1), 'big.bin': randomBytes(MiB + 5), 'sub/zero': '' };
    for (const name of NAMES) spec[`n/${name}`] = `name ${name}`;
    await writeTree(src, spec);
    await fsp.symlink('a.txt', path.join(src, 'link'));
    const full = await backup(src, dest, 'full');
    const listed = tarList(archiveOf(dest, full));
    expect(listed).toEqual(await archivedNames(dest, full));
    expect(listed.filter((name) => name in spec || name === 'link').sort()).toEqual([...Object.keys(spec), 'link'].sort());

    const out = path.join(root, 'extracted');
    await fsp.mkdir(out);
    execFileSync('tar', ['-xzf', archiveOf(dest, full), '-C', out]);
    for (const [rel, content] of Object.entries(spec)) expect(sha256(await fsp.readFile(path.join(out, rel)))).toBe(sha256(content));
    expect(await fsp.readlink(path.join(out, 'link'))).toBe('a.txt');

    // An incremental's archive holds only what changed.
    await fsp.writeFile(path.join(src, 'sub/b.bin'), textPattern(70 * KiB + 1, 2));
    await fsp.writeFile(path.join(src, 'n/new file'), 'new');
    await fsp.rm(path.join(src, 'a.txt'));
    const inc = await backup(src, dest, 'incremental');
    // (with every folder and symlink: README, "How to restore by hand")
    expect(tarList(archiveOf(dest, inc))).toEqual(await archivedNames(dest, inc));
    expect(await heldFiles(dest, inc)).toEqual(['n/new file', 'sub/b.bin']);
  });

  test('incremental and differential backups hold only changed files; every backup restores the tree as it was', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    await richTree(src);
    const taken: [BackupReport, TreeSnapshot][] = [];
    const take = async (type: BackupType): Promise<BackupReport> => {
      const report = await backup(src, dest, type);
      expect(report.errorCount).toBe(0);
      taken.push([report, await snapshotTree(src)]);
      return report;
    };
    const full = await take('full');

    await fsp.writeFile(path.join(src, 'sizes/f-00065536.bin'), textPattern(64 * KiB, 99)); // same size, new content
    await fsp.utimes(path.join(src, 'sizes/f-00065536.bin'), OLD, OLD);
    await fsp.appendFile(path.join(src, 'random.bin'), 'grown'); // large file, streamed
    await fsp.rm(path.join(src, 'names/ｆ'));
    await fsp.rename(path.join(src, 'names/😀.txt'), path.join(src, 'names/renamed 😀.txt'));
    await fsp.chmod(path.join(src, 'names/C:colon'), 0o640); // metadata only: not stored again
    await writeTree(src, { 'added/deep/new.txt': 'new file', 'added/empty': null });
    await fsp.rm(path.join(src, 'dangling'));
    await fsp.symlink('elsewhere', path.join(src, 'dangling'));
    const inc1 = await take('incremental');
    expect(await heldFiles(dest, inc1)).toEqual(['added/deep/new.txt', 'names/renamed 😀.txt', 'random.bin', 'sizes/f-00065536.bin']);

    await fsp.rm(path.join(src, 'deep'), { recursive: true });
    await fsp.writeFile(path.join(src, 'added/deep/new.txt'), 'changed again');
    await fsp.writeFile(path.join(src, 'sizes/f-00000000.bin'), 'no longer empty');
    const inc2 = await take('incremental');
    expect(await heldFiles(dest, inc2)).toEqual(['added/deep/new.txt', 'sizes/f-00000000.bin']);

    await fsp.rm(path.join(src, 'names/back\\slash'));
    await fsp.writeFile(path.join(src, 'names/trail\\'), 'trailing backslash, changed');
    const diff = await take('differential');
    // Since the full: everything changed or added since then, in walk order.
    expect(await heldFiles(dest, diff)).toEqual([
      'added/deep/new.txt', 'names/renamed 😀.txt', 'names/trail\\', 'random.bin', 'sizes/f-00000000.bin', 'sizes/f-00065536.bin',
    ]);
    const lines = await readManifestLines(backupDir(dest, diff));
    expect(lines.find((l) => l.path === 'names/é')).toMatchObject({ in: full.backupId });

    // Nothing changed but a deletion: an empty archive, still a valid one.
    await fsp.rm(path.join(src, 'names/ lead'));
    const onlyDeletion = await take('incremental');
    expect(onlyDeletion.files).toMatchObject({ stored: 0, deleted: 1 });
    expect(tarList(archiveOf(dest, onlyDeletion))).toEqual(await archivedNames(dest, onlyDeletion));
    expect(await heldFiles(dest, onlyDeletion)).toEqual([]);

    for (const [i, [report, tree]] of taken.entries()) {
      expectSameTree(await restoreTo(dest, report.backupId as string, path.join(root, `restore-${i}`)), tree, `restore of ${report.backupId}`);
    }
    for (const full of [false, true]) {
      const verified = await verifyBackups({ destination: dest, setName: SET, full });
      expect(verified.problems).toEqual([]);
      expect((await verifyBackups({ destination: dest, setName: SET, backupId: 'latest', full })).problems).toEqual([]);
    }
  });

  test.each([
    ['a folder full with tar.gz incrementals and differentials', ['folder', 'tar.gz', 'tar.gz', 'folder', 'tar.gz']],
    ['a tar.gz full with folder incrementals and differentials', ['tar.gz', 'folder', 'folder', 'tar.gz', 'folder']],
  ] as [string, StorageFormat[]][])('mixed chain: %s restores every backup', async (_name, formats) => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    await writeTree(src, { 'a.txt': 'a1', 'b/c.txt': 'c1', 'b/d.bin': textPattern(200 * KiB, 1), 'e.bin': randomBytes(MiB + 1), 'keep.txt': 'kept' });
    const types: BackupType[] = ['full', 'incremental', 'incremental', 'differential', 'incremental'];
    const changes: (() => Promise<void>)[] = [
      async () => undefined,
      async () => {
        await fsp.writeFile(path.join(src, 'a.txt'), 'a2, longer');
        await fsp.writeFile(path.join(src, 'b/new.txt'), 'new');
      },
      async () => {
        await fsp.writeFile(path.join(src, 'b/d.bin'), textPattern(200 * KiB + 1, 2));
        await fsp.rm(path.join(src, 'b/c.txt'));
      },
      async () => {
        await fsp.writeFile(path.join(src, 'e.bin'), randomBytes(MiB + 2));
        await fsp.mkdir(path.join(src, 'f'));
      },
      async () => {
        await fsp.writeFile(path.join(src, 'f/g.txt'), 'g');
        await fsp.writeFile(path.join(src, 'a.txt'), 'a3, longer still');
      },
    ];
    const taken: [BackupReport, TreeSnapshot][] = [];
    for (const [i, format] of formats.entries()) {
      await changes[i]();
      const report = await backup(src, dest, types[i], { format });
      expect(report.errorCount).toBe(0);
      expect(await exists(path.join(backupDir(dest, report), format === 'tar.gz' ? 'data.tar.gz' : 'data'))).toBe(true);
      taken.push([report, await snapshotTree(src)]);
    }
    // The last backup points into backups of both formats.
    const last = await readManifestLines(backupDir(dest, taken[4][0]));
    const holders = new Set(last.filter((l) => l.kind === 'file').map((l) => l.in as string));
    expect(holders.size).toBeGreaterThanOrEqual(3);
    for (const [i, [report, tree]] of taken.entries()) {
      expectSameTree(await restoreTo(dest, report.backupId as string, path.join(root, `restore-${i}`)), tree, `restore of ${report.backupId} (${formats[i]})`);
    }
    for (const backupId of ['all', 'latest']) {
      expect((await verifyBackups({ destination: dest, setName: SET, backupId, full: true })).problems).toEqual([]);
      expect((await verifyBackups({ destination: dest, setName: SET, backupId })).problems).toEqual([]);
    }
  });

  test('a chain needing more archives than are read side by side restores in several passes', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    const spec: Record<string, string> = {};
    for (let i = 0; i < 12; i++) spec[`d${i % 3}/f${String(i).padStart(2, '0')}.txt`] = `version 0 of ${i}`;
    await writeTree(src, spec);
    await backup(src, dest, 'full');
    for (let i = 0; i < 11; i++) {
      await fsp.writeFile(path.join(src, `d${i % 3}/f${String(i).padStart(2, '0')}.txt`), `version 1 of ${i}, longer`);
      await backup(src, dest, 'incremental');
    }
    const latest = (await verifyBackups({ destination: dest, setName: SET, backupId: 'latest', full: true }));
    expect(latest.problems).toEqual([]);
    expect(latest.filesChecked).toBe(12);
    const expected = await snapshotTree(src);
    const target = path.join(root, 'target');
    const report = await restoreBackup({ destination: dest, setName: SET, target });
    expect(report.errors).toEqual([]);
    expect(report.files.restored).toBe(12);
    expectSameTree(await snapshotTree(target), expected);
  });

  test('many small files stored concurrently land in walk order', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    const spec: Record<string, Buffer> = {};
    for (let i = 0; i < 400; i++) spec[`${String.fromCharCode(97 + (i % 5))}/${i}${i % 50 === 0 ? '.big' : ''}`] = textPattern(i % 50 === 0 ? MiB + i : i * 37, i);
    await writeTree(src, spec);
    const full = await backup(src, dest, 'full', { concurrency: 64 });
    expect(tarList(archiveOf(dest, full))).toEqual(await archivedNames(dest, full));
    expectSameTree(await restoreTo(dest, full.backupId as string, path.join(root, 'target')), await snapshotTree(src));
  });

  test('files re-checked by content keep their walk-order place in the archive (later files cannot overtake them)', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    // 'a' and 'c' are large, so hashing them for the re-check takes a while.
    await writeTree(src, { a: textPattern(4 * MiB, 1), c: textPattern(3 * MiB, 2), 'd/e': 'e', g: 'g' });
    const rechecked = [['a', 11], ['c', 12], ['d/e', 13]] as const;
    for (const [rel] of rechecked) await fsp.utimes(path.join(src, rel), OLD, OLD);
    await backup(src, dest, 'full');
    // Same size, same mtime (as cp -p or rsync -t leave it): only ctime shows the change, so the
    // content is re-checked before anything is stored.
    for (const [rel, seed] of rechecked) {
      const { size } = await fsp.stat(path.join(src, rel));
      await fsp.writeFile(path.join(src, rel), rel === 'd/e' ? 'E' : textPattern(size, seed));
      await fsp.utimes(path.join(src, rel), OLD, OLD);
    }
    await writeTree(src, { b: 'added after a', 'd/f': 'added after d/e', h: 'added last' });
    const inc = await backup(src, dest, 'incremental');
    expect(inc.files).toMatchObject({ changed: 3, added: 3 });
    expect(tarList(archiveOf(dest, inc))).toEqual(['a', 'b', 'c', 'd', 'd/e', 'd/f', 'h']);
    expect(await heldFiles(dest, inc)).toEqual(['a', 'b', 'c', 'd/e', 'd/f', 'h']);
    expectSameTree(await restoreTo(dest, inc.backupId as string, path.join(root, 'target')), await snapshotTree(src));
  });

  test('the compression level changes the size: 0 stores, 9 squeezes', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await writeTree(src, { 'text.txt': 'the same line again and again\n'.repeat(20_000), 'p.bin': textPattern(300 * KiB, 3) });
    const sizes: number[] = [];
    for (const level of [0, 9]) {
      const dest = path.join(root, `dest-${level}`);
      const full = await backup(src, dest, 'full', { compressionLevel: level });
      sizes.push((await fsp.stat(archiveOf(dest, full))).size);
      expect(tarList(archiveOf(dest, full))).toEqual(['p.bin', 'text.txt']);
      expectSameTree(await restoreTo(dest, full.backupId as string, path.join(root, `target-${level}`)), await snapshotTree(src));
    }
    expect(sizes[0]).toBeGreaterThan(600 * KiB + 512 * 3);
    expect(sizes[1]).toBeLessThan(sizes[0] / 3);
  });
});

describe('files that change while they are stored', () => {
  test('a file that grew after the scan: stored at its size when opened, size and hash match the member', async () => {
    const root = await dirs.make();
    const dir = path.join(root, 'partial');
    await fsp.mkdir(dir);
    await writeTree(root, { 'small.txt': 'x'.repeat(1000), 'big.bin': textPattern(2 * MiB, 1) });
    const smallStats = await fsp.stat(path.join(root, 'small.txt'));
    const bigStats = await fsp.stat(path.join(root, 'big.bin'));
    await fsp.appendFile(path.join(root, 'small.txt'), 'y'.repeat(500));
    await fsp.appendFile(path.join(root, 'big.bin'), textPattern(MiB, 2));
    const sink = await TarGzSink.create(dir, 6);
    const [big, small] = await Promise.all([sink.store('big.bin', path.join(root, 'big.bin'), bigStats), sink.store('small.txt', path.join(root, 'small.txt'), smallStats)]);
    const written = await sink.close();
    expect(written).toBe((await fsp.stat(path.join(dir, 'data.tar.gz'))).size);
    expect(small).toEqual({ size: 1500, hash: sha256(await fsp.readFile(path.join(root, 'small.txt'))) });
    expect(big).toEqual({ size: 3 * MiB, hash: sha256(await fsp.readFile(path.join(root, 'big.bin'))) });
    const members = await readMembers(path.join(dir, 'data.tar.gz'));
    expect(members.map((m) => [m.header.name, m.data.length, sha256(m.data)])).toEqual([
      ['big.bin', big.size, big.hash],
      ['small.txt', small.size, small.hash],
    ]);
  });

  test('a file that grows while it is streamed: the member holds the size found at open, hash included', async () => {
    const root = await dirs.make();
    const dir = path.join(root, 'partial');
    await fsp.mkdir(dir);
    const file = path.join(root, 'grow.bin');
    const original = textPattern(3 * MiB, 4);
    await fsp.writeFile(file, original);
    const { ino } = await fsp.stat(file);
    await growOrShrinkOnFirstRead(file, ino, () => fsp.appendFile(file, textPattern(2 * MiB, 5)));
    const sink = await TarGzSink.create(dir, 1);
    const copied = await sink.store('grow.bin', file, await fsp.stat(file));
    await sink.close();
    expect(copied).toEqual({ size: original.length, hash: sha256(original) });
    const [member] = await readMembers(path.join(dir, 'data.tar.gz'));
    expect([member.header.name, member.data.length, sha256(member.data)]).toEqual(['grow.bin', copied.size, copied.hash]);
  });

  test('a file that shrinks while it is streamed is a per-file problem; the previous version is kept and the archive stays valid', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    const v1 = textPattern(2 * MiB, 6);
    await writeTree(src, { 'a.txt': 'a', 'shrinks.bin': v1, 'z.txt': 'z' });
    const full = await backup(src, dest, 'full');
    const atFull = await snapshotTree(src);
    const file = path.join(src, 'shrinks.bin');
    await fsp.writeFile(file, textPattern(3 * MiB, 7));
    await fsp.writeFile(path.join(src, 'z.txt'), 'z2');
    const { ino } = await fsp.stat(file);
    await growOrShrinkOnFirstRead(file, ino, () => fsp.truncate(file, MiB + MiB / 2));
    const inc = await backup(src, dest, 'incremental');
    expect(inc.errorCount).toBe(1);
    expect(inc.errors[0]).toMatchObject({ path: 'shrinks.bin', code: 'ESHRUNK' });
    expect(inc.errors[0].message).toMatch(/shrank from 3145728 to 1572864 bytes.*kept the version from the previous backup/);
    // The padded member is in the archive, but nothing points at it.
    expect(tarList(archiveOf(dest, inc))).toEqual(['shrinks.bin', 'z.txt']);
    const lines = await readManifestLines(backupDir(dest, inc));
    expect(lines.find((l) => l.path === 'shrinks.bin')).toMatchObject({ in: full.backupId, size: v1.length });
    const target = path.join(root, 'target');
    await restoreTo(dest, inc.backupId as string, target);
    expect(sha256(await fsp.readFile(path.join(target, 'shrinks.bin')))).toBe(sha256(v1));
    expect(await fsp.readFile(path.join(target, 'z.txt'), 'utf8')).toBe('z2');
    expectSameTree(await restoreTo(dest, full.backupId as string, path.join(root, 'target-full')), atFull);
    expect((await verifyBackups({ destination: dest, setName: SET, full: true })).problems).toEqual([]);
  });
});

/** Runs `change` once, right after the first read of the file with inode `ino` (a file being streamed). */
async function growOrShrinkOnFirstRead(file: string, ino: number, change: () => Promise<void>): Promise<void> {
  const handle = await fsp.open(file, 'r');
  const proto = Object.getPrototypeOf(handle) as { read: (...args: unknown[]) => Promise<unknown> };
  await handle.close();
  const original = proto.read;
  let done = false;
  jest.spyOn(proto, 'read').mockImplementation(async function (this: { stat(): Promise<{ ino: number }> }, ...args: unknown[]) {
    const result = await original.apply(this, args);
    if (!done && (await this.stat()).ino === ino) {
      done = true;
      await change();
    }
    return result;
  });
}

describe('damaged tar.gz backups: verify and restore report them', () => {
  interface Damaged {
    root: string;
    dest: string;
    full: BackupReport;
    inc: BackupReport;
    archive: string;
  }

  /** A tar.gz full (a, b, c of 200 KiB random each; small.txt) and an incremental that changed small.txt. */
  async function damagedSetup(): Promise<Damaged> {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    await writeTree(src, { 'a.bin': randomBytes(200 * KiB), 'b.bin': randomBytes(200 * KiB), 'c.bin': randomBytes(200 * KiB), 'small.txt': 'small' });
    const full = await backup(src, dest, 'full');
    await fsp.writeFile(path.join(src, 'small.txt'), 'small, changed');
    const inc = await backup(src, dest, 'incremental');
    return { root, dest, full, inc, archive: archiveOf(dest, full) };
  }

  const verify = (d: Damaged, full: boolean, backupId?: string): ReturnType<typeof verifyBackups> =>
    verifyBackups({ destination: d.dest, setName: SET, full, ...(backupId === undefined ? {} : { backupId }) });

  test('a truncated data.tar.gz: quick and full verify name the archive; restore reports the files it could not read', async () => {
    const d = await damagedSetup();
    const { size } = await fsp.stat(d.archive);
    await fsp.truncate(d.archive, Math.floor(size / 2));
    for (const full of [false, true]) {
      const report = await verify(d, full);
      expect(report.ok).toBe(false);
      expect(report.problems).toContainEqual(expect.objectContaining({ backupId: d.full.backupId, path: 'data.tar.gz', code: 'TRUNCATED' }));
      expect(report.problems.every((p) => p.backupId === d.full.backupId)).toBe(true);
      const latest = await verify(d, full, 'latest');
      expect(latest.problems).toContainEqual(expect.objectContaining({ backupId: d.inc.backupId, path: `${d.full.backupId}/data.tar.gz`, code: 'TRUNCATED' }));
    }
    const target = path.join(d.root, 'target');
    const restored = await restoreBackup({ destination: d.dest, setName: SET, backupId: d.inc.backupId as string, target });
    expect(restored.errorCount).toBeGreaterThanOrEqual(1);
    const failed = restored.errors.map((e) => e.path);
    expect(failed).toContain('c.bin');
    expect(failed).not.toContain('a.bin');
    expect(failed).not.toContain('small.txt');
    for (const e of restored.errors) expect(e).toMatchObject({ code: 'ECORRUPT', message: expect.stringMatching(/truncated/) });
    expect(await fsp.readFile(path.join(target, 'small.txt'), 'utf8')).toBe('small, changed');
    expect((await fsp.readFile(path.join(target, 'a.bin'))).length).toBe(200 * KiB);
  });

  test('a flipped byte inside a member: quick verify passes (sizes match), full verify says CORRUPT, restore reports it and leaves no wrong bytes', async () => {
    const d = await damagedSetup();
    const members = await readMembers(d.archive);
    const b = members.find((m) => m.header.name === 'b.bin') as Member;
    b.data[1000] ^= 0x01;
    await writeMembers(d.archive, members);
    expect((await verify(d, false)).problems).toEqual([]);
    const full = await verify(d, true);
    expect(full.problems).toEqual([expect.objectContaining({ backupId: d.full.backupId, path: 'b.bin', code: 'CORRUPT' })]);
    const restored = await restoreBackup({ destination: d.dest, setName: SET, target: path.join(d.root, 'target') });
    expect(restored.errors).toEqual([expect.objectContaining({ path: 'b.bin', code: 'ECORRUPT' })]);
    expect(restored.errors[0].message).toMatch(/removed from the target/);
    // Known-bad bytes are not left under the file's real name (nor under any other).
    expect(restored.files.restored).toBe(3);
    expect((await fsp.readdir(path.join(d.root, 'target'))).sort()).toEqual(['a.bin', 'c.bin', 'small.txt']);
  });

  test('a flipped byte in the compressed stream: the archive itself is reported', async () => {
    const d = await damagedSetup();
    const bytes = await fsp.readFile(d.archive);
    bytes[Math.floor(bytes.length / 3)] ^= 0xff;
    await fsp.writeFile(d.archive, bytes);
    const report = await verify(d, false);
    expect(report.problems).toContainEqual(expect.objectContaining({ backupId: d.full.backupId, path: 'data.tar.gz', code: expect.stringMatching(/^(CORRUPT|TRUNCATED)$/) }));
  });

  test('a missing data.tar.gz: verify says MISSING for the archive and its files; restore reports every file it held', async () => {
    const d = await damagedSetup();
    await fsp.rm(d.archive);
    const report = await verify(d, false);
    expect(report.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ backupId: d.full.backupId, path: 'data.tar.gz', code: 'MISSING' }),
        expect.objectContaining({ backupId: d.full.backupId, path: 'a.bin', code: 'MISSING' }),
      ]),
    );
    expect(report.problems.filter((p) => p.backupId === d.inc.backupId)).toEqual([]);
    const restored = await restoreBackup({ destination: d.dest, setName: SET, target: path.join(d.root, 'target') });
    expect(restored.errors.map((e) => [e.path, e.code]).sort()).toEqual([
      ['a.bin', 'ENOENT'],
      ['b.bin', 'ENOENT'],
      ['c.bin', 'ENOENT'],
    ]);
    expect(restored.files.restored).toBe(1);
  });

  test('an emptied archive of a backup that holds no file is still checked', async () => {
    const d = await damagedSetup();
    const src = path.join(d.root, 'src');
    await fsp.rm(path.join(src, 'a.bin'));
    const deletion = await backup(src, d.dest, 'incremental');
    expect(deletion.files.stored).toBe(0);
    await fsp.rm(archiveOf(d.dest, deletion));
    const report = await verify(d, false, deletion.backupId as string);
    expect(report.problems).toEqual([expect.objectContaining({ backupId: deletion.backupId, path: 'data.tar.gz', code: 'MISSING' })]);
  });

  test('members that do not match the manifest are refused or reported, and nothing is written outside the target', async () => {
    const d = await damagedSetup();
    const members = await readMembers(d.archive);
    const byName = new Map(members.map((m) => [m.header.name, m]));
    const forged: Member[] = [
      { header: { name: '../escaped.txt', type: 'file', mode: 0o644 }, data: Buffer.from('escaped') },
      { header: { name: '/tmp/absolute-escape.txt', type: 'file', mode: 0o644 }, data: Buffer.from('escaped') },
      // a.bin as a symlink to outside: refused.
      { header: { name: 'a.bin', type: 'symlink', linkname: '/etc/passwd', mode: 0o777 }, data: Buffer.alloc(0) },
      // b.bin with the wrong size.
      { header: { ...(byName.get('b.bin') as Member).header }, data: Buffer.from('short') },
      // c.bin left out.
      { header: { name: 'extra-not-in-manifest', type: 'file', mode: 0o644 }, data: Buffer.from('ignored') },
      byName.get('small.txt') as Member,
    ];
    await writeMembers(d.archive, forged);
    const quick = await verify(d, false);
    expect(quick.problems.map((p) => [p.path, p.code]).sort()).toEqual([
      ['a.bin', 'CORRUPT'],
      ['b.bin', 'TRUNCATED'],
      ['c.bin', 'MISSING'],
    ]);
    const target = path.join(d.root, 'nested', 'target');
    const restored = await restoreBackup({ destination: d.dest, setName: SET, target });
    expect(restored.errors.map((e) => [e.path, e.code]).sort()).toEqual([
      ['a.bin', 'ECORRUPT'],
      ['b.bin', 'ECORRUPT'],
      ['c.bin', 'ENOENT'],
    ]);
    expect(await exists(path.join(target, 'a.bin'))).toBe(false);
    expect(await exists(path.join(d.root, 'nested', 'escaped.txt'))).toBe(false);
    expect(await exists('/tmp/absolute-escape.txt')).toBe(false);
    // b.bin's member has the wrong bytes: removed again, not left under its name.
    expect((await fsp.readdir(target)).sort()).toEqual(['small.txt']);
  });
});

describe('restoring tar.gz backups into a target that is not empty', () => {
  async function setup(): Promise<{ root: string; dest: string; target: string; outside: string }> {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    await writeTree(src, { 'dir/inner.txt': 'inner', 'dir/big.bin': textPattern(MiB + 10, 1), 'top.txt': 'from backup', 'other.txt': 'other' });
    await backup(src, dest, 'full');
    const outside = path.join(root, 'outside');
    await fsp.mkdir(outside);
    const target = path.join(root, 'target');
    await writeTree(target, { 'top.txt': 'local edit', 'mine.txt': 'mine' });
    await fsp.symlink(outside, path.join(target, 'dir'));
    return { root, dest, target, outside };
  }

  test('skip-existing leaves existing paths alone and never writes through a symlink standing for a folder', async () => {
    const { dest, target, outside } = await setup();
    const r = await restoreBackup({ destination: dest, setName: SET, target, overwrite: 'skip' });
    expect(r.errors).toEqual([]);
    // dir/inner.txt, dir/big.bin and top.txt skipped; dir (a symlink stands there) is a folder skipped.
    expect(r.files).toMatchObject({ restored: 1, skipped: 3 });
    expect(r.folders).toEqual({ restored: 0, skipped: 1 });
    expect(await fsp.readdir(outside)).toEqual([]);
    expect(await fsp.readFile(path.join(target, 'top.txt'), 'utf8')).toBe('local edit');
    expect(await fsp.readFile(path.join(target, 'other.txt'), 'utf8')).toBe('other');
  });

  test('overwrite replaces what stands in the way, symlinks included', async () => {
    const { dest, target, outside } = await setup();
    const r = await restoreBackup({ destination: dest, setName: SET, target, overwrite: 'overwrite' });
    expect(r.errors).toEqual([]);
    expect(r.files.restored).toBe(4);
    expect(await fsp.readdir(outside)).toEqual([]);
    expect((await fsp.lstat(path.join(target, 'dir'))).isDirectory()).toBe(true);
    expect(await fsp.readFile(path.join(target, 'dir/inner.txt'), 'utf8')).toBe('inner');
    expect(await fsp.readFile(path.join(target, 'top.txt'), 'utf8')).toBe('from backup');
    expect(await fsp.readFile(path.join(target, 'mine.txt'), 'utf8')).toBe('mine');
  });
});

/** Mounts a small tmpfs, or says why it cannot (not root, no CAP_SYS_ADMIN in a container). */
function mountTmpfs(dir: string, size: string): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return `mount failed: ${String(error).split('\n')[0]}`;
  }
}

describe('tar.gz backups that cannot finish', () => {
  testIf(tmpfsUnavailable())('a full destination: NO_SPACE, the partial folder removed, earlier backups intact', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await writeTree(src, { 'small.txt': 'small' });
    const mnt = path.join(root, 'mnt');
    await fsp.mkdir(mnt);
    const cannot = mountTmpfs(mnt, '1m');
    if (cannot !== undefined) throw new Error(`the probe could mount a tmpfs, this test cannot: ${cannot}`);
    try {
      const first = await backup(src, mnt, 'full');
      await fsp.writeFile(path.join(src, 'big.bin'), randomBytes(3 * MiB));
      await fsp.writeFile(path.join(src, 'later.txt'), 'later');
      const [second] = await runBackup({ sources: [src], destination: mnt, type: 'incremental', setName: SET, format: 'tar.gz' });
      expect(second).toMatchObject({ ok: false, error: { code: 'NO_SPACE' } });
      expect((await fsp.readdir(path.join(mnt, SET))).filter((n) => n.startsWith('.partial-'))).toEqual([]);
      expect((await fsp.readdir(path.join(mnt, SET))).filter((n) => /^\d{8}T/.test(n))).toEqual([first.backupId]);
      const target = path.join(root, 'target');
      await restoreTo(mnt, first.backupId as string, target);
      expect(await fsp.readFile(path.join(target, 'small.txt'), 'utf8')).toBe('small');
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  test('cancelled while files are being archived: CANCELLED, nothing left behind', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    const spec: Record<string, Buffer> = {};
    for (let i = 0; i < 40; i++) spec[`f${String(i).padStart(2, '0')}`] = textPattern(i % 4 === 0 ? MiB + 100 : 5000, i);
    await writeTree(src, spec);
    const controller = new AbortController();
    const { ino } = await fsp.stat(path.join(src, 'f08'));
    await growOrShrinkOnFirstRead(path.join(src, 'f08'), ino, async () => controller.abort());
    const [outcome] = await runBackup({ sources: [src], destination: dest, type: 'full', setName: SET, format: 'tar.gz', signal: controller.signal });
    expect(outcome).toMatchObject({ ok: false, error: { code: 'CANCELLED' } });
    expect((await fsp.readdir(path.join(dest, SET))).filter((n) => !n.startsWith('.lock') && n !== 'last-run.json')).toEqual([]);
  });
});

describe('the tar.gz sink', () => {
  test('abort() after stores never throws, leaves later stores failing, and close() cannot follow', async () => {
    const root = await dirs.make();
    await writeTree(root, { 'a.txt': 'a', 'b.bin': textPattern(2 * MiB, 1) });
    const dir = path.join(root, 'partial');
    await fsp.mkdir(dir);
    const sink = await TarGzSink.create(dir, 6);
    await sink.store('a.txt', path.join(root, 'a.txt'), await fsp.stat(path.join(root, 'a.txt')));
    const pending = sink.store('b.bin', path.join(root, 'b.bin'), await fsp.stat(path.join(root, 'b.bin')));
    pending.catch(() => undefined);
    await expect(sink.abort()).resolves.toBeUndefined();
    await pending.then(
      (copied) => expect(copied.size).toBe(2 * MiB),
      (error: unknown) => expect(error).toMatchObject({ code: 'CANCELLED' }),
    );
    await expect(sink.store('a.txt', path.join(root, 'a.txt'), await fsp.stat(path.join(root, 'a.txt')))).rejects.toMatchObject({ code: 'CANCELLED' });
    await expect(sink.close()).rejects.toBeDefined();
  });

  test('a reserved place keeps its turn while later files wait; a released one lets them through', async () => {
    const root = await dirs.make();
    await writeTree(root, { a: 'a', b: textPattern(2 * MiB, 1), c: 'c', d: 'd' });
    const stat = (rel: string): Promise<Stats> => fsp.stat(path.join(root, rel));
    const dir = path.join(root, 'partial');
    await fsp.mkdir(dir);
    const sink = await TarGzSink.create(dir, 6);
    const placeA = sink.reserve();
    const b = sink.store('b', path.join(root, 'b'), await stat('b'));
    const placeNothing = sink.reserve();
    const c = sink.store('c', path.join(root, 'c'), await stat('c'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const a = await placeA.store('a', path.join(root, 'a'), await stat('a'));
    placeNothing.release();
    placeNothing.release();
    await expect(placeA.store('a', path.join(root, 'a'), await stat('a'))).rejects.toThrow(/already used/);
    // More places than prefetch slots, all released: nothing may wait forever.
    for (let i = 0; i < 20; i++) sink.reserve().release();
    const d = await sink.store('d', path.join(root, 'd'), await stat('d'));
    expect([a.size, (await b).size, (await c).size, d.size]).toEqual([1, 2 * MiB, 1, 1]);
    await sink.close();
    expect(tarList(path.join(dir, 'data.tar.gz'))).toEqual(['a', 'b', 'c', 'd']);
  });

  test('source problems are thrown raw (per-file) and the next files still go in, in order', async () => {
    const root = await dirs.make();
    await writeTree(root, { 'a.txt': 'a', 'c.txt': 'c', 'folder/x': 'x' });
    const dir = path.join(root, 'partial');
    await fsp.mkdir(dir);
    const sink = await TarGzSink.create(dir, 6);
    const stats = await fsp.stat(path.join(root, 'a.txt'));
    // Its own stats: the sink refuses a file that is not the one the stats describe (ESWAPPED).
    const cStats = await fsp.stat(path.join(root, 'c.txt'));
    const results = await Promise.allSettled([
      sink.store('a.txt', path.join(root, 'a.txt'), stats),
      sink.store('gone.txt', path.join(root, 'gone.txt'), stats),
      sink.store('folder', path.join(root, 'folder'), stats),
      sink.store('c.txt', path.join(root, 'c.txt'), cStats),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'ENOENT' });
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'ENOTREG' });
    await sink.close();
    const reader = new TarReader(path.join(dir, 'data.tar.gz'), 'data.tar.gz');
    try {
      expect(await reader.seek('a.txt')).toMatchObject({ member: { name: 'a.txt', size: 1 } });
      expect(await reader.seek('b.txt')).toEqual({ absent: true });
      expect(await reader.seek('c.txt')).toMatchObject({ member: { name: 'c.txt', size: 1 } });
      expect(await reader.finish()).toBeUndefined();
    } finally {
      reader.close();
    }
  });
});
