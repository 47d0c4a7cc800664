import { NodeOperationError } from 'n8n-workflow';
import type { ResolvedFilePath } from 'n8n-workflow';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { allowedFolders } from '../../nodes/Backup/actions/helpers/allowedFolders';
import { exactPathGlob, resolveForCheck } from '../../nodes/Backup/actions/helpers/fileAccess';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { mockContext, nodeError, runNode } from './harness';
import { Backup } from '../../nodes/Backup/Backup.node';

const temp = tempDirs('n8n-backup-node-access-');
afterAll(temp.cleanup);

/** An allowed root (like ~/.n8n-files) with a source in it, and a folder outside it. */
async function layout(): Promise<{ allowed: string; src: string; outside: string }> {
  const allowed = await fsp.realpath(await temp.make());
  const src = path.join(allowed, 'documents');
  await writeTree(src, { 'a.txt': 'alpha', 'docs/b.txt': 'beta' });
  const outside = await fsp.realpath(await temp.make());
  return { allowed, src, outside };
}

async function isEmpty(dir: string): Promise<boolean> {
  return (await fsp.readdir(dir)).length === 0;
}

describe('blocked paths are refused before anything is written', () => {
  test('a source outside the allowed folders', async () => {
    const { allowed, outside } = await layout();
    await writeTree(outside, { 'secret.txt': 's' });
    const dest = path.join(allowed, 'backups');
    const error = await nodeError({ allowedRoot: allowed, params: { resource: 'backup', operation: 'full', sourcePaths: outside, destinationPath: dest } });
    expect(error).toBeInstanceOf(NodeOperationError);
    expect(error.message).toBe(`Access to ${outside} is not allowed`);
    expect(error.description).toContain('N8N_RESTRICT_FILE_ACCESS_TO');
    // The hint names the folders THIS n8n allows (n8n's default under the OS home unless the
    // environment sets N8N_RESTRICT_FILE_ACCESS_TO), not a generic setup.
    const folders = process.env.N8N_RESTRICT_FILE_ACCESS_TO === undefined ? [path.join(os.homedir(), '.n8n-files')] : allowedFolders().folders;
    expect(error.description).toContain(`This n8n lets nodes use only ${folders.join(', ')}`);
    expect(error.description).toContain('[ACCESS_DENIED]');
    expect(error.context.itemIndex).toBe(0);
    await expect(fsp.access(dest)).rejects.toThrow();
  });

  test('a destination outside, that does not exist yet (nor its parents)', async () => {
    const { allowed, src, outside } = await layout();
    const dest = path.join(outside, 'a', 'b', 'backups');
    const error = await nodeError({ allowedRoot: allowed, params: { resource: 'backup', operation: 'auto', sourcePaths: src, destinationPath: dest } });
    expect(error.message).toBe(`Access to ${dest} is not allowed`);
    expect(await isEmpty(outside)).toBe(true);
  });

  test('a destination reached through a symlink inside the allowed folder is checked where it leads', async () => {
    const { allowed, src, outside } = await layout();
    await fsp.symlink(outside, path.join(allowed, 'escape'));
    const dest = path.join(allowed, 'escape', 'backups');
    const error = await nodeError({ allowedRoot: allowed, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest } });
    expect(error.message).toBe(`Access to ${dest} is not allowed`);
    expect(await isEmpty(outside)).toBe(true);
  });

  test('a restore target outside', async () => {
    const { allowed, src, outside } = await layout();
    const dest = path.join(allowed, 'backups');
    const [made] = await runNode({ allowedRoot: allowed, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest } });
    const target = path.join(outside, 'restored');
    const error = await nodeError({ allowedRoot: allowed, params: { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: made.json.set, targetPath: target } });
    expect(error.message).toBe(`Access to ${target} is not allowed`);
    expect(error.description).toContain('Restore Into folder');
    expect(await isEmpty(outside)).toBe(true);
  });

  test.each(['list', 'verify', 'prune', 'restore'])('Backup Set > %s checks the destination', async (operation) => {
    const { allowed, outside } = await layout();
    const error = await nodeError({
      allowedRoot: allowed,
      params: { resource: 'backupSet', operation, destinationPath: outside, setName: 'documents', targetPath: path.join(allowed, 't'), keepFull: 1 },
    });
    expect(error.message).toBe(`Access to ${outside} is not allowed`);
    await expect(fsp.access(path.join(allowed, 't'))).rejects.toThrow();
  });

  test('with Continue On Fail: an ACCESS_DENIED item for the blocked source, the allowed one still runs', async () => {
    const { allowed, src, outside } = await layout();
    const dest = path.join(allowed, 'backups');
    const out = await runNode({ allowedRoot: allowed, continueOnFail: true, params: { resource: 'backup', operation: 'full', sourcePaths: `${outside}\n${src}`, destinationPath: dest } });
    expect(out[0]).toMatchObject({ json: { source: outside, code: 'ACCESS_DENIED', error: `Access to ${outside} is not allowed` }, pairedItem: { item: 0 } });
    expect(out[1].json).toMatchObject({ source: src, type: 'full' });
  });

  test('a blocked destination with Continue On Fail: one error item per source', async () => {
    const { allowed, src, outside } = await layout();
    const out = await runNode({ allowedRoot: allowed, continueOnFail: true, params: { resource: 'backup', operation: 'full', sourcePaths: `${src},${src}/docs`, destinationPath: outside } });
    expect(out.map((o) => [o.json.source, o.json.code])).toEqual([
      [src, 'ACCESS_DENIED'],
      [path.join(src, 'docs'), 'ACCESS_DENIED'],
    ]);
  });

  test('every source, the destination and the target are checked', async () => {
    const { allowed, src } = await layout();
    const dest = path.join(allowed, 'backups');
    const run = mockContext({ allowedRoot: allowed, params: { resource: 'backup', operation: 'full', sourcePaths: `${src}\n${src}/docs`, destinationPath: dest } });
    await new Backup().execute.call(run.ctx);
    expect(run.checked).toEqual(expect.arrayContaining([dest, src, path.join(src, 'docs')]));
  });
});

describe('allowed paths and older n8n', () => {
  test('inside the allowed folder everything works', async () => {
    const { allowed, src } = await layout();
    const [item] = await runNode({ allowedRoot: allowed, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: path.join(allowed, 'b', 'c') } });
    expect(item.json).toMatchObject({ type: 'full' });
  });

  test('n8n without file-access helpers (1.x): no check, the node still runs', async () => {
    const { src, outside } = await layout();
    const [item] = await runNode({ fileHelpers: false, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: path.join(outside, 'b') } });
    expect(item.json).toMatchObject({ type: 'full' });
  });

  test('nearest existing ancestor: a missing path is resolved through its existing part', async () => {
    const { allowed, outside } = await layout();
    await fsp.symlink(outside, path.join(allowed, 'link'));
    const resolve = async (p: string): Promise<ResolvedFilePath> => (await fsp.realpath(p)) as ResolvedFilePath;
    expect(await resolveForCheck(resolve, path.join(allowed, 'link', 'x', 'y'))).toBe(path.join(outside, 'x', 'y'));
    expect(await resolveForCheck(resolve, path.join(allowed, 'new'))).toBe(path.join(allowed, 'new'));
  });
});

describe("n8n's own folder inside an allowed source", () => {
  const saved = process.env.N8N_USER_FOLDER;
  afterEach(() => {
    if (saved === undefined) delete process.env.N8N_USER_FOLDER;
    else process.env.N8N_USER_FOLDER = saved;
  });

  test("is refused by default; with Allow n8n's Own Folder it is left out of the backup; a restore target holding it is refused", async () => {
    const { allowed, src } = await layout();
    // n8n keeps its config (with the encryption key) in <N8N_USER_FOLDER>/.n8n: here inside the source.
    process.env.N8N_USER_FOLDER = src;
    const own = path.join(src, '.n8n');
    await writeTree(own, { config: '{"encryptionKey":"secret"}' });
    const blocked = (p: string): boolean => p === own || p.startsWith(own + path.sep);
    const dest = path.join(allowed, 'backups');
    const refused = await nodeError({ allowedRoot: allowed, blocked, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest } });
    expect(refused.message).toBe(`The source folder ${src} contains n8n's own folder ${own}`);
    expect(refused.description).toContain("Options > Allow n8n's Own Folder");
    expect(refused.description).toContain('[ACCESS_DENIED]');
    expect(await fsp.readdir(dest).catch(() => [])).toEqual([]);

    const options = { allowN8nUserFolder: true };
    const [item] = await runNode({ allowedRoot: allowed, blocked, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, options } });
    expect(item.json).toMatchObject({ type: 'full', errorCount: 0 });
    const target = path.join(allowed, 'restored');
    await runNode({ allowedRoot: allowed, blocked, params: { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: item.json.set, targetPath: target } });
    expect((await fsp.readdir(target)).sort()).toEqual(['a.txt', 'docs']);

    const error = await nodeError({
      allowedRoot: allowed, blocked,
      params: { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: item.json.set, targetPath: src, overwrite: 'overwrite' },
    });
    expect(error.message).toBe(`The Restore Into folder ${src} contains n8n's own folder ${own}`);
  });

  test('also when it sits below folders whose names hold glob characters', async () => {
    const { allowed, src } = await layout();
    const home = path.join(src, 'odd [x] {y} (z)*');
    process.env.N8N_USER_FOLDER = home;
    const own = path.join(home, '.n8n');
    await writeTree(own, { config: 'secret' });
    await writeTree(home, { 'kept.txt': 'k', '.n8nx/also-kept.txt': 'k' });
    const blocked = (p: string): boolean => p === own || p.startsWith(own + path.sep);
    const dest = path.join(allowed, 'backups');
    const [item] = await runNode({ allowedRoot: allowed, blocked, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, options: { allowN8nUserFolder: true } } });
    const target = path.join(allowed, 'restored');
    await runNode({ allowedRoot: allowed, blocked, params: { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: item.json.set, targetPath: target } });
    expect((await fsp.readdir(path.join(target, 'odd [x] {y} (z)*'))).sort()).toEqual(['.n8nx', 'kept.txt']);
  });

  test("is kept when n8n does not block it (N8N_BLOCK_FILE_ACCESS_TO_N8N_FILES=false) and Allow n8n's Own Folder is on", async () => {
    const { allowed, src } = await layout();
    process.env.N8N_USER_FOLDER = src;
    await writeTree(path.join(src, '.n8n'), { config: 'c' });
    const params = { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: path.join(allowed, 'b') };
    const [item] = await runNode({ allowedRoot: allowed, params: { ...params, options: { allowN8nUserFolder: true } } });
    expect(item.json.files).toMatchObject({ scanned: 3 });
    expect(item.json.folders).toMatchObject({ scanned: 2 });
    // Off (default): refused even though n8n itself would allow it.
    expect((await nodeError({ allowedRoot: allowed, params })).description).toContain('[ACCESS_DENIED]');
  });

  test('exact-path globs escape glob characters', () => {
    expect(exactPathGlob('.n8n')).toBe('/.n8n');
    expect(exactPathGlob('a [b]/c*{d}')).toBe('/a \\[b\\]/c\\*\\{d\\}');
  });
});

describe("n8n's user folder: this node's own rule, on top of n8n's", () => {
  const saved = process.env.N8N_USER_FOLDER;
  afterEach(() => {
    if (saved === undefined) delete process.env.N8N_USER_FOLDER;
    else process.env.N8N_USER_FOLDER = saved;
  });

  /** An n8n user folder (home/.n8n) inside the allowed root, which n8n itself does not block here. */
  async function withUserFolder(): Promise<{ allowed: string; src: string; home: string; own: string }> {
    const { allowed, src } = await layout();
    const home = path.join(allowed, 'home');
    const own = path.join(home, '.n8n');
    await writeTree(own, { 'database.sqlite': 'db', config: '{"encryptionKey":"k"}' });
    process.env.N8N_USER_FOLDER = home;
    return { allowed, src, home, own };
  }

  test.each([
    ['is', (own: string) => own],
    ['is inside', (own: string) => path.join(own, 'backups')],
    ['contains', (own: string) => path.dirname(own)],
  ])('a destination that %s it is refused before anything is written', async (_how, destOf) => {
    const { allowed, src, own } = await withUserFolder();
    const dest = destOf(own);
    const before = (await fsp.readdir(own)).sort();
    const error = await nodeError({ allowedRoot: allowed, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest } });
    expect(error.message).toMatch(new RegExp(`^The backup folder ${dest.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (is|contains) `));
    expect(error.description).toContain('[ACCESS_DENIED]');
    expect((await fsp.readdir(own)).sort()).toEqual(before);
    await expect(fsp.access(path.join(own, 'backups'))).rejects.toThrow();
  });

  test("Allow n8n's Own Folder accepts a destination that contains it (sets are never named .n8n)", async () => {
    const { allowed, src, home, own } = await withUserFolder();
    const [item] = await runNode({ allowedRoot: allowed, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: home, options: { allowN8nUserFolder: true } } });
    expect(item.json).toMatchObject({ type: 'full' });
    expect((await fsp.readdir(own)).sort()).toEqual(['config', 'database.sqlite']);
    // Backup Set operations read only <destination>/<set>: the same destination works for them without the option.
    const listed = await runNode({ allowedRoot: allowed, params: { resource: 'backupSet', operation: 'list', destinationPath: home } });
    expect(listed.map((i) => i.json.backupId)).toEqual([item.json.backupId]);
  });

  test('a source that is it is refused even by an n8n without file-access rules (1.x)', async () => {
    const { allowed, own } = await withUserFolder();
    const error = await nodeError({ fileHelpers: false, params: { resource: 'backup', operation: 'full', sourcePaths: own, destinationPath: path.join(allowed, 'b') } });
    expect(error.message).toBe(`The source folder ${own} is n8n's own folder`);
    await expect(fsp.access(path.join(allowed, 'b'))).rejects.toThrow();
  });

  test('a symlink inside the allowed folder that leads into it is refused: as destination, as source, as restore target', async () => {
    const { allowed, src, own } = await withUserFolder();
    const link = path.join(allowed, 'innocent');
    await fsp.symlink(own, link);
    const before = (await fsp.readdir(own)).sort();
    const asDest = await nodeError({ allowedRoot: allowed, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: path.join(link, 'backups') } });
    expect(asDest.message).toBe(`The backup folder ${path.join(link, 'backups')} is inside n8n's own folder ${own}`);
    const asSource = await nodeError({ allowedRoot: allowed, params: { resource: 'backup', operation: 'full', sourcePaths: link, destinationPath: path.join(allowed, 'b') } });
    expect(asSource.message).toBe(`The source folder ${link} is n8n's own folder`);

    const dest = path.join(allowed, 'backups');
    const [made] = await runNode({ allowedRoot: allowed, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest } });
    for (const target of [link, path.join(link, 'restored')]) {
      const error = await nodeError({ allowedRoot: allowed, params: { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: made.json.set, targetPath: target, overwrite: 'overwrite' } });
      expect(error.message).toMatch(/^The Restore Into folder .* (is|is inside) n8n's own folder/);
      expect(error.description).toContain('[ACCESS_DENIED]');
    }
    expect((await fsp.readdir(own)).sort()).toEqual(before);
  });
});
