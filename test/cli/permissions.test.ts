/**
 * Per-file errors and an unwritable destination, seen by an unprivileged user: the CLI runs as
 * uid/gid 65534 (nobody), which needs root to arrange; as any other user these tests are skipped.
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackupItem } from '../helpers/cli';
import {
  asBackupItem, asFailureItem, asListItem, assertCliBuilt, cannotRunAs, compareSnapshots, expectExit, findPartials, makeTempDir, NOBODY, removeCliCopy, removeTempDir, runCliJson,
  snapshotTree, stderrProblems, writeFile,
} from '../helpers/cli';

const cannot = cannotRunAs(NOBODY);
const asRoot = cannot === undefined ? test : test.skip;
if (cannot !== undefined) console.warn(`SKIPPED: test/cli/permissions.test.ts runs the CLI as uid 65534 next to files it cannot read, and here it ${cannot}.`);

let tmp: string;
let src: string;
let dest: string;

beforeAll(() => assertCliBuilt());
afterAll(() => removeCliCopy());
beforeEach(() => {
  // Everything below tmp must be reachable by nobody: tmp is 0o777, folders 0o755, files 0o644.
  tmp = makeTempDir('perm', true);
  src = path.join(tmp, 'src');
  dest = path.join(tmp, 'dest');
  writeFile(src, 'readable.txt', 'readable\n', 0o644);
  writeFile(src, 'sub/also.txt', 'also readable\n', 0o644);
  writeFile(src, 'sub/locked.bin', 'root only\n', 0o000);
  writeFile(src, 'sub/deeper/last.txt', 'last\n', 0o644);
  for (const dir of [src, path.join(src, 'sub'), path.join(src, 'sub/deeper')]) fs.chmodSync(dir, 0o755);
});
afterEach(() => removeTempDir(tmp));

function backupAsNobody(extra: string[] = []): { status: number | null; stderr: string; report: BackupItem } {
  const { result, items } = runCliJson(['backup', src, '--dest', dest, '--set', 'p', ...extra], { user: NOBODY });
  expect(items).toHaveLength(1);
  return { status: result.status, stderr: result.stderr, report: asBackupItem(items[0]) };
}

asRoot('an unreadable file is recorded (EACCES) and the run goes on: exit 0, the rest restores', () => {
  const sourceState = snapshotTree(src);
  const { status, report } = backupAsNobody(['--type', 'full']);
  expect(status).toBe(0);
  expect(report.errorCount).toBe(1);
  expect(report.errors).toHaveLength(1);
  expect(report.errors[0]).toMatchObject({ path: 'sub/locked.bin', code: 'EACCES' });
  expect(report.errors[0].message.length).toBeGreaterThan(0);
  expect(report.summary).toMatch(/1 file error/);
  // Files readable.txt, sub/also.txt, sub/deeper/last.txt; folders sub, sub/deeper.
  expect(report.files).toMatchObject({ scanned: 3, added: 3, stored: 3 });
  expect(report.folders).toMatchObject({ scanned: 2, added: 2 });

  const target = path.join(tmp, 'restored');
  const restored = runCliJson(['restore', '--dest', dest, '--set', 'p', '--target', target]);
  expectExit(restored.result, 0);
  sourceState.delete('sub/locked.bin');
  expect(compareSnapshots(sourceState, snapshotTree(target))).toEqual([]);
});

asRoot('--fail-on-file-errors turns a per-file error into exit 1 (the report is still printed)', () => {
  const { status, report } = backupAsNobody(['--type', 'full', '--fail-on-file-errors']);
  expect(status).toBe(1);
  expect(report.errorCount).toBe(1);
  expect(report.errors[0]).toMatchObject({ path: 'sub/locked.bin', code: 'EACCES' });
  // The backup itself was made: only the exit status reports the file errors.
  const listed = runCliJson(['list', '--dest', dest]).items.map(asListItem);
  expect(listed.map((b) => b.backupId)).toEqual([report.backupId]);
});

asRoot('exit 1 from --fail-on-file-errors says why on stderr, in one line', () => {
  const { status, stderr } = backupAsNobody(['--type', 'full', '--fail-on-file-errors']);
  expect(status).toBe(1);
  expect(stderrProblems(stderr)).toEqual([]);
  expect(stderr).toMatch(/error/i);
});

asRoot('a file that becomes readable later is caught by the next incremental as added', () => {
  backupAsNobody(['--type', 'full']);
  fs.chmodSync(path.join(src, 'sub/locked.bin'), 0o644);
  const { status, report } = backupAsNobody(['--type', 'incremental']);
  expect(status).toBe(0);
  expect(report.errorCount).toBe(0);
  expect(report.files).toMatchObject({ added: 1, stored: 1 });
});

asRoot('an unwritable destination: DESTINATION_UNUSABLE, exit 1, nothing half-written left behind', () => {
  fs.mkdirSync(dest, { mode: 0o555 });
  fs.chmodSync(dest, 0o555);
  const { result, items } = runCliJson(['backup', src, '--dest', dest, '--type', 'full'], { user: NOBODY });
  expectExit(result, 1);
  expect(stderrProblems(result.stderr)).toEqual([]);
  expect(result.stderr).toContain('DESTINATION_UNUSABLE');
  expect(items).toHaveLength(1);
  expect(asFailureItem(items[0])).toMatchObject({ source: src, code: 'DESTINATION_UNUSABLE' });
  expect(fs.readdirSync(dest)).toEqual([]);
});

asRoot('a set that nobody may write to (made by root): DESTINATION_UNUSABLE, the existing backup intact', () => {
  const first = runCliJson(['backup', src, '--dest', dest, '--type', 'full', '--set', 'p']);
  expectExit(first.result, 0);
  const before = snapshotTree(dest);
  writeFile(src, 'new.txt', 'new\n', 0o644);
  const { result, items } = runCliJson(['backup', src, '--dest', dest, '--type', 'incremental', '--set', 'p'], { user: NOBODY });
  expectExit(result, 1);
  expect(stderrProblems(result.stderr)).toEqual([]);
  expect(asFailureItem(items[0]).code).toBe('DESTINATION_UNUSABLE');
  expect(findPartials(dest)).toEqual([]);
  expect(compareSnapshots(before, snapshotTree(dest))).toEqual([]);
});

asRoot('a restore target nobody may write to is refused with a code, not a crash', () => {
  expectExit(runCliJson(['backup', src, '--dest', dest, '--type', 'full', '--set', 'p']).result, 0);
  const parent = path.join(tmp, 'locked-parent');
  fs.mkdirSync(parent, { mode: 0o555 });
  fs.chmodSync(parent, 0o555);
  const { result, items } = runCliJson(['restore', '--dest', dest, '--set', 'p', '--target', path.join(parent, 'target')], { user: NOBODY });
  expectExit(result, 1);
  expect(stderrProblems(result.stderr)).toEqual([]);
  expect(asFailureItem(items[0]).code).toBe('TARGET_UNUSABLE');
});

asRoot('a sub-folder nobody may list is recorded (EACCES) and the rest is backed up', () => {
  writeFile(src, 'private/inside.txt', 'hidden\n', 0o644);
  fs.chmodSync(path.join(src, 'private'), 0o700);
  const { status, report } = backupAsNobody(['--type', 'full']);
  expect(status).toBe(0);
  expect(report.errors.map((e) => [e.path, e.code]).sort()).toEqual([
    ['private', 'EACCES'],
    ['sub/locked.bin', 'EACCES'],
  ]);
  expect(report.errorCount).toBe(2);
});

describe.each([[[] as string[]], [['--no-skip-empty']]])('a source folder nobody may list (%j)', (extra: string[]) => {
  asRoot('is refused with SOURCE_UNREADABLE, one line, exit 1', () => {
    fs.chmodSync(src, 0o700);
    const { result, items } = runCliJson(['backup', src, '--dest', dest, '--type', 'full', ...extra], { user: NOBODY });
    expectExit(result, 1);
    expect(stderrProblems(result.stderr)).toEqual([]);
    expect(asFailureItem(items[0])).toMatchObject({ source: src, code: 'SOURCE_UNREADABLE' });
    expect(findPartials(dest)).toEqual([]);
  });
});
