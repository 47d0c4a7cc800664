/**
 * Backup dry run (settings.dryRun): reports what the next backup would store, type auto would
 * choose, counts and bytes, and writes nothing at all to the destination (no backup, partial,
 * lock, reader marker, key file, run record, retention or sweep), on a folder and remote stores.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupOptions, BackupReport } from '../../nodes/Backup/engine';
import { BackupError, runBackup } from '../../nodes/Backup/engine';
import type { Destination } from '../../nodes/Backup/engine/destination/types';
import type { Subject } from '../helpers/destinations';
import { s3Subject, sftpSubject, usingSubject } from '../helpers/destinations';
import { tempDirs, writeTree } from '../helpers/fixtures';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const HOUR = 3_600_000;

async function run(src: string, destination: string, extra: Partial<BackupOptions> = {}): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [src], destination, type: 'auto', setName: 'docs', ...extra });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

/** Every name under root (folders too) with its size and mtime: a dry run must change none of it. */
async function snapshot(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await fsp.readdir(dir)).sort()) {
      const abs = path.join(dir, name);
      const st = await fsp.lstat(abs);
      out.push(`${path.relative(root, abs)} ${st.isDirectory() ? 'dir' : st.size} ${st.mtimeMs} ${st.mode}`);
      if (st.isDirectory()) await walk(abs);
    }
  };
  const top = await fsp.lstat(root).catch(() => undefined);
  if (top === undefined) return ['(missing)'];
  out.push(`. ${top.mtimeMs}`);
  await walk(root);
  return out;
}

async function tree(spec: Record<string, string | Buffer | null>): Promise<{ src: string; dest: string }> {
  const root = await dirs.make();
  const src = path.join(root, 'src');
  await fsp.mkdir(src);
  await writeTree(src, spec);
  return { src, dest: path.join(root, 'dest') };
}

/** Changes the tree: one file added, one changed (bigger), one deleted. */
async function change(src: string): Promise<void> {
  await fsp.writeFile(path.join(src, 'new.txt'), 'brand new content');
  await fsp.writeFile(path.join(src, 'a/edit.txt'), 'edited, and longer than before');
  await fsp.rm(path.join(src, 'gone.txt'));
}

const SPEC = { 'a/edit.txt': 'e', 'a/keep.txt': 'keep me', 'gone.txt': 'g', 'big.bin': Buffer.alloc(70_000, 7), 'empty/': null };

describe.each(['folder', 'tar.gz'] as const)('dry run, %s format', (format) => {
  test('reports exactly what the following backup stores, and leaves the destination as it was', async () => {
    const { src, dest } = await tree(SPEC);
    const first = await run(src, dest, { format });
    await change(src);
    // A leftover of an interrupted run: a real backup would sweep it, a dry run must not.
    await fsp.mkdir(path.join(dest, 'docs', '.partial-20260101T000000000Z-full'));
    const before = await snapshot(dest);

    const dry = await run(src, dest, { format, dryRun: true });
    expect(await snapshot(dest)).toEqual(before);
    expect(dry).toMatchObject({ dryRun: true, skipped: false, type: 'incremental', backupId: null, removedPartials: [] });
    expect(dry.summary).toMatch(/^dry run: incremental backup of .* would store 2 files/);
    expect(dry.files).toMatchObject({ added: 1, changed: 1, deleted: 1, stored: 2 });
    expect(dry.bytes.written).toBe(0);
    expect(dry.retention.removed).toEqual([]);

    const real = await run(src, dest, { format });
    expect(real.dryRun).toBeUndefined();
    expect(real.type).toBe(dry.type);
    expect(real.files).toEqual(dry.files);
    expect(real.bytes.stored).toBe(dry.bytes.stored);
    expect(real.bytes.scanned).toBe(dry.bytes.scanned);
    expect(dry.bytes.stored).toBe('brand new content'.length + 'edited, and longer than before'.length);
    expect(first.backupId).not.toBeNull();
  });

  test('a first dry run into a missing destination reports a full of everything and creates nothing', async () => {
    const { src, dest } = await tree(SPEC);
    const dry = await run(src, path.join(dest, 'deeper'), { format, dryRun: true });
    expect(await snapshot(dest)).toEqual(['(missing)']);
    expect(dry).toMatchObject({ dryRun: true, type: 'full', decision: 'auto: no full backup yet' });
    const real = await run(src, path.join(dest, 'deeper'), { format });
    expect(real.files).toEqual(dry.files);
    expect(real.bytes.stored).toBe(dry.bytes.stored);
    expect(dry.bytes.stored).toBe(1 + 7 + 1 + 70_000);
  });
});

describe('dry run: what auto would choose', () => {
  test('full when there is none or the newest full is too old, incremental otherwise, skipped without changes', async () => {
    const { src, dest } = await tree(SPEC);
    const t0 = new Date('2026-06-01T03:00:00Z');
    const at = (ms: number) => ({ now: () => new Date(t0.getTime() + ms) });
    await run(src, dest, at(0));
    const before = await snapshot(dest);

    const same = await run(src, dest, { dryRun: true, ...at(HOUR) });
    expect(same).toMatchObject({ dryRun: true, skipped: true, skipReason: 'no changes', type: null });
    expect(same.summary).toMatch(/^dry run: the backup of .* would be skipped: no changes/);

    await change(src);
    const soon = await run(src, dest, { dryRun: true, ...at(2 * HOUR) });
    expect(soon).toMatchObject({ type: 'incremental', skipped: false });
    const late = await run(src, dest, { dryRun: true, ...at(8 * 24 * HOUR) });
    expect(late.type).toBe('full');
    expect(late.decision).toMatch(/^auto: newest full .* old \(full every 7 days\)/);
    expect(late.files).toMatchObject({ added: 4, stored: 4 });
    expect(late.folders).toMatchObject({ added: 2 });
    const diff = await run(src, dest, { dryRun: true, differentialEveryDays: 1, ...at(2 * 24 * HOUR) });
    expect(diff.type).toBe('differential');
    expect(await snapshot(dest)).toEqual(before);
  });

  test('an empty source reports the skip a backup would make', async () => {
    const { src, dest } = await tree({});
    const dry = await run(src, dest, { dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, skipped: true, skipReason: 'source is empty' });
    expect(await snapshot(dest)).toEqual(['(missing)']);
  });

  test('the same refusals as a backup: a missing source, an encrypted set without passphrase; a new encrypted set keeps no key', async () => {
    const { src, dest } = await tree(SPEC);
    const [missing] = await runBackup({ sources: [path.join(src, 'nope')], destination: dest, type: 'auto', setName: 'docs', dryRun: true });
    expect(missing.ok ? '' : missing.error.code).toBe('SOURCE_MISSING');

    const encrypted = await run(src, dest, { dryRun: true, passphrase: 'correct horse', format: 'tar.gz' });
    expect(encrypted.type).toBe('full');
    expect(await snapshot(dest)).toEqual(['(missing)']);
    await run(src, dest, { passphrase: 'correct horse', format: 'tar.gz' });
    const [refused] = await runBackup({ sources: [src], destination: dest, type: 'auto', setName: 'docs', dryRun: true, format: 'tar.gz' });
    expect(refused.ok ? '' : refused.error.code).toBe('PASSPHRASE_REQUIRED');
    await change(src);
    const before = await snapshot(dest);
    const dry = await run(src, dest, { dryRun: true, passphrase: 'correct horse', format: 'tar.gz' });
    expect(dry).toMatchObject({ type: 'incremental', files: { added: 1, changed: 1, deleted: 1 } });
    expect(await snapshot(dest)).toEqual(before);
  });

  test('a destination that cannot be written is refused as the backup would be (a file where the folder should be)', async () => {
    const { src, dest } = await tree(SPEC);
    await fsp.writeFile(dest, 'not a folder');
    const [dry] = await runBackup({ sources: [src], destination: dest, type: 'auto', dryRun: true });
    const [real] = await runBackup({ sources: [src], destination: dest, type: 'auto' });
    expect(dry.ok ? '' : dry.error).toBeInstanceOf(BackupError);
    expect(dry.ok ? '' : dry.error.code).toBe('DESTINATION_UNUSABLE');
    expect(real.ok ? '' : real.error.code).toBe('DESTINATION_UNUSABLE');
  });
});

async function listing(dest: Destination): Promise<string[]> {
  const out: string[] = [];
  for await (const e of dest.list('')) out.push(e.kind === 'object' ? `${e.name} ${e.size} ${e.mtimeMs}` : e.name);
  return out.sort();
}

describe.each([s3Subject(), sftpSubject()].map((s) => [s.label, s] as [string, Subject]))('dry run on %s', (_label, subject) => {
  const { maybe, title } = usingSubject(subject);

  maybe(title('reports what the next backup stores and leaves every object as it was'), async () => {
    await subject.fresh();
    const { url, options } = subject.target();
    const { src } = await tree(SPEC);
    const first = await run(src, url, { destinationOptions: options, format: 'tar.gz' });
    expect(first.type).toBe('full');
    await change(src);
    const dest = await subject.open();
    try {
      const before = await listing(dest);
      expect(before.some((n) => n.startsWith('backups/here/docs/last-run.json') || n.startsWith('docs/last-run.json'))).toBe(true);
      const dry = await run(src, url, { destinationOptions: options, format: 'tar.gz', dryRun: true });
      expect(await listing(dest)).toEqual(before);
      expect(dry).toMatchObject({ dryRun: true, type: 'incremental', files: { added: 1, changed: 1, deleted: 1, stored: 2 } });
      const real = await run(src, url, { destinationOptions: options, format: 'tar.gz' });
      expect(real.files).toEqual(dry.files);
      expect(real.bytes.stored).toBe(dry.bytes.stored);
    } finally {
      await dest.close();
    }
  }, 120_000);

  maybe(title('a dry run into a set that does not exist writes nothing'), async () => {
    await subject.fresh();
    const { url, options } = subject.target();
    const { src } = await tree(SPEC);
    const dest = await subject.open();
    try {
      const before = await listing(dest);
      const dry = await run(src, url, { destinationOptions: options, dryRun: true });
      expect(dry).toMatchObject({ dryRun: true, type: 'full', files: { added: 4, stored: 4 }, folders: { added: 2 } });
      expect(await listing(dest)).toEqual(before);
    } finally {
      await dest.close();
    }
  }, 120_000);
});
