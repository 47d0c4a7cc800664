/**
 * --exclude: excluded paths are neither in the manifest nor in a restore; a glob without `/`
 * matches a name at any depth, a glob with `/` matches the path relative to the source.
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { asBackupItem, asListItem, assertCliBuilt, expectExit, makeTempDir, readManifest, removeTempDir, runCliJson, snapshotTree, writeFile } from '../helpers/cli';

let tmp: string;
let src: string;
let dest: string;

beforeAll(() => assertCliBuilt());
beforeEach(() => {
  tmp = makeTempDir('exclude');
  src = path.join(tmp, 'src');
  dest = path.join(tmp, 'dest');
});
afterEach(() => removeTempDir(tmp));

/** Backs up with the given excludes, restores into a fresh folder; returns both path lists. */
function backupAndRestore(excludes: string[]): { manifestPaths: string[]; restoredPaths: string[]; header: Record<string, unknown> } {
  const { result, items } = runCliJson(['backup', src, '--dest', dest, '--type', 'full', '--set', 's', ...excludes.flatMap((g) => ['--exclude', g])]);
  expectExit(result, 0);
  const report = asBackupItem(items[0]);
  expect(report.errorCount).toBe(0);
  const manifest = readManifest(path.join(dest, 's', report.backupId as string, 'manifest.jsonl.gz'));
  const target = path.join(tmp, 'restored');
  const restore = runCliJson(['restore', '--dest', dest, '--set', 's', '--target', target]);
  expectExit(restore.result, 0);
  const listed = runCliJson(['list', '--dest', dest, '--set', 's']).items.map(asListItem);
  expect(listed[0].entries).toBe(manifest.entries.length);
  return { manifestPaths: manifest.entries.map((e) => e.path as string).sort(), restoredPaths: [...snapshotTree(target).keys()].sort(), header: manifest.header };
}

test("--exclude '*.log' --exclude 'cache/**': logs at any depth and the cache folder's contents are left out", () => {
  writeFile(src, 'keep.txt', 'k');
  writeFile(src, 'app.log', 'l');
  writeFile(src, 'deep/er/still/trace.log', 'l');
  writeFile(src, 'deep/er/still/notes.txt', 'n');
  writeFile(src, 'deep/catalog.txt', 'not a log');
  writeFile(src, 'cache/blob.bin', 'c');
  writeFile(src, 'cache/sub/more.bin', 'c');
  writeFile(src, 'logs.d/readme', 'a folder whose name only looks like a log');

  const { manifestPaths, restoredPaths, header } = backupAndRestore(['*.log', 'cache/**']);
  expect(header.exclude).toEqual(['*.log', 'cache/**']);
  for (const paths of [manifestPaths, restoredPaths]) {
    expect(paths.filter((p) => p.endsWith('.log'))).toEqual([]);
    expect(paths.filter((p) => p.startsWith('cache/'))).toEqual([]);
    expect(paths).toEqual(expect.arrayContaining(['keep.txt', 'deep/er/still/notes.txt', 'deep/catalog.txt', 'logs.d/readme']));
  }
  expect(restoredPaths).toEqual(manifestPaths);
});

test('an excluded name is left out at any depth, folders included (with everything below them)', () => {
  writeFile(src, 'a/node_modules/x/index.js', 'x');
  writeFile(src, 'a/b/node_modules/y.js', 'y');
  writeFile(src, 'node_modules/z.js', 'z');
  writeFile(src, 'a/keep.js', 'k');
  const { manifestPaths, restoredPaths } = backupAndRestore(['node_modules']);
  expect(manifestPaths).toEqual(['a', 'a/b', 'a/keep.js']);
  expect(restoredPaths).toEqual(manifestPaths);
});

test('a glob with a slash matches the path from the source root, not a name at any depth', () => {
  writeFile(src, 'docs/a.md', 'top-level docs: excluded');
  writeFile(src, 'docs/keep.txt', 'kept');
  writeFile(src, 'project/docs/b.md', 'nested docs: kept');
  writeFile(src, 'cache/blob.bin', 'excluded');
  writeFile(src, 'deep/cache/kept.bin', 'nested cache: kept');
  const { manifestPaths } = backupAndRestore(['docs/*.md', 'cache/**']);
  expect(manifestPaths).not.toContain('docs/a.md');
  expect(manifestPaths).toEqual(expect.arrayContaining(['docs/keep.txt', 'project/docs/b.md', 'deep/cache/kept.bin']));
  expect(manifestPaths.filter((p) => p.startsWith('cache/'))).toEqual([]);
});

test('a file excluded in a later incremental is recorded as deleted and is absent from its restore', () => {
  writeFile(src, 'a.txt', 'a');
  writeFile(src, 'b.tmp', 'b');
  const full = runCliJson(['backup', src, '--dest', dest, '--type', 'full', '--set', 's']);
  expectExit(full.result, 0);
  const inc = runCliJson(['backup', src, '--dest', dest, '--type', 'incremental', '--set', 's', '--exclude', '*.tmp']);
  expectExit(inc.result, 0);
  const report = asBackupItem(inc.items[0]);
  expect(report.files).toMatchObject({ scanned: 1, deleted: 1, unchanged: 1 });
  const target = path.join(tmp, 'restored');
  expectExit(runCliJson(['restore', '--dest', dest, '--set', 's', '--target', target]).result, 0);
  expect(fs.readdirSync(target)).toEqual(['a.txt']);
});
