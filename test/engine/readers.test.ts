/**
 * Readers against the deleting writer (engine/readers.ts): restore and verify register as readers
 * of the set; retention and prune mark their lock note `deleting` and wait for readers before the
 * first delete, so a restore never fails half-way because retention ran beside it. A restore is
 * held in the middle (its folder creation paused on a gate) while prune and retention run.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BackupOptions, BackupReport } from '../../nodes/Backup/engine';
import { listDestination, pruneSet, restoreBackup, runBackup, verifyBackups } from '../../nodes/Backup/engine';
import type { LeaseNote } from '../../nodes/Backup/engine/set/lease';
import { DEFAULT_TIMING, machineIdentity } from '../../nodes/Backup/engine/set/lease';
import { LOCK_DIR, LOCK_OWNER_FILE } from '../../nodes/Backup/engine/set/lock';
import { whileReading } from '../../nodes/Backup/engine/set/readers';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { diffTrees, snapshotTree } from '../helpers/tree';

const dirs = tempDirs('readers-');
afterEach(async () => {
  jest.restoreAllMocks();
  await dirs.cleanup();
});

const SET = 's';

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function backup(src: string, dest: string, extra: Partial<BackupOptions>): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, setName: SET, type: 'auto', ...extra });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

/** A chain F1 <- I1 and a newer full F2: `keepFull 1` deletes I1 and its base F1. */
async function chainAndNewerFull(): Promise<{ src: string; dest: string; root: string; f1: string; i1: string; f2: string; atI1: Awaited<ReturnType<typeof snapshotTree>> }> {
  const root = await dirs.make();
  const src = path.join(root, 'src');
  const dest = path.join(root, 'dest');
  await writeTree(src, Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`d${i % 6}/f${i}.txt`, `file ${i}\n`.repeat(50)])));
  const f1 = (await backup(src, dest, { type: 'full' })).backupId as string;
  await writeTree(src, { 'd1/changed.txt': 'changed\n', 'd9/new.txt': 'new\n' });
  const i1 = (await backup(src, dest, { type: 'incremental' })).backupId as string;
  const atI1 = await snapshotTree(src);
  const f2 = (await backup(src, dest, { type: 'full' })).backupId as string;
  return { src, dest, root, f1, i1, f2, atI1 };
}

/** Pauses the restore when it creates the folder `name` in its target, until the gate opens. */
function gateFolder(name: string): { reached: () => boolean; open: () => void } {
  let reached = false;
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const real = fsp.mkdir.bind(fsp);
  jest.spyOn(fsp, 'mkdir').mockImplementation((async (target: fs.PathLike, options?: fs.MakeDirectoryOptions & { recursive?: boolean }) => {
    if (path.basename(String(target)) === name && String(target).includes('target')) {
      reached = true;
      await gate;
    }
    return real(target, options);
  }) as typeof fsp.mkdir);
  return { reached: () => reached, open };
}

const lockNote = (dest: string): LeaseNote | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dest, SET, LOCK_DIR, LOCK_OWNER_FILE), 'utf8')) as LeaseNote;
  } catch {
    return undefined;
  }
};
const markers = (dest: string): string[] => fs.readdirSync(path.join(dest, SET)).filter((n) => n.startsWith('.reader-'));

test('a prune that would delete the base of the chain being restored waits for the restore; the restore completes whole, then prune deletes', async () => {
  const { dest, root, f1, i1, f2, atI1 } = await chainAndNewerFull();
  const target = path.join(root, 'target');
  const gate = gateFolder('d3');
  const restoring = restoreBackup({ destination: dest, setName: SET, backupId: i1, target });
  await waitFor(gate.reached);
  expect(markers(dest)).toHaveLength(1);
  // The reader marker is not a backup: list and the catalog ignore it.
  expect((await listDestination(dest)).map((b) => b.backupId)).toEqual([f1, i1, f2]);

  const pruning = pruneSet({ destination: dest, setName: SET, keepFull: 1, lockTimeoutSeconds: 120 });
  let pruneDone = false;
  void pruning.then(() => (pruneDone = true), () => (pruneDone = true));
  // Prune has announced its deletes and is waiting: nothing is gone yet.
  await waitFor(() => lockNote(dest)?.deleting === true);
  expect(pruneDone).toBe(false);
  expect(fs.existsSync(path.join(dest, SET, f1))).toBe(true);

  gate.open();
  const report = await restoring;
  expect(report.errorCount).toBe(0);
  expect(diffTrees(await snapshotTree(target), atI1)).toEqual([]);
  const pruned = await pruning;
  expect(pruned.remove).toEqual([i1, f1]);
  expect((await listDestination(dest)).map((b) => b.backupId)).toEqual([f2]);
  expect(markers(dest)).toEqual([]);
  expect(fs.existsSync(path.join(dest, SET, LOCK_DIR))).toBe(false);
});

test('retention after a backup, with a restore still reading past the lock timeout: skipped with the reason in the output; the backup stands; the next backup catches up', async () => {
  const { src, dest, root, f1, i1, f2 } = await chainAndNewerFull();
  const gate = gateFolder('d3');
  const restoring = restoreBackup({ destination: dest, setName: SET, backupId: i1, target: path.join(root, 'target') });
  await waitFor(gate.reached);

  await writeTree(src, { 'later.txt': 'later\n' });
  const made = await backup(src, dest, { type: 'full', keepFull: 1, lockTimeoutSeconds: 1 });
  expect(made.backupId).not.toBeNull();
  expect(made.retention.removed).toEqual([]);
  expect(made.retention.skipped).toMatch(/^retention skipped: restore of .* was reading the set \(waited 1 s\); it runs with the next backup$/);
  expect((await listDestination(dest)).map((b) => b.backupId)).toEqual([f1, i1, f2, made.backupId]);
  // The writer cleared its `deleting` mark: readers are not held back by a retention that gave up.
  expect(fs.existsSync(path.join(dest, SET, LOCK_DIR))).toBe(false);

  gate.open();
  expect((await restoring).errorCount).toBe(0);
  await writeTree(src, { 'later2.txt': 'later\n' });
  const next = await backup(src, dest, { type: 'full', keepFull: 1 });
  expect(next.retention.skipped).toBeUndefined();
  expect(next.retention.removed.sort()).toEqual([f1, i1, f2, made.backupId as string].sort());
});

test('a prune with a verify still reading past the lock timeout fails with READERS_ACTIVE and deletes nothing', async () => {
  const { dest, f1, i1, f2 } = await chainAndNewerFull();
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  // A reader registered exactly as verify registers, held open by the test.
  const reading = whileReading(dest, SET, 'verify of all', async () => {
    await held;
    return verifyBackups({ destination: dest, setName: SET });
  });
  await waitFor(() => markers(dest).length === 1);
  await expect(pruneSet({ destination: dest, setName: SET, keepFull: 1, lockTimeoutSeconds: 1 })).rejects.toMatchObject({
    code: 'READERS_ACTIVE',
    message: expect.stringContaining('verify of all (pid') as unknown as string,
  });
  expect((await listDestination(dest)).map((b) => b.backupId)).toEqual([f1, i1, f2]);
  release();
  expect((await reading).ok).toBe(true);
});

test('a reader waits while the writer deletes: with the lock note marked deleting under a live lease, it fails LOCKED after its timeout and leaves no marker', async () => {
  const { dest } = await chainAndNewerFull();
  const lockDir = path.join(dest, SET, LOCK_DIR);
  fs.mkdirSync(lockDir);
  const now = Date.now();
  const note: LeaseNote = {
    pid: process.pid, host: os.hostname(), since: new Date(now).toISOString(), purpose: 'prune', token: 'pruner', version: 2, ...(machineIdentity() ?? {}),
    renewedAt: new Date(now).toISOString(), expiresAt: new Date(now + 60_000).toISOString(), deleting: true,
  };
  fs.writeFileSync(path.join(lockDir, LOCK_OWNER_FILE), JSON.stringify(note));
  let ran = false;
  await expect(whileReading(dest, SET, 'restore', async () => (ran = true), { timeoutMs: 600 })).rejects.toMatchObject({ code: 'LOCKED', message: expect.stringContaining('is being pruned by prune') as unknown as string });
  expect(ran).toBe(false);
  expect(markers(dest)).toEqual([]);
  // A writer that is not deleting (a backup being written) does not hold readers back.
  fs.writeFileSync(path.join(lockDir, LOCK_OWNER_FILE), JSON.stringify({ ...note, deleting: false }));
  expect(await whileReading(dest, SET, 'restore', async () => 'read', { timeoutMs: 0 })).toBe('read');
});

test('a crashed reader does not block prune for ever: its marker, expired past the margin, is removed and prune goes on', async () => {
  const { dest, f2 } = await chainAndNewerFull();
  const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
  const expired = new Date(Date.now() - DEFAULT_TIMING.marginMs - 10_000).toISOString();
  const marker = path.join(dest, SET, '.reader-0123456789abcdef01234567.json');
  fs.writeFileSync(marker, JSON.stringify({ pid: dead, host: 'elsewhere', since: expired, purpose: 'restore', token: '0123456789abcdef01234567', version: 2, bootId: 'other', pidNs: 'pid:[1]', renewedAt: expired, expiresAt: expired }));
  const pruned = await pruneSet({ destination: dest, setName: SET, keepFull: 1, lockTimeoutSeconds: 0 });
  expect(pruned.remove).toHaveLength(2);
  expect((await listDestination(dest)).map((b) => b.backupId)).toEqual([f2]);
  expect(fs.existsSync(marker)).toBe(false);
});

test('a backup that deletes nothing does not wait for readers', async () => {
  const { src, dest, root, i1 } = await chainAndNewerFull();
  const gate = gateFolder('d3');
  const restoring = restoreBackup({ destination: dest, setName: SET, backupId: i1, target: path.join(root, 'target') });
  await waitFor(gate.reached);
  await writeTree(src, { 'more.txt': 'more\n' });
  const made = await backup(src, dest, { type: 'incremental', lockTimeoutSeconds: 0 });
  expect(made.type).toBe('incremental');
  expect(made.retention).toMatchObject({ removed: [], keptReferenced: [] });
  gate.open();
  expect((await restoring).errorCount).toBe(0);
});

test('a reader marker is renewed while its read outlasts one lease, and removed when the read ends', async () => {
  const dest = await dirs.make();
  const setDir = path.join(dest, SET);
  fs.mkdirSync(setDir);
  const expiry = (): { name: string; expiresAt: number } => {
    const [name] = fs.readdirSync(setDir).filter((n) => /^\.reader-[0-9a-f]+\.json$/.test(n));
    return { name, expiresAt: Date.parse((JSON.parse(fs.readFileSync(path.join(setDir, name), 'utf8')) as LeaseNote).expiresAt as string) };
  };
  const seen = await whileReading(dest, SET, 'restore', async () => {
    const first = expiry();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    return { first, later: expiry() };
  }, { timing: { leaseMs: 1000, renewMs: 200, marginMs: 500 } });
  expect(seen.later.name).toBe(seen.first.name);
  expect(seen.later.expiresAt).toBeGreaterThan(seen.first.expiresAt + 1000);
  expect(fs.readdirSync(setDir)).toEqual([]);
});
