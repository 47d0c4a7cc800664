import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { BackupError, errorMessage } from '../errors';
import type { LeaseNote, LeaseTiming } from './lease';
import { DEFAULT_TIMING, judgeLease, newLeaseNote, OLD_STALE_MS, renewedNote } from './lease';
import type { LeaseStore } from './lockStore';
import { LocalLockStore } from './lockStore';

export { breakLock, identify, LOCK_DIR, LOCK_OWNER_FILE } from './lockStore';
export type { LockIdentity } from './lockStore';

const POLL_MS = 250;
// A lock folder without a note is never made by this scheme (the note is in it before it is renamed
// into place): an older release or a hand-made folder left it. Safe to break once this old.
const DEBRIS_MS = POLL_MS * 4;

export interface SetLock {
  release: () => Promise<void>;
  /** Aborts (reason: a LOCK_LOST BackupError) when the lock was lost: stop writing. */
  lost: AbortSignal;
  /**
   * Renews the lease now and throws LOCK_LOST unless this run still holds it. Called right before
   * a commit (the rename of a partial, each retention delete), so the step after it runs with a
   * whole fresh lease.
   */
  confirm: () => Promise<void>;
  /** Marks the note while backups are deleted, so readers wait (readers.ts); renews too. */
  setDeleting: (deleting: boolean) => Promise<void>;
}

export interface LockOptions {
  timing?: LeaseTiming;
  signal?: AbortSignal;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function describe(note: LeaseNote | undefined): string {
  return note === undefined ? 'another process' : `${note.purpose} (pid ${note.pid} on ${note.host}, since ${note.since})`;
}

function lockLost(setDir: string, why: string): BackupError {
  return new BackupError('LOCK_LOST', `This run lost the lock on set ${path.basename(setDir)} (${why}); it stopped before committing anything.`, {
    hint: `Another run took the set over after this one's lease expired: it was stalled or cut off from the destination for longer than the lease. Nothing of this run was kept; run it again.`,
    path: setDir,
  });
}

/** True when a waiter may break what it saw. */
function breakable(seen: { note: LeaseNote | undefined; touchedMs: number }, timing: LeaseTiming): boolean {
  const now = Date.now();
  if (seen.note === undefined) return now - seen.touchedMs > DEBRIS_MS;
  return judgeLease(seen.note, seen.touchedMs, now, timing) !== 'held';
}

/**
 * One writer per set, as a lease: the holder's note says until when it is valid and is renewed
 * every `renewMs` while the run lives. A waiter breaks it only when it expired more than
 * `marginMs` ago, or at once when its holder is provably a dead process (same boot and PID
 * namespace); otherwise it waits up to `timeoutMs`, then fails with LOCKED naming the holder.
 */
export async function lockSet(setDir: string, purpose: string, timeoutMs: number, signal?: AbortSignal, options: LockOptions = {}): Promise<SetLock> {
  return lockWith(new LocalLockStore(setDir), setDir, purpose, timeoutMs, { signal, ...options });
}

/**
 * The same lease rules over any store (destinationLeaseStore.ts keeps the lease in an object of a
 * destination). `setDir` names the set in messages: a folder, or a destination's description of it.
 */
export async function lockWith<V>(store: LeaseStore<V>, setDir: string, purpose: string, timeoutMs: number, options: LockOptions = {}): Promise<SetLock> {
  const timing = options.timing ?? DEFAULT_TIMING;
  const token = randomBytes(12).toString('hex');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const note = newLeaseNote(purpose, token, new Date(), timing);
    const version = await store.create(note);
    if (version !== undefined) return hold(store, setDir, note, version, timing);
    const seen = await store.read();
    if (seen !== undefined && breakable(seen, timing) && (await store.remove(seen.version))) continue;
    if (options.signal?.aborted === true) throw new BackupError('CANCELLED', 'Cancelled while waiting for the lock.');
    if (Date.now() >= deadline) {
      const expiry = seen?.note?.expiresAt === undefined ? `goes stale within ${OLD_STALE_MS / 1000} s` : `is broken after its lease (until ${seen.note.expiresAt}) is ${timing.marginMs / 1000} s past`;
      throw new BackupError('LOCKED', `Set ${path.basename(setDir)} is locked by ${describe(seen?.note)}; waited ${Math.round(timeoutMs / 1000)} s.`, {
        hint: `Wait for it to finish, or raise the lock timeout. If no such process runs, the lock ${expiry}.`,
        path: store.location ?? setDir,
      });
    }
    await sleep(POLL_MS);
  }
}

function hold<V>(store: LeaseStore<V>, setDir: string, first: LeaseNote, firstVersion: V, timing: LeaseTiming): SetLock {
  const lost = new AbortController();
  let note = first;
  let version = firstVersion;
  let released = false;
  // Renewals run one at a time (the timer's, confirm's, setDeleting's), each from the last version.
  let queue: Promise<void> = Promise.resolve();

  const renew = async (change: Partial<LeaseNote>): Promise<void> => {
    if (lost.signal.aborted) throw lost.signal.reason;
    for (;;) {
      const next = renewedNote({ ...note, ...change }, new Date(), timing);
      let outcome: V | 'lost' | 'busy';
      try {
        outcome = await store.replace(version, next);
      } catch (error) {
        // A failed write (a network hiccup) is survivable while the lease is valid; after that it is not.
        if (Date.now() < Date.parse(note.expiresAt ?? '')) throw error;
        outcome = 'lost';
        lost.abort(lockLost(setDir, `the lease expired and could not be renewed: ${errorMessage(error)}`));
      }
      if (outcome === 'lost') {
        if (!lost.signal.aborted) lost.abort(lockLost(setDir, 'another run took it over'));
        throw lost.signal.reason;
      }
      if (outcome !== 'busy') {
        version = outcome;
        note = next;
        return;
      }
      // Busy: another run holds this lock's marker for a moment (judging it, or a marker left by a kill, cleared after a minute).
      await sleep(POLL_MS / 5);
    }
  };
  const queued = (change: Partial<LeaseNote>): Promise<void> => {
    const run = queue.then(() => renew(change));
    queue = run.catch(() => undefined);
    return run;
  };

  const timer = setInterval(() => {
    if (!released) queued({}).catch(() => undefined);
  }, timing.renewMs);
  timer.unref();
  return {
    lost: lost.signal,
    confirm: () => queued({}),
    setDeleting: (deleting) => queued({ deleting }),
    release: async () => {
      released = true;
      clearInterval(timer);
      await queue;
      if (lost.signal.aborted) return;
      // Retried while busy (a waiter judging it holds the marker for a moment); stops when it is no longer this run's.
      while (!(await store.remove(version))) {
        const seen = await store.read();
        if (seen === undefined || JSON.stringify(seen.version) !== JSON.stringify(version)) return;
        await sleep(POLL_MS / 5);
      }
    },
  };
}
