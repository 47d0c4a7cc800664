import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as lockfile from 'proper-lockfile';
import { BackupError, errnoCode } from './errors';

export const LOCK_DIR = '.lock';
export const LOCK_OWNER_FILE = '.lock-owner.json';
// proper-lockfile refreshes the lock folder's mtime every STALE/2; a lock not refreshed for this
// long belongs to a dead process (a crash, SIGKILL, a lost queue-mode worker on another host).
const STALE_MS = 30_000;
const POLL_MS = 250;

interface LockOwner {
  pid: number;
  host: string;
  since: string;
  purpose: string;
}

export interface SetLock {
  release: () => Promise<void>;
  /** Aborts when the lock was lost (its folder removed, or not refreshed in time): stop writing. */
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

async function readOwner(setDir: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await fsp.readFile(path.join(setDir, LOCK_OWNER_FILE), 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

function describe(owner: LockOwner | undefined): string {
  return owner === undefined ? 'another process' : `${owner.purpose} (pid ${owner.pid} on ${owner.host}, since ${owner.since})`;
}

/**
 * One writer per set: a lock folder (proper-lockfile: atomic mkdir, refreshed mtime, stale
 * detection) plus a note of who holds it. A lock whose holder is a dead process on this host is
 * taken over at once; otherwise waits up to `timeoutMs`, then fails naming the holder.
 */
export async function lockSet(setDir: string, purpose: string, timeoutMs: number, signal?: AbortSignal): Promise<SetLock> {
  const lockPath = path.join(setDir, LOCK_DIR);
  const lost = new AbortController();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const release = await lockfile.lock(setDir, {
        lockfilePath: lockPath, stale: STALE_MS, retries: 0, realpath: false,
        onCompromised: () => lost.abort(new BackupError('LOCKED', `The lock on ${setDir} was lost while writing.`)),
      });
      const owner: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), purpose };
      await fsp.writeFile(path.join(setDir, LOCK_OWNER_FILE), `${JSON.stringify(owner)}\n`);
      return {
        lost: lost.signal,
        release: async () => {
          await fsp.rm(path.join(setDir, LOCK_OWNER_FILE), { force: true });
          await release().catch(() => undefined);
        },
      };
    } catch (error) {
      if (errnoCode(error) !== 'ELOCKED') throw error;
    }
    const owner = await readOwner(setDir);
    if (owner !== undefined && owner.host === os.hostname() && owner.pid !== process.pid && !isAlive(owner.pid)) {
      // The holder died (SIGKILL, crash) on this very host: no need to wait for the lock to go stale.
      await fsp.rm(lockPath, { recursive: true, force: true });
      continue;
    }
    if (signal?.aborted === true) throw new BackupError('CANCELLED', 'Cancelled while waiting for the lock.');
    if (Date.now() >= deadline) {
      throw new BackupError('LOCKED', `Set ${path.basename(setDir)} is locked by ${describe(owner)}; waited ${Math.round(timeoutMs / 1000)} s.`, {
        hint: `Wait for it to finish, or raise the lock timeout. If no such process runs, the lock goes stale within ${STALE_MS / 1000} s; or remove ${lockPath}.`,
        path: lockPath,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
