/**
 * Auto mode and a damaged previous manifest (issue 12, item 4): the nightly run makes a full with
 * a warning instead of failing with MANIFEST_CORRUPT until the next scheduled full (forever with
 * fullEveryDays 0), and leaves the damaged backup exactly as it was. An explicit incremental or
 * differential still fails.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { BackupOptions, BackupReport } from '../../nodes/Backup/engine';
import { listDestination, restoreBackup, runBackup } from '../../nodes/Backup/engine';
import { tempDirs, writeTree } from '../helpers/fixtures';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

async function run(src: string, dest: string, extra: Partial<BackupOptions>): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, type: 'auto', ...extra });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

/** Ways a manifest gets damaged; each is read differently (gzip error, CRC, no trailer, absent). */
const DAMAGES: [string, (file: string) => Promise<void>][] = [
  ['cut in half (gzip ends early)', async (f) => fsp.truncate(f, Math.floor((await fsp.stat(f)).size / 2))],
  [
    'one byte flipped in the middle (gzip data or CRC check fails)',
    async (f) => {
      const bytes = await fsp.readFile(f);
      bytes[bytes.length >> 1] ^= 0x55;
      await fsp.writeFile(f, bytes);
    },
  ],
  [
    'a whole gzip stream that ends before the trailer line (cut at a line end)',
    async (f) => {
      const lines = gunzipSync(await fsp.readFile(f)).toString('utf8').split('\n').filter((l) => l !== '');
      await fsp.writeFile(f, gzipSync(`${lines.slice(0, -1).join('\n')}\n`));
    },
  ],
  ['missing', (f) => fsp.rm(f)],
];

async function chainWithDamagedNewest(damage: (file: string) => Promise<void>): Promise<{ src: string; dest: string; setDir: string; damagedId: string; fullId: string; before: Buffer | null }> {
  const root = await dirs.make();
  const src = path.join(root, 'src');
  const dest = path.join(root, 'dest');
  const files: Record<string, string> = {};
  for (let i = 0; i < 40; i++) files[`d${i % 4}/f${i}.txt`] = `file ${i}\n`;
  await writeTree(src, files);
  const full = await run(src, dest, { type: 'full' });
  await fsp.writeFile(path.join(src, 'd0/f0.txt'), 'changed once\n');
  const inc = await run(src, dest, { type: 'incremental' });
  const setDir = path.join(dest, full.set);
  const manifest = path.join(setDir, inc.backupId as string, 'manifest.jsonl.gz');
  await damage(manifest);
  const before = await fsp.readFile(manifest).catch(() => null);
  await fsp.writeFile(path.join(src, 'd1/f1.txt'), 'changed twice\n');
  return { src, dest, setDir, damagedId: inc.backupId as string, fullId: full.backupId as string, before };
}

describe.each(DAMAGES)('previous manifest %s', (_name, damage) => {
  test.each([0, 7])('auto (fullEveryDays %d) makes a full with a warning, leaves the damaged backup, and the chain goes on from the new full', async (fullEveryDays) => {
    const { src, dest, setDir, damagedId, before } = await chainWithDamagedNewest(damage);
    const r = await run(src, dest, { fullEveryDays });
    expect(r.type).toBe('full');
    expect(r.decision).toBe(`auto: full: the previous backup's manifest is damaged (${damagedId})`);
    expect(r.warnings).toEqual([{ code: 'PREVIOUS_MANIFEST_CORRUPT', backupId: damagedId, message: expect.stringContaining('run verify') as unknown as string }]);
    expect(r.summary).toContain(`Warning: backup ${damagedId} is damaged`);
    expect(r.errorCount).toBe(0);
    expect(r.files.stored).toBe(40);

    // Left alone, byte for byte, for verify and a person; no partial left by the abandoned incremental.
    expect(await fsp.readFile(path.join(setDir, damagedId, 'manifest.jsonl.gz')).catch(() => null)).toEqual(before);
    expect((await fsp.readdir(setDir)).filter((n) => n.startsWith('.partial-'))).toEqual([]);

    // The restore of the new full is whole, and the next night is an ordinary incremental from it.
    const target = path.join(path.dirname(dest), 'restored');
    const restored = await restoreBackup({ destination: dest, setName: r.set, backupId: r.backupId as string, target });
    expect(restored.errorCount).toBe(0);
    expect(await fsp.readFile(path.join(target, 'd1/f1.txt'), 'utf8')).toBe('changed twice\n');
    await fsp.writeFile(path.join(src, 'd2/f2.txt'), 'changed three times\n');
    const next = await run(src, dest, { fullEveryDays });
    expect(next).toMatchObject({ type: 'incremental', decision: `auto: incremental, changes since ${r.backupId as string}`, warnings: [] });
    expect((await listDestination(dest)).map((b) => b.backupId)).toContain(damagedId);
  });

  test('an explicit incremental still fails with MANIFEST_CORRUPT and writes no backup (only its run record)', async () => {
    const { src, dest, setDir, damagedId } = await chainWithDamagedNewest(damage);
    const [inc] = await runBackup({ sources: [src], destination: dest, type: 'incremental' });
    expect(inc.ok).toBe(false);
    if (!inc.ok) expect(inc.error.code).toBe('MANIFEST_CORRUPT');
    const names = (await fsp.readdir(setDir)).sort();
    expect(names.filter((n) => !n.startsWith('.') && n !== 'last-run.json')).toHaveLength(2);
    expect(names).toContain(damagedId);
  });
});

test('a differential whose full is fine is unaffected by a damaged incremental beside it', async () => {
  const { src, dest, fullId } = await chainWithDamagedNewest(DAMAGES[0][1]);
  const r = await run(src, dest, { type: 'differential' });
  expect(r).toMatchObject({ type: 'differential', warnings: [] });
  expect(r.decision).toContain(fullId);
});
