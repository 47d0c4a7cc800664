import { constants as C, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { fsyncDir, writeAll } from './durable';
import { errnoCode, errorMessage } from '../errors';
import { DestinationError, notFound } from './faults';
import type { TreeOps, TreeStat } from './fileTree';
import { FileTreeDestination } from './fileTree';
import { bodyStream } from './streams';
import { checkName } from './names';
import type { ByteRange } from './types';

/** Turns an fs error into a destination fault: the paths are the user's own, no secrets here. */
function fault(error: unknown, action: string, file: string): DestinationError {
  const code = errnoCode(error) ?? 'EUNKNOWN';
  const detail = `${code}: ${errorMessage(error)}`;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new DestinationError('NO_SPACE', `The destination is full: cannot ${action} ${file}.`, { hint: 'Free space on the destination, or lower the retention counts, then run again.', detail });
  }
  if (code === 'EACCES' || code === 'EPERM') return new DestinationError('DESTINATION_AUTH_FAILED', `Permission denied: cannot ${action} ${file}.`, { hint: 'Check the owner and permissions of the destination folder.', detail });
  if (code === 'EROFS') return new DestinationError('DESTINATION_UNUSABLE', `The destination is on a read-only file system: cannot ${action} ${file}.`, { detail });
  if (code === 'ENOENT') return notFound(file);
  return new DestinationError('DESTINATION_UNUSABLE', `Cannot ${action} ${file}: ${errorMessage(error)}`, { hint: 'Check that the destination exists and is writable.', detail });
}

async function guarded<T>(action: string, file: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof DestinationError) throw error;
    throw fault(error, action, file);
  }
}

const toStat = (s: { size: number; mtimeMs: number; isDirectory(): boolean }): TreeStat => ({ size: s.size, mtimeMs: s.mtimeMs, isDir: s.isDirectory() });

/** The local file system, with fsync before rename and of the folder after, as the engine does today. */
export const localOps: TreeOps = {
  stat: (file) =>
    fsp.stat(file).then(toStat, (error: unknown) => {
      if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return undefined;
      throw fault(error, 'stat', file);
    }),
  mkdirp: (dir) =>
    guarded('create folder', dir, async () => {
      const first = await fsp.mkdir(dir, { recursive: true });
      // New folders are names in their parents: make them durable too, up from the first new one.
      for (let d = dir; first !== undefined && d.length >= first.length; d = path.dirname(d)) await fsyncDir(path.dirname(d));
    }),
  writeNew: (file, body, noSync) =>
    guarded('write', file, async () => {
      const handle = await fsp.open(file, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o644);
      let size = 0;
      try {
        for await (const chunk of bodyStream(body)) {
          await writeAll(handle, chunk as Buffer);
          size += (chunk as Buffer).length;
        }
        if (!noSync) await handle.sync();
      } finally {
        await handle.close();
      }
      return size;
    }),
  renameOver: (from, to) =>
    fsp.rename(from, to).then(
      () => true,
      (error: unknown) => {
        // ENOENT is also what a missing target folder gives: only a missing `from` means "gone".
        // (checking `from` itself would race with whoever moved it and put a new one back)
        if (errnoCode(error) === 'ENOENT') return fsp.stat(path.dirname(to)).then(() => false, () => Promise.reject(fault(error, 'rename into', to)));
        throw fault(error, 'rename into', to);
      },
    ),
  renameNoReplace: (from, to) =>
    guarded('create', to, async () => {
      // link(2) fails with EEXIST atomically: the no-replace rename Node.js does not offer.
      try {
        await fsp.link(from, to);
      } catch (error) {
        if (errnoCode(error) === 'EEXIST') return false;
        throw error;
      }
      await fsp.unlink(from);
      return true;
    }),
  syncDir: (dir) => guarded('sync', dir, () => fsyncDir(dir)),
  open: (file) =>
    guarded('read', file, async () => {
      const handle = await fsp.open(file, 'r');
      let stat: TreeStat;
      try {
        stat = toStat(await handle.stat());
      } catch (error) {
        await handle.close();
        throw error;
      }
      return {
        stat,
        stream: (range?: ByteRange): Readable => {
          const start = range?.offset ?? 0;
          const end = range?.length === undefined ? undefined : start + range.length - 1;
          if (end !== undefined && end < start) {
            void handle.close().catch(() => undefined);
            return Readable.from([]);
          }
          return handle.createReadStream({ start, end });
        },
        close: () => handle.close().catch(() => undefined),
      };
    }),
  unlink: (file) =>
    fsp.unlink(file).then(
      () => true,
      (error: unknown) => {
        if (errnoCode(error) === 'ENOENT') return false;
        throw fault(error, 'delete', file);
      },
    ),
  rmdir: (dir) =>
    fsp.rmdir(dir).catch((error: unknown) => {
      if (errnoCode(error) !== 'ENOENT') throw fault(error, 'remove folder', dir);
    }),
  readdir: (dir) => ({
    async *[Symbol.asyncIterator]() {
      let handle;
      try {
        handle = await fsp.opendir(dir, { bufferSize: 256 });
      } catch (error) {
        if (errnoCode(error) === 'ENOENT') return;
        throw fault(error, 'list', dir);
      }
      for await (const entry of handle) {
        const stat = await fsp.lstat(path.join(dir, entry.name)).catch(() => undefined);
        if (stat !== undefined && (stat.isFile() || stat.isDirectory())) yield { name: entry.name, stat: toStat(stat) };
      }
    },
  }),
  close: () => Promise.resolve(),
};

/** A local folder: a file tree that also names its files, for the formats' FileHandle paths. */
export class LocalDestination extends FileTreeDestination {
  constructor(private readonly folder: string) {
    super(localOps, folder, folder);
  }

  localPath(name: string): string {
    return path.join(this.folder, checkName(name));
  }
}

/** A local folder as a destination; `folder` must exist (a missing one is DESTINATION_NOT_FOUND). */
export async function openLocal(folder: string): Promise<LocalDestination> {
  const root = path.resolve(folder);
  const stat = await fsp.stat(root).catch(() => undefined);
  if (stat === undefined || !stat.isDirectory()) {
    throw new DestinationError('DESTINATION_NOT_FOUND', `The destination folder ${root} does not exist.`, { hint: 'Create it first, or check the path.' });
  }
  return new LocalDestination(root);
}
