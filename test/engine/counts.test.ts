/**
 * Files, folders and symlinks are counted apart, the same way by every operation (README "Counts"):
 * a tree of 5 files (one of them a hard link), 3 folders and 2 symlinks reads "5 files (1 hard
 * link), 3 folders, 2 symlinks" in backup, list and restore, and "4 stored files" in backup, list
 * and verify; backups made before (their `files` counted every entry) still list, restore and verify.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { backupContents, listDestination, restoreBackup, runBackup, verifyBackups } from '../../nodes/Backup/engine';
import type { BackupReport, BackupSummary, StorageFormat } from '../../nodes/Backup/engine';
import { readManifestEnds } from '../../nodes/Backup/engine/formats/manifest';
import { tempDirs } from '../helpers/fixtures';

const dirs = tempDirs('n8n-backup-counts-');
afterAll(() => dirs.cleanup());

const SET = 'tree';
const TREE = '5 files (1 hard link), 3 folders, 2 symlinks';
const STORED = '4 stored files';

/** 5 files (docs/hard.txt a hard link of docs/a.txt), 3 folders (one empty), 2 symlinks. */
async function makeTree(src: string): Promise<void> {
  await fsp.mkdir(path.join(src, 'docs', 'deep'), { recursive: true });
  await fsp.mkdir(path.join(src, 'empty'));
  await fsp.writeFile(path.join(src, 'top.txt'), 'top\n');
  await fsp.writeFile(path.join(src, 'docs', 'a.txt'), 'alpha\n');
  await fsp.writeFile(path.join(src, 'docs', 'b.txt'), 'beta\n');
  await fsp.writeFile(path.join(src, 'docs', 'deep', 'c.txt'), 'gamma\n');
  await fsp.link(path.join(src, 'docs', 'a.txt'), path.join(src, 'docs', 'hard.txt'));
  await fsp.symlink('a.txt', path.join(src, 'docs', 'to-a'));
  await fsp.symlink('docs', path.join(src, 'link-out'));
}

async function backup(src: string, dest: string, type: 'full' | 'incremental', format: StorageFormat): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, setName: SET, type, format, skipUnchanged: true });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

const entry = (c: Partial<Record<'scanned' | 'added' | 'changed' | 'deleted' | 'unchanged', number>>) => ({ scanned: 0, added: 0, changed: 0, deleted: 0, unchanged: 0, ...c });

describe.each(['folder', 'tar.gz'] as const)('%s: each kind counted apart, in every operation', (format) => {
  test('full: backup item, backup.json, manifest trailer, list, restore and verify agree, in the same words', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    await makeTree(src);

    const made = await backup(src, dest, 'full', format);
    const files = { ...entry({ scanned: 5, added: 5 }), stored: 4, links: 1 };
    const folders = entry({ scanned: 3, added: 3 });
    const symlinks = entry({ scanned: 2, added: 2 });
    expect({ files: made.files, folders: made.folders, symlinks: made.symlinks }).toEqual({ files, folders, symlinks });
    expect(made.summary).toContain(`: ${TREE}; files 5 added, 0 changed, 0 deleted, 0 unchanged; ${STORED}, `);

    const backupDir = path.join(dest, SET, made.backupId as string);
    const onDisk = JSON.parse(await fsp.readFile(path.join(backupDir, 'backup.json'), 'utf8')) as BackupSummary;
    expect({ files: onDisk.files, folders: onDisk.folders, symlinks: onDisk.symlinks }).toEqual({ files, folders, symlinks });
    const { trailer } = await readManifestEnds(backupDir);
    expect({ entries: trailer.entries, files: trailer.files, folders: trailer.folders, symlinks: trailer.symlinks }).toEqual({ entries: 10, files, folders, symlinks });

    const [listed] = await listDestination(dest, SET);
    expect(listed).toMatchObject({ entries: 10, files, folders, symlinks });
    expect(backupContents(listed)).toBe(`${TREE}; ${STORED}`);

    const restored = await restoreBackup({ destination: dest, setName: SET, target: path.join(root, 'restored') });
    expect({ files: restored.files, folders: restored.folders, symlinks: restored.symlinks }).toEqual({
      files: { restored: 5, skipped: 0, links: 1, folders: 3, symlinks: 2 }, folders: { restored: 3, skipped: 0 }, symlinks: { restored: 2, skipped: 0 },
    });
    expect(restored.summary).toContain(`: ${TREE}; 21 B of file content in `);

    const verified = await verifyBackups({ destination: dest, setName: SET, full: true });
    expect(verified).toMatchObject({ ok: true, filesChecked: 4 });
    expect(verified.summary).toContain(`: ${STORED}, 21 B of file content, all intact`);

    // One wording for the tree and one for the stored files, whichever operation says it.
    const treeOf = (summary: string): string | undefined => /(\d+ files?(?: \(\d+ hard links?\))?, \d+ folders?, \d+ symlinks?)/.exec(summary)?.[1];
    const storedOf = (summary: string): string | undefined => /(\d+ stored files?)/.exec(summary)?.[1];
    expect([made.summary, backupContents(listed), restored.summary].map(treeOf)).toEqual([TREE, TREE, TREE]);
    expect([made.summary, backupContents(listed), verified.summary].map(storedOf)).toEqual([STORED, STORED, STORED]);

    // Restored again over itself with skip: what is already there is counted as its kind.
    const again = await restoreBackup({ destination: dest, setName: SET, target: path.join(root, 'restored'), overwrite: 'skip' });
    expect({ files: again.files.skipped, folders: again.folders.skipped, symlinks: again.symlinks.skipped }).toEqual({ files: 5, folders: 0, symlinks: 2 });
    expect(again.summary).toContain('Not restored (already in the target, or below a folder that was): 5 files, 0 folders, 2 symlinks.');
  });

  test('incremental: added, changed, deleted and unchanged of each kind; a change to folders alone is a change', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    await makeTree(src);
    await backup(src, dest, 'full', format);

    await fsp.rm(path.join(src, 'docs', 'b.txt'));
    await fsp.rmdir(path.join(src, 'empty'));
    await fsp.mkdir(path.join(src, 'new'));
    await fsp.writeFile(path.join(src, 'new', 'x.txt'), 'new\n');
    await fsp.rm(path.join(src, 'docs', 'to-a'));
    await fsp.symlink('deep/c.txt', path.join(src, 'docs', 'to-a'));
    const inc = await backup(src, dest, 'incremental', format);
    expect({ files: inc.files, folders: inc.folders, symlinks: inc.symlinks }).toEqual({
      files: { ...entry({ scanned: 5, added: 1, deleted: 1, unchanged: 4 }), stored: 1, links: 1 },
      folders: entry({ scanned: 3, added: 1, deleted: 1, unchanged: 2 }),
      symlinks: entry({ scanned: 2, changed: 1, unchanged: 1 }),
    });
    expect(inc.summary).toContain(`: ${TREE}; files 1 added, 0 changed, 1 deleted, 4 unchanged; folders 1 added, 0 changed, 1 deleted; symlinks 0 added, 1 changed, 0 deleted; 1 stored file, `);

    // Nothing changed: skipped, and the skip still says what it saw.
    const skipped = await backup(src, dest, 'incremental', format);
    expect(skipped).toMatchObject({ skipped: true, files: { scanned: 5, unchanged: 5, stored: 0 }, folders: { scanned: 3, unchanged: 3 } });
    expect(skipped.summary).toContain(`skipped: no changes (${TREE}).`);

    // Only an empty folder added: not skipped (a folder is an entry, though not a file).
    await fsp.mkdir(path.join(src, 'only-a-folder'));
    const folderOnly = await backup(src, dest, 'incremental', format);
    expect(folderOnly).toMatchObject({ skipped: false, files: { added: 0, changed: 0, deleted: 0, unchanged: 5 }, folders: { scanned: 4, added: 1 } });
  });
});

describe('backups made before per-kind counts (their `files` counted every entry)', () => {
  // Written by the release before this change (n8n-backup backup --type full, both formats, commit
  // 2e9b2a1) from the tree makeTree() builds: backup.json and the trailer say files.scanned 10.
  const FIXTURES = path.join(__dirname, '..', 'fixtures', 'pre-kind-counts');

  test.each(['folder', 'tar.gz'])('%s: listed as recorded, with no per-kind fields; restore and verify count each kind', async (format) => {
    const root = await dirs.make();
    const dest = path.join(root, 'dest');
    await fsp.cp(path.join(FIXTURES, `old-${format}`), dest, { recursive: true });

    const [listed] = await listDestination(dest, 'old');
    expect(listed).toMatchObject({ complete: true, entries: 10, files: { scanned: 10, added: 10, stored: 4 } });
    expect(listed.folders).toBeUndefined();
    expect(listed.symlinks).toBeUndefined();
    expect(listed.files.links).toBeUndefined();
    expect(backupContents(listed)).toBe(`10 entries (files, folders and symlinks together: made before they were counted apart); ${STORED}`);

    const restored = await restoreBackup({ destination: dest, setName: 'old', target: path.join(root, 'restored') });
    expect(restored.errors).toEqual([]);
    expect({ files: restored.files, folders: restored.folders, symlinks: restored.symlinks }).toEqual({
      files: { restored: 5, skipped: 0, links: 1, folders: 3, symlinks: 2 }, folders: { restored: 3, skipped: 0 }, symlinks: { restored: 2, skipped: 0 },
    });
    expect(restored.summary).toContain(`: ${TREE}; `);
    expect(await fsp.readlink(path.join(root, 'restored', 'docs', 'to-a'))).toBe('a.txt');

    const verified = await verifyBackups({ destination: dest, setName: 'old', full: true });
    expect(verified).toMatchObject({ ok: true, filesChecked: 4 });
    expect(verified.summary).toContain(`: ${STORED}, `);
  });
});
