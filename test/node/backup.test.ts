import { NodeOperationError } from 'n8n-workflow';
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { backupIds, nodeError, runNode } from './harness';

const temp = tempDirs('n8n-backup-node-');
afterAll(temp.cleanup);

async function source(spec: Record<string, string | null> = { 'a.txt': 'alpha', 'docs/b.txt': 'beta' }): Promise<string> {
  const dir = await temp.make();
  await writeTree(dir, spec);
  return dir;
}

describe('Backup > Auto', () => {
  test('first run makes a full, a change makes an incremental, no change is skipped', async () => {
    const src = await source();
    const dest = path.join(await temp.make(), 'backups');
    const params = { resource: 'backup', operation: 'auto', sourcePaths: src, destinationPath: dest };

    const [first] = await runNode({ params });
    expect(first.pairedItem).toEqual({ item: 0 });
    expect(first.json).toMatchObject({ source: src, destination: dest, operation: 'auto', type: 'full', skipped: false, errorCount: 0 });
    expect(String(first.json.decision)).toContain('no full backup yet');
    expect(String(first.json.summary)).toMatch(/^Full backup of /);

    await fsp.writeFile(path.join(src, 'c.txt'), 'gamma');
    const [second] = await runNode({ params });
    expect(second.json).toMatchObject({ type: 'incremental', skipped: false });
    expect(second.json.files).toMatchObject({ added: 1, stored: 1 });

    const [third] = await runNode({ params });
    expect(third.json).toMatchObject({ type: null, backupId: null, skipped: true, skipReason: 'no changes' });
    expect(await backupIds(path.join(dest, String(first.json.set)))).toEqual([first.json.backupId, second.json.backupId]);
  });

  test('every field of the engine report is in the item', async () => {
    const [item] = await runNode({ params: { resource: 'backup', operation: 'full', sourcePaths: await source(), destinationPath: await temp.make() } });
    for (const key of ['source', 'set', 'destination', 'operation', 'type', 'backupId', 'skipped', 'skipReason', 'decision', 'startedAt', 'finishedAt', 'durationMs', 'files', 'bytes', 'sizes', 'retention', 'removedPartials', 'errors', 'errorCount', 'warnings', 'notices', 'summary']) {
      expect(item.json).toHaveProperty(key);
    }
  });
});

describe('several sources and items', () => {
  test('one item per (input item, source), paired with its input item', async () => {
    const [a, b, c] = [await source(), await source({ 'x.txt': 'x' }), await source({ 'y.txt': 'y' })];
    const dest = await temp.make();
    const out = await runNode({
      items: 2,
      params: (i) => ({ resource: 'backup', operation: 'full', sourcePaths: i === 0 ? `${a}\n${b}` : ` ${c} , ${a} `, destinationPath: dest }),
    });
    expect(out.map((o) => [o.json.source, o.pairedItem])).toEqual([
      [a, { item: 0 }],
      [b, { item: 0 }],
      [c, { item: 1 }],
      [a, { item: 1 }],
    ]);
    expect(new Set(out.map((o) => o.json.set)).size).toBe(3);
  });

  test('an expression that returns an array gives its paths as they are (a comma in a name works)', async () => {
    const withComma = await source({ 'f.txt': 'f' });
    const named = `${withComma}/one,two`;
    await fsp.mkdir(named);
    await fsp.writeFile(path.join(named, 'g.txt'), 'g');
    const out = await runNode({ params: { resource: 'backup', operation: 'full', sourcePaths: [named], destinationPath: await temp.make() } });
    expect(out.map((o) => o.json.source)).toEqual([named]);
  });

  test('options reach the engine: format, exclude, set name, retention, skip empty', async () => {
    const src = await source({ 'keep.txt': 'k', 'drop.tmp': 'd', 'cache/big.bin': 'b', 'sub/cache/keep2.txt': 'k2' });
    const dest = await temp.make();
    const options = { format: 'tar.gz', compressionLevel: 9, exclude: '*.tmp\n/cache/**', setName: 'docs', keepFull: 1 };
    const params = { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, options };
    const [first] = await runNode({ params });
    expect(first.json).toMatchObject({ set: 'docs', type: 'full' });
    // Files keep.txt, sub/cache/keep2.txt; folders sub, sub/cache.
    expect(first.json.files).toMatchObject({ scanned: 2 });
    expect(first.json.folders).toMatchObject({ scanned: 2 });
    await fsp.access(path.join(dest, 'docs', String(first.json.backupId), 'data.tar.gz'));
    const [second] = await runNode({ params });
    expect(second.json.retention).toEqual({ removed: [first.json.backupId], keptReferenced: [], kept: [second.json.backupId], rules: { [String(second.json.backupId)]: ['full #1'] } });

    const empty = await temp.make();
    const [skipped] = await runNode({ params: { resource: 'backup', operation: 'full', sourcePaths: empty, destinationPath: dest } });
    expect(skipped.json).toMatchObject({ skipped: true, skipReason: 'source is empty' });
    const [made] = await runNode({ params: { resource: 'backup', operation: 'full', sourcePaths: empty, destinationPath: dest, options: { skipEmptySource: false } } });
    expect(made.json).toMatchObject({ skipped: false, type: 'full' });
  });

  test('skipUnchanged off in auto writes a backup with no changes; on for incremental skips', async () => {
    const src = await source();
    const dest = await temp.make();
    await runNode({ params: { resource: 'backup', operation: 'auto', sourcePaths: src, destinationPath: dest } });
    const [forced] = await runNode({ params: { resource: 'backup', operation: 'auto', sourcePaths: src, destinationPath: dest, options: { skipUnchanged: false } } });
    expect(forced.json).toMatchObject({ skipped: false, type: 'incremental' });
    const [incremental] = await runNode({ params: { resource: 'backup', operation: 'incremental', sourcePaths: src, destinationPath: dest } });
    expect(incremental.json).toMatchObject({ skipped: false, type: 'incremental' });
    const [skipped] = await runNode({ params: { resource: 'backup', operation: 'incremental', sourcePaths: src, destinationPath: dest, options: { skipUnchanged: true } } });
    expect(skipped.json).toMatchObject({ skipped: true, skipReason: 'no changes' });
  });
});

describe('fatal problems', () => {
  test('a missing source fails the node with the item index and what to fix', async () => {
    const dest = await temp.make();
    const missing = path.join(dest, 'no-such-folder');
    const error = await nodeError({ params: { resource: 'backup', operation: 'full', sourcePaths: missing, destinationPath: path.join(dest, 'b') } });
    expect(error).toBeInstanceOf(NodeOperationError);
    expect(error.context.itemIndex).toBe(0);
    expect(error.message).toBe(`The source folder ${missing} does not exist.`);
    expect(error.description).toBe('Check the path (and that the disk holding it is mounted). [SOURCE_MISSING]');
  });

  test('the item index is the failing item', async () => {
    const good = await source();
    const dest = await temp.make();
    const error = await nodeError({
      items: 2,
      params: (i) => ({ resource: 'backup', operation: 'full', sourcePaths: i === 0 ? good : path.join(good, 'nope'), destinationPath: dest }),
    });
    expect(error).toBeInstanceOf(NodeOperationError);
    expect(error.context.itemIndex).toBe(1);
  });

  test('with Continue On Fail: an error item for the source, and later sources and items still run', async () => {
    const good = await source();
    const other = await source({ 'z.txt': 'z' });
    const missing = path.join(good, 'nope');
    const dest = await temp.make();
    const out = await runNode({
      items: 2,
      continueOnFail: true,
      params: (i) => ({ resource: 'backup', operation: 'full', sourcePaths: i === 0 ? `${missing}\n${good}` : other, destinationPath: dest }),
    });
    expect(out).toHaveLength(3);
    expect(out[0]).toEqual({ json: { source: missing, error: expect.stringContaining('does not exist'), code: 'SOURCE_MISSING', hint: expect.any(String) }, pairedItem: { item: 0 } });
    expect(out[1].json).toMatchObject({ source: good, type: 'full' });
    expect(out[2]).toMatchObject({ json: { source: other, type: 'full' }, pairedItem: { item: 1 } });
  });

  test('a set name with several sources is refused before anything is written', async () => {
    const dest = path.join(await temp.make(), 'new');
    const error = await nodeError({
      params: { resource: 'backup', operation: 'full', sourcePaths: `${await source()},${await source()}`, destinationPath: dest, options: { setName: 'x' } },
    });
    expect(error.message).toContain('single source');
    expect(error.description).toContain('[INVALID_OPTION]');
    await expect(fsp.access(dest)).rejects.toThrow();
  });

  test('empty or wrongly typed parameters are refused with their display name', async () => {
    const e1 = await nodeError({ params: { resource: 'backup', operation: 'full', sourcePaths: ' \n , ', destinationPath: '/tmp/x' } });
    expect(e1.message).toContain('"Source Folders" is empty');
    const e2 = await nodeError({ params: { resource: 'backup', operation: 'full', sourcePaths: await source(), destinationPath: await temp.make(), options: { compressionLevel: 12 } } });
    expect(e2.description).toContain('[INVALID_OPTION]');
    const e3 = await nodeError({ params: { resource: 'backup', operation: 'full', sourcePaths: await source(), destinationPath: await temp.make(), options: { keepFull: -1 } } });
    expect(e3.message).toContain('"Keep Full Backups" must be a whole number');
    const e4 = await nodeError({ params: { resource: 'backup', operation: 'full', sourcePaths: await source(), destinationPath: '' } });
    expect(e4.message).toContain('"Backup Folder" is empty');
  });
});

describe('file errors', () => {
  async function sourceWithFifo(): Promise<string> {
    const src = await source();
    execFileSync('mkfifo', [path.join(src, 'pipe')]);
    return src;
  }

  test('are reported in errors[] and do not fail the node by default', async () => {
    const [item] = await runNode({ params: { resource: 'backup', operation: 'full', sourcePaths: await sourceWithFifo(), destinationPath: await temp.make() } });
    expect(item.json).toMatchObject({ errorCount: 1, errors: [{ path: 'pipe', code: 'ESPECIAL' }], skipped: false });
  });

  test('with Fail on File Errors they fail the node, naming the first paths', async () => {
    const params = { resource: 'backup', operation: 'full', sourcePaths: await sourceWithFifo(), destinationPath: await temp.make(), options: { failOnFileErrors: true } };
    const error = await nodeError({ params });
    expect(error).toBeInstanceOf(NodeOperationError);
    expect(error.message).toContain('1 file(s) of');
    expect(error.description).toContain('pipe');
    expect(error.description).toContain('[FILE_ERRORS]');

    const [item] = await runNode({ params, continueOnFail: true });
    expect(item.json).toMatchObject({ code: 'FILE_ERRORS', errorCount: 1, type: 'full', backupId: expect.any(String) });
    expect(item.pairedItem).toEqual({ item: 0 });
  });
});

describe('cancellation', () => {
  test('an execution already cancelled: CANCELLED, even with Continue On Fail, and no backup or partial left', async () => {
    const controller = new AbortController();
    controller.abort();
    const dest = await temp.make();
    const params = { resource: 'backup', operation: 'full', sourcePaths: await source(), destinationPath: dest };
    const error = await nodeError({ params, signal: controller.signal, continueOnFail: true });
    expect(error.description).toContain('[CANCELLED]');
    const [set] = await fsp.readdir(dest);
    expect((await fsp.readdir(path.join(dest, set))).filter((n) => !n.startsWith('.lock') && n !== 'last-run.json')).toEqual([]);
  });

  test('cancelled mid-run (after a progress message): the partial backup is removed and later sources do not run', async () => {
    const big: Record<string, string> = {};
    for (let i = 0; i < 2500; i++) big[`d${i % 10}/f${i}.txt`] = `file ${i}`;
    const src = await source(big);
    const later = await source();
    const dest = await temp.make();
    const controller = new AbortController();
    const messages: unknown[] = [];
    const error = await nodeError({
      params: { resource: 'backup', operation: 'full', sourcePaths: `${src}\n${later}`, destinationPath: dest },
      signal: controller.signal,
      continueOnFail: true,
      onMessage: (m) => {
        messages.push(m);
        controller.abort();
      },
    });
    expect(error.description).toContain('[CANCELLED]');
    expect(messages.length).toBe(1);
    expect(String(messages[0])).toMatch(new RegExp(`^Backup of ${src}: \\d+ files?, \\d+ folders?, \\d+ symlinks?, .* scanned so far$`));
    const sets = await fsp.readdir(dest);
    expect(sets).toHaveLength(1);
    expect((await fsp.readdir(path.join(dest, sets[0]))).filter((n) => !n.startsWith('.lock') && n !== 'last-run.json')).toEqual([]);
  });
});
