import type { Destination } from '../destination/types';
import { BackupError } from '../errors';
import type { LeaseNote } from './lease';
import type { LockOptions, SetLock } from './lock';
import { lockWith } from './lock';
import type { LeaseStore, StoredLease } from './lockStore';
import { readAll } from '../destination/streams';

/** The lease of a set on a destination: one small object, `<set>/lock.json`, holding the LeaseNote. */
export const LEASE_OBJECT = 'lock.json';

/** What a released or broken lease leaves in the object: nobody holds the set. */
interface Released {
  released: true;
  at: string;
}

/** Rounds of "the object changed between its stat and its read" before read() gives up (each is a change by someone). */
const READ_ROUNDS = 5;

function parse(bytes: Buffer): LeaseNote | Released | undefined {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown;
    if (typeof value !== 'object' || value === null) return undefined;
    if ((value as Partial<Released>).released === true) return value as Released;
    const note = value as Partial<LeaseNote>;
    return typeof note.token === 'string' && typeof note.pid === 'number' ? (note as LeaseNote) : undefined;
  } catch {
    return undefined;
  }
}

const text = (value: LeaseNote | Released): string => `${JSON.stringify(value)}\n`;

/**
 * A set's lease kept in one object of a destination (S3, SFTP, a local folder through the
 * destination layer). Every change is a conditional write of that object and nothing ever
 * deletes it: releasing or breaking a lease replaces the note, if it is still the version judged,
 * with a "released" note, and taking a released lease replaces that, again only if unchanged.
 * So "check it is still the one I saw, then change it" is one step wherever replace() is checked
 * by the server (S3 If-Match: of racing breakers exactly one wins, and a holder that renewed in
 * between makes every breaker's write fail). A check-then-delete would not be: a breaker that
 * judged an expired lease could delete the next holder's fresh one.
 *
 * On file trees (local, SFTP) replace() is checked by this client (fileTree.ts): replacers of one
 * name take turns through a marker and rename over the name, which is never absent, so a create()
 * cannot slip in while a holder renews. Local folders used the classic way keep LocalLockStore.
 */
export class DestinationLeaseStore implements LeaseStore<string> {
  readonly name: string;
  readonly location: string;

  constructor(
    private readonly destination: Destination,
    setName: string,
  ) {
    this.name = `${setName}/${LEASE_OBJECT}`;
    this.location = `${destination.describe()}/${this.name}`;
  }

  async create(note: LeaseNote): Promise<string | undefined> {
    const made = await this.destination.create(this.name, text(note));
    if (made !== undefined) return made.version;
    // There is an object: a released lease may be taken (only if still released when replaced).
    const seen = await this.look();
    if (seen?.value === undefined || !('released' in seen.value)) return undefined;
    return (await this.destination.replace(this.name, seen.version, text(note)))?.version;
  }

  async read(): Promise<StoredLease<string> | undefined> {
    const seen = await this.look();
    if (seen === undefined || (seen.value !== undefined && 'released' in seen.value)) return undefined;
    // No note in it (not written by this scheme: ours are whole or absent): debris, judged by its age.
    return { note: seen.value, version: seen.version, touchedMs: seen.touchedMs };
  }

  async replace(expected: string, note: LeaseNote): Promise<string | 'lost' | 'busy'> {
    return (await this.destination.replace(this.name, expected, text(note)))?.version ?? 'lost';
  }

  async remove(expected: string): Promise<boolean> {
    return (await this.destination.replace(this.name, expected, text({ released: true, at: new Date().toISOString() }))) !== undefined;
  }

  /** The object's note and version as one read: the bytes are read pinned to the version stat() gave. */
  private async look(): Promise<{ value: LeaseNote | Released | undefined; version: string; touchedMs: number } | undefined> {
    for (let round = 1; ; round++) {
      const info = await this.destination.stat(this.name);
      if (info === undefined) return undefined;
      try {
        const bytes = await readAll(await this.destination.read(this.name, undefined, { ifVersion: info.version }));
        return { value: parse(bytes), version: info.version, touchedMs: info.mtimeMs };
      } catch (error) {
        if (!(error instanceof BackupError) || error.code !== 'OBJECT_CHANGED' || round >= READ_ROUNDS) throw error;
      }
    }
  }
}

/**
 * Takes the lock of set `setName` on `destination` (the lease rules of lock.ts: waits up to
 * `timeoutMs`, then LOCKED naming the holder; breaks a lease only after its expiry plus the margin).
 */
export function lockSetOn(destination: Destination, setName: string, purpose: string, timeoutMs: number, options: LockOptions = {}): Promise<SetLock> {
  const store = new DestinationLeaseStore(destination, setName);
  return lockWith(store, `${destination.describe()}/${setName}`, purpose, timeoutMs, options);
}
