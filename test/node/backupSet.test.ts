import { NodeOperationError } from 'n8n-workflow';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { expectSameTree, snapshotTree } from '../helpers/tree';
import { backupIds, nodeError, runNode } from './harness';

const temp = tempDirs('n8n-backup-node-set-');
afterAll(temp.cleanup);

interface Made {
  src: string;
  dest: string;
  set: string;
  ids: string[];
}

/** A source with a few files and `count` backups of it (full, then incrementals after a change each). */
async function backedUp(count = 1): Promise<Made> {
  const src = await temp.make();
  await writeTree(src, { 'a.txt': 'alpha', 'docs/b.txt': 'beta', 'empty': null });
  await fsp.symlink('a.txt', path.join(src, 'link'));
  const dest = await temp.make();
  const ids: string[] = [];
  let set = '';
  for (let n = 0; n < count; n++) {
    if (n > 0) await fsp.writeFile(path.join(src, `change-${n}.txt`), `change ${n}`);
    const [item] = await runNode({ params: { resource: 'backup', operation: 'auto', sourcePaths: src, destinationPath: dest } });
    set = String(item.json.set);
    ids.push(String(item.json.backupId));
  }
  return { src, dest, set, ids };
}

describe('List', () => {
  test('one item per backup, all sets or one, paired with its input item', async () => {
    const one = await backedUp(2);
    const other = await temp.make();
    await writeTree(other, { 'x.txt': 'x' });
    const [second] = await runNode({ params: { resource: 'backup', operation: 'full', sourcePaths: other, destinationPath: one.dest } });

    const all = await runNode({ params: { resource: 'backupSet', operation: 'list', destinationPath: one.dest } });
    expect(all.map((i) => i.json.backupId).sort()).toEqual([...one.ids, second.json.backupId].sort());
    expect(all[0].json).toMatchObject({ set: expect.any(String), type: expect.any(String), complete: true, sizes: expect.any(Object) });

    const filtered = await runNode({ items: 2, params: { resource: 'backupSet', operation: 'list', destinationPath: one.dest, setName: one.set } });
    expect(filtered.map((i) => [i.json.backupId, i.pairedItem])).toEqual([
      [one.ids[0], { item: 0 }],
      [one.ids[1], { item: 0 }],
      [one.ids[0], { item: 1 }],
      [one.ids[1], { item: 1 }],
    ]);
  });

  test('an empty or missing destination lists nothing', async () => {
    expect(await runNode({ params: { resource: 'backupSet', operation: 'list', destinationPath: path.join(await temp.make(), 'none') } })).toEqual([]);
  });
});

describe('Restore', () => {
  test('restores the latest backup equal to the source, into a target whose parents do not exist yet', async () => {
    const { src, dest, set, ids } = await backedUp(2);
    const target = path.join(await temp.make(), 'new', 'deeper', 'restored');
    const [item] = await runNode({ params: { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: set, targetPath: target } });
    expect(item.json).toMatchObject({ set, backupId: ids[1], target, errorCount: 0 });
    expect(String(item.json.summary)).toContain(`Restored ${ids[1]}`);
    expectSameTree(await snapshotTree(target), await snapshotTree(src), 'restored tree');
  });

  test('an older backup by id; a non-empty target needs Overwrite or Skip', async () => {
    const { dest, set, ids } = await backedUp(2);
    const target = await temp.make();
    const params = { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: set, backupId: ids[0], targetPath: target };
    await runNode({ params });
    await expect(fsp.access(path.join(target, 'change-1.txt'))).rejects.toThrow();

    const error = await nodeError({ params });
    expect(error.message).toContain('is not empty');
    expect(error.description).toContain('If Restore Into Is Not Empty');
    expect(error.description).toContain('[TARGET_NOT_EMPTY]');

    await fsp.writeFile(path.join(target, 'a.txt'), 'mine');
    const [skipped] = await runNode({ params: { ...params, overwrite: 'skip' } });
    expect(await fsp.readFile(path.join(target, 'a.txt'), 'utf8')).toBe('mine');
    expect(skipped.json.files).toMatchObject({ restored: 0 });
    await runNode({ params: { ...params, overwrite: 'overwrite' } });
    expect(await fsp.readFile(path.join(target, 'a.txt'), 'utf8')).toBe('alpha');
  });

  test('a damaged backup: RESTORE_INCOMPLETE, or with Continue On Fail the report with the error', async () => {
    const { dest, set, ids } = await backedUp(1);
    await fsp.rm(path.join(dest, set, ids[0], 'data', 'docs', 'b.txt'));
    const params = { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: set, targetPath: path.join(await temp.make(), 't') };
    const error = await nodeError({ params });
    expect(error).toBeInstanceOf(NodeOperationError);
    expect(error.message).toContain('is incomplete');
    expect(error.description).toContain('docs/b.txt');
    expect(error.description).toContain('[RESTORE_INCOMPLETE]');

    const [item] = await runNode({ params: { ...params, targetPath: path.join(await temp.make(), 't') }, continueOnFail: true });
    expect(item.json).toMatchObject({ code: 'RESTORE_INCOMPLETE', errorCount: 1, set, backupId: ids[0], error: expect.stringContaining('incomplete') });
  });

  test('an unknown set says how to find the set names', async () => {
    const { dest } = await backedUp(1);
    const error = await nodeError({ params: { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: 'nope', targetPath: await temp.make() } });
    expect(error.description).toContain('Backup Set > List');
    expect(error.description).toContain('[SET_NOT_FOUND]');
    const [item] = await runNode({ params: { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: 'nope', targetPath: await temp.make() }, continueOnFail: true });
    expect(item.json).toMatchObject({ code: 'SET_NOT_FOUND', set: 'nope' });
  });
});

describe('Verify', () => {
  test('sound backups: ok, quick by default, full on request', async () => {
    const { dest, set, ids } = await backedUp(2);
    const [quick] = await runNode({ params: { resource: 'backupSet', operation: 'verify', destinationPath: dest, setName: set } });
    expect(quick.json).toMatchObject({ ok: true, mode: 'quick', checked: ids, problemCount: 0 });
    const [full] = await runNode({ params: { resource: 'backupSet', operation: 'verify', destinationPath: dest, setName: set, backupId: 'latest', fullVerify: true } });
    expect(full.json).toMatchObject({ ok: true, mode: 'full', checked: [ids[1]] });
  });

  test('problems found: VERIFY_FAILED, or with Continue On Fail the report with ok: false', async () => {
    const { dest, set, ids } = await backedUp(1);
    await fsp.writeFile(path.join(dest, set, ids[0], 'data', 'a.txt'), 'ALPHA');
    const params = { resource: 'backupSet', operation: 'verify', destinationPath: dest, setName: set, fullVerify: true };
    const error = await nodeError({ params });
    expect(error.message).toBe(`Verification of set ${set} found 1 problem(s)`);
    expect(error.description).toContain('a.txt');
    expect(error.description).toContain('[VERIFY_FAILED]');
    const [item] = await runNode({ params, continueOnFail: true });
    expect(item.json).toMatchObject({ ok: false, code: 'VERIFY_FAILED', problemCount: 1, problems: [{ path: 'a.txt', code: 'CORRUPT' }] });
  });
});

describe('Prune', () => {
  test('dry run reports, then prune removes whole chains', async () => {
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
    const params = { resource: 'backupSet', operation: 'prune', destinationPath: dest, setName: set, keepFull: 1 };
    const [dry] = await runNode({ params: { ...params, dryRun: true } });
    expect(dry.json).toMatchObject({ set, dryRun: true, removed: [ids[1], ids[0]], kept: [ids[2]], summary: expect.stringMatching(new RegExp(`^Prune of set ${set}: would remove 2 backup\\(s\\), kept 1\\. Finished \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d `)) });
    expect(await backupIds(path.join(dest, set))).toEqual(ids);

    const [real] = await runNode({ params: { ...params, options: { lockTimeout: 5 } } });
    expect(real.json).toMatchObject({ dryRun: false, removed: [ids[1], ids[0]], kept: [ids[2]] });
    expect(await backupIds(path.join(dest, set))).toEqual([ids[2]]);
  });

  test('keep counts of 0 keep everything', async () => {
    const { dest, set, ids } = await backedUp(2);
    const [item] = await runNode({ params: { resource: 'backupSet', operation: 'prune', destinationPath: dest, setName: set } });
    expect(item.json).toMatchObject({ removed: [], kept: ids });
  });
});
