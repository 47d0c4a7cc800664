/**
 * Status of a set (operations/status.ts) and the run record every backup run leaves
 * (set/runRecord.ts, `<set>/last-run.json`), on real trees: a fresh set, after a backup, a failed
 * run, a skipped run, an old set without a record, a damaged chain; and on S3/SFTP.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupOptions, BackupReport } from '../../nodes/Backup/engine';
import { humanAge, listDestination, runBackup, setStatus, verifyBackups } from '../../nodes/Backup/engine';
import type { Subject } from '../helpers/destinations';
import { s3Subject, sftpSubject, usingSubject } from '../helpers/destinations';
import { tempDirs, writeTree } from '../helpers/fixtures';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const T0 = new Date('2026-06-01T03:00:00Z');
const at = (ms: number): (() => Date) => () => new Date(T0.getTime() + ms);

async function tree(): Promise<{ src: string; dest: string; root: string }> {
  const root = await dirs.make();
  const src = path.join(root, 'src');
  await fsp.mkdir(src);
  await writeTree(src, { 'a.txt': 'alpha', 'b/c.txt': 'charlie' });
  return { src, dest: path.join(root, 'dest'), root };
}

async function backup(src: string, destination: string, extra: Partial<BackupOptions> = {}): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [src], destination, type: 'auto', setName: 'docs', ...extra });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

describe('status of a set', () => {
  test('a set that does not exist: no backup, no run recorded, not OK; nothing is created', async () => {
    const { dest } = await tree();
    await fsp.mkdir(dest);
    const s = await setStatus({ destination: dest, setName: 'docs' });
    expect(s).toMatchObject({ backupCount: 0, damagedCount: 0, newest: null, lastRun: null, lastRunOutcome: 'none', lastRunText: 'no run recorded', ok: false, totalBytes: 0 });
    expect(s.health).toMatchObject({ checked: false, ok: null });
    expect(s.summary).toMatch(/^Set docs: NOT OK: no complete backup; last run no run recorded;/);
    expect(await fsp.readdir(dest)).toEqual([]);
  });

  test('after a backup: the newest backup and its age, the run record, the chain checked, totals', async () => {
    const { src, dest } = await tree();
    const made = await backup(src, dest, { now: at(0) });
    const record = JSON.parse(await fsp.readFile(path.join(dest, 'docs', 'last-run.json'), 'utf8')) as Record<string, unknown>;
    expect(record).toMatchObject({ outcome: 'success', code: 'OK', backupId: made.backupId, startedAt: made.startedAt, finishedAt: made.finishedAt, source: src, errorCount: 0 });
    expect(record.message).toBe(made.summary);

    const s = await setStatus({ destination: dest, setName: 'docs', now: at(3 * 3_600_000 + 12 * 60_000) });
    expect(s).toMatchObject({ backupCount: 1, damagedCount: 0, lastRunOutcome: 'success', ok: true, totalBytes: made.bytes.written });
    expect(s.newest).toMatchObject({ backupId: made.backupId, type: 'full', age: '3 h 12 min' });
    expect(s.newest?.ageSeconds).toBe(Math.round((T0.getTime() + 3 * 3_600_000 + 12 * 60_000 - Date.parse(made.finishedAt)) / 1000));
    expect(s.health).toMatchObject({ checked: true, ok: true, backupId: made.backupId, problemCount: 0 });
    expect(s.lastRunText).toMatch(new RegExp(`^made ${made.backupId} `));
    expect(s.summary).toMatch(/^Set docs: OK: newest backup .* \(full\) is 3 h 12 min old; last run made .*; chain intact \(quick check\); 1 backup\(s\), /);
    // The record is no backup: list, verify and a later backup ignore it.
    expect((await listDestination(dest)).map((b) => b.backupId)).toEqual([made.backupId]);
    expect((await verifyBackups({ destination: dest, setName: 'docs' })).ok).toBe(true);
  });

  test('after a failed run (source missing): the record says so and status is not OK, the newest backup still shown', async () => {
    const { src, dest } = await tree();
    const made = await backup(src, dest, { now: at(0) });
    const [failed] = await runBackup({ sources: [path.join(src, 'gone')], destination: dest, type: 'auto', setName: 'docs', now: at(60_000) });
    expect(failed.ok).toBe(false);
    const s = await setStatus({ destination: dest, setName: 'docs', now: at(120_000) });
    expect(s.lastRun).toMatchObject({ outcome: 'failed', code: 'SOURCE_MISSING', backupId: null });
    expect(s.lastRun?.message).toMatch(/does not exist/);
    expect(s).toMatchObject({ lastRunOutcome: 'failed', ok: false, backupCount: 1 });
    expect(s.newest?.backupId).toBe(made.backupId);
    expect(s.lastRunText).toMatch(/^failed 1 min ago \(SOURCE_MISSING\): /);
  });

  test('a failed first run makes no set folder for its record (a wrong path or an unmounted disk stays as it is)', async () => {
    const { src, dest } = await tree();
    await fsp.mkdir(dest);
    await runBackup({ sources: [path.join(src, 'gone')], destination: dest, type: 'auto', setName: 'docs' });
    expect(await fsp.readdir(dest)).toEqual([]);
    expect(await setStatus({ destination: dest, setName: 'docs' })).toMatchObject({ backupCount: 0, lastRunOutcome: 'none', ok: false });
    await fsp.rm(dest, { recursive: true });
    await runBackup({ sources: [path.join(src, 'gone')], destination: dest, type: 'auto', setName: 'docs' });
    await expect(fsp.stat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('a destination refused as inside the source gets no record there', async () => {
    const { src } = await tree();
    await fsp.mkdir(path.join(src, 'docs'));
    const [refused] = await runBackup({ sources: [src], destination: `${src}/x/..`, type: 'auto', setName: 'docs' });
    expect(refused.ok ? '' : refused.error.code).toBe('DESTINATION_INSIDE_SOURCE');
    expect(await fsp.readdir(path.join(src, 'docs'))).toEqual([]);
  });

  test('after a skipped run (no changes): skipped, still OK', async () => {
    const { src, dest } = await tree();
    await backup(src, dest, { now: at(0) });
    const skipped = await backup(src, dest, { now: at(3_600_000) });
    expect(skipped.skipped).toBe(true);
    const s = await setStatus({ destination: dest, setName: 'docs', now: at(2 * 3_600_000) });
    expect(s.lastRun).toMatchObject({ outcome: 'skipped', code: 'SKIPPED', backupId: null });
    expect(s).toMatchObject({ lastRunOutcome: 'skipped', ok: true });
    expect(s.newest?.age).toMatch(/^2 h/);
  });

  test('a dry run leaves the record of the last real run alone', async () => {
    const { src, dest } = await tree();
    await backup(src, dest);
    const before = await fsp.readFile(path.join(dest, 'docs', 'last-run.json'), 'utf8');
    await fsp.writeFile(path.join(src, 'new.txt'), 'new');
    await backup(src, dest, { dryRun: true });
    expect(await fsp.readFile(path.join(dest, 'docs', 'last-run.json'), 'utf8')).toBe(before);
  });

  test('an old set (written before the run record existed) says no run recorded and is checked as usual', async () => {
    const root = await dirs.make();
    await fsp.cp(path.join(__dirname, '..', 'fixtures', 'pre-hardlinks', 'old-folder'), root, { recursive: true });
    const s = await setStatus({ destination: root, setName: 'old' });
    expect(s).toMatchObject({ backupCount: 1, lastRun: null, lastRunOutcome: 'none', lastRunText: 'no run recorded', ok: true });
    expect(s.health).toMatchObject({ checked: true, ok: true });
  });

  test('a damaged record reads as none, and the next run replaces it', async () => {
    const { src, dest } = await tree();
    await backup(src, dest);
    await fsp.writeFile(path.join(dest, 'docs', 'last-run.json'), '{"outcome": "succ');
    expect((await setStatus({ destination: dest, setName: 'docs' })).lastRunText).toBe('no run recorded: last-run.json is damaged');
    await fsp.writeFile(path.join(src, 'new.txt'), 'new');
    await backup(src, dest);
    expect((await setStatus({ destination: dest, setName: 'docs' })).lastRunOutcome).toBe('success');
  });

  test('a stored file missing from the newest chain: the quick check fails and status is not OK', async () => {
    const { src, dest } = await tree();
    const full = await backup(src, dest, { type: 'full' });
    await fsp.writeFile(path.join(src, 'new.txt'), 'new');
    await backup(src, dest, { type: 'incremental' });
    await fsp.rm(path.join(dest, 'docs', full.backupId as string, 'data', 'a.txt'));
    const s = await setStatus({ destination: dest, setName: 'docs' });
    expect(s.health).toMatchObject({ checked: true, ok: false, problemCount: 1 });
    expect(s.health.problems[0]).toMatchObject({ code: 'MISSING', path: 'a.txt' });
    expect(s.ok).toBe(false);
    expect(s.summary).toMatch(/chain check found 1 problem/);
  });

  test('a record that cannot be written warns and keeps the backup good', async () => {
    const { src, dest } = await tree();
    await fsp.mkdir(path.join(dest, 'docs', 'last-run.json', 'blocked'), { recursive: true });
    const made = await backup(src, dest);
    expect(made.backupId).not.toBeNull();
    expect(made.warnings).toEqual([expect.objectContaining({ code: 'RUN_RECORD_NOT_WRITTEN', backupId: made.backupId })]);
    expect(made.summary).toMatch(/Warning: the run record of set docs could not be written/);
    expect((await fsp.readdir(path.join(dest, 'docs'))).filter((n) => n.includes('.tmp'))).toEqual([]);
  });

  test('an encrypted set: the record names no source; without the passphrase the chain is not checked', async () => {
    const { src, dest } = await tree();
    await backup(src, dest, { passphrase: 'pass phrase', format: 'tar.gz' });
    const text = await fsp.readFile(path.join(dest, 'docs', 'last-run.json'), 'utf8');
    expect(text).not.toContain(src);
    expect(text).not.toContain('pass phrase');
    const s = await setStatus({ destination: dest, setName: 'docs' });
    expect(s.health).toMatchObject({ checked: false, ok: null, summary: 'not checked: the set is encrypted and no passphrase was given' });
    expect(s.ok).toBe(true);
    expect((await setStatus({ destination: dest, setName: 'docs', passphrase: 'pass phrase' })).health).toMatchObject({ checked: true, ok: true });
  });

  test("a killed run's record temp file is swept by the next backup", async () => {
    const { src, dest } = await tree();
    await backup(src, dest);
    const temp = path.join(dest, 'docs', 'last-run.json.0123456789ab.tmp');
    await fsp.writeFile(temp, '{"outc');
    await fsp.writeFile(path.join(src, 'new.txt'), 'new');
    await backup(src, dest);
    await expect(fsp.stat(temp)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('humanAge', () => {
    expect([0, 59, 60, 3599, 3600, 3660, 47 * 3600, 48 * 3600, 50 * 3600].map(humanAge)).toEqual(['0 s', '59 s', '1 min', '59 min', '1 h', '1 h 1 min', '47 h', '2 days', '2 days 2 h']);
  });
});

describe.each([s3Subject(), sftpSubject()].map((s) => [s.label, s] as [string, Subject]))('status and run record on %s', (_label, subject) => {
  const { maybe, title } = usingSubject(subject);

  maybe(title('fresh set, a backup, a skipped run, a failed run'), async () => {
    await subject.fresh();
    const { url, options } = subject.target();
    const { src } = await tree();
    const opts = { destination: url, destinationOptions: options, setName: 'docs' };
    expect(await setStatus(opts)).toMatchObject({ backupCount: 0, lastRunOutcome: 'none', ok: false });
    const made = await backup(src, url, { destinationOptions: options, format: 'tar.gz' });
    expect(made.warnings).toEqual([]);
    const s = await setStatus(opts);
    expect(s).toMatchObject({ backupCount: 1, lastRunOutcome: 'success', ok: true, health: { checked: true, ok: true } });
    expect(s.lastRun?.backupId).toBe(made.backupId);
    await backup(src, url, { destinationOptions: options, format: 'tar.gz' });
    expect((await setStatus(opts)).lastRunOutcome).toBe('skipped');
    await runBackup({ sources: [path.join(src, 'gone')], destination: url, destinationOptions: options, type: 'auto', setName: 'docs' });
    expect((await setStatus(opts)).lastRun).toMatchObject({ outcome: 'failed', code: 'SOURCE_MISSING' });
    const dest = await subject.open();
    try {
      const names: string[] = [];
      for await (const e of dest.list('')) names.push(e.name);
      expect(names.filter((n) => n.endsWith('last-run.json'))).toHaveLength(1);
      expect(names.filter((n) => /tmp|incoming/.test(n))).toEqual([]);
    } finally {
      await dest.close();
    }
  }, 120_000);
});
