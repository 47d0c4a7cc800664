/**
 * The set lock as a lease (engine/lease.ts, lock.ts): a holder states until when its lease is valid
 * and renews it; others break it only after expiry plus a margin, or at once when the holder is a
 * dead process of the same boot and PID namespace (not merely the same hostname: containers with
 * host networking share it); a holder that lost its lock stops before its commit.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listDestination, runBackup } from '../../nodes/Backup/engine';
import type { LeaseNote, LeaseTiming } from '../../nodes/Backup/engine/set/lease';
import { DEFAULT_TIMING, machineIdentity } from '../../nodes/Backup/engine/set/lease';
import { LOCK_DIR, LOCK_OWNER_FILE, lockSet } from '../../nodes/Backup/engine/set/lock';
import { tempDirs, writeTree } from '../helpers/fixtures';

const dirs = tempDirs('lease-');
afterEach(() => dirs.cleanup());

/** The pid of a process that has already exited. */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', '0']);
  if (typeof result.pid !== 'number' || result.pid <= 0) throw new Error('could not start a short-lived process');
  return result.pid;
}

const here = machineIdentity();
const inMs = (ms: number): string => new Date(Date.now() + ms).toISOString();

function plant(setDir: string, note: Partial<LeaseNote>, mtimeAgoMs = 0): string {
  const lockDir = path.join(setDir, LOCK_DIR);
  fs.mkdirSync(lockDir, { recursive: true });
  const file = path.join(lockDir, LOCK_OWNER_FILE);
  const full = { pid: deadPid(), host: os.hostname(), since: new Date().toISOString(), purpose: 'backup in a container', token: 'planted', ...note };
  fs.writeFileSync(file, `${JSON.stringify(full)}\n`);
  const when = new Date(Date.now() - mtimeAgoMs);
  fs.utimesSync(file, when, when);
  fs.utimesSync(lockDir, when, when);
  return fs.readFileSync(file, 'utf8');
}

const note = (setDir: string): LeaseNote => JSON.parse(fs.readFileSync(path.join(setDir, LOCK_DIR, LOCK_OWNER_FILE), 'utf8')) as LeaseNote;

const lease = (expiresInMs: number, identity: Partial<LeaseNote>): Partial<LeaseNote> => ({ version: 2, renewedAt: new Date().toISOString(), expiresAt: inMs(expiresInMs), ...identity });

describe('who may break a lease', () => {
  test.each([
    ['another PID namespace on this boot (a container with host networking)', { bootId: here?.bootId ?? 'boot-a', pidNs: 'pid:[4026530000]' }],
    ['another boot (another machine with the same hostname)', { bootId: 'another-boot-id', pidNs: here?.pidNs ?? 'pid:[1]' }],
    ['a holder that could not tell its boot and namespace', {}],
  ])('a live lease of %s whose pid does not exist here is NOT broken before it expires', async (_label, identity) => {
    const setDir = await dirs.make();
    const before = plant(setDir, lease(60_000, identity));
    await expect(lockSet(setDir, 'me', 1_000)).rejects.toMatchObject({ code: 'LOCKED' });
    expect(fs.readFileSync(path.join(setDir, LOCK_DIR, LOCK_OWNER_FILE), 'utf8')).toBe(before);
  });

  test('a lease expired by more than the margin is broken at once, even when its holder is alive here', async () => {
    const setDir = await dirs.make();
    plant(setDir, { pid: process.pid, ...lease(-DEFAULT_TIMING.marginMs - 5_000, here ?? {}) });
    const lock = await lockSet(setDir, 'me', 0);
    expect(note(setDir).purpose).toBe('me');
    await lock.release();
  });

  test('a lease expired by less than the margin (clock skew between hosts) is not broken yet', async () => {
    const setDir = await dirs.make();
    plant(setDir, { host: 'other-host', ...lease(-DEFAULT_TIMING.marginMs / 2, { bootId: 'another-boot-id', pidNs: 'pid:[1]' }) });
    await expect(lockSet(setDir, 'me', 0)).rejects.toMatchObject({ code: 'LOCKED' });
  });

  test('same boot and same PID namespace, and no such process: broken at once, long before its lease ends', async () => {
    if (here === null) throw new Error('this test needs /proc (boot id and PID namespace)');
    const setDir = await dirs.make();
    plant(setDir, lease(3_600_000, here));
    const lock = await lockSet(setDir, 'me', 0);
    expect(note(setDir).purpose).toBe('me');
    await lock.release();
  });

  // Notes written before leases (no expiresAt) follow the rules their writers follow.
  test.each([
    ['another host, touched just now: held', { host: 'backup-worker-2.example', pid: 4242 }, 0, false],
    ['another host, not touched for 60 s: stale', { host: 'backup-worker-2.example', pid: 4242 }, 60_000, true],
    ['this host, no such pid: dead', { host: os.hostname() }, 0, true],
    ['this host, a live pid, touched just now: held', { host: os.hostname(), pid: process.pid }, 0, false],
  ])('an old-format note (%s)', async (_label, owner, ageMs, broken) => {
    const setDir = await dirs.make();
    plant(setDir, owner, ageMs);
    const taking = lockSet(setDir, 'me', 0);
    if (broken) await (await taking).release();
    else await expect(taking).rejects.toMatchObject({ code: 'LOCKED' });
  });
});

describe('the holder', () => {
  test('a new note states its lease: pid, host, boot id, PID namespace, renewal and expiry', async () => {
    const setDir = await dirs.make();
    const lock = await lockSet(setDir, 'backup of /data', 0);
    const n = note(setDir);
    expect(n).toMatchObject({ pid: process.pid, host: os.hostname(), purpose: 'backup of /data', version: 2, ...(here ?? {}) });
    expect(Date.parse(n.expiresAt as string) - Date.parse(n.renewedAt as string)).toBe(DEFAULT_TIMING.leaseMs);
    await lock.release();
    expect(fs.readdirSync(setDir)).toEqual([]);
  });

  test('a live holder renews its lease during a long run, so a waiter never breaks it', async () => {
    const setDir = await dirs.make();
    // Short lease, frequent renewals; the waiter waits well past lease + margin of the first note.
    const timing: LeaseTiming = { leaseMs: 3_000, renewMs: 200, marginMs: 3_000 };
    const lock = await lockSet(setDir, 'long run', 0, undefined, { timing });
    const first = note(setDir);
    await expect(lockSet(setDir, 'waiter', 8_000, undefined, { timing })).rejects.toMatchObject({ code: 'LOCKED' });
    const later = note(setDir);
    expect(later.token).toBe(first.token);
    expect(Date.parse(later.expiresAt as string)).toBeGreaterThan(Date.parse(first.expiresAt as string) + 4_000);
    expect(Date.now()).toBeGreaterThan(Date.parse(first.expiresAt as string) + timing.marginMs);
    expect(lock.lost.aborted).toBe(false);
    await lock.release();
  });

  test('a holder whose lock was taken over stops before its commit: LOCK_LOST, no partial, no new backup', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    await writeTree(src, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}.txt`, `file ${i}\n`])));
    const [first] = await runBackup({ sources: [src], destination: dest, type: 'full', setName: 's' });
    expect(first.ok).toBe(true);
    const setDir = path.join(dest, 's');
    let tookOver = false;
    // The clock is read once more just before the commit, after the data was written: that is when
    // another run (here simulated) takes the lock over, as after a long stall.
    const now = (): Date => {
      if (!tookOver && fs.readdirSync(setDir).some((n) => n.startsWith('.partial-'))) {
        tookOver = true;
        fs.writeFileSync(path.join(setDir, LOCK_DIR, LOCK_OWNER_FILE), JSON.stringify({ ...note(setDir), token: 'usurper', purpose: 'the run that took over' }));
      }
      return new Date();
    };
    await fs.promises.writeFile(path.join(src, 'new.txt'), 'new');
    const [second] = await runBackup({ sources: [src], destination: dest, type: 'incremental', setName: 's', now });
    expect(tookOver).toBe(true);
    expect(second).toMatchObject({ ok: false, error: { code: 'LOCK_LOST' } });
    expect(fs.readdirSync(setDir).filter((n) => n.startsWith('.partial-'))).toEqual([]);
    expect((await listDestination(dest)).map((b) => b.backupId)).toEqual([first.ok ? first.report.backupId : '']);
    // The usurper's lock is left alone.
    expect(note(setDir).token).toBe('usurper');
  });

  test('a lock taken over after the commit, before retention: the backup stands, retention is skipped with the reason, the new holder is left alone', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    await writeTree(src, { 'a.txt': 'a\n' });
    const [first] = await runBackup({ sources: [src], destination: dest, type: 'full', setName: 's' });
    if (!first.ok) throw first.error;
    const setDir = path.join(dest, 's');
    const realRename = fs.promises.rename.bind(fs.promises);
    // Right after the commit (the partial renamed to its id), another run takes the lock over.
    jest.spyOn(fs.promises, 'rename').mockImplementation(async (from, to) => {
      await realRename(from, to);
      if (path.basename(String(from)).startsWith('.partial-')) {
        fs.writeFileSync(path.join(setDir, LOCK_DIR, LOCK_OWNER_FILE), JSON.stringify({ ...note(setDir), token: 'usurper' }));
      }
    });
    await fs.promises.writeFile(path.join(src, 'b.txt'), 'b\n');
    const [second] = await runBackup({ sources: [src], destination: dest, type: 'full', setName: 's', keepFull: 1 });
    jest.restoreAllMocks();
    if (!second.ok) throw second.error;
    expect(second.report.retention.removed).toEqual([]);
    expect(second.report.retention.skipped).toMatch(/^retention skipped: another run took the set's lock over after this backup was committed/);
    expect((await listDestination(dest)).map((b) => b.backupId)).toEqual([first.report.backupId, second.report.backupId]);
    expect(note(setDir).token).toBe('usurper');
  });
});
