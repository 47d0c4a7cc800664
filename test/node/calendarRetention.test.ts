/**
 * Calendar Retention in the node (Backup operations and Backup Set > Prune): the collection reaches
 * the engine, adds to the Keep Full/Differential/Incremental counts, reports "rules", refuses a bad
 * duration or time zone naming the field, and an empty collection changes nothing.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { parseCalendarRetention } from '../../nodes/Backup/actions/helpers/parameters';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { backupIds, nodeError, runNode } from './harness';

const temp = tempDirs('n8n-backup-node-calendar-');
afterAll(temp.cleanup);

/** Three full backups of a small source, seconds apart (one day, one hour). */
async function threeFulls(): Promise<{ src: string; dest: string; set: string; ids: string[] }> {
  const src = await temp.make();
  await writeTree(src, { 'a.txt': 'a' });
  const dest = await temp.make();
  const ids: string[] = [];
  let set = '';
  for (let n = 0; n < 3; n++) {
    const [item] = await runNode({ params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest } });
    ids.push(String(item.json.backupId));
    set = String(item.json.set);
  }
  return { src, dest, set, ids };
}

describe('Prune with Calendar Retention', () => {
  test('Keep Daily 1 in a time zone: the dry run names the rule, the prune does the same', async () => {
    const { dest, set, ids } = await threeFulls();
    const params = { resource: 'backupSet', operation: 'prune', destinationPath: dest, setName: set, calendarRetention: { keepDaily: 1, timeZone: 'Europe/Berlin' } };
    const [dry] = await runNode({ params: { ...params, dryRun: true } });
    expect(dry.json).toMatchObject({ dryRun: true, removed: [ids[1], ids[0]], kept: [ids[2]], rules: { [ids[2]]: ['daily #1'] }, reasons: { [ids[2]]: 'daily #1' } });
    expect(await backupIds(path.join(dest, set))).toEqual(ids);
    const [real] = await runNode({ params });
    expect(real.json).toMatchObject({ dryRun: false, removed: [ids[1], ids[0]], kept: [ids[2]], rules: { [ids[2]]: ['daily #1'] } });
    expect(await backupIds(path.join(dest, set))).toEqual([ids[2]]);
  });

  test('calendar rules add to Keep Full: Keep Within 1h keeps what Keep Full 1 alone would remove', async () => {
    const { dest, set, ids } = await threeFulls();
    const params = { resource: 'backupSet', operation: 'prune', destinationPath: dest, setName: set, keepFull: 1, dryRun: true };
    const [alone] = await runNode({ params });
    expect(alone.json).toMatchObject({ removed: [ids[1], ids[0]] });
    const [both] = await runNode({ params: { ...params, calendarRetention: { keepWithin: '1h' } } });
    expect(both.json).toMatchObject({ removed: [], rules: { [ids[2]]: ['full #1', 'within 1h'], [ids[0]]: ['within 1h'] } });
  });

  test('an empty collection (or empty fields) is no rule: counts of 0 still keep everything', async () => {
    const { dest, set, ids } = await threeFulls();
    for (const calendarRetention of [{}, { keepWithin: '', timeZone: '', keepDaily: 0 }]) {
      const [item] = await runNode({ params: { resource: 'backupSet', operation: 'prune', destinationPath: dest, setName: set, calendarRetention } });
      expect(item.json).toMatchObject({ removed: [], kept: ids });
    }
  });
});

describe('Backup with Calendar Retention', () => {
  test('Keep Last 1 runs after the backup; the output says which rule kept what', async () => {
    const src = await temp.make();
    await writeTree(src, { 'a.txt': 'a' });
    const dest = await temp.make();
    const params = { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, calendarRetention: { keepLast: 1 } };
    const [first] = await runNode({ params });
    await fsp.writeFile(path.join(src, 'b.txt'), 'b');
    const [second] = await runNode({ params });
    expect(second.json.retention).toEqual({ removed: [first.json.backupId], keptReferenced: [], kept: [second.json.backupId], rules: { [String(second.json.backupId)]: ['last #1'] } });
    expect(await backupIds(path.join(dest, String(second.json.set)))).toEqual([second.json.backupId]);
  });

  test('a bad Keep Within or Time Zone fails before anything is written, naming the field', async () => {
    const src = await temp.make();
    await writeTree(src, { 'a.txt': 'a' });
    const dest = path.join(await temp.make(), 'not-yet');
    const bad = async (calendarRetention: Record<string, unknown>): Promise<{ message: string; description?: string | null }> =>
      nodeError({ params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, calendarRetention } });
    const within = await bad({ keepWithin: '30 days' });
    expect(within.message).toContain('"Keep Within" must be a duration');
    expect(within.description).toMatch(/1y2m/);
    expect((await bad({ timeZone: 'Mars/Olympus' })).message).toContain('"Time Zone"');
    expect((await bad({ keepDaily: -1 })).message).toContain('"Keep Daily" must be a whole number');
    await expect(fsp.access(dest)).rejects.toThrow();
  });
});

describe('parseCalendarRetention', () => {
  test('numbers (also from expressions as text), trimmed text, empty text left out', () => {
    expect(parseCalendarRetention({ keepDaily: 7, keepWeekly: '4', keepWithin: ' 2w ', timeZone: '' })).toEqual({ keepDaily: 7, keepWeekly: 4, keepWithin: '2w' });
    expect(parseCalendarRetention({})).toEqual({});
  });

  test.each([
    [{ keepLast: 1.5 }, /"Keep Last" must be a whole number/],
    [{ keepYearly: 'many' }, /"Keep Yearly" must be a whole number/],
    [{ keepWithin: 7 }, /"Keep Within" must be text/],
    [{ keepWithin: '1d1d' }, /"Keep Within" must be a duration/],
    [{ timeZone: ['UTC'] }, /"Time Zone" must be text/],
  ])('refuses %j', (raw, message) => {
    expect(() => parseCalendarRetention(raw)).toThrow(message);
  });
});
