import { createHash, randomBytes } from 'node:crypto';
import * as posix from 'node:path/posix';
import type { Readable } from 'node:stream';
import { checkName, checkPrefix, INCOMING_DIR, splitPrefix } from './names';
import type { Body, ByteRange, Capabilities, Destination, ListEntry, ListOptions, ObjectInfo, SmallBody, WriteOptions } from './types';

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
  read(path: string, range?: ByteRange): Promise<Readable>;
  /** False when it did not exist. */
  unlink(path: string): Promise<boolean>;
  rmdir(path: string): Promise<void>;
  /** The folder's entries, streamed (flat memory); nothing when the folder does not exist. */
  readdir(path: string): AsyncIterable<{ name: string; stat: TreeStat }>;
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
 * - replace: the current file is first renamed aside under a unique name (only one of two racing
 *   replacers can move it), its version compared, then the new file renamed in without replacing.
 *   While it is aside the name is absent, so a create() in that instant succeeds and the replace
 *   reports the change; when the version did not match the file is put back unless a create took
 *   the name meanwhile (then that create wins and the moved-aside version is dropped).
 * - version: sha256 of the contents for files up to 64 KiB, else size and mtime (SFTP mtimes are
 *   whole seconds, hence the hash for the small files that conditional writes are used on).
 */
export class FileTreeDestination implements Destination {
  readonly capabilities: Capabilities = { conditionalWrites: 'compare-token', folders: true };
  private incomingReady: Promise<void> | undefined;

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

  private async tempPath(kind: string): Promise<string> {
    this.incomingReady ??= this.ops.mkdirp(posix.join(this.root, INCOMING_DIR)).catch((error: unknown) => {
      this.incomingReady = undefined;
      throw error;
    });
    await this.incomingReady;
    return posix.join(this.root, INCOMING_DIR, `${randomBytes(12).toString('hex')}.${kind}`);
  }

  /** Writes a temp file with `body`; the parent folder of `name` exists afterwards. */
  private async staged(name: string, body: Body, noSync: boolean): Promise<{ temp: string; size: number }> {
    const temp = await this.tempPath('tmp');
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
    if (stat.size > HASHED_UP_TO) return `size:${stat.size}:mtime:${Math.trunc(stat.mtimeMs)}`;
    const hash = createHash('sha256');
    for await (const chunk of await this.ops.read(file)) hash.update(chunk as Buffer);
    return `sha256:${hash.digest('hex')}`;
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
    const { temp } = await this.staged(name, body, false);
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
    const { temp } = await this.staged(name, body, false);
    const aside = await this.tempPath('aside');
    try {
      if (!(await this.ops.renameOver(file, aside))) return undefined; // gone
      const was = await this.ops.stat(aside);
      if (was === undefined || (await this.versionOf(aside, was)) !== expected) {
        await this.ops.renameNoReplace(aside, file); // put back, unless a create() took the name meanwhile
        return undefined;
      }
      if (!(await this.ops.renameNoReplace(temp, file))) return undefined; // a create() got in while it was aside
      await this.ops.syncDir(posix.dirname(file));
      // Not a stat of the name: another replacer may hold it aside for a moment (and then put it back).
      const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      return { name, size: bytes.length, mtimeMs: Date.now(), version: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
    } finally {
      await this.ops.unlink(temp).catch(() => undefined);
      await this.ops.unlink(aside).catch(() => undefined);
    }
  }

  read(name: string, range?: ByteRange): Promise<Readable> {
    return this.ops.read(this.path(checkName(name)), range);
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

  async sweep(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    const incoming = posix.join(this.root, INCOMING_DIR);
    for await (const { name, stat } of this.ops.readdir(incoming)) {
      if (!stat.isDir && stat.mtimeMs < cutoff && (await this.ops.unlink(posix.join(incoming, name)))) removed++;
    }
    return removed;
  }

  close(): Promise<void> {
    return this.ops.close();
  }
}
