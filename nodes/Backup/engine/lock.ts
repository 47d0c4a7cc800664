import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BackupError, errnoCode } from './errors';

export const LOCK_DIR = '.lock';
export const LOCK_OWNER_FILE = 'owner.json';
const LOCK_PREFIX = '.lock.';
// The holder touches its owner note every REFRESH_MS; a note not touched for STALE_MS belongs to a
// dead process (a crash, SIGKILL, a lost queue-mode worker on another host).
const STALE_MS = 30_000;
const REFRESH_MS = 5_000;
const POLL_MS = 250;
// Leftover `.lock.*` folders (a run killed while acquiring or releasing) older than this are swept.
const LEFTOVER_MS = 60_000;

interface LockOwner {
  pid: number;
  host: string;
  since: string;
  purpose: string;
  token: string;
}

export interface SetLock {
  release: () => Promise<void>;
  /** Aborts when the lock was lost (taken over as stale): stop writing. */
  lost: AbortSignal;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
}

async function readOwner(lockDir: string): Promise<{ owner: LockOwner; touchedMs: number } | undefined> {
  const file = path.join(lockDir, LOCK_OWNER_FILE);
  try {
    const [text, stats] = await Promise.all([fsp.readFile(file, 'utf8'), fsp.stat(file)]);
    return { owner: JSON.parse(text) as LockOwner, touchedMs: stats.mtimeMs };
  } catch {
    return undefined;
  }
}

function describe(owner: LockOwner | undefined): string {
  return owner === undefined ? 'another process' : `${owner.purpose} (pid ${owner.pid} on ${owner.host}, since ${owner.since})`;
}

const unique = (): string => `${process.pid}.${randomBytes(6).toString('hex')}`;

/** Moves a folder aside under a unique name, then deletes it: the move is the atomic step. */
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

async function sweepLeftovers(setDir: string): Promise<void> {
  const now = Date.now();
  for (const name of await fsp.readdir(setDir).catch(() => [] as string[])) {
    if (!name.startsWith(LOCK_PREFIX)) continue;
    const full = path.join(setDir, name);
    const stats = await fsp.stat(full).catch(() => undefined);
    if (stats !== undefined && now - stats.mtimeMs > LEFTOVER_MS) await fsp.rm(full, { recursive: true, force: true });
  }
}

/** What identifies one lock folder for breaking it (exported with breakLock for tests): its inode and, when it has one, its owner's token. */
export interface LockIdentity {
  ino: number;
  token?: string;
}

/** The lock folder as one look sees it: its inode and mtime, and its owner note if it has one. */
async function inspectLock(lockDir: string): Promise<{ ino: number; mtimeMs: number; held: Awaited<ReturnType<typeof readOwner>> } | undefined> {
  const stats = await fsp.stat(lockDir).catch(() => undefined);
  if (stats === undefined) return undefined;
  return { ino: stats.ino, mtimeMs: stats.mtimeMs, held: await readOwner(lockDir) };
}

export async function identify(lockDir: string): Promise<LockIdentity | undefined> {
  const seen = await inspectLock(lockDir);
  return seen === undefined ? undefined : { ino: seen.ino, token: seen.held?.owner.token };
}

const sameLock = (a: LockIdentity | undefined, b: LockIdentity): boolean => a !== undefined && a.ino === b.ino && a.token === b.token;

/**
 * Breaks the lock folder `seen` (a dead or stale holder's, or debris without a note). Many waiters
 * see the same dead holder at once, so breaking is itself exclusive: only the run that creates the
 * marker `.lock.break.<identity>` may break that one lock, and it checks the folder is still the one
 * it judged before moving it aside. A waiter that judged late never moves a newer, live lock aside
 * (moving it aside and back would leave a gap in which a third run takes the set while the live
 * holder keeps writing). The marker goes when the break is done; one left by a breaker killed
 * halfway is cleared after a minute.
 */
export async function breakLock(setDir: string, lockDir: string, seen: LockIdentity): Promise<boolean> {
  const marker = path.join(setDir, `${LOCK_PREFIX}break.${seen.ino}.${seen.token ?? 'none'}`);
  try {
    await fsp.mkdir(marker);
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw error;
    // Another run is breaking (or broke) this lock. A marker left by a breaker killed halfway is
    // cleared once old, so the dead lock behind it cannot block the set for ever.
    const stats = await fsp.stat(marker).catch(() => undefined);
    if (stats !== undefined && Date.now() - stats.mtimeMs > LEFTOVER_MS) await fsp.rm(marker, { recursive: true, force: true });
    return false;
  }
  try {
    // Checked while holding the marker: a run that judged this lock late finds a different one here.
    if (!sameLock(await identify(lockDir), seen)) return false;
    const aside = await discard(setDir, lockDir);
    if (aside !== undefined) await fsp.rm(aside, { recursive: true, force: true });
    return true;
  } finally {
    await fsp.rm(marker, { recursive: true, force: true });
  }
}

/**
 * One writer per set. The lock is the folder `<set>/.lock` holding `owner.json` (pid, host, time,
 * purpose): it is built under a unique name and renamed into place, so the lock and its note
 * appear together, atomically (rename onto an existing lock folder fails). A lock whose holder is
 * a dead process on this host is taken over at once; one whose note has not been touched for 30 s
 * is stale; otherwise a run waits up to `timeoutMs`, then fails naming the holder.
 */
export async function lockSet(setDir: string, purpose: string, timeoutMs: number, signal?: AbortSignal): Promise<SetLock> {
  const lockDir = path.join(setDir, LOCK_DIR);
  const me: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), purpose, token: randomBytes(12).toString('hex') };
  const deadline = Date.now() + timeoutMs;
  await sweepLeftovers(setDir);
  for (;;) {
    const staging = path.join(setDir, `${LOCK_PREFIX}new.${unique()}`);
    await fsp.mkdir(staging);
    await fsp.writeFile(path.join(staging, LOCK_OWNER_FILE), `${JSON.stringify(me)}\n`);
    try {
      await fsp.rename(staging, lockDir);
      return holdLock(setDir, lockDir, me);
    } catch (error) {
      await fsp.rm(staging, { recursive: true, force: true });
      if (!['ENOTEMPTY', 'EEXIST', 'ENOTDIR', 'EISDIR'].includes(errnoCode(error) ?? '')) throw error;
    }
    const seen = await inspectLock(lockDir);
    const held = seen?.held;
    if (seen !== undefined && held !== undefined) {
      const { owner, touchedMs } = held;
      const dead = owner.host === os.hostname() && owner.pid !== process.pid && !isAlive(owner.pid);
      if (dead || Date.now() - touchedMs > STALE_MS) {
        if (await breakLock(setDir, lockDir, { ino: seen.ino, token: owner.token })) continue;
      }
    } else if (seen !== undefined && Date.now() - seen.mtimeMs > POLL_MS * 4) {
      // A lock folder without a note is never made by this scheme (the note is in it before it is
      // renamed into place): an older release or a hand-made folder left it. Safe to break once it is old.
      if (await breakLock(setDir, lockDir, { ino: seen.ino })) continue;
    }
    if (signal?.aborted === true) throw new BackupError('CANCELLED', 'Cancelled while waiting for the lock.');
    if (Date.now() >= deadline) {
      throw new BackupError('LOCKED', `Set ${path.basename(setDir)} is locked by ${describe(held?.owner)}; waited ${Math.round(timeoutMs / 1000)} s.`, {
        hint: `Wait for it to finish, or raise the lock timeout. If no such process runs, the lock goes stale within ${STALE_MS / 1000} s.`,
        path: lockDir,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function holdLock(setDir: string, lockDir: string, me: LockOwner): SetLock {
  const lost = new AbortController();
  const note = path.join(lockDir, LOCK_OWNER_FILE);
  const stillMine = async (): Promise<boolean> => (await readOwner(lockDir))?.owner.token === me.token;
  const timer = setInterval(() => {
    void (async () => {
      if (!(await stillMine())) {
        lost.abort(new BackupError('LOCKED', `The lock on ${setDir} was taken over while this run held it; the run stopped.`));
        return;
      }
      const now = new Date();
      await fsp.utimes(note, now, now).catch(() => undefined);
    })();
  }, REFRESH_MS);
  timer.unref();
  return {
    lost: lost.signal,
    release: async () => {
      clearInterval(timer);
      if (!(await stillMine())) return;
      // Moved aside first (atomic), then deleted. Deleting in place emptied the folder before the
      // rmdir, and a waiter's rename onto an empty folder succeeds: the rmdir then failed with
      // ENOTEMPTY and a finished backup reported an error (CI caught it). A run killed after the
      // move leaves a `.lock.gone.*` folder, swept after a minute.
      const aside = await discard(setDir, lockDir);
      if (aside !== undefined) await fsp.rm(aside, { recursive: true, force: true });
    },
  };
}
