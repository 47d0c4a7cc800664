/**
 * Encrypt (Backup) and Decrypt (Restore, Verify): the passphrase is read from the Backup Encryption
 * credential only when the switch is on, and handed to the engine; the engine's encryption errors
 * become clear node errors and error items. The engine is wrapped (not replaced) so that the
 * options it receives can be checked and, per test, an engine error simulated: the encryption
 * itself is the engine's (test/engine).
 */
import type { ICredentialTestFunctions } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupOptions, RestoreOptions, VerifyOptions } from '../../nodes/Backup/engine';
import { backupEncryptionTest } from '../../nodes/Backup/actions/helpers/encryption';
import { BackupEncryptionApi as BackupEncryption } from '../../credentials/BackupEncryptionApi.credentials';
import { Backup } from '../../nodes/Backup/Backup.node';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { mockContext, nodeError, runNode } from './harness';

type Engine = typeof import('../../nodes/Backup/engine');

interface Calls {
  runBackup: BackupOptions[];
  restoreBackup: RestoreOptions[];
  verifyBackups: VerifyOptions[];
}

const calls: Calls = { runBackup: [], restoreBackup: [], verifyBackups: [] };
/** Set by a test: the engine call throws this error (or what the function returns for these options) instead of running. */
let engineFailure: Error | ((options: { sources?: string[] }) => Error | undefined) | undefined;

jest.mock('../../nodes/Backup/engine', () => {
  const actual = jest.requireActual<Engine>('../../nodes/Backup/engine');
  const wrap =
    <K extends keyof Calls>(name: K, real: (options: never) => Promise<unknown>) =>
    async (options: Calls[K][number]): Promise<unknown> => {
      (calls[name] as Calls[K][number][]).push(options);
      const failure = typeof engineFailure === 'function' ? engineFailure(options as { sources?: string[] }) : engineFailure;
      if (failure !== undefined) throw failure;
      return real(options as never);
    };
  return {
    ...actual,
    runBackup: wrap('runBackup', actual.runBackup as never),
    restoreBackup: wrap('restoreBackup', actual.restoreBackup as never),
    verifyBackups: wrap('verifyBackups', actual.verifyBackups as never),
  };
});

// After the mock: the same (wrapped) module the node's actions use.
const { BackupError } = jest.requireMock<Engine>('../../nodes/Backup/engine');

const temp = tempDirs('n8n-backup-node-enc-');
afterAll(temp.cleanup);
beforeEach(() => {
  calls.runBackup = [];
  calls.restoreBackup = [];
  calls.verifyBackups = [];
  engineFailure = undefined;
});

const SECRET = 'correct horse battery staple';
const credentials = { backupEncryption: { passphrase: SECRET } };

async function source(): Promise<{ src: string; dest: string }> {
  const src = await temp.make();
  await writeTree(src, { 'a.txt': 'alpha', 'docs/b.txt': 'beta' });
  return { src, dest: path.join(await temp.make(), 'backups') };
}

describe('the switch and the credential', () => {
  test('Encrypt off (default): no credential is read, no passphrase reaches the engine', async () => {
    const { src, dest } = await source();
    const run = mockContext({ credentials, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest } });
    const [out] = await new Backup().execute.call(run.ctx);
    expect(out[0].json).toMatchObject({ type: 'full' });
    expect(run.credentialCalls).toEqual([]);
    expect(calls.runBackup[0].passphrase).toBeUndefined();
    expect(calls.runBackup[0].format).toBeUndefined();
  });

  test('Encrypt on: the passphrase of the chosen credential reaches the engine for every item, and Tar.gz becomes the default format', async () => {
    const { src, dest } = await source();
    const run = mockContext({ items: 2, credentials, params: (i) => ({ resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, encrypt: true, options: { setName: `s${i}` } }) });
    await new Backup().execute.call(run.ctx);
    expect(run.credentialCalls).toEqual([
      ['backupEncryption', 0],
      ['backupEncryption', 1],
    ]);
    expect(calls.runBackup.map((o) => [o.passphrase, o.format])).toEqual([
      [SECRET, 'tar.gz'],
      [SECRET, 'tar.gz'],
    ]);
  });

  test('Encrypt on with Format = Folder: the engine refuses it (ENCRYPTION_NEEDS_TARGZ) with what to change in the node', async () => {
    const { src, dest } = await source();
    const params = { resource: 'backup', operation: 'auto', sourcePaths: src, destinationPath: dest, encrypt: true, options: { format: 'folder' } };
    const error = await nodeError({ credentials, params });
    expect(error).toBeInstanceOf(NodeOperationError);
    expect(error.message).toMatch(/tar\.gz/);
    expect(error.description).toContain('Options > Format to Tar.gz');
    expect(error.description).toContain('[ENCRYPTION_NEEDS_TARGZ]');
    await expect(fsp.access(dest)).rejects.toThrow();

    const [item] = await runNode({ credentials, continueOnFail: true, params });
    expect(item).toEqual({
      json: { source: src, error: expect.any(String), code: 'ENCRYPTION_NEEDS_TARGZ', hint: expect.stringContaining('Tar.gz') },
      pairedItem: { item: 0 },
    });
  });

  test.each([
    ['restore', 'restoreBackup'],
    ['verify', 'verifyBackups'],
  ] as const)('%s: Decrypt hands the passphrase to the engine; off, none', async (operation, engineCall) => {
    const { src, dest } = await source();
    const [made] = await runNode({ params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest } });
    const params = { resource: 'backupSet', operation, destinationPath: dest, setName: made.json.set, targetPath: path.join(await temp.make(), 't') };
    engineFailure = new Error('stop here');
    await runNode({ credentials, continueOnFail: true, params: { ...params, encrypt: true } });
    await runNode({ credentials, continueOnFail: true, params });
    expect(calls[engineCall].map((o) => o.passphrase)).toEqual([SECRET, undefined]);
  });

  test('List and Prune never ask for the credential (an encrypted set needs no passphrase for them)', async () => {
    const { src, dest } = await source();
    const [made] = await runNode({ params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest } });
    for (const operation of ['list', 'prune']) {
      const run = mockContext({ credentials, params: { resource: 'backupSet', operation, destinationPath: dest, setName: made.json.set, encrypt: true } });
      await new Backup().execute.call(run.ctx);
      expect(run.credentialCalls).toEqual([]);
    }
  });

  test('Encrypt on but no credential chosen: CREDENTIAL_MISSING before anything is written', async () => {
    const { src, dest } = await source();
    const params = { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, encrypt: true };
    const error = await nodeError({ params });
    expect(error.message).toMatch(/^Encryption is on, but no Backup Encryption credential could be read/);
    expect(error.description).toContain('[CREDENTIAL_MISSING]');
    expect(calls.runBackup).toEqual([]);
    await expect(fsp.access(dest)).rejects.toThrow();
    const [item] = await runNode({ continueOnFail: true, params });
    expect(item.json).toMatchObject({ source: src, code: 'CREDENTIAL_MISSING', hint: expect.stringContaining('Backup Encryption credential') });
  });

  test.each([
    ['empty', { passphrase: '' }],
    ['missing', {}],
  ])('a credential with a %s passphrase is refused (an empty one would silently mean "not encrypted")', async (_name, data) => {
    const { src, dest } = await source();
    const error = await nodeError({ credentials: { backupEncryption: data }, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, encrypt: true } });
    expect(error.description).toContain('[PASSPHRASE_EMPTY]');
    expect(calls.runBackup).toEqual([]);
  });

  test('a passphrase with spaces around it is passed as it is (not trimmed)', async () => {
    const { src, dest } = await source();
    engineFailure = new Error('stop here');
    await runNode({ credentials: { backupEncryption: { passphrase: '  spaced  ' } }, continueOnFail: true, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, encrypt: true } });
    expect(calls.runBackup[0].passphrase).toBe('  spaced  ');
  });
});

describe("the engine's encryption errors", () => {
  const cases = [
    ['PASSPHRASE_REQUIRED', 'The set documents is encrypted: a passphrase is needed', /Turn on Encrypt .* or Decrypt/],
    ['WRONG_PASSPHRASE', 'The passphrase does not open the set documents', /not the one this set was encrypted with/],
    ['ENCRYPTION_MISMATCH', 'The set documents holds unencrypted backups', /Turn off Encrypt \/ Decrypt/],
  ] as const;

  test.each(cases)('%s on restore: node error with a hint for the editor; error item with the same shape as other failures', async (code, message, hint) => {
    const { dest } = await source();
    const target = path.join(await temp.make(), 't');
    const params = { resource: 'backupSet', operation: 'restore', destinationPath: dest, setName: 'documents', targetPath: target, encrypt: code !== 'PASSPHRASE_REQUIRED' };
    engineFailure = new BackupError(code, message, { hint: 'use --passphrase-file (CLI hint)' });
    const error = await nodeError({ credentials, params });
    expect(error).toBeInstanceOf(NodeOperationError);
    expect(error.message).toBe(message);
    expect(error.description).toMatch(hint);
    expect(error.description).toContain(`[${code}]`);
    expect(error.description).not.toContain('--passphrase-file');
    expect(error.context.itemIndex).toBe(0);

    const [item] = await runNode({ credentials, continueOnFail: true, params });
    expect(item).toEqual({ json: { set: 'documents', target, error: message, code, hint: expect.stringMatching(hint) }, pairedItem: { item: 0 } });
  });

  test.each(cases)('%s on a backup: an error item per source, the next source still runs', async (code, message) => {
    const { src, dest } = await source();
    const other = await temp.make();
    await writeTree(other, { 'x.txt': 'x' });
    // The first source fails, the second runs.
    engineFailure = (options) => (options.sources?.[0] === src ? new BackupError(code, message) : undefined);
    const out = await runNode({ credentials, continueOnFail: true, params: { resource: 'backup', operation: 'full', sourcePaths: `${src}\n${other}`, destinationPath: dest, encrypt: true } });
    expect(out[0]).toEqual({ json: { source: src, error: message, code, hint: expect.any(String) }, pairedItem: { item: 0 } });
    expect(out[1].json).toMatchObject({ source: other, type: 'full' });
  });

  test('the passphrase never appears in an output item or an error', async () => {
    const { src, dest } = await source();
    engineFailure = new BackupError('WRONG_PASSPHRASE', 'The passphrase does not open the set');
    const out = await runNode({ credentials, continueOnFail: true, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, encrypt: true } });
    expect(JSON.stringify(out)).not.toContain(SECRET);
    const error = await nodeError({ credentials, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, encrypt: true } });
    expect(`${error.message} ${String(error.description)}`).not.toContain(SECRET);
  });
});

describe('the Backup Encryption credential', () => {
  test('shape: name, one password field that is required, a description that warns about losing it', () => {
    const credential = new BackupEncryption();
    expect(credential.name).toBe('backupEncryption');
    expect(credential.displayName).toBe('Backup Encryption');
    expect(credential.properties).toHaveLength(1);
    const [passphrase] = credential.properties;
    expect(passphrase).toMatchObject({ name: 'passphrase', type: 'string', typeOptions: { password: true }, required: true, default: '' });
    expect(passphrase.description).toMatch(/losing the passphrase loses the backups/i);
  });

  test('the node asks for it only when Encrypt / Decrypt is on, and tests it with its own credential test', async () => {
    const { credentials: declared, properties } = new Backup().description;
    expect(declared?.[0]).toEqual({ name: 'backupEncryption', required: true, displayOptions: { show: { encrypt: [true] } }, testedBy: 'backupEncryptionTest' });
    expect(new Backup().methods.credentialTest.backupEncryptionTest).toBe(backupEncryptionTest);
    const switches = properties.filter((p) => p.name === 'encrypt');
    expect(switches.map((p) => [p.displayName, p.type, p.default, p.displayOptions?.show])).toEqual([
      ['Encrypt', 'boolean', false, { resource: ['backup'] }],
      ['Decrypt', 'boolean', false, { resource: ['backupSet'], operation: ['restore', 'verify', 'listFiles', 'diff', 'find', 'status'] }],
    ]);
    const test = (data: Record<string, unknown>) => backupEncryptionTest.call({} as ICredentialTestFunctions, { id: '1', name: 'c', type: 'backupEncryption', data: data as never });
    await expect(test({ passphrase: SECRET })).resolves.toMatchObject({ status: 'OK' });
    await expect(test({ passphrase: '' })).resolves.toMatchObject({ status: 'Error' });
    await expect(test({})).resolves.toMatchObject({ status: 'Error' });
  });
});
