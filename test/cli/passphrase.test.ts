/**
 * The CLI's passphrase: from N8N_BACKUP_PASSPHRASE or --passphrase-file, never from an argument.
 * The built binary (npm run build first) shows the refusals and that the passphrase reaches the
 * engine (a passphrase with --format folder is refused by the engine: ENCRYPTION_NEEDS_TARGZ);
 * main() in-process, with the engine wrapped, shows what restore and verify hand to it.
 * Encrypting and decrypting are the engine's (test/engine).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackupOptions, RestoreOptions, VerifyOptions } from '../../nodes/Backup/engine';
import { main } from '../../cli/main';
import { resolvePassphrase } from '../../cli/passphrase';
import type { CliResult } from '../helpers/cli';
import { assertCliBuilt, CLI_BIN, compareSnapshots, expectExit, makeTempDir, removeTempDir, snapshotTree, writeFile } from '../helpers/cli';

type Engine = typeof import('../../nodes/Backup/engine');
const engineCalls: { backup: BackupOptions[]; restore: RestoreOptions[]; verify: VerifyOptions[] } = { backup: [], restore: [], verify: [] };

jest.mock('../../nodes/Backup/engine', () => {
  const actual = jest.requireActual<Engine>('../../nodes/Backup/engine');
  return {
    ...actual,
    runBackup: async (o: BackupOptions) => {
      engineCalls.backup.push(o);
      return actual.runBackup(o);
    },
    restoreBackup: async (o: RestoreOptions) => {
      engineCalls.restore.push(o);
      return actual.restoreBackup(o);
    },
    verifyBackups: async (o: VerifyOptions) => {
      engineCalls.verify.push(o);
      return actual.verifyBackups(o);
    },
  };
});

const SECRET = 'pass phrase 1';
let tmp: string;
let src: string;

beforeAll(() => {
  assertCliBuilt();
  tmp = makeTempDir('passphrase');
  src = path.join(tmp, 'src');
  writeFile(src, 'a.txt', 'a\n');
  writeFile(src, 'docs/b.txt', 'b\n');
});
afterAll(() => removeTempDir(tmp));

let n = 0;
const fresh = (label: string): string => path.join(tmp, `${label}-${++n}`);

/** The built CLI with exactly these extra environment variables (N8N_BACKUP_PASSPHRASE removed unless given). */
function cli(args: readonly string[], env: Record<string, string> = {}): CliResult {
  const base: NodeJS.ProcessEnv = { ...process.env, LANG: 'C.UTF-8', NO_COLOR: '1' };
  delete base.N8N_BACKUP_PASSPHRASE;
  const r = spawnSync(process.execPath, [CLI_BIN, ...args], { cwd: tmp, encoding: 'utf8', timeout: 60_000, env: { ...base, ...env } });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function secretFile(content: string, mode = 0o600): string {
  const file = fresh('secret');
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode);
  return file;
}

describe('never from the command line', () => {
  const target = (): string => fresh('target');
  const cases: [string, () => string[]][] = [
    ['backup --passphrase <x>', () => ['backup', src, '--dest', fresh('dest'), '--passphrase', SECRET]],
    ['backup --passphrase=<x>', () => ['backup', src, '--dest', fresh('dest'), `--passphrase=${SECRET}`]],
    ['restore --passphrase <x>', () => ['restore', '--dest', fresh('dest'), '--set', 's', '--target', target(), '--passphrase', SECRET]],
    ['verify --passphrase <x>', () => ['verify', '--dest', fresh('dest'), '--set', 's', '--passphrase', SECRET]],
    ['list --passphrase <x>', () => ['list', '--dest', fresh('dest'), '--passphrase', SECRET]],
    ['prune --passphrase <x> --json', () => ['prune', '--dest', fresh('dest'), '--set', 's', '--passphrase', SECRET, '--json']],
  ];

  test.each(cases)('%s: usage error pointing at the environment variable and the file, the value never echoed', (_name, args) => {
    const argv = args();
    const r = cli(argv);
    expectExit(r, 2);
    expect(r.stderr).toMatch(/^n8n-backup: a passphrase is never taken from the command line/);
    expect(r.stderr).toContain('N8N_BACKUP_PASSPHRASE');
    expect(r.stderr).toContain('--passphrase-file <file>');
    expect(r.stderr + r.stdout).not.toContain(SECRET);
    expect(r.stdout).toBe('');
    expect(fs.existsSync(argv[argv.indexOf('--dest') + 1])).toBe(false);
  });

  test('after "--" it is a source folder name, not a flag', () => {
    const r = cli(['backup', '--dest', fresh('dest'), '--', '--passphrase']);
    expect(r.stderr).not.toMatch(/never taken from the command line/);
  });

  test('the usage text names the environment variable and the file flag for backup, restore, verify, files, diff, find and status', () => {
    const r = cli(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('N8N_BACKUP_PASSPHRASE');
    // backup, restore, verify, files, diff, find, status: every command that reads or writes contents or manifests.
    expect(r.stdout.match(/\[--passphrase-file <file>\]/g)).toHaveLength(7);
    expect(r.stdout).not.toMatch(/--passphrase </);
  });
});

describe('from the environment or a file: it reaches the engine', () => {
  test('without a passphrase, a folder-format backup works (the control case)', () => {
    const dest = fresh('dest');
    expectExit(cli(['backup', src, '--dest', dest, '--format', 'folder']), 0);
  });

  test('N8N_BACKUP_PASSPHRASE with --format folder: the engine refuses it, nothing is written', () => {
    const dest = fresh('dest');
    const r = cli(['backup', src, '--dest', dest, '--format', 'folder', '--json'], { N8N_BACKUP_PASSPHRASE: SECRET });
    expectExit(r, 1);
    expect(r.stderr).toContain('[ENCRYPTION_NEEDS_TARGZ]');
    expect(JSON.parse(r.stdout)).toEqual([expect.objectContaining({ code: 'ENCRYPTION_NEEDS_TARGZ' })]);
    expect(r.stderr + r.stdout).not.toContain(SECRET);
    expect(fs.existsSync(dest)).toBe(false);
  });

  test('--passphrase-file with --format folder: the same', () => {
    const dest = fresh('dest');
    const r = cli(['backup', src, '--dest', dest, '--format', 'folder', '--passphrase-file', secretFile(`${SECRET}\n`)]);
    expectExit(r, 1);
    expect(r.stderr).toContain('[ENCRYPTION_NEEDS_TARGZ]');
    expect(r.stderr).not.toContain('warning');
    expect(fs.existsSync(dest)).toBe(false);
  });

  test('with a passphrase and no --format, the backup is tar.gz', async () => {
    engineCalls.backup = [];
    const io = { out: jest.fn(), err: jest.fn() };
    const code = await main(['backup', src, '--dest', fresh('dest'), '--json'], io, new AbortController().signal, '0', { N8N_BACKUP_PASSPHRASE: SECRET });
    expect(engineCalls.backup.map((o) => [o.passphrase, o.format])).toEqual([[SECRET, 'tar.gz']]);
    expect(code).toBe(0);
    expect(JSON.stringify([io.out.mock.calls, io.err.mock.calls])).not.toContain(SECRET);
  });

  test.each([
    ['restore', ['restore', '--set', 'nope', '--target', '@target']],
    ['verify', ['verify', '--set', 'nope']],
  ] as const)('%s hands the passphrase to the engine (environment, then file); list and prune do not need one', async (command, args) => {
    const dest = fresh('dest');
    fs.mkdirSync(dest);
    const argv = [...args.map((a) => (a === '@target' ? fresh('target') : a)), '--dest', dest];
    const io = { out: jest.fn(), err: jest.fn() };
    const signal = new AbortController().signal;
    engineCalls[command] = [];
    await main(argv, io, signal, '0', { N8N_BACKUP_PASSPHRASE: SECRET });
    await main([...argv, '--passphrase-file', secretFile('from file\n')], io, signal, '0', {});
    await main(argv, io, signal, '0', {});
    expect(engineCalls[command].map((o) => o.passphrase)).toEqual([SECRET, 'from file', undefined]);
    expect(await main(['list', '--dest', dest], io, signal, '0', { N8N_BACKUP_PASSPHRASE: SECRET })).toBe(0);
  });
});

describe('the passphrase file and the variable', () => {
  const io = (): { out: jest.Mock; err: jest.Mock } => ({ out: jest.fn(), err: jest.fn() });

  test.each([
    ['first line only, newline stripped', 'line one\nline two\n', 'line one'],
    ['a Windows line ending', 'crlf\r\n', 'crlf'],
    ['no newline at all', 'bare', 'bare'],
    ['spaces are part of it', '  spaced out  \n', '  spaced out  '],
  ])('%s', (_name, content, expected) => {
    expect(resolvePassphrase(secretFile(content), {}, io())).toBe(expected);
  });

  test('the variable is taken as it is; none given: no passphrase', () => {
    expect(resolvePassphrase(undefined, { N8N_BACKUP_PASSPHRASE: ' x ' }, io())).toBe(' x ');
    expect(resolvePassphrase(undefined, {}, io())).toBeUndefined();
  });

  test.each([
    ['an empty file', () => ['--passphrase-file', secretFile('')], {}, /first line of --passphrase-file .* is empty/],
    ['an empty first line', () => ['--passphrase-file', secretFile('\nsecond\n')], {}, /is empty/],
    ['a missing file', () => ['--passphrase-file', path.join(tmp, 'no-such-file')], {}, /cannot read --passphrase-file .*no-such-file: no such file/],
    ['a folder', () => ['--passphrase-file', tmp], {}, /cannot read --passphrase-file/],
    ['an empty variable', () => [], { N8N_BACKUP_PASSPHRASE: '' }, /N8N_BACKUP_PASSPHRASE is set but empty/],
    ['both the variable and a file', () => ['--passphrase-file', secretFile('a\n')], { N8N_BACKUP_PASSPHRASE: 'b' }, /either N8N_BACKUP_PASSPHRASE or --passphrase-file, not both/],
  ] as [string, () => string[], Record<string, string>, RegExp][])('%s is a usage error (exit 2), nothing written', (_name, extra, env, message) => {
    const dest = fresh('dest');
    const r = cli(['backup', src, '--dest', dest, '--format', 'tar.gz', ...extra()], env);
    expectExit(r, 2);
    expect(r.stderr.split('\n')[0]).toMatch(message);
    expect(fs.existsSync(dest)).toBe(false);
  });

  test.each(['list', 'prune'])('--passphrase-file does not apply to %s', (command) => {
    const r = cli([command, '--dest', fresh('dest'), '--set', 's', '--passphrase-file', secretFile('x\n')]);
    expectExit(r, 2);
    expect(r.stderr).toMatch(/--passphrase-file does not apply to/);
  });

  test('a file other users can read: a warning on stderr, and it is still used', () => {
    const dest = fresh('dest');
    const file = secretFile(`${SECRET}\n`, 0o644);
    const r = cli(['backup', src, '--dest', dest, '--format', 'folder', '--passphrase-file', file]);
    expect(r.stderr).toContain(`n8n-backup: warning: --passphrase-file ${file} can be read by other users (mode 0644); consider chmod 600`);
    expect(r.stderr).toContain('[ENCRYPTION_NEEDS_TARGZ]');
    expect(r.stderr).not.toContain(SECRET);
  });
});

describe('restore by hand with the CLI (README "Encryption")', () => {
  test('backup with N8N_BACKUP_PASSPHRASE; list without it; restore with --passphrase-file; verify --full; without or with a wrong passphrase: one line naming the code, nothing written', () => {
    const dest = fresh('dest');
    const made = cli(['backup', src, '--dest', dest, '--set', 'enc', '--json'], { N8N_BACKUP_PASSPHRASE: SECRET });
    expectExit(made, 0);
    const listed = cli(['list', '--dest', dest, '--set', 'enc', '--json']);
    expectExit(listed, 0);
    expect((JSON.parse(listed.stdout) as { encrypted?: boolean; storage: string }[]).map((b) => [b.storage, b.encrypted])).toEqual([['tar.gz', true]]);

    const target = fresh('restored');
    expectExit(cli(['restore', '--dest', dest, '--set', 'enc', '--target', target, '--passphrase-file', secretFile(`${SECRET}\n`)]), 0);
    expect(compareSnapshots(snapshotTree(src), snapshotTree(target))).toEqual([]);
    expectExit(cli(['verify', '--dest', dest, '--set', 'enc', '--full'], { N8N_BACKUP_PASSPHRASE: SECRET }), 0);

    for (const [env, code] of [[{}, 'PASSPHRASE_REQUIRED'], [{ N8N_BACKUP_PASSPHRASE: 'not it' }, 'WRONG_PASSPHRASE']] as const) {
      const elsewhere = fresh('not-restored');
      const r = cli(['restore', '--dest', dest, '--set', 'enc', '--target', elsewhere], env);
      expectExit(r, 1);
      expect(r.stderr.trim().split('\n')[0]).toContain(`[${code}]`);
      expect(fs.existsSync(elsewhere)).toBe(false);
      // A backup run without the passphrase does not quietly add a plain backup to the set.
      const again = cli(['backup', src, '--dest', dest, '--set', 'enc'], env);
      expectExit(again, 1);
      expect(again.stderr).toContain(`[${code}]`);
    }
    expect(fs.readdirSync(path.join(dest, 'enc')).filter((name) => /^\d{8}T/.test(name))).toHaveLength(1);
  });
});
