import type { INodeProperties, INodePropertyOptions } from 'n8n-workflow';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { operations } from '../../nodes/Backup/actions/router';
import { Backup } from '../../nodes/Backup/Backup.node';
import { nodeError, parameterValue } from './harness';

const description = new Backup().description;
const properties = description.properties;
const nodeDir = path.join(__dirname, '../../nodes/Backup');

/** Every property, collection options included, with the path a person would see. */
function allProperties(list: readonly INodeProperties[], prefix = ''): { at: string; p: INodeProperties }[] {
  return list.flatMap((p) => {
    const nested = (p.options ?? []).filter((o): o is INodeProperties => 'displayName' in o && 'type' in o);
    return [{ at: `${prefix}${p.name}`, p }, ...allProperties(nested, `${prefix}${p.name}.`)];
  });
}

function visibleNames(resource: string, operation: string): string[] {
  const params = { resource, operation };
  const value = (n: string): unknown => parameterValue(params, n);
  return properties
    .filter((p) => {
      for (const [k, allowed] of Object.entries(p.displayOptions?.show ?? {})) if (!(allowed ?? []).includes(value(k) as never)) return false;
      return true;
    })
    .map((p) => p.name);
}

function operationOptions(resource: string): INodePropertyOptions[] {
  const op = properties.find((p) => p.name === 'operation' && p.displayOptions?.show?.resource?.includes(resource));
  return (op?.options ?? []) as INodePropertyOptions[];
}

describe('node description', () => {
  test('identity, icons, tool use, connections', () => {
    expect(description).toMatchObject({ displayName: 'Backup', name: 'backup', version: 1, usableAsTool: true, inputs: ['main'], outputs: ['main'] });
    expect(description.icon).toEqual({ light: 'file:backup.svg', dark: 'file:backup.dark.svg' });
    for (const icon of ['backup.svg', 'backup.dark.svg']) expect(existsSync(path.join(nodeDir, icon))).toBe(true);
    expect(description.subtitle).toContain('$parameter["operation"]');
  });

  test('every property has a display name and a description a newcomer can use (notices aside)', () => {
    for (const { at, p } of allProperties(properties)) {
      expect({ at, displayName: p.displayName.length > 0 }).toEqual({ at, displayName: true });
      if (p.type === 'notice') continue;
      expect({ at, description: (p.description ?? '').length >= 30 }).toEqual({ at, description: true });
      for (const o of (p.type === 'options' ? p.options ?? [] : []) as INodePropertyOptions[]) {
        expect({ at, option: o.value, described: (o.description ?? '').length > 0 }).toEqual({ at, option: o.value, described: true });
      }
    }
  });

  test('parameter names are the contract (saved in workflows)', () => {
    const top = [...new Set(properties.map((p) => p.name))].sort();
    expect(top).toEqual(
      ['fileAccessNotice', 'resource', 'operation', 'sourcePaths', 'destinationPath', 'encrypt', 'options', 'setName', 'backupId', 'targetPath', 'overwrite', 'fullVerify', 'keepFull', 'keepDifferential', 'keepIncremental', 'dryRun', 'allowDestructiveToolUse', 'calendarRetention', 'destinationType', 's3CredentialType', 's3Bucket', 's3Prefix', 'sftpPath', 'sftpHostKey', 'asOf', 'includePaths', 'excludePaths', 'fromBackupId', 'toBackupId', 'findPaths', 'includeMetadata', 'returnAll', 'limit', 'restoreTo', 'binaryPropertyName', 'binaryMaxMiB'].sort(),
    );
    for (const calendar of properties.filter((p) => p.name === 'calendarRetention')) {
      expect(((calendar.options ?? []) as INodeProperties[]).map((o) => o.name)).toEqual(['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly', 'keepWithin', 'timeZone']);
    }
    const backupOptions = properties.find((p) => p.name === 'options' && p.displayOptions?.show?.resource?.includes('backup'));
    expect(((backupOptions?.options ?? []) as INodeProperties[]).map((o) => o.name).sort()).toEqual(
      ['fullEveryDays', 'differentialEveryDays', 'keepFull', 'keepDifferential', 'keepIncremental', 'format', 'compressionLevel', 'exclude', 'skipUnchanged', 'skipEmptySource', 'setName', 'lockTimeout', 'failOnFileErrors', 'compareContent', 'allowN8nUserFolder', 'dryRun'].sort(),
    );
    expect(properties.find((p) => p.name === 'resource')?.options?.map((o) => (o as INodePropertyOptions).value)).toEqual(['backup', 'backupSet']);
    expect(operationOptions('backup').map((o) => o.value).sort()).toEqual(['auto', 'differential', 'full', 'incremental']);
    expect(operationOptions('backupSet').map((o) => o.value).sort()).toEqual(['diff', 'find', 'list', 'listFiles', 'prune', 'restore', 'status', 'verify']);
    expect((properties.find((p) => p.name === 'overwrite')?.options as INodePropertyOptions[]).map((o) => o.value)).toEqual(['fail', 'overwrite', 'skip']);
  });

  test('every operation has an action in the router, and the router nothing else', () => {
    const offered = ['backup', 'backupSet'].flatMap((r) => operationOptions(r).map((o) => `${r}.${String(o.value)}`));
    expect(offered.sort()).toEqual(Object.keys(operations).sort());
    for (const r of ['backup', 'backupSet']) for (const o of operationOptions(r)) expect(o.action).toBeTruthy();
  });

  test('defaults', () => {
    const defaults = (resource: string, operation: string): Record<string, unknown> =>
      Object.fromEntries(visibleNames(resource, operation).map((n) => [n, parameterValue({ resource, operation }, n)]));
    expect(parameterValue({}, 'resource')).toBe('backup');
    expect(parameterValue({}, 'operation')).toBe('auto');
    expect(parameterValue({ resource: 'backupSet' }, 'operation')).toBe('list');
    expect(defaults('backup', 'auto')).toMatchObject({ encrypt: false });
    expect(defaults('backupSet', 'restore')).toMatchObject({ backupId: 'latest', overwrite: 'fail', setName: '', targetPath: '', encrypt: false });
    expect(defaults('backupSet', 'verify')).toMatchObject({ backupId: 'all', fullVerify: false, encrypt: false });
    expect(defaults('backupSet', 'prune')).toMatchObject({ keepFull: 0, keepDifferential: 0, keepIncremental: 0, dryRun: false, options: {}, calendarRetention: {} });
    expect(defaults('backup', 'full')).toMatchObject({ calendarRetention: {} });
    // Calendar rules are off by default: every count 0, no duration, UTC.
    for (const calendar of properties.filter((p) => p.name === 'calendarRetention')) {
      expect(Object.fromEntries(((calendar.options ?? []) as INodeProperties[]).map((o) => [o.name, o.default]))).toEqual({
        keepLast: 0, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0, keepWithin: '', timeZone: '',
      });
      expect(calendar.hint).toMatch(/reference of/);
    }
    const backupOptions = properties.find((p) => p.name === 'options' && p.displayOptions?.show?.resource?.includes('backup'));
    const optionDefaults = Object.fromEntries(((backupOptions?.options ?? []) as INodeProperties[]).map((o) => [o.name, o.default]));
    expect(optionDefaults).toEqual({
      allowN8nUserFolder: false, compareContent: false, compressionLevel: 6, differentialEveryDays: 0, dryRun: false, exclude: '', failOnFileErrors: false, format: 'folder', fullEveryDays: 7,
      keepDifferential: 0, keepFull: 0, keepIncremental: 0, lockTimeout: 60, setName: '', skipEmptySource: true, skipUnchanged: true,
    });
  });

  test('only what applies is shown', () => {
    const common = ['fileAccessNotice', 'resource', 'operation'];
    for (const op of ['auto', 'full', 'differential', 'incremental']) expect(visibleNames('backup', op).sort()).toEqual([...common, 'sourcePaths', 'destinationType', 'destinationPath', 'encrypt', 'options', 'calendarRetention'].sort());
    expect(visibleNames('backupSet', 'list').sort()).toEqual([...common, 'destinationType', 'destinationPath', 'setName'].sort());
    expect(visibleNames('backupSet', 'restore').sort()).toEqual([...common, 'destinationType', 'destinationPath', 'setName', 'backupId', 'restoreTo', 'targetPath', 'overwrite', 'asOf', 'includePaths', 'excludePaths', 'encrypt'].sort());
    expect(visibleNames('backupSet', 'listFiles').sort()).toEqual([...common, 'destinationType', 'destinationPath', 'setName', 'backupId', 'asOf', 'includePaths', 'excludePaths', 'returnAll', 'limit', 'encrypt'].sort());
    expect(visibleNames('backupSet', 'diff').sort()).toEqual([...common, 'destinationType', 'destinationPath', 'setName', 'fromBackupId', 'toBackupId', 'includePaths', 'excludePaths', 'includeMetadata', 'returnAll', 'limit', 'encrypt'].sort());
    expect(visibleNames('backupSet', 'find').sort()).toEqual([...common, 'destinationType', 'destinationPath', 'setName', 'findPaths', 'includeMetadata', 'returnAll', 'limit', 'encrypt'].sort());
    expect(visibleNames('backupSet', 'verify').sort()).toEqual([...common, 'destinationType', 'destinationPath', 'setName', 'backupId', 'fullVerify', 'encrypt'].sort());
    expect(visibleNames('backupSet', 'prune').sort()).toEqual([...common, 'destinationType', 'destinationPath', 'setName', 'keepFull', 'keepDifferential', 'keepIncremental', 'calendarRetention', 'dryRun', 'options'].sort());
    const backupOptions = properties.find((p) => p.name === 'options' && p.displayOptions?.show?.resource?.includes('backup'));
    const autoOnly = ((backupOptions?.options ?? []) as INodeProperties[]).filter((o) => o.displayOptions?.show?.['/operation']?.includes('auto'));
    expect(autoOnly.map((o) => o.name).sort()).toEqual(['differentialEveryDays', 'fullEveryDays']);
  });

  test('the notice explains n8n 2.x file access', () => {
    const notice = properties.find((p) => p.type === 'notice');
    expect(notice?.displayName).toContain('~/.n8n-files');
    expect(notice?.displayName).toContain('N8N_RESTRICT_FILE_ACCESS_TO');
  });

  test('codex: type, categories, documentation, aliases', () => {
    const codex = JSON.parse(readFileSync(path.join(nodeDir, 'Backup.node.json'), 'utf8')) as Record<string, unknown>;
    expect(codex).toMatchObject({
      node: 'n8n-nodes-backup.backup',
      categories: expect.arrayContaining(['Data & Storage']),
      resources: { primaryDocumentation: [{ url: 'https://www.npmjs.com/package/n8n-nodes-backup' }] },
      alias: expect.arrayContaining(['backup', 'restore', 'snapshot', 'archive']),
    });
  });

  test('an operation the router does not know fails clearly', async () => {
    const error = await nodeError({ params: { resource: 'backupSet', operation: 'explode' } });
    expect(error.message).toContain('"explode"');
  });
});
