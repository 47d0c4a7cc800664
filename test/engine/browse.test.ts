/**
 * Browsing a set without restoring it (issue 15): the files of one backup, the diff of two, every
 * version of a path across all backups; on a folder and on the remote stores, plain and encrypted,
 * checked against what the trees on disk really were at each backup.
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupOptions, EntryView, FileVersion, PathChange } from '../../nodes/Backup/engine';
import { diffBackups, findVersions, listFiles, runBackup } from '../../nodes/Backup/engine';
import type { Subject } from '../helpers/destinations';
import { allSubjects } from '../helpers/destinations';
import { tempDirs, writeTree } from '../helpers/fixtures';

const dirs = tempDirs('n8n-backup-browse-');
afterAll(() => dirs.cleanup());

const SET = 'docs';

describe.each(allSubjects().map((s) => [s.label, s] as [string, Subject]))('browsing a set on a %s destination', (_label, subject) => {
  const maybe = subject.unavailable === undefined ? test : test.skip;
  const title = (t: string): string => (subject.unavailable === undefined ? t : `${t} - SKIPPED: ${subject.unavailable}`);
  let src: string;
  const ids: string[] = [];

  const where = (): { destination: string; destinationOptions: BackupOptions['destinationOptions']; setName: string } => {
    const { url, options } = subject.target();
    return { destination: url, destinationOptions: options, setName: SET };
  };
  const backup = async (extra: Partial<BackupOptions> = {}): Promise<string> => {
    const [outcome] = await runBackup({ sources: [src], type: 'auto', format: 'tar.gz', ...where(), ...extra });
    if (!outcome.ok) throw outcome.error;
    if (outcome.report.backupId === null) throw new Error('nothing was backed up');
    // Ids have a millisecond in them: two runs in one millisecond would not be two backups.
    await new Promise((resolve) => setTimeout(resolve, 5));
    return outcome.report.backupId;
  };
  const collect = async <T>(run: (push: (x: T) => void) => Promise<unknown>): Promise<T[]> => {
    const out: T[] = [];
    await run((x) => void out.push(x));
    return out;
  };

  beforeAll(async () => {
    if (subject.unavailable !== undefined) return;
    await subject.start();
    await subject.fresh();
    src = path.join(await dirs.make(), 'src');
    await writeTree(src, { 'a/x.txt': 'x1', 'a/deep/y.txt': 'why', 'b.txt': 'bee', 'gone.txt': 'soon gone', 'empty/': null });
    await fsp.symlink('a/x.txt', path.join(src, 'link'));
    ids.push(await backup({ type: 'full' }));
    // Second: x.txt changed, gone.txt deleted, c.pdf added, b.txt only chmod-ed.
    await fsp.writeFile(path.join(src, 'a/x.txt'), 'x2, longer');
    await fsp.rm(path.join(src, 'gone.txt'));
    await fsp.writeFile(path.join(src, 'c.pdf'), 'pdf');
    await fsp.chmod(path.join(src, 'b.txt'), 0o600);
    ids.push(await backup({ type: 'incremental' }));
    // Third: x.txt back to its first content, link retargeted.
    await fsp.writeFile(path.join(src, 'a/x.txt'), 'x1');
    await fsp.rm(path.join(src, 'link'));
    await fsp.symlink('b.txt', path.join(src, 'link'));
    ids.push(await backup({ type: 'incremental' }));
  }, 120_000);
  afterAll(async () => {
    if (subject.unavailable === undefined) await subject.stop();
  });

  maybe(title('files: every path of the latest backup with kind, size, hash and the backup holding its bytes'), async () => {
    const entries = await collect<EntryView>((push) => listFiles(where(), push));
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(entries.map((e) => e.path)).toEqual(['a', 'a/deep', 'a/deep/y.txt', 'a/x.txt', 'b.txt', 'c.pdf', 'empty', 'link']);
    expect(byPath.get('a/x.txt')).toMatchObject({ kind: 'file', size: 2, in: ids[2] });
    expect(byPath.get('a/deep/y.txt')).toMatchObject({ kind: 'file', size: 3, in: ids[0], hash: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown as string });
    expect(byPath.get('b.txt')).toMatchObject({ mode: '0600' });
    expect(byPath.get('link')).toMatchObject({ kind: 'symlink', target: 'b.txt' });
    expect(byPath.get('a')).toMatchObject({ kind: 'dir' });
    expect(byPath.get('a')?.size).toBeUndefined();
    const report = await listFiles(where(), () => undefined);
    expect(report).toMatchObject({ backupId: ids[2], files: 4, folders: 3, symlinks: 1, bytes: 2 + 3 + 3 + 3 });
    expect(report.summary).toBe(`${ids[2]}: 4 files (11 B), 3 folders, 1 symlink`);
  });

  maybe(title('files: an older backup by id or --as-of, filtered with restore\'s patterns'), async () => {
    const first = await collect<EntryView>((push) => listFiles({ ...where(), backupId: ids[0], include: ['a'], exclude: ['deep'] }, push));
    expect(first.map((e) => e.path)).toEqual(['a', 'a/x.txt']);
    expect(first[1]).toMatchObject({ size: 2, in: ids[0] });
    const asOf = await listFiles({ ...where(), asOf: new Date(Date.now() + 60_000).toISOString(), include: ['*.txt'] }, () => undefined);
    expect(asOf).toMatchObject({ backupId: ids[2], files: 3, folders: 0 });
    const none = await listFiles({ ...where(), include: ['nothing-like-this'] }, () => undefined);
    expect(none).toMatchObject({ files: 0, folders: 0, symlinks: 0, selection: { unmatched: ['nothing-like-this'] } });
  });

  maybe(title('diff: added, changed, deleted with sizes; metadata-only changes counted, shown on request'), async () => {
    const changes = await collect<PathChange>((push) => diffBackups({ ...where(), from: ids[0], to: ids[1] }, push));
    expect(changes.map((c) => `${c.change} ${c.path} ${c.sizeDelta ?? ''}`)).toEqual(['changed a/x.txt 8', 'added c.pdf 3', 'deleted gone.txt -9']);
    const report = await diffBackups({ ...where(), from: ids[0], to: ids[1], metadata: true }, () => undefined);
    expect(report).toMatchObject({ from: ids[0], to: ids[1], added: 1, changed: 1, deleted: 1, bytes: { added: 3, deleted: 9, net: 2 } });
    expect(report.metadata).toBeGreaterThanOrEqual(1); // b.txt's mode (and the folders whose mtime moved)
    const withMeta = await collect<PathChange>((push) => diffBackups({ ...where(), from: ids[0], to: ids[1], metadata: true }, push));
    expect(withMeta.find((c) => c.path === 'b.txt')).toMatchObject({ change: 'metadata', before: { mode: '0644' }, after: { mode: '0600' } });
    // Default: the latest against the backup before it.
    const latest = await collect<PathChange>((push) => diffBackups(where(), push));
    expect(latest.map((c) => `${c.change} ${c.path}`)).toEqual(['changed a/x.txt', 'changed link']);
    expect(latest[1]).toMatchObject({ before: { target: 'a/x.txt' }, after: { target: 'b.txt' } });
  });

  maybe(title('find: every version of a path across all backups, oldest first, with deletions'), async () => {
    const versions = await collect<FileVersion>((push) => findVersions({ ...where(), paths: ['a/x.txt', 'gone.txt'] }, push));
    expect(versions.map((v) => `${v.backupId === ids[0] ? 0 : v.backupId === ids[1] ? 1 : 2} ${v.change} ${v.path} ${v.after?.size ?? '-'}`)).toEqual([
      '0 added a/x.txt 2', '0 added gone.txt 9', '1 changed a/x.txt 10', '1 deleted gone.txt -', '2 changed a/x.txt 2',
    ]);
    expect(versions[0].after?.hash).toBe(versions[4].after?.hash);
    const report = await findVersions({ ...where(), paths: ['*.pdf', 'never'] }, () => undefined);
    expect(report).toMatchObject({ searched: 3, versions: 1, paths: 1, skipped: [], selection: { unmatched: ['never'] } });
  });

  maybe(title('a callback that says stop ends the reading: what was seen so far, marked stopped'), async () => {
    const seen: string[] = [];
    const report = await listFiles(where(), (e) => (seen.push(e.path) >= 2 ? 'stop' : undefined));
    expect(seen).toEqual(['a', 'a/deep']);
    expect(report).toMatchObject({ stopped: true, folders: 2, files: 0 });
    expect(report.summary).toMatch(/: the first 0 files/);
    const versions: string[] = [];
    const found = await findVersions({ ...where(), paths: ['a/x.txt'] }, (v) => (versions.push(v.backupId) >= 1 ? 'stop' : undefined));
    expect([versions, found.stopped, found.versions]).toEqual([[ids[0]], true, 1]);
    const changes = await diffBackups({ ...where(), from: ids[0], to: ids[1] }, () => 'stop');
    expect([changes.stopped, changes.changed + changes.added + changes.deleted]).toEqual([true, 1]);
    expect((await listFiles(where(), () => undefined)).stopped).toBe(false);
  });

  maybe(title('refusals: unknown backup, no set, bad pattern, an id and a time together'), async () => {
    await expect(listFiles({ ...where(), backupId: '20000101T000000000Z-full' }, () => undefined)).rejects.toMatchObject({ code: 'BACKUP_NOT_FOUND' });
    await expect(listFiles({ ...where(), setName: 'nope' }, () => undefined)).rejects.toMatchObject({ code: 'SET_NOT_FOUND' });
    await expect(findVersions({ ...where(), setName: 'nope', paths: ['x'] }, () => undefined)).rejects.toMatchObject({ code: 'SET_NOT_FOUND' });
    await expect(findVersions({ ...where(), paths: ['../etc'] }, () => undefined)).rejects.toMatchObject({ code: 'PATTERN_INVALID' });
    await expect(findVersions({ ...where(), paths: [' '] }, () => undefined)).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(listFiles({ ...where(), backupId: ids[0], asOf: '2026-01-01' }, () => undefined)).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(diffBackups({ ...where(), to: ids[0] }, () => undefined)).rejects.toMatchObject({ code: 'BACKUP_NOT_FOUND' });
  });
});

describe('browsing an encrypted set and a damaged one (local)', () => {
  test('an encrypted set needs its passphrase; find skips a backup whose manifest is damaged and says so', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    await writeTree(src, { 'f.txt': 'one' });
    const ids: string[] = [];
    for (const content of ['two', 'three']) {
      const [o] = await runBackup({ sources: [src], destination: dest, setName: SET, type: 'auto', format: 'tar.gz', passphrase: 'correct horse' });
      if (!o.ok || o.report.backupId === null) throw new Error('backup failed');
      ids.push(o.report.backupId);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await fsp.writeFile(path.join(src, 'f.txt'), content);
    }
    const [o] = await runBackup({ sources: [src], destination: dest, setName: SET, type: 'auto', format: 'tar.gz', passphrase: 'correct horse' });
    if (!o.ok || o.report.backupId === null) throw new Error('backup failed');
    ids.push(o.report.backupId);
    const base = { destination: dest, setName: SET };
    await expect(listFiles(base, () => undefined)).rejects.toMatchObject({ code: 'PASSPHRASE_REQUIRED' });
    await expect(listFiles({ ...base, passphrase: 'wrong' }, () => undefined)).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE' });
    expect(await listFiles({ ...base, passphrase: 'correct horse' }, () => undefined)).toMatchObject({ files: 1, bytes: 5 });

    // The middle backup's manifest damaged: its version is lost, the search goes on.
    const manifest = fs.readdirSync(path.join(dest, SET, ids[1])).find((n) => n.startsWith('manifest'));
    if (manifest === undefined) throw new Error('no manifest');
    const file = path.join(dest, SET, ids[1], manifest);
    const bytes = fs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(file, bytes);
    const versions: FileVersion[] = [];
    const report = await findVersions({ ...base, passphrase: 'correct horse', paths: ['f.txt'] }, (v) => void versions.push(v));
    expect(report.skipped.map((s) => [s.backupId, s.code])).toEqual([[ids[1], 'MANIFEST_CORRUPT']]);
    expect(versions.map((v) => [v.backupId, v.change, v.after?.size])).toEqual([[ids[0], 'added', 3], [ids[2], 'changed', 5]]);
  });
});
