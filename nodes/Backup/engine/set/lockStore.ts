import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { errnoCode } from '../errors';
import type { LeaseNote } from './lease';
import { machineIdentity, provablyDead } from './lease';

/**
 * Where a lease lives, reduced to what object storage can promise too: create only if absent
 * (S3 `If-None-Match: *`, SFTP exclusive create), read with a version (an ETag), replace or remove
 * only if the version is unchanged (S3 `If-Match`). lock.ts holds the lease rules and uses only
 * this; the local folder below is the one store today.
 */
export interface LeaseStore<V> {
  /** Creates the lease with `note` unless one exists; its version, or undefined when one exists. */
  create(note: LeaseNote): Promise<V | undefined>;
  /** The stored lease, or undefined when there is none. `note` is undefined for debris without one. */
  read(): Promise<StoredLease<V> | undefined>;
  /** Replaces the note if the lease is still `expected`: the new version, `lost` if it changed, `busy` to try again. */
  replace(expected: V, note: LeaseNote): Promise<V | 'lost' | 'busy'>;
  /** Removes the lease if it is still `expected`; false when it changed, is gone, or is busy. */
  remove(expected: V): Promise<boolean>;
  /** Where the lease is, for messages (a LOCKED error's path); the set's folder when absent. */
  readonly location?: string;
}

export interface StoredLease<V> {
  note: LeaseNote | undefined;
  version: V;
  /** When it was last written, by the store's clock (old notes without an expiry are judged by it). */
  touchedMs: number;
}

export const LOCK_DIR = '.lock';
export const LOCK_OWNER_FILE = 'owner.json';
export const LOCK_PREFIX = '.lock.';
// Leftover `.lock.*` folders (a run killed while acquiring, breaking or releasing) older than this are swept.
export const LEFTOVER_MS = 60_000;

/** What identifies one lock folder for a conditional change: its inode, its owner's token and lease expiry. */
export interface LockIdentity {
  ino: number;
  token?: string;
  expiresAt?: string;
}

const unique = (): string => `${process.pid}.${randomBytes(6).toString('hex')}`;

async function readNote(lockDir: string): Promise<{ note: LeaseNote; touchedMs: number } | undefined> {
  const file = path.join(lockDir, LOCK_OWNER_FILE);
  try {
    const [text, stats] = await Promise.all([fsp.readFile(file, 'utf8'), fsp.stat(file)]);
    return { note: JSON.parse(text) as LeaseNote, touchedMs: stats.mtimeMs };
  } catch {
    return undefined;
  }
}

/** The lock folder as one look sees it: inode, mtime and owner note together. */
async function inspect(lockDir: string): Promise<StoredLease<LockIdentity> | undefined> {
  const stats = await fsp.stat(lockDir).catch(() => undefined);
  if (stats === undefined) return undefined;
  const held = await readNote(lockDir);
  if (held === undefined) return { note: undefined, version: { ino: stats.ino }, touchedMs: stats.mtimeMs };
  return { note: held.note, version: { ino: stats.ino, token: held.note.token, expiresAt: held.note.expiresAt }, touchedMs: held.touchedMs };
}

export async function identify(lockDir: string): Promise<LockIdentity | undefined> {
  return (await inspect(lockDir))?.version;
}

const sameLock = (a: LockIdentity | undefined, b: LockIdentity): boolean => a !== undefined && a.ino === b.ino && a.token === b.token && a.expiresAt === b.expiresAt;

/** Moves a folder aside under a unique name: the move is the atomic step, the delete comes after. */
async function discard(setDir: string, from: string): Promise<string | undefined> {
  const aside = path.join(setDir, `${LOCK_PREFIX}gone.${unique()}`);
  try {
    await fsp.rename(from, aside);
    return aside;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

const MARKER_OWNER = 'by.json';

interface MarkerOwner {
  pid: number;
  bootId?: string;
  pidNs?: string;
  nonce: string;
}

/**
 * Clears a marker whose taker is provably dead (killed while renewing, committing or releasing:
 * the kill test found such a marker blocking the set for a minute). It is renamed to a name only
 * that one marker can take (`.lock.cleared.<its nonce>`) and left there for the leftover sweep, so
 * a second run that judged the same dead marker late cannot move a new, live marker: its rename
 * onto the existing, non-empty folder fails.
 */
async function clearDeadMarker(setDir: string, marker: string): Promise<boolean> {
  let owner: MarkerOwner;
  try {
    owner = JSON.parse(await fsp.readFile(path.join(marker, MARKER_OWNER), 'utf8')) as MarkerOwner;
  } catch {
    return false; // no owner note (yet): only the age rule applies
  }
  if (typeof owner.nonce !== 'string' || !/^[0-9a-f]+$/.test(owner.nonce) || !provablyDead(owner)) return false;
  const cleared = path.join(setDir, `${LOCK_PREFIX}cleared.${owner.nonce}`);
  try {
    await fsp.rename(marker, cleared);
  } catch {
    return false;
  }
  const now = new Date();
  await fsp.utimes(cleared, now, now).catch(() => undefined);
  return true;
}

/**
 * Creates the marker; false when another run holds it. The marker appears with its owner note
 * inside (built under a staging name, then renamed into place; a rename onto a marker that exists
 * fails, as it is never empty): a marker made first and its note written after could be left
 * without a note by a kill in between, and then block the set for a minute (the kill test hit it).
 */
async function takeMarker(setDir: string, marker: string): Promise<boolean> {
  // Who holds it, so that a run killed while holding it does not block the set for a minute.
  const owner: MarkerOwner = { pid: process.pid, ...(machineIdentity() ?? {}), nonce: randomBytes(8).toString('hex') };
  const staging = path.join(setDir, `${LOCK_PREFIX}new.${unique()}`); // a kill leaves it for the leftover sweep
  await fsp.mkdir(staging);
  let placed = false;
  try {
    await fsp.writeFile(path.join(staging, MARKER_OWNER), JSON.stringify(owner));
    for (let attempt = 0; ; attempt++) {
      try {
        await fsp.rename(staging, marker);
        placed = true;
        return true;
      } catch (error) {
        const code = errnoCode(error);
        if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw error;
        if (attempt === 0 && (await clearDeadMarker(setDir, marker))) continue;
        const stats = await fsp.stat(marker).catch(() => undefined);
        if (stats !== undefined && Date.now() - stats.mtimeMs > LEFTOVER_MS) await fsp.rm(marker, { recursive: true, force: true });
        return false;
      }
    }
  } finally {
    if (!placed) await fsp.rm(staging, { recursive: true, force: true });
  }
}

/**
 * Runs `change` holding the marker `.lock.break.<ino>.<token>`: every conditional change of one
 * lock (a waiter breaking it, its holder renewing or releasing it) takes the same marker, so
 * "check it is still the one I saw, then change it" is atomic among them. Undefined when busy. A
 * marker left by a run killed halfway is cleared at once when that run is provably dead, otherwise
 * once it is a minute old.
 */
async function underMarker<T>(setDir: string, seen: LockIdentity, change: () => Promise<T>): Promise<T | undefined> {
  const marker = path.join(setDir, `${LOCK_PREFIX}break.${seen.ino}.${seen.token ?? 'none'}`);
  if (!(await takeMarker(setDir, marker))) return undefined;
  try {
    return await change();
  } finally {
    await fsp.rm(marker, { recursive: true, force: true });
  }
}

/**
 * Breaks (or releases) the lock folder `seen`. Many waiters see the same expired holder at once, so
 * only the one holding the marker may act, and it checks the folder is still the one it judged
 * (same inode, token and expiry: a renewal in between changes the expiry) before moving it aside.
 * A waiter that judged late never moves a newer, live lock aside (moving it aside and back left a
 * gap in which a third run took the set while the live holder kept writing).
 */
export async function breakLock(setDir: string, lockDir: string, seen: LockIdentity): Promise<boolean> {
  const done = await underMarker(setDir, seen, async () => {
    if (!sameLock(await identify(lockDir), seen)) return false;
    const aside = await discard(setDir, lockDir);
    if (aside !== undefined) await fsp.rm(aside, { recursive: true, force: true });
    return true;
  });
  return done === true;
}

async function sweepLeftovers(setDir: string): Promise<void> {
  const now = Date.now();
  for (const name of await fsp.readdir(setDir).catch(() => [] as string[])) {
    if (!name.startsWith(LOCK_PREFIX)) continue;
    const full = path.join(setDir, name);
    // A marker whose taker died while releasing names a lock that is gone: nobody would take it again.
    if (name.startsWith(`${LOCK_PREFIX}break.`) && (await clearDeadMarker(setDir, full))) continue;
    const stats = await fsp.stat(full).catch(() => undefined);
    if (stats !== undefined && now - stats.mtimeMs > LEFTOVER_MS) await fsp.rm(full, { recursive: true, force: true });
  }
}

/**
 * The lock of a local set: the folder `<set>/.lock` holding `owner.json`. It is built under a
 * unique name and renamed into place, so the lock and its note appear together (a rename onto an
 * existing lock folder fails). A renewal writes the note beside and renames it over, so a reader
 * never sees half a note.
 */
export class LocalLockStore implements LeaseStore<LockIdentity> {
  readonly lockDir: string;
  readonly location: string;
  private swept = false;

  constructor(readonly setDir: string) {
    this.lockDir = path.join(setDir, LOCK_DIR);
    this.location = this.lockDir;
  }

  async create(note: LeaseNote): Promise<LockIdentity | undefined> {
    if (!this.swept) {
      this.swept = true;
      await sweepLeftovers(this.setDir);
    }
    const staging = path.join(this.setDir, `${LOCK_PREFIX}new.${unique()}`);
    await fsp.mkdir(staging);
    await fsp.writeFile(path.join(staging, LOCK_OWNER_FILE), `${JSON.stringify(note)}\n`);
    try {
      await fsp.rename(staging, this.lockDir);
    } catch (error) {
      await fsp.rm(staging, { recursive: true, force: true });
      if (['ENOTEMPTY', 'EEXIST', 'ENOTDIR', 'EISDIR'].includes(errnoCode(error) ?? '')) return undefined;
      throw error;
    }
    // Nobody breaks a fresh lease of a live process, so the folder is still the one just renamed.
    return { ino: (await fsp.stat(this.lockDir)).ino, token: note.token, expiresAt: note.expiresAt };
  }

  read(): Promise<StoredLease<LockIdentity> | undefined> {
    return inspect(this.lockDir);
  }

  async replace(expected: LockIdentity, note: LeaseNote): Promise<LockIdentity | 'lost' | 'busy'> {
    const done = await underMarker(this.setDir, expected, async (): Promise<LockIdentity | 'lost'> => {
      if (!sameLock(await identify(this.lockDir), expected)) return 'lost';
      const file = path.join(this.lockDir, LOCK_OWNER_FILE);
      const next = `${file}.${unique()}.tmp`;
      await fsp.writeFile(next, `${JSON.stringify(note)}\n`);
      await fsp.rename(next, file);
      return { ino: expected.ino, token: note.token, expiresAt: note.expiresAt };
    });
    return done ?? 'busy';
  }

  remove(expected: LockIdentity): Promise<boolean> {
    return breakLock(this.setDir, this.lockDir, expected);
  }
}
