import { createHash, randomBytes } from 'node:crypto';
import * as posix from 'node:path/posix';
import type { Readable } from 'node:stream';
import { DestinationError, notFound, objectChanged } from './faults';
import { checkName, checkPrefix, checkSetFolder, INCOMING_DIR, splitPrefix, topFolder } from './names';
import { bodyStream, readAll, withVersion } from './streams';
import type { Body, ByteRange, Capabilities, Destination, ListEntry, ListOptions, ObjectInfo, ObjectStream, ReadOptions, SmallBody, WriteOptions } from './types';

/** One entry of a folder, as both file systems (local, SFTP) report it. */
export interface TreeStat {
  size: number;
  mtimeMs: number;
  isDir: boolean;
}

/**
 * The file operations a folder tree offers, local or over SFTP. Expected outcomes are results
 * (undefined, false); every other failure is thrown as a DestinationError already.
 */
export interface TreeOps {
  stat(path: string): Promise<TreeStat | undefined>;
  mkdirp(path: string): Promise<void>;
  /** Creates `path` (never over an existing file), writes `body`, makes it durable unless noSync; its size. */
  writeNew(path: string, body: Body, noSync: boolean): Promise<number>;
  /** Atomic rename over an existing file; false when `from` does not exist. */
  renameOver(from: string, to: string): Promise<boolean>;
  /** Atomic rename that never replaces; false (and `from` kept) when `to` exists. */
  renameNoReplace(from: string, to: string): Promise<boolean>;
  /** Makes a rename or a new name in `dir` durable (local fsync; SFTP: the server's business). */
  syncDir(dir: string): Promise<void>;
  /** Opens a file for reading; OBJECT_NOT_FOUND when it is not there. */
  open(path: string): Promise<OpenFile>;
  /** False when it did not exist. */
  unlink(path: string): Promise<boolean>;
  rmdir(path: string): Promise<void>;
  /** The folder's entries, streamed (flat memory); nothing when the folder does not exist. */
  readdir(path: string): AsyncIterable<{ name: string; stat: TreeStat }>;
  close(): Promise<void>;
}

/**
 * A file open for reading: its stat is the open file's own (fstat), so a version judged from it is
 * the version of the bytes streamed, even if the name is replaced meanwhile (a rename over it
 * leaves an open file alone on POSIX systems, local or behind an SFTP server).
 */
export interface OpenFile {
  stat: TreeStat;
  /** Its bytes, whole or a range; call it once. The file is closed when the stream ends or fails. */
  stream(range?: ByteRange): Readable;
  /** Closes it without reading. */
  close(): Promise<void>;
}

/** Files up to this size get a content hash as their version: lock notes and commit markers are tiny. */
const HASHED_UP_TO = 64 * 1024;

/**
 * A destination over a folder tree (local disk, SFTP). Writes go to `<root>/.incoming/<random>`
 * and are renamed into place, so a name shows whole contents or none, and interrupted writes sit
 * in one folder for sweep() (never beside user files, whose names could be anything).
 *
 * Conditional writes are checked by this client, not by the server, which is weaker than S3's:
 * - create: the temp file is renamed in without replacing (link(2) locally; SFTP's plain rename,
 *   which OpenSSH implements with link(2) too): exactly one of two racing creators wins.
 * - replace: replacers of one name take turns through a marker taken by a rename that never
 *   replaces (see exclusively()); the holder compares the current version and renames the new file
 *   over it, so the name is never absent and a create() cannot get in. A process that dies holding
 *   the marker blocks that name's replacers for STALE_MARKER_MS; two of them removing the same
 *   stale marker at once could let two replacers in together (needs a dead holder and a race).
 * - version: sha256 of the contents for files up to 64 KiB, else size and mtime (SFTP mtimes are
 *   whole seconds, hence the hash for the small files that conditional writes are used on).
 */
/** A replace marker unchanged this long was left by a dead process. */
const STALE_MARKER_MS = 5_000;
/**
 * Temp files of conditional writes (create, replace and its markers: locks, reader markers) are
 * written by other processes than the set's writer (readers, runs waiting for the lock), and live
 * for a few requests. The writer's leftover sweep (age 0) must not pull one out from under its
 * owner, so those are swept only once this old. The data temps of write() go at the caller's age.
 */
const CONTROL_GRACE_MS = 60_000;
const DATA_TEMP = '.tmp';

const sizeVersion = (stat: TreeStat): string => `size:${stat.size}:mtime:${Math.trunc(stat.mtimeMs)}`;
const hashVersion = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export class FileTreeDestination implements Destination {
  readonly capabilities: Capabilities = { conditionalWrites: 'compare-token', folders: true };
  private readonly incomingReady = new Map<string, Promise<void>>();

  constructor(
    private readonly ops: TreeOps,
    private readonly root: string,
    private readonly display: string,
  ) {}

  describe(): string {
    return this.display;
  }

  private path(name: string): string {
    return posix.join(this.root, name);
  }

  /**
   * A temp name for writing `name`: in `.incoming/<its first folder>/` (the set), so that
   * sweep(age, 'set/') finds that set's interrupted writes and no other's.
   */
  private async tempPath(kind: string, name: string): Promise<string> {
    const dir = posix.join(this.root, INCOMING_DIR, topFolder(name));
    let ready = this.incomingReady.get(dir);
    if (ready === undefined) {
      ready = this.ops.mkdirp(dir).catch((error: unknown) => {
        this.incomingReady.delete(dir);
        throw error;
      });
      this.incomingReady.set(dir, ready);
    }
    await ready;
    return posix.join(dir, `${randomBytes(12).toString('hex')}.${kind}`);
  }

  /** Writes a temp file with `body`; the parent folder of `name` exists afterwards. */
  private async staged(name: string, body: Body, noSync: boolean, kind: 'tmp' | 'ctl' = 'tmp'): Promise<{ temp: string; size: number }> {
    const temp = await this.tempPath(kind, name);
    try {
      const size = await this.ops.writeNew(temp, body, noSync);
      await this.ops.mkdirp(posix.dirname(this.path(name)));
      return { temp, size };
    } catch (error) {
      await this.ops.unlink(temp).catch(() => undefined);
      throw error;
    }
  }

  private async info(name: string, stat: TreeStat): Promise<ObjectInfo> {
    return { name, size: stat.size, mtimeMs: stat.mtimeMs, version: await this.versionOf(this.path(name), stat) };
  }

  private async versionOf(file: string, stat: TreeStat): Promise<string> {
    if (stat.size > HASHED_UP_TO) return sizeVersion(stat);
    return hashVersion(await readAll((await this.ops.open(file)).stream()));
  }

  async write(name: string, body: Body, options: WriteOptions = {}): Promise<ObjectInfo> {
    checkName(name);
    const noSync = options.noSync === true;
    const { temp } = await this.staged(name, body, noSync);
    const file = this.path(name);
    try {
      await this.ops.renameOver(temp, file);
    } catch (error) {
      await this.ops.unlink(temp).catch(() => undefined);
      throw error;
    }
    if (!noSync) await this.ops.syncDir(posix.dirname(file));
    return this.statOrFail(name);
  }

  private async statOrFail(name: string): Promise<ObjectInfo> {
    const info = await this.stat(name);
    if (info === undefined) throw new Error(`${name} vanished right after it was written`);
    return info;
  }

  async create(name: string, body: SmallBody): Promise<ObjectInfo | undefined> {
    checkName(name);
    const { temp } = await this.staged(name, body, false, 'ctl');
    const file = this.path(name);
    if (!(await this.ops.renameNoReplace(temp, file))) {
      await this.ops.unlink(temp);
      return undefined;
    }
    await this.ops.syncDir(posix.dirname(file));
    return this.statOrFail(name);
  }

  async replace(name: string, expected: string, body: SmallBody): Promise<ObjectInfo | undefined> {
    checkName(name);
    const file = this.path(name);
    const { temp } = await this.staged(name, body, false, 'ctl');
    try {
      return await this.exclusively(name, async () => {
        const was = await this.ops.stat(file);
        if (was === undefined || was.isDir || (await this.versionOf(file, was)) !== expected) return undefined;
        // An atomic rename over it: the name is never absent, so no create() can get in.
        await this.ops.renameOver(temp, file);
        await this.ops.syncDir(posix.dirname(file));
        const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
        return { name, size: bytes.length, mtimeMs: Date.now(), version: hashVersion(bytes) };
      });
    } finally {
      await this.ops.unlink(temp).catch(() => undefined);
    }
  }

  /**
   * Runs `change` holding the replace marker of `name` (`.incoming/<set>/<hash of name>.replacing`,
   * taken by a rename that never replaces): replacers of one name take turns, so "compare, then
   * rename over" is one step among them. A marker whose contents stay the same for STALE_MARKER_MS
   * was left by a process that died holding it (one is held for a few requests) and is removed.
   */
  private async exclusively<T>(name: string, change: () => Promise<T>): Promise<T> {
    const marker = posix.join(this.root, INCOMING_DIR, topFolder(name), `${createHash('sha256').update(name).digest('hex').slice(0, 32)}.replacing`);
    const mine = await this.tempPath('mark', name);
    await this.ops.writeNew(mine, randomBytes(16).toString('hex'), true);
    try {
      let seen: string | undefined;
      let since = Date.now();
      while (!(await this.ops.renameNoReplace(mine, marker))) {
        const held = await this.ops.open(marker).then((f) => readAll(f.stream()).then((b) => b.toString()), () => undefined);
        if (held !== seen) {
          seen = held;
          since = Date.now();
        } else if (held !== undefined && Date.now() - since > STALE_MARKER_MS) {
          await this.ops.unlink(marker);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } catch (error) {
      await this.ops.unlink(mine).catch(() => undefined);
      throw error;
    }
    try {
      return await change();
    } finally {
      await this.ops.unlink(marker).catch(() => undefined);
    }
  }

  /**
   * Reads from one open file, whose version is judged from the file itself: a small file is read
   * whole (at most 64 KiB) and its version is the hash of exactly the bytes given out. The pin of
   * a big file is its size and mtime, which cannot tell apart two versions of the same size
   * written within the mtime's resolution (a second on SFTP): weaker than S3's ETag.
   */
  async read(name: string, range?: ByteRange, options: ReadOptions = {}): Promise<ObjectStream> {
    const pinned = options.ifVersion;
    const what = `${name} in ${this.display}`;
    let opened: OpenFile;
    try {
      opened = await this.ops.open(this.path(checkName(name)));
    } catch (error) {
      if (pinned !== undefined && error instanceof DestinationError && error.code === 'OBJECT_NOT_FOUND') throw objectChanged(what, 'removed');
      throw error;
    }
    if (opened.stat.isDir) {
      await opened.close();
      throw pinned === undefined ? notFound(what) : objectChanged(what, 'removed');
    }
    if (opened.stat.size > HASHED_UP_TO) {
      const version = sizeVersion(opened.stat);
      if (pinned !== undefined && pinned !== version) {
        await opened.close();
        throw objectChanged(what, 'replaced');
      }
      return withVersion(opened.stream(range), version);
    }
    const bytes = await readAll(opened.stream());
    const version = hashVersion(bytes);
    if (pinned !== undefined && pinned !== version) throw objectChanged(what, 'replaced');
    const start = Math.min(range?.offset ?? 0, bytes.length);
    const end = range?.length === undefined ? bytes.length : Math.min(bytes.length, start + range.length);
    return withVersion(bodyStream(bytes.subarray(start, end)), version);
  }

  async stat(name: string): Promise<ObjectInfo | undefined> {
    const stat = await this.ops.stat(this.path(checkName(name)));
    if (stat === undefined || stat.isDir) return undefined;
    return this.info(name, stat);
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    const { folder, start } = splitPrefix(checkPrefix(prefix));
    const folders = [folder];
    for (let dir = folders.pop(); dir !== undefined; dir = folders.pop()) {
      for await (const { name, stat } of this.ops.readdir(posix.join(this.root, dir))) {
        if (dir === folder && !name.startsWith(start)) continue;
        if (dir === '' && name === INCOMING_DIR) continue;
        const full = `${dir}${name}`;
        if (!stat.isDir) yield { kind: 'object', name: full, size: stat.size, mtimeMs: stat.mtimeMs };
        else if (options.delimiter === true) yield { kind: 'prefix', name: `${full}/` };
        else folders.push(`${full}/`);
      }
    }
  }

  async delete(name: string): Promise<void> {
    await this.ops.unlink(this.path(checkName(name)));
  }

  async deleteAll(prefix: string): Promise<number> {
    if (!prefix.endsWith('/')) throw new Error(`deleteAll takes a folder ending with /: ${JSON.stringify(prefix)}`);
    const top = this.path(checkName(prefix.slice(0, -1)));
    let removed = 0;
    // Depth first, files as met, each folder after its contents.
    const visit = async (dir: string): Promise<void> => {
      const subfolders: string[] = [];
      for await (const { name, stat } of this.ops.readdir(dir)) {
        if (stat.isDir) subfolders.push(posix.join(dir, name));
        else if (await this.ops.unlink(posix.join(dir, name))) removed++;
      }
      for (const sub of subfolders) await visit(sub);
      await this.ops.rmdir(dir);
    };
    if ((await this.ops.stat(top))?.isDir === true) await visit(top);
    return removed;
  }

  /** Temp files are in `.incoming/<set>/` (and `.incoming/` for names outside a folder, and those of older releases). */
  async sweep(olderThanMs: number, prefix?: string): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    const incoming = posix.join(this.root, INCOMING_DIR);
    if (prefix !== undefined) return this.sweepFolder(posix.join(incoming, checkSetFolder(prefix)), cutoff);
    let removed = await this.sweepFolder(incoming, cutoff);
    const folders: string[] = [];
    for await (const { name, stat } of this.ops.readdir(incoming)) if (stat.isDir) folders.push(name);
    for (const folder of folders) removed += await this.sweepFolder(posix.join(incoming, folder), cutoff);
    return removed;
  }

  /**
   * Old temp files directly in `dir`: data temps older than `cutoff`, those of conditional writes
   * only past CONTROL_GRACE_MS as well. The folder stays: a writer may be about to put a temp in it.
   */
  private async sweepFolder(dir: string, cutoff: number): Promise<number> {
    const controlCutoff = Math.min(cutoff, Date.now() - CONTROL_GRACE_MS);
    let removed = 0;
    for await (const { name, stat } of this.ops.readdir(dir)) {
      const before = name.endsWith(DATA_TEMP) ? cutoff : controlCutoff;
      if (!stat.isDir && stat.mtimeMs < before && (await this.ops.unlink(posix.join(dir, name)))) removed++;
    }
    return removed;
  }

  close(): Promise<void> {
    return this.ops.close();
  }
}
