/**
 * `restore --include/--exclude` (repeatable) and `--as-of`, through the built binary on real trees.
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertCliBuilt, expectExit, makeTempDir, removeTempDir, runCli, runCliJson, snapshotTree, writeFile } from '../helpers/cli';

let tmp: string;
let src: string;
let dest: string;
let full: string;
let incremental: string;
let fullStarted: string;

beforeAll(() => {
  assertCliBuilt();
  tmp = makeTempDir('restore-select');
  src = path.join(tmp, 'src');
  dest = path.join(tmp, 'dest');
  writeFile(src, 'docs/a.txt', 'a first');
  writeFile(src, 'docs/sub/b.txt', 'b');
  writeFile(src, 'docs/sub/c.log', 'log');
  writeFile(src, 'photos/p.jpg', 'jpeg');
  writeFile(src, 'old.txt', 'old');
  const first = runCliJson(['backup', src, '--dest', dest, '--type', 'full', '--set', 's', '--format', 'tar.gz']);
  expectExit(first.result, 0);
  full = first.items[0].backupId as string;
  fullStarted = first.items[0].startedAt as string;
  fs.writeFileSync(path.join(src, 'docs/a.txt'), 'a second, longer');
  fs.rmSync(path.join(src, 'old.txt'));
  const second = runCliJson(['backup', src, '--dest', dest, '--type', 'incremental', '--set', 's', '--format', 'tar.gz']);
  expectExit(second.result, 0);
  incremental = second.items[0].backupId as string;
});
afterAll(() => removeTempDir(tmp));

let n = 0;
const freshTarget = (): string => path.join(tmp, `target-${n++}`);
const restoredPaths = (target: string): string[] => [...snapshotTree(target).keys()].sort();

test('--include (repeatable) and --exclude (repeatable): only the matching paths, and the filters in the output item', () => {
  const target = freshTarget();
  const { result, items } = runCliJson(['restore', '--dest', dest, '--set', 's', '--target', target, '--include', 'docs', '--include', 'photos/p.jpg', '--exclude', '*.log', '--exclude', 'docs/sub/b.txt']);
  expectExit(result, 0);
  expect(restoredPaths(target)).toEqual(['docs', 'docs/a.txt', 'docs/sub', 'photos', 'photos/p.jpg']);
  expect(items[0]).toMatchObject({
    backupId: incremental,
    files: { restored: 2 },
    bytes: { restored: 'a second, longer'.length + 'jpeg'.length },
    selection: { include: ['docs', 'photos/p.jpg'], exclude: ['*.log', 'docs/sub/b.txt'], unmatched: [] },
  });
  // The text output says what was restored and with which filters.
  const text = runCli(['restore', '--dest', dest, '--set', 's', '--target', freshTarget(), '--include', '*.log']);
  expectExit(text, 0);
  expect(text.stdout).toContain('(only include *.log)');
  expect(text.stdout).toContain(': 1 file, 2 folders, 0 symlinks; ');
});

test('--as-of picks the newest complete backup at or before the time; with --include a deleted file comes back', () => {
  const target = freshTarget();
  const { result, items } = runCliJson(['restore', '--dest', dest, '--set', 's', '--target', target, '--as-of', fullStarted, '--include', 'old.txt']);
  expectExit(result, 0);
  expect(items[0]).toMatchObject({ backupId: full, asOf: new Date(fullStarted).toISOString() });
  expect(restoredPaths(target)).toEqual(['old.txt']);
  const later = runCliJson(['restore', '--dest', dest, '--set', 's', '--target', freshTarget(), '--as-of', '2999-01-01', '--time-zone', 'Europe/Berlin', '--include', 'docs/a.txt']);
  expectExit(later.result, 0);
  expect(later.items[0].backupId).toBe(incremental);
});

test('refusals: exit 1 with a code for bad patterns, no match, no backup that early and a value that is no date; exit 2 for misuse', () => {
  const base = ['restore', '--dest', dest, '--set', 's'];
  const cases: [string[], string][] = [
    [['--include', '../etc'], 'PATTERN_INVALID'],
    [['--exclude', '/abs/path'], 'PATTERN_INVALID'],
    [['--include', 'nothing-like-this'], 'NOTHING_SELECTED'],
    [['--as-of', '2000-01-01T00:00:00Z'], 'BACKUP_NOT_FOUND'],
    [['--as-of', 'last tuesday'], 'AS_OF_INVALID'],
  ];
  for (const [flags, code] of cases) {
    const target = freshTarget();
    const r = runCli([...base, '--target', target, ...flags]);
    expectExit(r, 1);
    expect(r.stderr).toContain(`[${code}]`);
    expect(fs.existsSync(target)).toBe(false);
  }
  const misuse: [string[], RegExp][] = [
    [['--as-of', fullStarted, '--backup', full], /either --backup or --as-of/],
    [['--time-zone', 'UTC'], /--time-zone applies to restore only with --as-of/],
    [['--as-of', '2026-01-01', '--time-zone', 'Nowhere/Atlantis'], /--time-zone takes an IANA time zone/],
  ];
  for (const [flags, message] of misuse) {
    const r = runCli([...base, '--target', freshTarget(), ...flags]);
    expectExit(r, 2);
    expect(r.stderr).toMatch(message);
  }
});

test('--help documents the new flags', () => {
  const r = runCli(['--help']);
  expectExit(r, 0);
  for (const flag of ['--include <glob>', '--exclude <glob>', '--as-of <date-time>']) expect(r.stdout).toContain(flag);
});
