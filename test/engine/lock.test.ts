/**
 * The exclusive break of a dead holder's lock (engine/lock.ts). Many waiters see the same dead
 * holder at once; only one may break that lock, and a waiter that judged it dead late must leave
 * the newer, live lock exactly where it is (moving it aside and back opened a gap in which a third
 * run took the set while the live holder kept writing: CI caught two runs writing at once).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { machineIdentity } from '../../nodes/Backup/engine/set/lease';
import { breakLock, identify, LOCK_DIR, LOCK_OWNER_FILE, lockSet } from '../../nodes/Backup/engine/set/lock';

let setDir: string;
beforeEach(() => {
  setDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lock-engine-'));
});
afterEach(() => fs.rmSync(setDir, { recursive: true, force: true }));

function plantDeadLock(): void {
  const dir = path.join(setDir, LOCK_DIR);
  fs.mkdirSync(dir);
  const owner = { pid: 999_999_999, host: os.hostname(), since: new Date().toISOString(), purpose: 'dead run', token: 'dead-token' };
  fs.writeFileSync(path.join(dir, LOCK_OWNER_FILE), JSON.stringify(owner));
}

test('a waiter that judged a lock dead late leaves the newer live lock in place (same folder, same owner)', async () => {
  plantDeadLock();
  const lockDir = path.join(setDir, LOCK_DIR);
  const judgedDead = await identify(lockDir);
  expect(judgedDead?.token).toBe('dead-token');
  const live = await lockSet(setDir, 'live run', 5_000); // breaks the dead lock itself
  const liveIdentity = await identify(lockDir);
  expect(liveIdentity?.token).not.toBe('dead-token');

  // The late waiter acts on what it saw before: nothing happens to the live lock.
  expect(await breakLock(setDir, lockDir, judgedDead!)).toBe(false);
  expect(await identify(lockDir)).toEqual(liveIdentity);
  expect(live.lost.aborted).toBe(false);
  expect(fs.readdirSync(setDir).sort()).toEqual([LOCK_DIR]); // no marker or aside folder left behind
  await live.release();
  expect(fs.existsSync(lockDir)).toBe(false);
});

test('two breakers of the same dead lock: one breaks it; the other, holding off, breaks nothing', async () => {
  plantDeadLock();
  const lockDir = path.join(setDir, LOCK_DIR);
  const seen = (await identify(lockDir))!;
  // Another breaker holds the marker (a live process: this one): the others do not break meanwhile.
  const marker = path.join(setDir, `.lock.break.${seen.ino}.${seen.token}`);
  fs.mkdirSync(marker);
  fs.writeFileSync(path.join(marker, 'by.json'), JSON.stringify({ pid: process.pid, nonce: '0123456789abcdef' }));
  expect(await breakLock(setDir, lockDir, seen)).toBe(false);
  expect(await identify(lockDir)).toEqual(seen);
  // Once the marker is old it is cleared, and the next try breaks the dead lock.
  const old = new Date(Date.now() - 120_000);
  fs.utimesSync(marker, old, old);
  expect(await breakLock(setDir, lockDir, seen)).toBe(false);
  expect(fs.existsSync(marker)).toBe(false);
  expect(await breakLock(setDir, lockDir, seen)).toBe(true);
  expect(fs.existsSync(lockDir)).toBe(false);
  expect(fs.readdirSync(setDir)).toEqual([]);
});

test('concurrent lockSet calls on a dead lock: exactly one holds at a time', async () => {
  plantDeadLock();
  let holders = 0;
  let maxHolders = 0;
  await Promise.all(
    Array.from({ length: 6 }, async (_, i) => {
      const lock = await lockSet(setDir, `waiter ${i}`, 20_000);
      holders++;
      maxHolders = Math.max(maxHolders, holders);
      await new Promise((resolve) => setTimeout(resolve, 30));
      holders--;
      await lock.release();
    }),
  );
  expect(maxHolders).toBe(1);
});

test('release moves the lock folder aside whole before deleting it: it is never an emptied folder a waiter could rename onto', async () => {
  // Deleting in place removed the note first; a waiter's rename onto the emptied folder succeeds on
  // Linux, the holder's rmdir then failed with ENOTEMPTY, and a finished backup reported an error.
  const lock = await lockSet(setDir, 'holder', 1_000);
  const lockDir = path.join(setDir, LOCK_DIR);
  const seenAtDelete: string[] = [];
  const rm = jest.spyOn(fsp, 'rm').mockImplementation(async (target, options) => {
    seenAtDelete.push(`${String(target) === lockDir ? 'deleting .lock in place' : 'deleting the moved folder'}, .lock ${fs.existsSync(lockDir) ? 'present' : 'gone'}`);
    rm.mockRestore();
    return fsp.rm(target, options);
  });
  await lock.release();
  expect(seenAtDelete).toEqual(['deleting the moved folder, .lock gone']);
  expect(fs.readdirSync(setDir)).toEqual([]);
});

describe('a marker left by a run killed while holding it (renewing, committing or releasing)', () => {
  const here = machineIdentity();

  /** A lock whose holder is a dead process of this boot and namespace, and a marker on it taken by `markerPid`. */
  function plantDeadLeaseWithMarker(markerPid: number): string {
    const dir = path.join(setDir, LOCK_DIR);
    fs.mkdirSync(dir);
    const now = Date.now();
    const owner = {
      pid: spawnSync(process.execPath, ['-e', '0']).pid as number, host: os.hostname(), since: new Date(now).toISOString(), purpose: 'killed run', token: 'killed-token', version: 2,
      ...(here ?? {}), renewedAt: new Date(now).toISOString(), expiresAt: new Date(now + 60_000).toISOString(),
    };
    fs.writeFileSync(path.join(dir, LOCK_OWNER_FILE), JSON.stringify(owner));
    const marker = path.join(setDir, `.lock.break.${fs.statSync(dir).ino}.killed-token`);
    fs.mkdirSync(marker);
    fs.writeFileSync(path.join(marker, 'by.json'), JSON.stringify({ pid: markerPid, ...(here ?? {}), nonce: '0badc0de' }));
    return marker;
  }

  test('taken by a process that is provably dead: cleared at once, the next run takes the set (lock timeout 0)', async () => {
    if (here === null) throw new Error('this test needs /proc (boot id and PID namespace)');
    plantDeadLeaseWithMarker(spawnSync(process.execPath, ['-e', '0']).pid as number);
    const lock = await lockSet(setDir, 'next run', 0);
    await lock.release();
    expect(fs.readdirSync(setDir).filter((n) => n !== '.lock.cleared.0badc0de')).toEqual([]);
  });

  test('on a lock already released (killed between moving the lock aside and removing the marker): the next run sweeps it at once', async () => {
    if (here === null) throw new Error('this test needs /proc (boot id and PID namespace)');
    const marker = plantDeadLeaseWithMarker(spawnSync(process.execPath, ['-e', '0']).pid as number);
    fs.rmSync(path.join(setDir, LOCK_DIR), { recursive: true }); // the release had got this far
    const lock = await lockSet(setDir, 'next run', 0); // a new lock: a new inode and token, another marker name
    await lock.release();
    expect(fs.existsSync(marker)).toBe(false);
    expect(fs.readdirSync(setDir).filter((n) => n !== '.lock.cleared.0badc0de')).toEqual([]);
  });

  test('taken by a live process: left alone (it is breaking or renewing this very moment)', async () => {
    const live = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const marker = plantDeadLeaseWithMarker(live.pid as number);
      // The lock's holder is dead, but the marker's taker lives: only it may act on this lock now.
      await expect(lockSet(setDir, 'next run', 0)).rejects.toMatchObject({ code: 'LOCKED' });
      expect(fs.existsSync(marker)).toBe(true);
    } finally {
      live.kill('SIGKILL');
    }
  });
});
