/**
 * CLI usage: help, version, and the mistakes that exit 2.
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertCliBuilt, expectExit, makeTempDir, removeTempDir, REPO_ROOT, runCli, writeFile } from '../helpers/cli';

let tmp: string;
let src: string;
let dest: string;

beforeAll(() => {
  assertCliBuilt();
  tmp = makeTempDir('usage');
  src = path.join(tmp, 'src');
  dest = path.join(tmp, 'dest');
  writeFile(src, 'a.txt', 'a\n');
});

afterAll(() => removeTempDir(tmp));

describe('help and version', () => {
  test.each([[[]], [['--help']], [['-h']], [['help']]])('%j prints the usage on stdout and exits 0', (args: string[]) => {
    const r = runCli(args);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage:');
    for (const command of ['backup', 'restore', 'list']) expect(r.stdout).toContain(`n8n-backup ${command}`);
    expect(r.stderr).toBe('');
  });

  test('--version prints the package version', () => {
    const { version } = require(path.join(REPO_ROOT, 'package.json')) as { version: string };
    const r = runCli(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });
});

describe('usage errors exit 2 with a clear message and no stack trace', () => {
  const cases: [string, () => string[], RegExp][] = [
    ['unknown command', () => ['bakup', src, '--dest', dest], /unknown command "bakup"/],
    ['unknown flag', () => ['backup', src, '--dest', dest, '--frobnicate'], /frobnicate/],
    ['backup without --dest', () => ['backup', src], /--dest is required/],
    ['backup with an empty --dest', () => ['backup', src, '--dest', ''], /--dest/],
    ['backup --dest without its value', () => ['backup', src, '--dest'], /--dest/],
    ['backup without a source', () => ['backup', '--dest', dest], /source/],
    ['bad --type', () => ['backup', src, '--dest', dest, '--type', 'weekly'], /--type must be auto, full, differential, incremental/],
    ['restore without --target', () => ['restore', '--dest', dest, '--set', 's'], /--target is required/],
    ['restore without --set', () => ['restore', '--dest', dest, '--target', path.join(tmp, 't')], /--set is required/],
    ['restore with both --overwrite and --skip-existing', () => ['restore', '--dest', dest, '--set', 's', '--target', path.join(tmp, 't'), '--overwrite', '--skip-existing'], /not both/],
    ['restore with a stray argument', () => ['restore', 'extra', '--dest', dest, '--set', 's', '--target', path.join(tmp, 't')], /unexpected argument "extra"/],
    ['list without --dest', () => ['list'], /--dest is required/],
  ];

  test.each(cases)('%s', (_name, args, message) => {
    const r = runCli(args());
    expectExit(r, 2);
    const first = r.stderr.split('\n')[0];
    expect(first).toMatch(/^n8n-backup: /);
    expect(first).toMatch(message);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stdout).toBe('');
  });

  test('a usage error with --json still writes nothing on stdout and exits 2', () => {
    const r = runCli(['backup', src, '--json']);
    expectExit(r, 2);
    expect(r.stdout).toBe('');
  });

  test('nothing is created in the destination by a usage error', () => {
    runCli(['backup', src, '--dest', dest, '--type', 'weekly']);
    expect(fs.existsSync(dest)).toBe(false);
  });
});
