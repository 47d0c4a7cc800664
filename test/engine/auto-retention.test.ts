import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BackupOptions, BackupReport } from '../../nodes/Backup/engine';
import { listDestination, pruneSet, restoreBackup, runBackup } from '../../nodes/Backup/engine';
import { LOCK_DIR, LOCK_OWNER_FILE } from '../../nodes/Backup/engine/set/lock';
import { tempDirs, writeTree } from '../helpers/fixtures';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

/** A clock tests can move: each call returns the current time, `advance` moves it. */
function clock(startIso: string): { now: () => Date; advance: (days: number) => void } {
  let t = Date.parse(startIso);
  return { now: () => new Date(t), advance: (days) => (t += days * 86_400_000) };
}

async function run(src: string, dest: string, extra: Partial<BackupOptions>): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, type: 'auto', ...extra });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

async function tree(spec: Record<string, string>): Promise<{ src: string; dest: string; root: string }> {
  const root = await dirs.make();
  const src = path.join(root, 'src');
  await writeTree(src, spec);
  return { src, dest: path.join(root, 'dest'), root };
}

describe('auto mode over simulated days', () => {
  test('full, incrementals, a weekly full, skipped when unchanged; every decision says its rule', async () => {
    const { src, dest } = await tree({ 'a.txt': 'a' });
    const c = clock('2026-03-01T02:00:00Z');
    const seen: string[] = [];
    for (let day = 0; day < 9; day++) {
      if (day !== 3) await fsp.writeFile(path.join(src, `day${day}.txt`), `day ${day}`);
      const r = await run(src, dest, { now: c.now, fullEveryDays: 7 });
      seen.push(r.skipped ? `skip(${r.skipReason ?? ''})` : (r.type as string));
      // A skip says what happened (issue 16), every other run which auto rule decided.
      expect(r.decision).toMatch(r.skipped ? /^skipped: no changes since \d{8}T\d{9}Z-\w+ \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)$/ : /^auto: /);
      c.advance(1);
    }
    expect(seen).toEqual(['full', 'incremental', 'incremental', 'skip(no changes)', 'incremental', 'incremental', 'incremental', 'full', 'incremental']);
  });

  test('differentialEveryDays makes differentials between fulls', async () => {
    const { src, dest } = await tree({ 'a.txt': 'a' });
    const c = clock('2026-03-01T02:00:00Z');
    const types: string[] = [];
    for (let day = 0; day < 7; day++) {
      await fsp.writeFile(path.join(src, `day${day}.txt`), `day ${day}`);
      types.push((await run(src, dest, { now: c.now, fullEveryDays: 7, differentialEveryDays: 3 })).type as string);
      c.advance(1);
    }
    expect(types).toEqual(['full', 'incremental', 'incremental', 'differential', 'incremental', 'incremental', 'differential']);
  });

  test('skipUnchanged can be turned off in auto mode', async () => {
    const { src, dest } = await tree({ 'a.txt': 'a' });
    await run(src, dest, {});
    const r = await run(src, dest, { skipUnchanged: false });
    expect(r).toMatchObject({ skipped: false, type: 'incremental' });
  });
});

describe('retention after a backup', () => {
  test('keepFull 1 removes the previous chain newest-first once the new full is written, and every kept backup restores', async () => {
    const { src, dest, root } = await tree({ 'a.txt': 'a' });
    const c = clock('2026-03-01T02:00:00Z');
    const made: BackupReport[] = [];
    for (let day = 0; day < 10; day++) {
      await fsp.writeFile(path.join(src, 'a.txt'), `version ${day}`);
      made.push(await run(src, dest, { now: c.now, fullEveryDays: 5, keepFull: 1 }));
      c.advance(1);
    }
    const secondFull = made[5];
    expect(secondFull.type).toBe('full');
    expect(secondFull.retention.removed).toEqual(made.slice(0, 5).map((r) => r.backupId).reverse());
    const listed = await listDestination(dest);
    expect(listed.map((b) => b.backupId)).toEqual(made.slice(5).map((r) => r.backupId));
    for (const b of listed) {
      const target = path.join(root, `restore-${b.backupId}`);
      await restoreBackup({ destination: dest, setName: b.set, backupId: b.backupId, target });
      const version = made.findIndex((r) => r.backupId === b.backupId);
      expect(await fsp.readFile(path.join(target, 'a.txt'), 'utf8')).toBe(`version ${version}`);
    }
  });

  test('keepIncremental keeps what the newest incremental points into and says so', async () => {
    const { src, dest } = await tree({ 'stable.txt': 'never changes', 'a.txt': 'a' });
    const c = clock('2026-03-01T02:00:00Z');
    await run(src, dest, { now: c.now });
    c.advance(1);
    await fsp.writeFile(path.join(src, 'b.txt'), 'only in the first incremental');
    const i1 = await run(src, dest, { now: c.now });
    c.advance(1);
    await fsp.writeFile(path.join(src, 'a.txt'), 'changed');
    const i2 = await run(src, dest, { now: c.now });
    c.advance(1);
    await fsp.writeFile(path.join(src, 'a.txt'), 'changed again');
    const i3 = await run(src, dest, { now: c.now, keepIncremental: 1 });
    expect(i3.retention.removed).toEqual([i2.backupId]);
    expect(i3.retention.keptReferenced).toEqual([i1.backupId]);
  });

  test('no retention when the backup was skipped or failed', async () => {
    const { src, dest, root } = await tree({ 'a.txt': 'a' });
    await run(src, dest, { type: 'full' });
    await run(src, dest, { type: 'full' });
    const skipped = await run(src, dest, { keepFull: 1 });
    expect(skipped).toMatchObject({ skipped: true, retention: { removed: [] } });
    const [failed] = await runBackup({ sources: [path.join(root, 'missing')], destination: dest, type: 'full', keepFull: 1 });
    expect(failed.ok).toBe(false);
    expect(await listDestination(dest)).toHaveLength(2);
  });

  test('prune alone: dry run changes nothing, then removes; unknown set is refused', async () => {
    const { src, dest } = await tree({ 'a.txt': 'a' });
    const f1 = await run(src, dest, { type: 'full' });
    await run(src, dest, { type: 'full' });
    const dry = await pruneSet({ destination: dest, setName: f1.set, keepFull: 1, dryRun: true });
    expect(dry.remove).toEqual([f1.backupId]);
    expect(await listDestination(dest)).toHaveLength(2);
    const done = await pruneSet({ destination: dest, setName: f1.set, keepFull: 1 });
    expect(done.remove).toEqual([f1.backupId]);
    expect(await listDestination(dest)).toHaveLength(1);
    await expect(pruneSet({ destination: dest, setName: 'nope', keepFull: 1 })).rejects.toMatchObject({ code: 'SET_NOT_FOUND' });
  });
});

describe('one writer per set', () => {
  test('a second run waits for the lock; with no time to wait it fails naming the holder', async () => {
    const { src, dest } = await tree({ 'a.txt': 'a' });
    const first = await run(src, dest, { type: 'full' });
    const setDir = path.join(dest, first.set);
    await fsp.mkdir(path.join(setDir, LOCK_DIR));
    await fsp.writeFile(path.join(setDir, LOCK_DIR, LOCK_OWNER_FILE), JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString(), purpose: 'backup of /elsewhere', token: 't' }));
    const [blocked] = await runBackup({ sources: [src], destination: dest, type: 'full', lockTimeoutSeconds: 0 });
    expect(blocked).toMatchObject({ ok: false, error: { code: 'LOCKED' } });
    if (!blocked.ok) expect(blocked.error.message).toMatch(new RegExp(`backup of /elsewhere \\(pid ${process.pid} on ${os.hostname()}`));
    const waiting = runBackup({ sources: [src], destination: dest, type: 'full', lockTimeoutSeconds: 10 });
    await new Promise((r) => setTimeout(r, 600));
    await fsp.rm(path.join(setDir, LOCK_DIR), { recursive: true });
    const [waited] = await waiting;
    expect(waited.ok).toBe(true);
  });

  test('a lock left by a dead process on this host is taken over at once', async () => {
    const { src, dest } = await tree({ 'a.txt': 'a' });
    const first = await run(src, dest, { type: 'full' });
    const setDir = path.join(dest, first.set);
    await fsp.mkdir(path.join(setDir, LOCK_DIR));
    await fsp.writeFile(path.join(setDir, LOCK_DIR, LOCK_OWNER_FILE), JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), since: new Date().toISOString(), purpose: 'backup', token: 't' }));
    const [r] = await runBackup({ sources: [src], destination: dest, type: 'full', lockTimeoutSeconds: 0 });
    expect(r.ok).toBe(true);
  });

  test('concurrent runs in one process are serialised and form a valid chain', async () => {
    const { src, dest } = await tree({ 'a.txt': 'a' });
    await run(src, dest, { type: 'full' });
    await fsp.writeFile(path.join(src, 'b.txt'), 'b');
    const results = await Promise.all([0, 1, 2].map(() => runBackup({ sources: [src], destination: dest, type: 'incremental', skipUnchanged: false })));
    expect(results.every(([o]) => o.ok)).toBe(true);
    const listed = await listDestination(dest);
    expect(listed).toHaveLength(4);
    for (let i = 1; i < listed.length; i++) expect(listed[i].parent).toBe(listed[i - 1].backupId);
    expect((await fsp.readdir(path.join(dest, listed[0].set))).filter((n) => n.startsWith('.'))).toEqual([]);
  });
});
