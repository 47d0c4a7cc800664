/**
 * Backup Set > Restore with Only These Paths, Leave Out Paths and Restore As Of, through the node's
 * parameters (the unit-test route of harness.ts), on real trees.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { nodeError, runNode } from './harness';

const temp = tempDirs('n8n-backup-node-select-');
afterAll(temp.cleanup);

interface Made {
  dest: string;
  set: string;
  ids: string[];
  started: string[];
}

/** A full, then (after old.txt is deleted and new.txt added) an incremental, made by the node. */
async function backedUp(): Promise<Made> {
  const src = await temp.make();
  await writeTree(src, { 'docs/a.txt': 'a', 'docs/sub/b.log': 'b', 'old.txt': 'old', 'top.txt': 't' });
  const dest = await temp.make();
  const made: Made = { dest, set: '', ids: [], started: [] };
  for (const operation of ['full', 'incremental']) {
    if (operation === 'incremental') {
      await fsp.rm(path.join(src, 'old.txt'));
      await fsp.writeFile(path.join(src, 'new.txt'), 'new');
    }
    const [item] = await runNode({ params: { resource: 'backup', operation, sourcePaths: src, destinationPath: dest } });
    made.set = String(item.json.set);
    made.ids.push(String(item.json.backupId));
    made.started.push(String(item.json.startedAt));
  }
  return made;
}

async function files(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await fsp.readdir(path.join(root, rel))).sort()) {
    const child = rel === '' ? name : `${rel}/${name}`;
    if ((await fsp.lstat(path.join(root, child))).isDirectory()) out.push(...(await files(root, child)));
    else out.push(child);
  }
  return out;
}

/** The wall-clock text of an instant in a zone with a fixed offset (hours), without the offset. */
const wallClock = (iso: string, offsetHours: number): string => new Date(Date.parse(iso) + offsetHours * 3_600_000).toISOString().slice(0, 23);

let made: Made;
beforeAll(async () => {
  made = await backedUp();
});

const restoreParams = (extra: Record<string, unknown>): Record<string, unknown> => ({
  resource: 'backupSet', operation: 'restore', destinationPath: made.dest, setName: made.set, ...extra,
});

test('Only These Paths (one per line) and Leave Out Paths: only those files, and the filters in the output item', async () => {
  const target = path.join(await temp.make(), 't');
  const [item] = await runNode({ params: restoreParams({ targetPath: target, includePaths: 'docs\n\n  top.txt  ', excludePaths: '*.log' }) });
  expect(await files(target)).toEqual(['docs/a.txt', 'top.txt']);
  expect(item.json).toMatchObject({ backupId: made.ids[1], files: { restored: 2 }, bytes: { restored: 2 }, selection: { include: ['docs', 'top.txt'], exclude: ['*.log'], unmatched: [] } });
});

test('Restore As Of: a time without offset is in the workflow time zone; a Date from an expression is an instant', async () => {
  // A millisecond before the incremental started, as a Tokyo wall clock (UTC+9): the full. Read as UTC it would be 9 hours later: the incremental.
  const justBefore = wallClock(new Date(Date.parse(made.started[1]) - 1).toISOString(), 9);
  const target = path.join(await temp.make(), 't');
  const [item] = await runNode({ params: restoreParams({ targetPath: target, asOf: justBefore, includePaths: 'old.txt' }), timeZone: 'Asia/Tokyo' });
  expect(item.json).toMatchObject({ backupId: made.ids[0], asOf: new Date(Date.parse(made.started[1]) - 1).toISOString() });
  expect(await files(target)).toEqual(['old.txt']);
  const [utc] = await runNode({ params: restoreParams({ targetPath: path.join(await temp.make(), 't'), asOf: justBefore, includePaths: 'top.txt' }), timeZone: 'UTC' });
  expect(utc.json.backupId).toBe(made.ids[1]);
  const [fromDate] = await runNode({ params: restoreParams({ targetPath: path.join(await temp.make(), 't'), asOf: new Date(made.started[1]), includePaths: 'top.txt' }), timeZone: 'Asia/Tokyo' });
  expect(fromDate.json.backupId).toBe(made.ids[1]);
});

test('refusals name the node field: bad pattern, nothing selected, no backup that early, not a date', async () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{ includePaths: '../outside' }, 'PATTERN_INVALID', 'Only These Paths'],
    [{ includePaths: 'no-such-path' }, 'NOTHING_SELECTED', 'Leave Out Paths'],
    [{ asOf: '2000-01-01T00:00:00' }, 'BACKUP_NOT_FOUND', 'Restore As Of'],
    [{ asOf: 'not a date' }, 'AS_OF_INVALID', 'Restore As Of'],
  ];
  for (const [extra, code, field] of cases) {
    const target = path.join(await temp.make(), 't');
    const error = await nodeError({ params: restoreParams({ targetPath: target, ...extra }) });
    expect(error.description).toContain(`[${code}]`);
    expect(error.description).toContain(field);
    await expect(fsp.access(target)).rejects.toThrow();
  }
});
