/**
 * What a new user meets in the editor (issue 16): the item shape (summary and error first), local
 * time beside UTC, the skip's decision, the labels and inline hints, the ACCESS_DENIED hint naming
 * this n8n's folders, and destructive operations kept from AI agents unless the author allows them.
 */
import type { INodeProperties } from 'n8n-workflow';
import { promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { accessHint, allowedFolders } from '../../nodes/Backup/actions/helpers/allowedFolders';
import { shapeJson } from '../../nodes/Backup/actions/helpers/output';
import { Backup } from '../../nodes/Backup/Backup.node';
import { fileAccessNotice } from '../../nodes/Backup/descriptions/common';
import { localDateTime } from '../../nodes/Backup/engine';
import { BackupEncryptionApi } from '../../credentials/BackupEncryptionApi.credentials';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { backupIds, nodeError, runNode } from './harness';

const temp = tempDirs('n8n-backup-editor-');
afterAll(temp.cleanup);

const TOOL = 'n8n-nodes-backup.backupTool';

async function backedUp(count: number): Promise<{ src: string; dest: string; set: string; ids: string[] }> {
  const src = await temp.make();
  await writeTree(src, { 'a.txt': 'alpha', 'docs/b.txt': 'beta' });
  const dest = await temp.make();
  const ids: string[] = [];
  let set = '';
  for (let n = 0; n < count; n++) {
    await fsp.writeFile(path.join(src, `change-${n}.txt`), `v${n}`);
    const [item] = await runNode({ params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest } });
    ids.push(String(item.json.backupId));
    set = String(item.json.set);
  }
  return { src, dest, set, ids };
}

describe('item shape: summary (and error) first, every operation', () => {
  test('backup, list, restore, verify, prune items start with summary; error items with error, code, hint', async () => {
    const { dest, set } = await backedUp(2);
    const setParams = { resource: 'backupSet', destinationPath: dest, setName: set };
    const runs = {
      backup: await runNode({ params: { resource: 'backup', operation: 'full', sourcePaths: (await backedUp(1)).src, destinationPath: await temp.make() } }),
      list: await runNode({ params: { ...setParams, operation: 'list' } }),
      restore: await runNode({ params: { ...setParams, operation: 'restore', targetPath: path.join(await temp.make(), 'r') } }),
      verify: await runNode({ params: { ...setParams, operation: 'verify' } }),
      prune: await runNode({ params: { ...setParams, operation: 'prune', keepFull: 5 } }),
    };
    for (const [operation, items] of Object.entries(runs)) {
      expect(items.length).toBeGreaterThan(0);
      for (const item of items) expect({ operation, first: Object.keys(item.json)[0] }).toEqual({ operation, first: 'summary' });
    }
    expect(String(runs.list[0].json.summary)).toMatch(new RegExp(`^Full backup \\d{8}T\\d{9}Z-full of set ${set}: 3 files, 1 folder, 0 symlinks; 3 stored files, `));

    const missing = path.join(await temp.make(), 'nope');
    const [failed] = await runNode({ params: { resource: 'backup', operation: 'full', sourcePaths: missing, destinationPath: dest }, continueOnFail: true });
    expect(Object.keys(failed.json).slice(0, 3)).toEqual(['error', 'code', 'hint']);
    expect(failed.json).toMatchObject({ code: 'SOURCE_MISSING', source: missing });
  });

  test('shapeJson only reorders and adds: every field and value is kept', () => {
    const json = { source: '/s', startedAt: '2026-11-26T01:00:00.000Z', nested: { a: 1 }, summary: 'x', error: 'e' };
    const shaped = shapeJson(json, 'UTC');
    expect(Object.keys(shaped)).toEqual(['summary', 'error', 'source', 'startedAt', 'startedAtLocal', 'nested', 'timeZone']);
    expect(shaped).toMatchObject(json);
  });
});

describe('times: local beside UTC, ids stay UTC', () => {
  test('a backup item in the workflow time zone (Asia/Tokyo, UTC+9)', async () => {
    const src = await temp.make();
    await writeTree(src, { 'a.txt': 'alpha' });
    const [item] = await runNode({ timeZone: 'Asia/Tokyo', params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: await temp.make() } });
    const started = new Date(String(item.json.startedAt));
    const tokyo = new Date(started.getTime() + 9 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
    expect(item.json).toMatchObject({ startedAtLocal: `${tokyo} Asia/Tokyo`, timeZone: 'Asia/Tokyo' });
    expect(item.json.finishedAtLocal).toBe(localDateTime(String(item.json.finishedAt), 'Asia/Tokyo'));
    expect(String(item.json.backupId)).toMatch(/^\d{8}T\d{9}Z-full$/);
    expect(String(item.json.backupId).slice(0, 8)).toBe(String(item.json.startedAt).slice(0, 10).replace(/-/g, ''));
    expect(String(item.json.summary)).toContain(` at ${String(item.json.finishedAtLocal)} (`);
    // The two byte counts say what they are where the user reads them.
    expect(String(item.json.summary)).toMatch(/ of file content stored in .* written with its manifest/);
    // Key order: the local twin right after its UTC field.
    const keys = Object.keys(item.json);
    expect(keys.indexOf('startedAtLocal')).toBe(keys.indexOf('startedAt') + 1);
  });

  test('without a time zone from n8n the process zone is used; an unknown zone falls back to UTC', async () => {
    expect(localDateTime('2026-11-26T01:02:03.000Z', 'UTC')).toBe('2026-11-26 01:02:03 UTC');
    expect(localDateTime('2026-11-26T01:02:03.000Z', 'Not/AZone')).toBe('2026-11-26 01:02:03 UTC');
    const { dest, set } = await backedUp(1);
    const [item] = await runNode({ params: { resource: 'backupSet', operation: 'verify', destinationPath: dest, setName: set } });
    expect(item.json).toMatchObject({ timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone });
    expect(String(item.json.summary)).toContain(`Finished ${String(item.json.finishedAtLocal)}.`);
  });
});

test('a skip says what happened: "skipped: no changes since <id> (<UTC time>)"', async () => {
  const src = await temp.make();
  await writeTree(src, { 'a.txt': 'alpha' });
  const params = { resource: 'backup', operation: 'auto', sourcePaths: src, destinationPath: await temp.make() };
  const [first] = await runNode({ params });
  const [skip] = await runNode({ params });
  const id = String(first.json.backupId);
  const at = `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)} ${id.slice(9, 11)}:${id.slice(11, 13)} UTC`;
  expect(skip.json).toMatchObject({ skipped: true, type: null, decision: `skipped: no changes since ${id} (${at})` });
});

describe('AI agents: destructive operations need the author to allow them', () => {
  test('Prune through the tool variant: refused (TOOL_NOT_ALLOWED, nothing removed); dry run allowed; allowed when turned on', async () => {
    const { dest, set, ids } = await backedUp(3);
    const params = { resource: 'backupSet', operation: 'prune', destinationPath: dest, setName: set, keepFull: 1 };
    const error = await nodeError({ nodeType: TOOL, params });
    expect(error.message).toBe('An AI agent may not prune (delete) backups through this node');
    expect(error.description).toContain('Let the AI Agent Change Files');
    expect(error.description).toContain('[TOOL_NOT_ALLOWED]');
    expect(await backupIds(path.join(dest, set))).toEqual(ids);

    const [dry] = await runNode({ nodeType: TOOL, params: { ...params, dryRun: true } });
    expect(dry.json).toMatchObject({ dryRun: true, removed: [ids[1], ids[0]] });
    expect(await backupIds(path.join(dest, set))).toEqual(ids);

    await runNode({ nodeType: TOOL, params: { ...params, allowDestructiveToolUse: true } });
    expect(await backupIds(path.join(dest, set))).toEqual([ids[2]]);
  });

  test('Restore with Overwrite through the tool variant: refused, the target untouched; Fail and Skip allowed; the regular node is not gated', async () => {
    const { dest, set } = await backedUp(1);
    const target = await temp.make();
    await fsp.writeFile(path.join(target, 'a.txt'), 'mine');
    const params = { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: set, targetPath: target, overwrite: 'overwrite' };
    const error = await nodeError({ nodeType: TOOL, params });
    expect(error.description).toContain('[TOOL_NOT_ALLOWED]');
    expect(await fsp.readFile(path.join(target, 'a.txt'), 'utf8')).toBe('mine');

    const [skipped] = await runNode({ nodeType: TOOL, params: { ...params, overwrite: 'skip' } });
    expect(skipped.json.files).toMatchObject({ restored: 2 });
    expect(await fsp.readFile(path.join(target, 'a.txt'), 'utf8')).toBe('mine');

    await runNode({ params });
    expect(await fsp.readFile(path.join(target, 'a.txt'), 'utf8')).toBe('alpha');
  });

  test('the switch is shown only in the tool variant (@tool), for Restore and Prune, off by default', () => {
    const p = new Backup().description.properties.find((x) => x.name === 'allowDestructiveToolUse');
    expect(p).toMatchObject({ type: 'boolean', default: false, displayOptions: { show: { '@tool': [true], resource: ['backupSet'], operation: ['restore', 'prune'] } } });
  });
});

describe('ACCESS_DENIED names the folders this n8n allows', () => {
  const denied = '/srv/elsewhere/data';
  test('N8N_RESTRICT_FILE_ACCESS_TO set: its folders (~ expanded), and the variable to change', () => {
    const env = { N8N_RESTRICT_FILE_ACCESS_TO: ' /srv/a ; ~/files ;' };
    expect(allowedFolders(env, 2).folders).toEqual(['/srv/a', path.join(os.homedir(), 'files')]);
    const hint = accessHint(denied, env, 2);
    expect(hint).toBe(
      `This n8n lets nodes use only /srv/a, ${path.join(os.homedir(), 'files')} (N8N_RESTRICT_FILE_ACCESS_TO). ` +
        'To use another folder, add it to N8N_RESTRICT_FILE_ACCESS_TO (separate folders with ;) where n8n runs (every worker in queue mode) and restart n8n.',
    );
  });

  test("unset: n8n 2.x's default under the OS home; n8n 1.x and an empty value restrict nothing", () => {
    expect(accessHint(denied, {}, 2)).toContain(`only ${path.join(os.homedir(), '.n8n-files')} (n8n's default, N8N_RESTRICT_FILE_ACCESS_TO is not set)`);
    expect(allowedFolders({}, 1).folders).toEqual([]);
    expect(allowedFolders({ N8N_RESTRICT_FILE_ACCESS_TO: '' }, 2).folders).toEqual([]);
  });

  test("a path inside an allowed folder is blocked for another reason: n8n's own files or a blocked pattern", () => {
    const hint = accessHint('/srv/a/repo/.git', { N8N_RESTRICT_FILE_ACCESS_TO: '/srv/a' }, 2);
    expect(hint).toContain("one of n8n's own files");
    expect(hint).toContain('N8N_BLOCK_FILE_PATTERNS');
  });
});

describe('labels, hints and links', () => {
  const properties = new Backup().description.properties;
  const find = (name: string, resource: string): INodeProperties | undefined =>
    properties.find((p) => p.name === name && (p.displayOptions?.show?.resource as string[] | undefined)?.includes(resource));
  const option = (name: string): INodeProperties | undefined =>
    (find('options', 'backup')?.options as INodeProperties[]).find((o) => o.name === name);

  test('labels a person reads right (names unchanged)', () => {
    expect(find('destinationPath', 'backup')?.displayName).toBe('Backup Folder');
    expect(find('destinationPath', 'backupSet')?.displayName).toBe('Backup Folder');
    expect(find('setName', 'backupSet')?.displayName).toBe('Backup Set');
    expect(find('targetPath', 'backupSet')?.displayName).toBe('Restore Into');
    expect(find('overwrite', 'backupSet')?.displayName).toBe('If Restore Into Is Not Empty');
    expect(option('setName')?.displayName).toBe('Backup Set Name');
  });

  test('inline hints where a wrong value is likely', () => {
    for (const p of [find('sourcePaths', 'backup'), find('destinationPath', 'backup'), find('destinationPath', 'backupSet'), find('targetPath', 'backupSet'), option('fullEveryDays'), option('keepFull'), option('keepDifferential'), option('keepIncremental'), find('keepFull', 'backupSet')]) {
      expect({ name: p?.name, hint: (p?.hint ?? '').length > 10 }).toEqual({ name: p?.name, hint: true });
    }
  });

  test('the notice is short (two lines at most)', () => {
    expect(fileAccessNotice.displayName.length).toBeLessThan(200);
    expect(fileAccessNotice.displayName).toContain('N8N_RESTRICT_FILE_ACCESS_TO');
  });

  test('no invented links or addresses: the npm page, an author without a made-up email', () => {
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { homepage?: string; author?: { email?: string } };
    expect(pkg.homepage).toBe('https://www.npmjs.com/package/n8n-nodes-backup');
    expect(pkg.author?.email).toBeUndefined();
    expect(new BackupEncryptionApi().documentationUrl).toBe('https://www.npmjs.com/package/n8n-nodes-backup');
    const codex = readFileSync(path.join(__dirname, '../../nodes/Backup/Backup.node.json'), 'utf8');
    expect(codex).not.toMatch(/\.invalid|github\.com\/n8n-nodes-backup/);
  });
});
