import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { VerifyReport } from '../../nodes/Backup/engine';
import { BackupError, listDestination, restoreBackup, runBackup, verifyBackups } from '../../nodes/Backup/engine';
import { readManifestEnds } from '../../nodes/Backup/engine/formats/manifest';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { dirEntry, fileEntry, forgeBackup } from '../helpers/forge';
import { headerLine, streamManifest, trailerLine } from '../helpers/forgeArchive';

/**
 * Resource limits (issue 7): manifests built to exhaust memory must fail cleanly (a BackupError
 * with a clear code), and big but honest manifests must stream (memory flat). Each test measures
 * the growth of this process's resident memory while the engine works: the bounds below are far
 * under what reading the hostile input into memory would take, and far over the engine's own
 * buffers (1 MiB read chunks, a 1 MiB line limit).
 * The limits tested: manifest.ts MAX_LINE_CHARS (1 MiB per line, checked while inflating),
 * paths.ts unsafePathReason (4096 characters per path, 255 bytes per name). There is no cap on the
 * number of entries: a manifest is read as a stream, so a huge one costs time, not memory.
 */

const dirs = tempDirs('n8n-backup-limits-');
afterEach(() => dirs.cleanup());

const ID = '20260101T000000000Z-full';
const SET = 'set';
const MiB = 1024 * 1024;

/** Runs `work` while sampling resident memory every 5 ms; returns its outcome and the peak growth. */
async function peakGrowth<T>(work: () => Promise<T>): Promise<{ outcome: T | unknown; growthMiB: number }> {
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  let outcome: T | unknown;
  try {
    outcome = await work();
  } catch (error) {
    outcome = error;
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  return { outcome, growthMiB: (peak - before) / MiB };
}

function expectBackupError(outcome: unknown, code: string, message: RegExp): void {
  if (!(outcome instanceof BackupError)) throw new Error(`expected a BackupError ${code}, got ${String(outcome).slice(0, 300)}`);
  expect(outcome.code).toBe(code);
  expect(outcome.message).toMatch(message);
}

/** `count` pieces of `size` bytes of `byte`, without holding them all. */
function* repeat(piece: Buffer, count: number): Generator<Buffer> {
  for (let i = 0; i < count; i++) yield piece;
}

/** A set whose one backup's manifest is `pieces` (streamed through gzip), and a target beside it. */
async function forgedSet(pieces: Iterable<string | Buffer>, options: { summary?: boolean; level?: number } = {}): Promise<{ root: string; dest: string; target: string; manifest: string }> {
  const root = await dirs.make();
  const dest = path.join(root, 'dest');
  const manifest = await streamManifest(path.join(dest, SET), ID, pieces, options);
  return { root, dest, target: path.join(root, 'target'), manifest };
}

const LINE_TOO_LONG = /a line is longer than 1048576 bytes/;

describe('one manifest line far beyond the limit', () => {
  test('a 50 MiB entry line: MANIFEST_CORRUPT from restore and verify, nothing written, memory flat', async () => {
    const path50 = Buffer.alloc(MiB, 'a');
    const s = await forgedSet([headerLine(SET, ID), '{"path":"', ...repeat(path50, 50), '","kind":"file"}\n', trailerLine(1)]);
    expect((await fsp.stat(s.manifest)).size).toBeLessThan(MiB);
    const restore = await peakGrowth(() => restoreBackup({ destination: s.dest, setName: SET, target: s.target }));
    expectBackupError(restore.outcome, 'MANIFEST_CORRUPT', LINE_TOO_LONG);
    expect(restore.growthMiB).toBeLessThan(40);
    expect(await fsp.readdir(s.target).catch(() => [])).toEqual([]);
    const verify = await peakGrowth(() => verifyBackups({ destination: s.dest, setName: SET }));
    expect((verify.outcome as VerifyReport).problems).toEqual([expect.objectContaining({ backupId: ID, code: 'MANIFEST_CORRUPT', message: expect.stringMatching(LINE_TOO_LONG) })]);
    expect(verify.growthMiB).toBeLessThan(40);
  });

  test('a gzip bomb: 2 GiB of one header line with no newline (2 MiB compressed) fails on the line limit, not after inflating it', async () => {
    const chunk = Buffer.alloc(4 * MiB, 'x');
    // No summary: listing then reads the manifest too.
    const s = await forgedSet(['{"manifest":"n8n-backup","version":1,"id":"', ...repeat(chunk, 512)], { summary: false, level: 9 });
    const compressed = (await fsp.stat(s.manifest)).size;
    expect(compressed).toBeLessThan(4 * MiB);
    const started = Date.now();
    const read = await peakGrowth(() => readManifestEnds(path.dirname(s.manifest)));
    expectBackupError(read.outcome, 'MANIFEST_CORRUPT', LINE_TOO_LONG);
    expect(read.growthMiB).toBeLessThan(40);
    // Inflating all 2 GiB takes about 1.8 s on the 2-core test machine; stopping at the limit, milliseconds.
    expect(Date.now() - started).toBeLessThan(1000);
    const listed = await peakGrowth(() => listDestination(s.dest));
    expect(listed.outcome).toEqual([expect.objectContaining({ backupId: ID, complete: false })]);
    expect(listed.growthMiB).toBeLessThan(40);
  });

  test('a gzip bomb as the previous backup of an incremental: the backup fails cleanly (MANIFEST_CORRUPT), no partial left', async () => {
    const chunk = Buffer.alloc(4 * MiB, 'x');
    const s = await forgedSet([headerLine(SET, ID), '{"path":"', ...repeat(chunk, 256)]);
    const src = path.join(s.root, 'src');
    await writeTree(src, { 'a.txt': 'a' });
    const run = await peakGrowth(() => runBackup({ sources: [src], destination: s.dest, setName: SET, type: 'incremental' }));
    const [outcome] = run.outcome as Awaited<ReturnType<typeof runBackup>>;
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expectBackupError(outcome.error, 'MANIFEST_CORRUPT', LINE_TOO_LONG);
    expect(run.growthMiB).toBeLessThan(60);
    expect((await fsp.readdir(path.join(s.dest, SET))).filter((n) => n !== 'last-run.json').sort()).toEqual([ID]); // and the failed run's record
  });
});

describe('paths far too long or too deep', () => {
  test('a 100,000-character path: UNSAFE_PATH before anything is written', async () => {
    const root = await dirs.make();
    const dest = path.join(root, 'dest');
    await forgeBackup(path.join(dest, SET), ID, [fileEntry('ok.txt', 'ok', ID), fileEntry(`${'d/'.repeat(50_000)}f`, 'x', ID)], { 'ok.txt': 'ok' });
    const target = path.join(root, 'target');
    const error = await restoreBackup({ destination: dest, setName: SET, target }).catch((e: unknown) => e);
    expectBackupError(error, 'UNSAFE_PATH', /path longer than 4096 characters/);
    expect(await fsp.readdir(target).catch(() => [])).toEqual([]);
  });

  test('a 300-byte name: UNSAFE_PATH', async () => {
    const root = await dirs.make();
    const dest = path.join(root, 'dest');
    await forgeBackup(path.join(dest, SET), ID, [fileEntry(`${'é'.repeat(150)}`, 'x', ID)]);
    const error = await restoreBackup({ destination: dest, setName: SET, target: path.join(root, 'target') }).catch((e: unknown) => e);
    expectBackupError(error, 'UNSAFE_PATH', /component longer than 255 bytes/);
  });

  test('2,047 nested folders (a 4,093-character path, within the limit) deeper than the target can hold: a per-file problem, never a crash', async () => {
    const root = await dirs.make();
    const dest = path.join(root, 'dest');
    const entries: Record<string, unknown>[] = [];
    let p = '';
    for (let i = 0; i < 2047; i++) {
      p = p === '' ? 'd' : `${p}/d`;
      entries.push(dirEntry(p));
    }
    await forgeBackup(path.join(dest, SET), ID, entries);
    const target = path.join(root, 'target');
    const run = await peakGrowth(() => restoreBackup({ destination: dest, setName: SET, target }));
    const report = run.outcome as Awaited<ReturnType<typeof restoreBackup>>;
    if (report.summary === undefined) throw new Error(`restore crashed: ${String(run.outcome).slice(0, 300)}`);
    // The first folder too deep for this target is reported once; everything above it is restored.
    expect(report.errors).toEqual([expect.objectContaining({ code: 'ENAMETOOLONG', message: expect.stringMatching(/^not restored, nor anything below it/) })]);
    const failedDepth = report.errors[0].path.split('/').length;
    expect(report.folders.restored).toBe(failedDepth - 1);
    expect(report.files.folders).toBe(failedDepth - 1);
    expect(report.folders.skipped).toBe(2047 - failedDepth);
    expect(target.length + 1 + report.errors[0].path.length).toBeGreaterThan(4095);
    expect(run.growthMiB).toBeLessThan(60);
  });
});

describe('a huge number of entries is streamed, not held', () => {
  test('1,000,000 entries: verify reads them all with memory flat; an incremental against them deletes them all', async () => {
    const ENTRIES = 1_000_000;
    function* lines(): Generator<string> {
      yield headerLine(SET, ID);
      let batch = '';
      for (let i = 0; i < ENTRIES; i++) {
        batch += `{"path":"d${String(i).padStart(7, '0')}","kind":"dir","mode":493,"mtime":1700000000000,"ctime":1700000000000,"uid":0,"gid":0}\n`;
        if (batch.length > MiB) {
          yield batch;
          batch = '';
        }
      }
      yield batch;
      yield trailerLine(ENTRIES);
    }
    const s = await forgedSet(lines());
    const verify = await peakGrowth(() => verifyBackups({ destination: s.dest, setName: SET }));
    expect((verify.outcome as VerifyReport).problems).toEqual([]);
    // Holding the entries would take about 1 KiB each: 1 GiB. Measured: about 120 MiB (garbage
    // the collector has not taken back yet: 150 MiB of JSON parsed), 80 MiB for the backup.
    expect(verify.growthMiB).toBeLessThan(300);
    const src = path.join(s.root, 'src');
    await writeTree(src, { 'a.txt': 'a' });
    const run = await peakGrowth(() => runBackup({ sources: [src], destination: s.dest, setName: SET, type: 'incremental' }));
    const [outcome] = run.outcome as Awaited<ReturnType<typeof runBackup>>;
    if (!outcome.ok) throw outcome.error;
    // The entries were folders: deleted folders, and one file added (issue 16: counted apart).
    expect(outcome.report.files).toMatchObject({ added: 1, deleted: 0 });
    expect(outcome.report.folders).toMatchObject({ deleted: ENTRIES });
    expect(run.growthMiB).toBeLessThan(300);
  }, 120_000);
});
