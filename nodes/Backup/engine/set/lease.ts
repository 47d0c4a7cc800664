import { readFileSync, readlinkSync } from 'node:fs';
import * as os from 'node:os';
import { errnoCode } from '../errors';

/**
 * The rules of a lease, apart from where it is stored (lockStore.ts keeps the local mechanics; an
 * S3 or SFTP store keeps the same note in an object or file). A holder states until when its
 * lease is valid and renews it while it lives; anyone else may break it only after that time has
 * passed by a margin that covers clock skew between hosts and a late renewal.
 */
export interface LeaseTiming {
  /** How long one renewal keeps the lease valid. */
  leaseMs: number;
  /** How often the holder renews (well inside leaseMs, so one slow write does not lose it). */
  renewMs: number;
  /** Extra time after expiry before another run may break it: the allowed clock difference. */
  marginMs: number;
}

export const DEFAULT_TIMING: LeaseTiming = { leaseMs: 60_000, renewMs: 10_000, marginMs: 30_000 };

/** Old notes (before leases) had no expiry: their holder touched the note every 5 s, stale after 30 s. */
export const OLD_STALE_MS = 30_000;

/** Where a process runs: the kernel boot and the PID namespace. Same both = a pid means the same process. */
export interface MachineIdentity {
  bootId: string;
  pidNs: string;
}

/** The owner note of a lock or a reader marker. Fields after `token` are absent in old (pre-lease) notes. */
export interface LeaseNote {
  pid: number;
  host: string;
  since: string;
  purpose: string;
  token: string;
  version?: number;
  bootId?: string;
  pidNs?: string;
  renewedAt?: string;
  expiresAt?: string;
  /** Set while the writer deletes backups (retention, prune): readers wait until it is cleared. */
  deleting?: boolean;
}

export const LEASE_VERSION = 2;

let identity: MachineIdentity | null | undefined;

/** This process's boot id and PID namespace, or null where /proc does not say (then leases only). */
export function machineIdentity(): MachineIdentity | null {
  if (identity !== undefined) return identity;
  try {
    // boot_id is per kernel boot; the namespace link reads `pid:[<inode>]`, unique within one boot.
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pidNs = readlinkSync('/proc/self/ns/pid');
    identity = bootId !== '' && pidNs !== '' ? { bootId, pidNs } : null;
  } catch {
    identity = null;
  }
  return identity;
}

export function newLeaseNote(purpose: string, token: string, now: Date, timing: LeaseTiming): LeaseNote {
  const here = machineIdentity();
  return {
    pid: process.pid, host: os.hostname(), since: now.toISOString(), purpose, token, version: LEASE_VERSION,
    ...(here === null ? {} : here), renewedAt: now.toISOString(), expiresAt: new Date(now.getTime() + timing.leaseMs).toISOString(),
  };
}

export function renewedNote(note: LeaseNote, now: Date, timing: LeaseTiming): LeaseNote {
  return { ...note, renewedAt: now.toISOString(), expiresAt: new Date(now.getTime() + timing.leaseMs).toISOString() };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
}

/** True only when `who` is provably a process of this boot and PID namespace that no longer exists. */
export function provablyDead(who: { pid: number; bootId?: string; pidNs?: string }): boolean {
  const here = machineIdentity();
  return here !== null && who.bootId === here.bootId && who.pidNs === here.pidNs && who.pid !== process.pid && !isAlive(who.pid);
}

/** Why a note may be broken, or `held` when it may not. */
export type LeaseVerdict = 'held' | 'expired' | 'holder-dead' | 'stale-old-note';

/**
 * Judges someone else's note. `touchedMs` is the note's mtime (old notes only). The pid shortcut
 * needs the same boot and PID namespace: a hostname is shared by containers with host networking,
 * whose pids mean other processes.
 */
export function judgeLease(note: LeaseNote, touchedMs: number, nowMs: number, timing: LeaseTiming): LeaseVerdict {
  const expires = note.expiresAt === undefined ? NaN : Date.parse(note.expiresAt);
  if (Number.isNaN(expires)) {
    // A note written before leases: its writer follows the old rules (hostname + pid, 30 s stale), so do we.
    if (note.host === os.hostname() && note.pid !== process.pid && !isAlive(note.pid)) return 'holder-dead';
    return nowMs - touchedMs > OLD_STALE_MS ? 'stale-old-note' : 'held';
  }
  if (provablyDead(note)) return 'holder-dead';
  return nowMs > expires + timing.marginMs ? 'expired' : 'held';
}

/**
 * Runs `work` while `renew` runs every `renewMs`, one renewal at a time (a slow store never gets two
 * at once); a failed renewal is left to the next. Waits for the last renewal before returning, so
 * whatever the caller removes afterwards is not written back by a renewal still under way.
 */
export async function whileRenewing<T>(renewMs: number, renew: () => Promise<void>, work: () => Promise<T>): Promise<T> {
  let renewal: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    renewal = renewal.then(renew).catch(() => undefined);
  }, renewMs);
  timer.unref();
  try {
    return await work();
  } finally {
    clearInterval(timer);
    await renewal;
  }
}
