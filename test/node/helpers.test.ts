import type { IExecuteFunctions } from 'n8n-workflow';
import { ExpressionError } from 'n8n-workflow';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Progress } from '../../nodes/Backup/engine';
import { BackupError } from '../../nodes/Backup/engine';
import { failureItem, OperationFailure, toFailure, toNodeError } from '../../nodes/Backup/actions/helpers/errors';
import { progressReporter } from '../../nodes/Backup/actions/helpers/execution';
import { labelOf, parseBackupOptions, parseLines, parsePathList, toAbsolutePath, toEngineBackupOptions } from '../../nodes/Backup/actions/helpers/parameters';
import { mockContext } from './harness';

describe('parameters', () => {
  test('source folders: lines or commas, trimmed, absolute, ~ expanded', () => {
    expect(parsePathList(' /a \n/b, /c ,,\n', 'sourcePaths')).toEqual(['/a', '/b', '/c']);
    expect(parsePathList('~/docs', 'sourcePaths')).toEqual([path.join(os.homedir(), 'docs')]);
    expect(parsePathList(['/x,y', ' /z '], 'sourcePaths')).toEqual(['/x,y', '/z']);
    expect(parsePathList('rel/dir', 'sourcePaths')).toEqual([path.resolve('rel/dir')]);
    expect(() => parsePathList('', 'sourcePaths')).toThrow('"Source Folders" is empty');
    expect(() => parsePathList([1], 'sourcePaths')).toThrow('must list folder paths');
    expect(() => parsePathList({}, 'sourcePaths')).toThrow('must be text');
    expect(toAbsolutePath('~')).toBe(os.homedir());
  });

  test('exclude globs are lines; commas stay (brace globs)', () => {
    expect(parseLines('*.tmp\n  {a,b}/**  \n\n')).toEqual(['*.tmp', '{a,b}/**']);
  });

  test('options are checked and mapped to the engine once', () => {
    const o = parseBackupOptions({ fullEveryDays: '14', keepFull: 4, format: 'tar.gz', exclude: 'a\nb', skipUnchanged: 'false', setName: '  docs ', lockTimeout: 5, failOnFileErrors: true });
    expect(o).toEqual({ fullEveryDays: 14, keepFull: 4, format: 'tar.gz', exclude: ['a', 'b'], skipUnchanged: false, setName: 'docs', lockTimeout: 5, failOnFileErrors: true });
    expect(toEngineBackupOptions('auto', '/s', '/d', o)).toMatchObject({ sources: ['/s'], destination: '/d', type: 'auto', fullEveryDays: 14, keepFull: 4, format: 'tar.gz', exclude: ['a', 'b'], skipUnchanged: false, setName: 'docs', lockTimeoutSeconds: 5 });
    expect(parseBackupOptions({ setName: '   ' }).setName).toBeUndefined();
    expect(parseBackupOptions({})).toEqual({ exclude: [], failOnFileErrors: false });
    expect(() => parseBackupOptions({ format: 'zip' })).toThrow('"Format" must be folder or tar.gz');
    expect(() => parseBackupOptions({ keepFull: 1.5 })).toThrow('"Keep Full Backups" must be a whole number');
    expect(() => parseBackupOptions({ skipEmptySource: 'yes' })).toThrow('"Skip Empty Source" must be true or false');
  });

  test('labels come from the description', () => {
    expect(labelOf('destinationPath')).toBe('Backup Folder');
    expect(labelOf('lockTimeout')).toBe('Lock Timeout (Seconds)');
    expect(labelOf('unknown')).toBe('unknown');
  });
});

describe('errors', () => {
  const node = { id: '1', name: 'Backup', type: 'n8n-nodes-backup.backup', typeVersion: 1, position: [0, 0] as [number, number], parameters: {} };

  test('engine errors keep code and message; CLI-flavoured hints are replaced by node ones', () => {
    const f = toFailure(new BackupError('TARGET_NOT_EMPTY', 'The restore target /t is not empty.', { hint: 'use --overwrite' }));
    expect(f).toMatchObject({ code: 'TARGET_NOT_EMPTY', message: 'The restore target /t is not empty.' });
    expect(f.hint).not.toContain('--');
    expect(toFailure(new BackupError('NO_SPACE', 'full')).hint).toContain('Free space');
    expect(toFailure(new Error('boom'))).toMatchObject({ code: 'IO_ERROR', message: 'boom' });
    expect(toFailure('weird')).toMatchObject({ code: 'IO_ERROR', message: 'weird' });
  });

  test('n8n errors (an expression that failed) pass through', () => {
    const expression = new ExpressionError('invalid syntax', { description: 'fix the expression' });
    expect(toFailure(expression)).toMatchObject({ code: 'PARAMETER_ERROR', hint: 'fix the expression' });
    const nodeError = toNodeError(node, expression, 2);
    expect(nodeError.message).toBe('invalid syntax');
    expect(nodeError.context.itemIndex).toBe(2);
  });

  test('Continue On Fail: the error item; otherwise the NodeOperationError', () => {
    const failure = new OperationFailure('FILE_ERRORS', '1 file', 'fix it', { backupId: 'b' });
    const on = mockContext({ params: {}, continueOnFail: true }).ctx;
    expect(failureItem(on, failure, 3, { source: '/s' })).toEqual({ json: { backupId: 'b', source: '/s', error: '1 file', code: 'FILE_ERRORS', hint: 'fix it' }, pairedItem: { item: 3 } });
    // Continue (using error output): only error/message/details keys, or n8n keeps the item on the main output.
    const toErrorOutput = { ...on, getNode: () => ({ ...on.getNode(), onError: 'continueErrorOutput' as const }) } as IExecuteFunctions;
    expect(failureItem(toErrorOutput, failure, 3, { source: '/s' })).toEqual({
      json: { error: '1 file', details: { backupId: 'b', source: '/s', code: 'FILE_ERRORS', hint: 'fix it' } },
      pairedItem: { item: 3 },
    });
    const off = mockContext({ params: {} }).ctx;
    expect(() => failureItem(off, failure, 3)).toThrow('1 file');
    expect(() => failureItem(on, new BackupError('CANCELLED', 'stopped'), 0)).toThrow('stopped');
  });
});

describe('progress', () => {
  const p: Progress = { source: '/s', phase: 'backup', files: 1000, folders: 20, symlinks: 1, bytes: 2048 };

  test('to the editor at most one message per interval, and a failing UI never fails the run', () => {
    let now = 0;
    const sent: unknown[] = [];
    const ctx = { sendMessageToUI: (m: unknown) => sent.push(m) } as unknown as IExecuteFunctions;
    const report = progressReporter(ctx, 'Backup of', { uiMs: 2000, logMs: 15_000, now: () => now });
    report?.(p);
    now = 1999;
    report?.(p);
    now = 2000;
    report?.({ ...p, files: 2000, folders: 1, symlinks: 0 });
    expect(sent).toEqual(['Backup of /s: 1,000 files, 20 folders, 1 symlink, 2.00 KiB scanned so far', 'Backup of /s: 2,000 files, 1 folder, 0 symlinks, 2.00 KiB scanned so far']);
    const broken = { sendMessageToUI: () => { throw new Error('no UI'); }, logger: { info: () => { throw new Error('no log'); } } } as unknown as IExecuteFunctions;
    expect(() => progressReporter(broken, 'x')?.(p)).not.toThrow();
    expect(progressReporter({} as IExecuteFunctions, 'x')).toBeUndefined();
  });

  test("to n8n's log (every run, scheduled too): its own slower interval, with the node, the execution and the counts", () => {
    let now = 0;
    const { ctx, logs, messages } = mockContext({ params: {}, executionId: '42' });
    const report = progressReporter(ctx, 'Restore into', { uiMs: 2000, logMs: 15_000, now: () => now }) as (p: Progress) => void;
    const restore: Progress = { ...p, phase: 'restore', source: '/t' };
    for (now = 0; now <= 31_000; now += 1000) report({ ...restore, files: now / 1000 });
    // Lines at 0, 15 and 30 s; the editor got one every 2 s.
    expect(logs).toEqual([0, 15, 30].map((n) => ({
      level: 'info',
      message: `[Backup node "Backup", execution 42] Restore into /t: ${n} file${n === 1 ? '' : 's'}, 20 folders, 1 symlink, 2.00 KiB restored so far`,
      metadata: { phase: 'restore', source: '/t', files: n, folders: 20, symlinks: 1, bytes: 2048 },
    })));
    expect(messages).toHaveLength(16);
  });
});
