import { constants } from 'node:os';

/**
 * Extended attributes (and so POSIX ACLs, which Linux keeps as the xattrs
 * system.posix_acl_access / system.posix_acl_default), through @napi-rs/xattr: prebuilt binaries
 * shipped as optional dependencies, no install script. It is loaded on first use; where it cannot
 * load (a platform without a binary, an install without optional packages), backups are made
 * without xattrs and each run says so once (a notice, not a warning: see README).
 * Its calls never follow a symlink (l*xattr), so a symlink's own attributes are the ones read and set.
 */

/** The part of @napi-rs/xattr this module uses. */
interface XattrLibrary {
  listAttributesSync(path: string): string[];
  getAttributeSync(path: string, name: string): Buffer | null;
  setAttributeSync(path: string, name: string, value: Uint8Array | string): void;
}

/** name -> value in base64: the manifest's `xattrs` field. */
export type XattrRecord = Record<string, string>;

let library: XattrLibrary | undefined;
let loadFailure: string | undefined;
let loaded = false;

function load(): XattrLibrary | undefined {
  if (!loaded) {
    loaded = true;
    try {
      // A plain require: the package is optional at load (see above), so a failure is an outcome.
      library = require('@napi-rs/xattr') as XattrLibrary;
    } catch (error) {
      loadFailure = `the @napi-rs/xattr library cannot load on ${process.platform}-${process.arch} (${String(error).split('\n')[0]})`;
    }
  }
  return library;
}

/** Why xattrs cannot be read or set in this process, or undefined when they can. */
export function xattrsUnavailable(): string | undefined {
  load();
  return loadFailure;
}

/** Total value bytes of one entry's attributes above which they are not kept (a manifest line stays far below its 1 MiB limit). */
export const MAX_XATTR_BYTES = 256 << 10;

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The errno name of a library error ("Operation not permitted (os error 1)" -> EPERM). */
export function xattrErrorCode(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('E')) return code;
  const match = /\(os error (\d+)\)/.exec(String((error as { message?: unknown }).message ?? error));
  return (match === null ? undefined : errnoNames.get(Number(match[1]))) ?? 'EUNKNOWN';
}

/** The file system keeps no xattrs there, or the entry is gone: nothing to keep, not a problem. */
const NOTHING_THERE = new Set(['ENOTSUP', 'EOPNOTSUPP', 'ENOENT', 'ENODATA']);

export type XattrRead = { xattrs?: XattrRecord } | { failed: string };

/**
 * The attributes of `file` (never through a symlink), or nothing when it has none; `failed`
 * (an errno name, or E2BIG past MAX_XATTR_BYTES) when they could not be read.
 */
export function readXattrs(file: string): XattrRead {
  const lib = load();
  if (lib === undefined) return {};
  try {
    const names = lib.listAttributesSync(file);
    if (names.length === 0) return {};
    const record: XattrRecord = {};
    let bytes = 0;
    for (const name of names.sort()) {
      const value = lib.getAttributeSync(file, name);
      // Removed between the listing and the read.
      if (value === null) continue;
      bytes += value.length;
      if (bytes > MAX_XATTR_BYTES) return { failed: 'E2BIG' };
      record[name] = value.toString('base64');
    }
    return Object.keys(record).length === 0 ? {} : { xattrs: record };
  } catch (error) {
    const code = xattrErrorCode(error);
    return NOTHING_THERE.has(code) ? {} : { failed: code };
  }
}

/** Sets every attribute of `record` on `file` (never through a symlink); returns the errno names of those that failed. */
export function writeXattrs(file: string, record: XattrRecord): string[] {
  const lib = load();
  const names = Object.keys(record);
  if (lib === undefined) return names.map(() => 'EUNAVAILABLE');
  const failed: string[] = [];
  for (const name of names) {
    try {
      lib.setAttributeSync(file, name, Buffer.from(record[name], 'base64'));
    } catch (error) {
      failed.push(xattrErrorCode(error));
    }
  }
  return failed;
}

/** A manifest's `xattrs` field is well formed: names 1..255 bytes without NUL, values base64. */
export function isXattrRecord(value: unknown): value is XattrRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.entries(value).every(
    ([name, v]) => name.length > 0 && !name.includes('\0') && Buffer.byteLength(name) <= 255 && typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v),
  );
}

/**
 * Counts the attributes restore could not set, by why, for one notice per run (never one error
 * per file): EPERM/EACCES (trusted.* and security.* need privilege), ENOTSUP (the target file
 * system keeps none), anything else.
 */
export class XattrRestoreTally {
  entries = 0;
  notPermitted = 0;
  unsupported = 0;
  other = 0;
  private otherCodes = new Set<string>();

  book(failed: string[]): void {
    if (failed.length === 0) return;
    this.entries++;
    for (const code of failed) {
      if (code === 'EPERM' || code === 'EACCES') this.notPermitted++;
      else if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') this.unsupported++;
      else {
        this.other++;
        this.otherCodes.add(code);
      }
    }
  }

  /** One sentence, or undefined when every attribute was set. */
  notice(): string | undefined {
    if (this.entries === 0) return undefined;
    const why = [
      this.notPermitted > 0 ? `${this.notPermitted} not permitted (trusted.* and security.* need root)` : '',
      this.unsupported > 0 ? `${this.unsupported} not supported by the target file system` : '',
      this.other > 0 ? `${this.other} failed (${[...this.otherCodes].sort().join(', ')})` : '',
    ].filter((s) => s !== '');
    return `Extended attributes of ${this.entries} entr${this.entries === 1 ? 'y were' : 'ies were'} not all restored: ${why.join('; ')}. The files themselves were restored.`;
  }
}
