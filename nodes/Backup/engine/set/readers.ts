import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { setDirectory } from './catalog';
import { BackupError, errnoCode } from '../errors';
import type { LeaseNote, LeaseTiming } from './lease';
import { DEFAULT_TIMING, judgeLease, newLeaseNote, renewedNote, whileRenewing } from './lease';
import type { SetLock } from './lock';
import { LEFTOVER_MS, LocalLockStore } from './lockStore';

/**
 * Readers (restore, verify) and the writer that deletes (retention, prune) keep out of each other's
 * way with a handshake: a reader first leaves a marker `<set>/.reader-<token>.json`, then looks at
 * the lock note; the deleting writer first marks its lock note `deleting`, then looks for markers.
 * Whichever looks second sees the other: a reader that finds a deleting writer takes its marker
 * back and waits; a writer that finds readers waits for them to finish. Markers are leases like the
 * lock, so a crashed reader stops counting once its lease expired by the margin.
 */
export const READER_PREFIX = '.reader-';
const MARKER = /^\.reader-[0-9a-f]+\.json$/;
const POLL_MS = 250;
// Restoring from read-only media, or a set this user may read but not write: no marker can be left,
// and a user who cannot write there cannot prune it either. The read goes on unprotected.
const CANNOT_MARK = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOENT']);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const who = (note: LeaseNote): string => `${note.purpose} (pid ${note.pid} on ${note.host}, since ${note.since})`;

/** The writer's note when it is deleting backups under a valid lease. */
async function deletingWriter(setDir: string, timing: LeaseTiming): Promise<LeaseNote | undefined> {
  const seen = await new LocalLockStore(setDir).read();
  const note = seen?.note;
  if (note?.deleting !== true || seen === undefined) return undefined;
  return judgeLease(note, seen.touchedMs, Date.now(), timing) === 'held' ? note : undefined;
}

/**
 * Registers a reader of the set for the time `read` runs. Waits (up to `timeoutMs`) while a writer
 * deletes backups, then fails with LOCKED. A set that does not exist (the read fails on its own,
 * clearly) or cannot be written to is read without a marker.
 */
export async function whileReading<T>(destination: string, setName: string, purpose: string, read: () => Promise<T>, options: { timeoutMs?: number; signal?: AbortSignal; timing?: LeaseTiming } = {}): Promise<T> {
  const setDir = setDirectory(destination, setName);
  const timing = options.timing ?? DEFAULT_TIMING;
  const token = randomBytes(12).toString('hex');
  const marker = path.join(setDir, `${READER_PREFIX}${token}.json`);
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let note = newLeaseNote(purpose, token, new Date(), timing);
  for (;;) {
    try {
      await fsp.writeFile(marker, `${JSON.stringify(note)}\n`, { flag: 'wx' });
    } catch (error) {
      if (CANNOT_MARK.has(errnoCode(error) ?? '')) return read();
      throw error;
    }
    const writer = await deletingWriter(setDir, timing);
    if (writer === undefined) break;
    await fsp.rm(marker, { force: true });
    if (options.signal?.aborted === true) throw new BackupError('CANCELLED', 'Cancelled while waiting for the set.');
    if (Date.now() >= deadline) {
      throw new BackupError('LOCKED', `Set ${setName} is being pruned by ${who(writer)}; waited ${Math.round((options.timeoutMs ?? 60_000) / 1000)} s.`, {
        hint: 'Run it again once the retention or prune has finished.',
        path: setDir,
      });
    }
    await sleep(POLL_MS);
    note = newLeaseNote(purpose, token, new Date(), timing);
  }
  const renew = async (): Promise<void> => {
    // A marker removed as expired (this run stalled beyond the lease) is not brought back.
    if ((await fsp.stat(marker).catch(() => undefined)) === undefined) return;
    note = renewedNote(note, new Date(), timing);
    const next = `${marker}.${randomBytes(6).toString('hex')}.tmp`;
    await fsp.writeFile(next, `${JSON.stringify(note)}\n`);
    await fsp.rename(next, marker);
  };
  try {
    return await whileRenewing(timing.renewMs, renew, read);
  } finally {
    await fsp.rm(marker, { force: true });
  }
}

/** The readers whose markers still count; expired ones (crashed readers) are removed on the way. */
async function liveReaders(setDir: string, timing: LeaseTiming): Promise<LeaseNote[]> {
  const live: LeaseNote[] = [];
  const now = Date.now();
  for (const name of await fsp.readdir(setDir)) {
    if (!name.startsWith(READER_PREFIX)) continue;
    const file = path.join(setDir, name);
    const stats = await fsp.stat(file).catch(() => undefined);
    if (stats === undefined) continue;
    if (!MARKER.test(name)) {
      // A renewal's temporary file left by a kill.
      if (now - stats.mtimeMs > LEFTOVER_MS) await fsp.rm(file, { force: true });
      continue;
    }
    let note: LeaseNote | undefined;
    try {
      note = JSON.parse(await fsp.readFile(file, 'utf8')) as LeaseNote;
    } catch {
      note = undefined; // being written this very moment (or gone): judged by its age alone
    }
    const expired = note === undefined ? now - stats.mtimeMs > timing.leaseMs + timing.marginMs : judgeLease(note, stats.mtimeMs, now, timing) !== 'held';
    if (expired) await fsp.rm(file, { force: true });
    else if (note !== undefined) live.push(note);
    else live.push({ pid: 0, host: 'unknown', since: new Date(stats.mtimeMs).toISOString(), purpose: 'a reader', token: '' });
  }
  return live;
}

/** What retention and prune call around their deletes (prune.ts). */
export interface DeleteGuard {
  /** Before the first delete: announce it and wait for readers. Returns why nothing is deleted now, or undefined to go on. */
  begin(): Promise<string | undefined>;
  /** Right before each delete: throws LOCK_LOST unless the writer still holds the lock. */
  confirm(): Promise<void>;
  /** After the deletes. */
  end(): Promise<void>;
}

/**
 * The guard of a writer holding `lock`. With readers still reading after `timeoutMs`, a prune
 * fails (READERS_ACTIVE: a person asked for it and should know), while retention after a backup
 * is skipped with the reason in the output (the backup itself is good; the next run catches up).
 */
export function deleteGuard(setDir: string, lock: SetLock, timeoutMs: number, onReaders: 'fail' | 'skip', signal?: AbortSignal, timing: LeaseTiming = DEFAULT_TIMING): DeleteGuard {
  return deleteGuardOver(() => liveReaders(setDir, timing), setDir, lock, timeoutMs, onReaders, signal);
}

/** deleteGuard over any place readers leave markers: `readers` lists the live ones (removing expired ones). */
export function deleteGuardOver(readers: () => Promise<LeaseNote[]>, where: string, lock: SetLock, timeoutMs: number, onReaders: 'fail' | 'skip', signal?: AbortSignal): DeleteGuard {
  const setDir = where;
  return {
    begin: async () => {
      try {
        await lock.setDeleting(true);
      } catch (error) {
        // After a committed backup the run's work is done: losing the lock now costs only its retention.
        if (onReaders !== 'skip' || !(error instanceof BackupError) || error.code !== 'LOCK_LOST') throw error;
        return 'retention skipped: another run took the set\'s lock over after this backup was committed (this run stalled longer than its lease); it runs with the next backup';
      }
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const live = await readers();
        if (live.length === 0) return undefined;
        if (signal?.aborted === true || Date.now() >= deadline) {
          await lock.setDeleting(false);
          if (signal?.aborted === true) throw new BackupError('CANCELLED', 'Cancelled while waiting for readers of the set.');
          const reading = `${live.map(who).join(', ')} ${live.length === 1 ? 'was' : 'were'} reading the set`;
          if (onReaders === 'skip') return `retention skipped: ${reading} (waited ${Math.round(timeoutMs / 1000)} s); it runs with the next backup`;
          throw new BackupError('READERS_ACTIVE', `Nothing was pruned: ${reading}; waited ${Math.round(timeoutMs / 1000)} s.`, {
            hint: 'Run prune again when the restore or verify has finished, or raise the lock timeout.',
            path: setDir,
          });
        }
        await sleep(POLL_MS);
      }
    },
    confirm: () => lock.confirm(),
    end: () => lock.setDeleting(false),
  };
}
