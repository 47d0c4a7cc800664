import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { OrderedWindow } from '../../nodes/Backup/engine/concurrency';
import { FilePool } from '../../nodes/Backup/engine/store/copyPool';
import { listDestination, restoreBackup, runBackup } from '../../nodes/Backup/engine';
import type { StoreContext } from '../../nodes/Backup/engine/store/storeEntry';
import { storeEntry } from '../../nodes/Backup/engine/store/storeEntry';
import { FolderSink } from '../../nodes/Backup/engine/store/folderSink';
import type { ManifestEntry } from '../../nodes/Backup/engine/types';
import { testIf, tmpfsUnavailable } from '../helpers/capabilities';
import { tempDirs, writeTree } from '../helpers/fixtures';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

/** Mounts a small tmpfs, or says why it cannot (not root, no CAP_SYS_ADMIN in a container). */
function mountTmpfs(dir: string): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return `mount failed: ${String(error).split('\n')[0]}`;
  }
}

describe('a full destination disk', () => {
  testIf(tmpfsUnavailable())('aborts cleanly: clear error, partial removed, earlier backups intact', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    await writeTree(src, { 'small.txt': 'small' });
    const mnt = path.join(root, 'mnt');
    await fsp.mkdir(mnt);
    const cannot = mountTmpfs(mnt);
    if (cannot !== undefined) throw new Error(`the probe could mount a tmpfs, this test cannot: ${cannot}`);
    try {
      const [first] = await runBackup({ sources: [src], destination: mnt, type: 'full' });
      expect(first.ok).toBe(true);
      await fsp.writeFile(path.join(src, 'big.bin'), randomBytes(3 << 20));
      const [second] = await runBackup({ sources: [src], destination: mnt, type: 'incremental' });
      expect(second).toMatchObject({ ok: false, error: { code: 'NO_SPACE' } });
      if (second.ok) return;
      expect(second.error.message).toMatch(/destination is full/);
      const set = (await fsp.readdir(mnt))[0];
      expect((await fsp.readdir(path.join(mnt, set))).filter((n) => n.startsWith('.partial-'))).toEqual([]);
      const listed = await listDestination(mnt);
      expect(listed.map((b) => b.type)).toEqual(['full']);
      const target = path.join(root, 'target');
      await restoreBackup({ destination: mnt, setName: set, target });
      expect(await fsp.readFile(path.join(target, 'small.txt'), 'utf8')).toBe('small');
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});

describe('per-file problems', () => {
  const pool = new FilePool(1);
  afterAll(() => pool.close());
  async function context(root: string): Promise<StoreContext & { dataRoot: string }> {
    const sink = await FolderSink.create(path.join(root, 'backup'), pool);
    const dataRoot = path.join(root, 'backup', 'data');
    return { sourceRoot: path.join(root, 'src'), links: new Map(), sink, pool, dataRoot, backupId: 'B', compare: { previousStartMs: Infinity, compareContent: false }, signal: undefined,
      xattrs: { read: true, carry: false, unreadable: 0, codes: new Set() } };
  }
  const stats = (size: number): Stats => ({ size, mtimeMs: 1, ctimeMs: 1, atimeMs: 1, mode: 0o100644, uid: 0, gid: 0, isFIFO: () => false, isSocket: () => false }) as unknown as Stats;

  test('a file that vanished between the scan and the copy is recorded and left out', async () => {
    const root = await dirs.make();
    const ctx = await context(root);
    const outcome = await storeEntry(ctx, { path: 'gone.txt', current: { path: 'gone.txt', kind: 'file', stats: stats(3) } });
    expect(outcome.entry).toBeUndefined();
    expect(outcome.problem).toMatchObject({ path: 'gone.txt', code: 'ENOENT', message: 'vanished during the backup' });
  });

  test('a file that cannot be read keeps its previous version, with a note', async () => {
    const root = await dirs.make();
    await writeTree(root, { 'src/dir/': null });
    const ctx = await context(root);
    // A folder where the scan saw a file: opening it as a regular file fails (EISDIR/ENOTREG).
    const previous: ManifestEntry = { path: 'dir', kind: 'file', mode: 0o644, mtime: 0, ctime: 0, uid: 0, gid: 0, size: 3, hash: 'h', in: 'OLD' };
    const outcome = await storeEntry(ctx, { path: 'dir', current: { path: 'dir', kind: 'file', stats: stats(3) }, previous });
    expect(outcome.entry).toEqual(previous);
    expect(outcome.problem?.message).toMatch(/kept the version from the previous backup/);
  });

  test('a file swapped for a symlink after the scan is not followed', async () => {
    const root = await dirs.make();
    await writeTree(root, { 'secret.txt': 'secret', 'src/': null });
    await fsp.symlink(path.join(root, 'secret.txt'), path.join(root, 'src', 'swapped'));
    const ctx = await context(root);
    const outcome = await storeEntry(ctx, { path: 'swapped', current: { path: 'swapped', kind: 'file', stats: stats(6) } });
    expect(outcome.entry).toBeUndefined();
    expect(outcome.problem).toMatchObject({ code: 'ELOOP' });
    expect(await fsp.readdir(ctx.dataRoot)).toEqual([]);
  });

  test('a file that grew after the scan is stored with what was read, and its hash matches', async () => {
    const root = await dirs.make();
    await writeTree(root, { 'src/log.txt': 'longer than the scan saw' });
    const ctx = await context(root);
    const outcome = await storeEntry(ctx, { path: 'log.txt', current: { path: 'log.txt', kind: 'file', stats: stats(4) } });
    expect(outcome.entry).toMatchObject({ size: 24, in: 'B' });
    expect(await fsp.readFile(path.join(ctx.dataRoot, 'log.txt'), 'utf8')).toBe('longer than the scan saw');
  });
});

describe('OrderedWindow', () => {
  const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  test('keeps input order with work finishing out of order, mixes ready values and promises, and bounds work in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const window = new OrderedWindow<number>(4, 1000);
    const out: number[] = [];
    const take = (v: number): void => {
      out.push(v);
    };
    for (let n = 0; n < 50; n++) {
      const result =
        n % 3 === 0
          ? n * 2
          : (async () => {
              inFlight++;
              peak = Math.max(peak, inFlight);
              await delay((n * 7) % 5);
              inFlight--;
              return n * 2;
            })();
      const full = window.push(result, take);
      if (full !== undefined) await full;
    }
    await window.finish(take);
    expect(out).toEqual(Array.from({ length: 50 }, (_, i) => i * 2));
    expect(peak).toBeLessThanOrEqual(4);
    expect(peak).toBeGreaterThan(1);
  });

  test('holds at most maxHeld results behind a slow one', async () => {
    const window = new OrderedWindow<number>(100, 8);
    const out: number[] = [];
    let slowDone = false;
    const slow = delay(30).then(() => {
      slowDone = true;
      return -1;
    });
    let waitedAt = -1;
    window.push(slow, (v) => out.push(v));
    for (let n = 0; n < 20; n++) {
      const full = window.push(n, (v) => out.push(v));
      if (full !== undefined) {
        if (waitedAt < 0) waitedAt = n;
        await full;
      }
    }
    await window.finish((v) => out.push(v));
    expect(slowDone).toBe(true);
    expect(waitedAt).toBe(6);
    expect(out).toEqual([-1, ...Array.from({ length: 20 }, (_, i) => i)]);
  });

  test('a failure surfaces in order, and settle() waits for work in flight', async () => {
    let settled = 0;
    const window = new OrderedWindow<number>(3, 100);
    const seen: number[] = [];
    const run = async (): Promise<void> => {
      for (let n = 0; n < 10; n++) {
        const result = (async () => {
          await delay(5);
          settled++;
          if (n === 2) throw new Error('boom');
          return n;
        })();
        const full = window.push(result, (v) => seen.push(v));
        if (full !== undefined) await full;
      }
      await window.finish((v) => seen.push(v));
    };
    await expect(run()).rejects.toThrow('boom');
    await window.settle();
    expect(seen).toEqual([0, 1]);
    expect(settled).toBeGreaterThanOrEqual(3);
  });
});
