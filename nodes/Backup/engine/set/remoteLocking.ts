import { randomBytes } from 'node:crypto';
import { readAll } from '../destination/streams';
import type { Destination } from '../destination/types';
import { BackupError } from '../errors';
import { DestinationLeaseStore, lockSetOn } from './destinationLeaseStore';
import type { LeaseNote, LeaseTiming } from './lease';
import { DEFAULT_TIMING, judgeLease, newLeaseNote, renewedNote, whileRenewing } from './lease';
import type { RemoteSetLocking } from './remoteSetStore';

/** Reader markers of a remote set live in their own folder, beside the backups and lock.json. */
export const READERS_FOLDER = 'readers';
const POLL_MS = 250;
// Reading with credentials that may read but not write (a restore-only key): no marker can be left,
// and whoever holds such credentials cannot prune either. The read goes on unprotected.
const CANNOT_MARK = new Set(['DESTINATION_AUTH_FAILED']);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const who = (note: LeaseNote): string => `${note.purpose} (pid ${note.pid} on ${note.host}, since ${note.since})`;
const noteText = (note: LeaseNote): string => `${JSON.stringify(note)}\n`;

async function readNote(dest: Destination, name: string): Promise<LeaseNote | undefined> {
  try {
    const note = JSON.parse((await readAll(await dest.read(name))).toString('utf8')) as Partial<LeaseNote>;
    return typeof note.token === 'string' && typeof note.pid === 'number' ? (note as LeaseNote) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The lock and the reader handshake of a set on a remote destination, the same rules as a local
 * set's (readers.ts): a reader leaves `<set>/readers/<token>.json` (create-if-absent) and then looks
 * at the lock's note; a writer about to delete marks its note `deleting` and then looks for
 * markers. Whichever looks second sees the other. Markers are leases: renewed only while they are
 * still the version this reader wrote, judged expired by their own expiry plus the margin.
 */
export function remoteLocking(dest: Destination, set: string, timing: LeaseTiming = DEFAULT_TIMING): RemoteSetLocking {
  const folder = `${set}/${READERS_FOLDER}/`;

  async function deletingWriter(): Promise<LeaseNote | undefined> {
    const seen = await new DestinationLeaseStore(dest, set).read();
    const note = seen?.note;
    if (note?.deleting !== true || seen === undefined) return undefined;
    return judgeLease(note, seen.touchedMs, Date.now(), timing) === 'held' ? note : undefined;
  }

  return {
    lock: (purpose, timeoutMs, signal) => lockSetOn(dest, set, purpose, timeoutMs, { signal, timing }),

    async liveReaders() {
      const live: LeaseNote[] = [];
      const now = Date.now();
      for await (const entry of dest.list(folder)) {
        if (entry.kind !== 'object') continue;
        const note = await readNote(dest, entry.name);
        // Being written this very moment, or not a note: judged by its age alone.
        const expired = note === undefined ? now - entry.mtimeMs > timing.leaseMs + timing.marginMs : judgeLease(note, entry.mtimeMs, now, timing) !== 'held';
        if (expired) await dest.delete(entry.name);
        else live.push(note ?? { pid: 0, host: 'unknown', since: new Date(entry.mtimeMs).toISOString(), purpose: 'a reader', token: '' });
      }
      return live;
    },

    async whileReading(purpose, read, options = {}) {
      const token = randomBytes(12).toString('hex');
      const marker = `${folder}${token}.json`;
      const timeoutMs = options.timeoutMs ?? 60_000;
      const deadline = Date.now() + timeoutMs;
      let note = newLeaseNote(purpose, token, new Date(), timing);
      let version: string;
      for (;;) {
        try {
          const made = await dest.create(marker, noteText(note));
          if (made === undefined) throw new Error(`reader marker ${marker} exists already`);
          version = made.version;
        } catch (error) {
          if (error instanceof BackupError && CANNOT_MARK.has(error.code)) return read();
          throw error;
        }
        const writer = await deletingWriter();
        if (writer === undefined) break;
        await dest.delete(marker);
        if (options.signal?.aborted === true) throw new BackupError('CANCELLED', 'Cancelled while waiting for the set.');
        if (Date.now() >= deadline) {
          throw new BackupError('LOCKED', `Set ${set} is being pruned by ${who(writer)}; waited ${Math.round(timeoutMs / 1000)} s.`, {
            hint: 'Run it again once the retention or prune has finished.',
          });
        }
        await sleep(POLL_MS);
        note = newLeaseNote(purpose, token, new Date(), timing);
      }
      let kept = true;
      const renew = async (): Promise<void> => {
        // A marker removed as expired (this reader stalled beyond its lease) is not brought back.
        if (!kept) return;
        note = renewedNote(note, new Date(), timing);
        const renewed = await dest.replace(marker, version, noteText(note));
        if (renewed === undefined) kept = false;
        else version = renewed.version;
      };
      try {
        return await whileRenewing(timing.renewMs, renew, read);
      } finally {
        await dest.delete(marker).catch(() => undefined);
      }
    },
  };
}
