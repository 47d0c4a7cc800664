/**
 * A destination whose newest manifest was truncated (a disk that filled up, a bad copy): restore
 * of that backup fails with one clear line (MANIFEST_CORRUPT), and nothing else crashes.
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  asBackupItem, asFailureItem, asListItem, assertCliBuilt, compareSnapshots, expectExit, findPartials, isFailureItem, makeTempDir, removeTempDir, runCli, runCliJson,
  snapshotTree, stderrProblems, writeFile,
} from '../helpers/cli';

let template: string;
let tmp: string;
let src: string;
let dest: string;
let fullId: string;
let incId: string;
let manifest: string;

// The damaged destination is made once; each test works on its own copy of it.
beforeAll(() => {
  assertCliBuilt();
  template = makeTempDir('damaged-template');
  const tSrc = path.join(template, 'src');
  const tDest = path.join(template, 'dest');
  for (let i = 0; i < 200; i++) writeFile(tSrc, `dir${i % 7}/file-${i}.txt`, `content of file ${i}\n`);
  const full = runCliJson(['backup', tSrc, '--dest', tDest, '--type', 'full', '--set', 'd']);
  expectExit(full.result, 0);
  fullId = asBackupItem(full.items[0]).backupId as string;
  for (let i = 0; i < 50; i++) writeFile(tSrc, `dir${i % 7}/file-${i}.txt`, `changed content of file ${i}\n`);
  const inc = runCliJson(['backup', tSrc, '--dest', tDest, '--type', 'incremental', '--set', 'd']);
  expectExit(inc.result, 0);
  incId = asBackupItem(inc.items[0]).backupId as string;
  const tManifest = path.join(tDest, 'd', incId, 'manifest.jsonl.gz');
  fs.truncateSync(tManifest, Math.floor(fs.statSync(tManifest).size / 2));
});
afterAll(() => removeTempDir(template));

beforeEach(() => {
  tmp = makeTempDir('damaged');
  src = path.join(tmp, 'src');
  dest = path.join(tmp, 'dest');
  // Timestamps kept, so the copied source looks unchanged to the next backup.
  fs.cpSync(path.join(template, 'src'), src, { recursive: true, preserveTimestamps: true });
  fs.cpSync(path.join(template, 'dest'), dest, { recursive: true, preserveTimestamps: true });
  manifest = path.join(dest, 'd', incId, 'manifest.jsonl.gz');
});
afterEach(() => removeTempDir(tmp));

test('restore of the backup with the truncated manifest: exit 1, MANIFEST_CORRUPT, one line naming the manifest', () => {
  const target = path.join(tmp, 'target');
  const { result, items } = runCliJson(['restore', '--dest', dest, '--set', 'd', '--backup', incId, '--target', target]);
  expectExit(result, 1);
  expect(stderrProblems(result.stderr)).toEqual([]);
  expect(result.stderr).toMatch(/manifest/i);
  expect(result.stderr).toContain('MANIFEST_CORRUPT');
  expect(items).toHaveLength(1);
  expect(asFailureItem(items[0]).code).toBe('MANIFEST_CORRUPT');
});

test('restore latest without --json: the same one-line error, nothing on stdout', () => {
  const r = runCli(['restore', '--dest', dest, '--set', 'd', '--target', path.join(tmp, 'target')]);
  expectExit(r, 1);
  expect(r.stdout).toBe('');
  expect(stderrProblems(r.stderr)).toEqual([]);
  expect(r.stderr).toMatch(/manifest/i);
});

test('the damage does not spread: list works and the full backup still restores exactly', () => {
  const { result, items } = runCliJson(['list', '--dest', dest]);
  expectExit(result, 0);
  expect(items.map(asListItem).map((b) => b.backupId)).toEqual([fullId, incId]);

  // The source as the full saw it: the first 50 files had their original content.
  const expectedTarget = path.join(tmp, 'expected');
  for (let i = 0; i < 200; i++) writeFile(expectedTarget, `dir${i % 7}/file-${i}.txt`, `content of file ${i}\n`);
  const target = path.join(tmp, 'target');
  const restored = runCliJson(['restore', '--dest', dest, '--set', 'd', '--backup', fullId, '--target', target]);
  expectExit(restored.result, 0);
  const want = snapshotTree(expectedTarget);
  const got = snapshotTree(target);
  // Compare paths and contents only: the expected tree was written just now, so its times differ.
  expect([...got.keys()]).toEqual([...want.keys()]);
  for (const [rel, entry] of want) expect({ rel, sha256: got.get(rel)?.sha256 }).toEqual({ rel, sha256: entry.sha256 });
});

test('a backup after the damage: a clean failure or a good backup, never a crash or a partial', () => {
  writeFile(src, 'after.txt', 'after the damage\n');
  const inc = runCliJson(['backup', src, '--dest', dest, '--type', 'incremental', '--set', 'd']);
  expect([0, 1]).toContain(inc.result.status);
  expect(inc.result.stderr).not.toMatch(/^\s+at /m);
  if (inc.result.status === 1) {
    expect(stderrProblems(inc.result.stderr)).toEqual([]);
    expect(asFailureItem(inc.items[0]).code).toBe('MANIFEST_CORRUPT');
  } else {
    expect(isFailureItem(inc.items[0])).toBe(false);
  }
  expect(findPartials(dest)).toEqual([]);

  // A new full never reads the damaged manifest, and restores what the source holds now.
  const now = snapshotTree(src);
  const full = runCliJson(['backup', src, '--dest', dest, '--type', 'full', '--set', 'd']);
  expectExit(full.result, 0);
  const target = path.join(tmp, 'target');
  expectExit(runCliJson(['restore', '--dest', dest, '--set', 'd', '--target', target]).result, 0);
  expect(compareSnapshots(now, snapshotTree(target))).toEqual([]);
});

test('auto after the damage: a full with a warning (was MANIFEST_CORRUPT every night), the damaged backup left as it was', () => {
  writeFile(src, 'after.txt', 'after the damage\n');
  const before = fs.readFileSync(manifest);
  const { result, items } = runCliJson(['backup', src, '--dest', dest, '--set', 'd', '--full-every-days', '0']);
  expectExit(result, 0);
  const item = asBackupItem(items[0]);
  expect(item.type).toBe('full');
  expect(item.decision).toBe(`auto: full: the previous backup's manifest is damaged (${incId})`);
  expect(item.warnings.map((w) => [w.code, w.backupId])).toEqual([['PREVIOUS_MANIFEST_CORRUPT', incId]]);
  expect(item.warnings[0].message).toContain('manifest.jsonl.gz');
  expect(item.summary).toContain(`Warning: backup ${incId} is damaged`);
  expect(fs.readFileSync(manifest)).toEqual(before);
  expect(findPartials(dest)).toEqual([]);

  // The human output says it too; the next night is an ordinary incremental from the new full.
  writeFile(src, 'later.txt', 'later\n');
  const human = runCli(['backup', src, '--dest', dest, '--set', 'd', '--full-every-days', '0']);
  expectExit(human, 0);
  expect(human.stdout).toMatch(/^Incremental backup of /);
  expect(human.stdout).not.toMatch(/warning/i);

  // An explicit incremental on a set whose newest backup is damaged still fails.
  const copy = path.join(tmp, 'dest2');
  fs.cpSync(path.join(template, 'dest'), copy, { recursive: true });
  const inc = runCliJson(['backup', src, '--dest', copy, '--set', 'd', '--type', 'incremental']);
  expectExit(inc.result, 1);
  expect(asFailureItem(inc.items[0]).code).toBe('MANIFEST_CORRUPT');
});

test('auto after the damage, human output: the warning is printed under the summary', () => {
  writeFile(src, 'after.txt', 'after the damage\n');
  const r = runCli(['backup', src, '--dest', dest, '--set', 'd']);
  expectExit(r, 0);
  expect(r.stdout).toMatch(/^Full backup of /);
  expect(r.stdout).toContain(`warning: Manifest `);
  expect(r.stdout).toContain('[PREVIOUS_MANIFEST_CORRUPT]');
});

test('a backup folder without its manifest is reported, not crashed on', () => {
  fs.rmSync(manifest);
  fs.rmSync(path.join(dest, 'd', incId, 'backup.json'));
  const listed = runCliJson(['list', '--dest', dest]);
  expectExit(listed.result, 0);
  expect(listed.items.map(asListItem).map((b) => [b.backupId, b.complete])).toEqual([
    [fullId, true],
    [incId, false],
  ]);
  const { result, items } = runCliJson(['restore', '--dest', dest, '--set', 'd', '--backup', incId, '--target', path.join(tmp, 'target')]);
  expectExit(result, 1);
  expect(stderrProblems(result.stderr)).toEqual([]);
  expect(asFailureItem(items[0]).code).toBe('BACKUP_INCOMPLETE');
});

test('a stored file missing from the backup: restore goes on, exit 1, the file named in errors and on stderr', () => {
  const lost = 'dir2/file-100.txt'; // unchanged since the full, so its bytes are in the full
  fs.rmSync(path.join(dest, 'd', fullId, 'data', lost));
  const target = path.join(tmp, 'target');
  const { result, items } = runCliJson(['restore', '--dest', dest, '--set', 'd', '--backup', fullId, '--target', target]);
  expectExit(result, 1);
  expect(items).toHaveLength(1);
  expect(items[0].errorCount).toBe(1);
  expect(items[0].errors).toEqual([expect.objectContaining({ path: lost, code: 'ENOENT' })]);
  expect(fs.existsSync(path.join(target, lost))).toBe(false);
  expect(fs.readFileSync(path.join(target, 'dir3/file-3.txt'), 'utf8')).toBe('content of file 3\n');
  expect(stderrProblems(result.stderr)).toEqual([]);
});
