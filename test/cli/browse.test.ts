/**
 * `files`, `diff` and `find` through the built binary: text lines a person reads, JSON Lines a
 * script reads (one object per line with a `type`, the report last), and usage mistakes (exit 2).
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliResult } from '../helpers/cli';
import { assertCliBuilt, expectExit, makeTempDir, removeTempDir, runCli, runCliJson, writeFile } from '../helpers/cli';

let tmp: string;
let dest: string;
let full: string;
let incremental: string;

beforeAll(() => {
  assertCliBuilt();
  tmp = makeTempDir('browse');
  const src = path.join(tmp, 'src');
  dest = path.join(tmp, 'dest');
  writeFile(src, 'docs/a.txt', 'a first');
  writeFile(src, 'docs/sub/b.txt', 'b');
  writeFile(src, 'old.txt', 'old');
  fs.symlinkSync('docs/a.txt', path.join(src, 'link'));
  const first = runCliJson(['backup', src, '--dest', dest, '--type', 'full', '--set', 's']);
  expectExit(first.result, 0);
  full = first.items[0].backupId as string;
  fs.writeFileSync(path.join(src, 'docs/a.txt'), 'a second, longer');
  fs.rmSync(path.join(src, 'old.txt'));
  writeFile(src, 'new.pdf', 'pdf');
  const second = runCliJson(['backup', src, '--dest', dest, '--type', 'incremental', '--set', 's']);
  expectExit(second.result, 0);
  incremental = second.items[0].backupId as string;
});
afterAll(() => removeTempDir(tmp));

const jsonLines = (result: CliResult): Record<string, unknown>[] => result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

test('files: one line per path (kind and mode, size, mtime, path), the summary last; --json: JSON Lines with the report last', () => {
  const text = runCli(['files', '--dest', dest, '--set', 's']);
  expectExit(text, 0);
  const lines = text.stdout.trim().split('\n');
  expect(lines.slice(0, -1).map((l) => l.replace(/\s+\S+Z\s+/, ' T ').replace(/\s+/g, ' '))).toEqual([
    'd0755 - T docs', '-0644 16 T docs/a.txt', 'd0755 - T docs/sub', '-0644 1 T docs/sub/b.txt', 'l0777 - T link -> docs/a.txt', '-0644 3 T new.pdf',
  ]);
  expect(lines[lines.length - 1]).toBe(`${incremental}: 3 files (20 B), 2 folders, 1 symlink`);

  const json = runCli(['files', '--dest', dest, '--set', 's', '--backup', full, '--include', '*.txt', '--json']);
  expectExit(json, 0);
  const items = jsonLines(json);
  expect(items.map((i) => [i.type, i.path])).toEqual([['entry', 'docs/a.txt'], ['entry', 'docs/sub/b.txt'], ['entry', 'old.txt'], ['report', undefined]]);
  expect(items[0]).toMatchObject({ kind: 'file', size: 7, in: full, hash: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown as string });
  expect(items[3]).toMatchObject({ backupId: full, files: 3, bytes: 11 });
});

test('diff: the latest against the backup before it by default; + added, M changed, - deleted', () => {
  const result = runCli(['diff', '--dest', dest, '--set', 's']);
  expectExit(result, 0);
  expect(result.stdout.trim().split('\n')).toEqual([
    'M  docs/a.txt  (+9 B)', '+  new.pdf  (+3 B)', '-  old.txt  (-3 B)', `${full} -> ${incremental}: 1 added, 1 changed, 1 deleted, 0 with new metadata only (+9 B)`,
  ]);
  const json = jsonLines(runCli(['diff', '--dest', dest, '--set', 's', '--from', full, '--to', incremental, '--json']));
  expect(json.map((i) => [i.type, i.change, i.path])).toEqual([['change', 'changed', 'docs/a.txt'], ['change', 'added', 'new.pdf'], ['change', 'deleted', 'old.txt'], ['report', undefined, undefined]]);
});

test('find: every version of a path, oldest first', () => {
  const result = runCli(['find', '--dest', dest, '--set', 's', 'docs/a.txt', 'old.txt']);
  expectExit(result, 0);
  const lines = result.stdout.trim().split('\n');
  expect(lines.map((l) => l.replace(/sha256 [0-9a-f]{12}/, 'sha256 H'))).toEqual([
    `${full}  docs/a.txt  added, 7 B, sha256 H`, `${full}  old.txt  added, 3 B, sha256 H`, `${incremental}  docs/a.txt  changed, 16 B, sha256 H`, `${incremental}  old.txt  deleted`,
    '4 versions of 2 paths in 2 backups',
  ]);
});

test('mistakes: exit 2 with a usage message; a failure under --json is one JSON line and exit 1', () => {
  for (const [args, message] of [
    [['find', '--dest', dest, '--set', 's'], 'find needs at least one path'],
    [['files', '--dest', dest, '--set', 's', '--from', full], '--from does not apply to files'],
    [['files', '--dest', dest, '--set', 's', '--time-zone', 'UTC'], '--time-zone applies to files only with --as-of'],
    [['diff', '--dest', dest], '--set is required'],
    [['files', '--dest', dest, '--set', 's', 'stray'], 'unexpected argument "stray"'],
  ] as [string[], string][]) {
    const result = runCli(args);
    expectExit(result, 2);
    expect(result.stderr).toContain(message);
  }
  const missing = runCli(['files', '--dest', dest, '--set', 'nope', '--json']);
  expectExit(missing, 1);
  expect(jsonLines(missing)).toEqual([expect.objectContaining({ type: 'error', code: 'SET_NOT_FOUND' })]);
  expect(missing.stderr).toContain('[SET_NOT_FOUND]');
});
