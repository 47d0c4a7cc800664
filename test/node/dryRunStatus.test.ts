/**
 * The node's Dry Run option (Backup operations) and the Backup Set > Status operation, through the
 * mock context (harness.ts) on real trees.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { runNode } from './harness';

const temp = tempDirs('n8n-backup-node-status-');
afterAll(temp.cleanup);

async function listing(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await fsp.readdir(dir)).sort()) {
      const abs = path.join(dir, name);
      const st = await fsp.lstat(abs);
      out.push(`${path.relative(root, abs)} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) await walk(abs);
    }
  };
  await walk(root);
  return out;
}

describe('Backup > Dry Run option', () => {
  test('the item says what would be stored; the backup folder is untouched; the next real run stores the same', async () => {
    const src = await temp.make();
    await writeTree(src, { 'a.txt': 'alpha', 'docs/b.txt': 'beta' });
    const dest = await temp.make();
    const base = { resource: 'backup', operation: 'auto', sourcePaths: src, destinationPath: dest };
    await runNode({ params: base });
    await fsp.writeFile(path.join(src, 'new.txt'), 'new file');
    const before = await listing(dest);
    const [dry] = await runNode({ params: { ...base, options: { dryRun: true, failOnFileErrors: true } } });
    expect(await listing(dest)).toEqual(before);
    expect(dry.json).toMatchObject({ dryRun: true, type: 'incremental', backupId: null, skipped: false, files: { added: 1, stored: 1 } });
    expect(String(dry.json.summary)).toMatch(/^dry run: incremental backup of /);
    const [real] = await runNode({ params: base });
    expect(real.json.files).toEqual(dry.json.files);
    expect((real.json.bytes as Record<string, number>).stored).toBe((dry.json.bytes as Record<string, number>).stored);
    expect(real.json.dryRun).toBeUndefined();
  });
});

describe('Backup Set > Status', () => {
  test('a set with no run: an item with ok false and "no run recorded" (not a node error)', async () => {
    const dest = await temp.make();
    const [item] = await runNode({ params: { resource: 'backupSet', operation: 'status', destinationPath: dest, setName: 'docs' } });
    expect(item.json).toMatchObject({ set: 'docs', ok: false, backupCount: 0, newest: null, ageSeconds: null, lastRunOutcome: 'none', lastRunText: 'no run recorded' });
    expect(item.pairedItem).toEqual({ item: 0 });
  });

  test('after a backup: OK, the newest backup with its age, the run and the chain check', async () => {
    const src = await temp.make();
    await writeTree(src, { 'a.txt': 'alpha' });
    const dest = await temp.make();
    const [made] = await runNode({ params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, options: { setName: 'docs' } } });
    const [item] = await runNode({ params: { resource: 'backupSet', operation: 'status', destinationPath: dest, setName: 'docs' } });
    expect(item.json).toMatchObject({ ok: true, backupCount: 1, lastRunOutcome: 'success', health: { checked: true, ok: true }, newest: { backupId: made.json.backupId } });
    expect(typeof item.json.ageSeconds).toBe('number');
    expect(String(item.json.summary)).toMatch(/^Set docs: OK: /);
  });
});
