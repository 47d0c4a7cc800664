/**
 * Issue 12, item 3: a backup's data is on disk before its commit (the rename of .partial-<id> to
 * <id>). Folder format: FolderSink.close() runs one syncfs of the destination's file system, or
 * fsyncs every file and folder under data/ where syncfs is not available; the partial folder
 * itself is fsynced before the rename (both formats; tar.gz fsyncs data.tar.gz at close).
 * The same, seen from outside (the real CLI, its threads and its `sync -f`), is test/cli/durable.test.ts.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as durable from '../../nodes/Backup/engine/destination/durable';
import { runBackup } from '../../nodes/Backup/engine';
import type { JobRunner } from '../../nodes/Backup/engine/store/copyPool';
import type { FileJob, FileJobResult } from '../../nodes/Backup/engine/store/fileJobs';
import { runFileJob } from '../../nodes/Backup/engine/store/fileJobs';
import type { EntryStats } from '../../nodes/Backup/engine/scan/walk';
import { FolderSink } from '../../nodes/Backup/engine/store/folderSink';
import { tempDirs, writeTree } from '../helpers/fixtures';

const dirs = tempDirs();
afterEach(async () => {
  jest.restoreAllMocks();
  await dirs.cleanup();
});

/** Runs file jobs on this thread (so spies see their system calls), recording each job. */
class InlineRunner implements JobRunner {
  readonly jobs: FileJob[] = [];
  private readonly scratch = Buffer.alloc(1 << 16);

  async run(job: FileJob): Promise<FileJobResult> {
    this.jobs.push(job);
    return runFileJob(job, this.scratch);
  }
}

async function statsOf(file: string): Promise<EntryStats> {
  const s = await fsp.lstat(file);
  return { size: s.size, mode: s.mode, mtimeMs: s.mtimeMs, atimeMs: s.atimeMs, dev: s.dev, ino: s.ino } as unknown as EntryStats;
}

/** Paths whose FileHandle.sync() ran, recorded through fsp.open (the handle remembers its path). */
async function recordHandleSyncs(root: string): Promise<string[]> {
  const probe = await fsp.open(root, 'r');
  const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
  await probe.close();
  const synced: string[] = [];
  const opened = new WeakMap<object, string>();
  const realOpen = fsp.open;
  jest.spyOn(fsp, 'open').mockImplementation(async (...args: Parameters<typeof fsp.open>) => {
    const handle = await realOpen(...args);
    opened.set(handle, String(args[0]));
    return handle;
  });
  const realSync = proto.sync;
  jest.spyOn(proto, 'sync').mockImplementation(async function (this: object) {
    synced.push(path.relative(root, opened.get(this) ?? '?'));
    await realSync.call(this);
  });
  return synced;
}

async function sinkWithFiles(files: string[]): Promise<{ sink: FolderSink; backupDir: string; store: () => Promise<void> }> {
  const root = await dirs.make();
  const src = path.join(root, 'src');
  await writeTree(src, Object.fromEntries(files.map((f) => [f, `content of ${f}`])));
  const backupDir = path.join(root, 'backup');
  await fsp.mkdir(backupDir);
  const sink = await FolderSink.create(backupDir, new InlineRunner());
  const store = async (): Promise<void> => {
    for (const f of files) await sink.store(f, path.join(src, f), await statsOf(path.join(src, f)));
  };
  return { sink, backupDir, store };
}

const FILES = ['top.txt', 'a/b/deep.txt', 'a/b/deep2.txt', 'c/one.txt'];

describe('FolderSink.close() puts the stored data on disk', () => {
  test('one syncfs of the file system holding data/, after every file was stored', async () => {
    const { sink, backupDir, store } = await sinkWithFiles(FILES);
    const calls: string[] = [];
    jest.spyOn(durable, 'syncFileSystem').mockImplementation(async (dir) => {
      calls.push(path.relative(backupDir, dir));
      return true;
    });
    const tree = jest.spyOn(durable, 'fsyncTree');
    await store();
    expect(calls).toEqual([]);
    await sink.close();
    expect(calls).toEqual(['data']);
    expect(tree).not.toHaveBeenCalled();
  });

  test('where syncfs is not available: every file and every folder (ancestors too) fsynced, each once', async () => {
    const { sink, backupDir, store } = await sinkWithFiles(FILES);
    jest.spyOn(durable, 'syncFileSystem').mockResolvedValue(false);
    await store();
    const synced = await recordHandleSyncs(backupDir);
    await sink.close();
    expect(synced.sort()).toEqual(['data', 'data/a', 'data/a/b', 'data/a/b/deep.txt', 'data/a/b/deep2.txt', 'data/c', 'data/c/one.txt', 'data/top.txt']);
  });

  test('syncFileSystem really runs syncfs on Linux (sync -f) and says so', async () => {
    const root = await dirs.make();
    expect(await durable.syncFileSystem(root)).toBe(process.platform === 'linux');
  });
});

describe('writeBackup', () => {
  test.each(['folder', 'tar.gz'] as const)('%s: the partial folder is fsynced before it is renamed to the backup id', async (format) => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await writeTree(src, { 'a.txt': 'a', 'sub/b.txt': 'b' });
    const events: string[] = [];
    const realFsyncDir = durable.fsyncDir;
    jest.spyOn(durable, 'fsyncDir').mockImplementation(async (dir) => {
      events.push(`fsyncDir ${path.basename(dir)}`);
      await realFsyncDir(dir);
    });
    const realRename = fsp.rename;
    jest.spyOn(fsp, 'rename').mockImplementation(async (from, to) => {
      events.push(`rename ${path.basename(String(from))}`);
      await realRename(from, to);
    });
    const [outcome] = await runBackup({ sources: [src], destination: path.join(root, 'dest'), type: 'full', format });
    expect(outcome.ok).toBe(true);
    const id = outcome.ok ? (outcome.report.backupId as string) : '';
    const renameAt = events.indexOf(`rename .partial-${id}`);
    expect(renameAt).toBeGreaterThan(0);
    expect(events.slice(0, renameAt)).toContain(`fsyncDir .partial-${id}`);
  });
});
