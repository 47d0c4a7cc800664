/**
 * The --json output of `backup` and `list`: every field of DESIGN.md's output item with the
 * right type, and exact counts for a small known scenario.
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackupItem, EntryCounts, FileCounts } from '../helpers/cli';
import { asBackupItem, asListItem, assertCliBuilt, expectExit, makeTempDir, removeTempDir, runCli, runCliJson, writeFile } from '../helpers/cli';

let tmp: string;

beforeAll(() => assertCliBuilt());
beforeEach(() => {
  tmp = makeTempDir('json');
});
afterEach(() => removeTempDir(tmp));

function backup(src: string, dest: string, type: string, extra: string[] = []): BackupItem {
  const { result, items } = runCliJson(['backup', src, '--dest', dest, '--type', type, ...extra]);
  expectExit(result, 0);
  expect(items).toHaveLength(1);
  return asBackupItem(items[0]);
}

const counts = (c: Partial<FileCounts>): FileCounts => ({ scanned: 0, added: 0, changed: 0, deleted: 0, unchanged: 0, stored: 0, links: 0, ...c });
const entries = (c: Partial<EntryCounts>): EntryCounts => ({ scanned: 0, added: 0, changed: 0, deleted: 0, unchanged: 0, ...c });

test('full, then incremental after 1 added, 1 changed, 1 deleted: exact counts, bytes and summary', () => {
  const src = path.join(tmp, 'data');
  const dest = path.join(tmp, 'dest');
  writeFile(src, 'one.txt', 'one\n'); // 4 bytes
  writeFile(src, 'two.txt', 'second\n'); // 7 bytes
  writeFile(src, 'dir/three.txt', 'third file\n'); // 11 bytes

  const full = backup(src, dest, 'full');
  expect(full).toMatchObject({ source: src, destination: dest, operation: 'full', type: 'full', skipped: false, skipReason: null, errorCount: 0, errors: [] });
  expect(full.set).toMatch(/^data-[0-9a-f]{8}$/);
  // Files one.txt, two.txt, dir/three.txt; the folder dir counted as a folder, never as a file.
  expect(full.files).toEqual(counts({ scanned: 3, added: 3, stored: 3 }));
  expect(full.folders).toEqual(entries({ scanned: 1, added: 1 }));
  expect(full.symlinks).toEqual(entries({}));
  expect(full.bytes.scanned).toBe(22);
  expect(full.bytes.stored).toBe(22);
  expect(full.bytes.written).toBeGreaterThan(22);
  expect(full.sizes.scanned).toBe('22 B');
  expect(full.sizes.stored).toBe('22 B');
  expect(full.retention).toEqual({ removed: [], keptReferenced: [], kept: [full.backupId], rules: { [full.backupId as string]: ['all full'] } });
  expect(full.summary).toMatch(/^Full backup of /);
  expect(full.summary).toContain(src);
  expect(full.summary).toContain(full.backupId as string);

  writeFile(src, 'four.txt', 'fourth!\n'); // added, 8 bytes
  writeFile(src, 'one.txt', 'one, longer now\n'); // changed, 16 bytes
  fs.rmSync(path.join(src, 'two.txt')); // deleted

  const inc = backup(src, dest, 'incremental');
  expect(inc).toMatchObject({ operation: 'incremental', type: 'incremental', skipped: false, set: full.set, errorCount: 0 });
  // Files now: dir/three.txt, four.txt, one.txt; the folder dir unchanged.
  expect(inc.files).toEqual(counts({ scanned: 3, added: 1, changed: 1, deleted: 1, unchanged: 1, stored: 2 }));
  expect(inc.folders).toEqual(entries({ scanned: 1, unchanged: 1 }));
  expect(inc.bytes.scanned).toBe(11 + 8 + 16);
  expect(inc.bytes.stored).toBe(8 + 16);
  expect(inc.decision).toContain(full.backupId as string);
  expect(inc.summary).toMatch(/^Incremental backup of /);
  expect(inc.summary).toContain(src);
  expect(inc.summary).toContain(': 3 files, 1 folder, 0 symlinks; files 1 added, 1 changed, 1 deleted, 1 unchanged; 2 stored files, ');
  expect(inc.backupId! > full.backupId!).toBe(true);

  const diff = backup(src, dest, 'differential');
  expect(diff.type).toBe('differential');
  // Against the full: four.txt added, one.txt changed, two.txt deleted; dir/three.txt unchanged, and the folder dir.
  expect(diff.files).toEqual(counts({ scanned: 3, added: 1, changed: 1, deleted: 1, unchanged: 1, stored: 2 }));
  expect(diff.folders).toEqual(entries({ scanned: 1, unchanged: 1 }));
  expect(diff.summary).toMatch(/^Differential backup of /);
});

test('bytes.destinationTotal counts at least what this backup wrote, and list agrees with the report', () => {
  const src = path.join(tmp, 'data');
  const dest = path.join(tmp, 'dest');
  writeFile(src, 'a.txt', 'x'.repeat(5000));
  const full = backup(src, dest, 'full');
  expect(full.bytes.destinationTotal).toBeGreaterThanOrEqual(full.bytes.written);

  const { result, items } = runCliJson(['list', '--dest', dest]);
  expectExit(result, 0);
  expect(items).toHaveLength(1);
  const listed = asListItem(items[0]);
  expect(listed.backupId).toBe(full.backupId);
  expect(listed.files).toEqual(full.files);
  expect({ entries: listed.entries, folders: listed.folders, symlinks: listed.symlinks }).toEqual({ entries: 1, folders: full.folders, symlinks: full.symlinks });
  expect((items[0].bytes as { written: number }).written).toBe(full.bytes.written);
});

test('an empty source is skipped (type and backupId null); --no-skip-empty makes a full backup of it', () => {
  const src = path.join(tmp, 'empty');
  const dest = path.join(tmp, 'dest');
  fs.mkdirSync(src);
  const skipped = backup(src, dest, 'full');
  expect(skipped).toMatchObject({ skipped: true, type: null, backupId: null, operation: 'full', errorCount: 0 });
  expect(skipped.skipReason).toMatch(/empty/);
  expect(skipped.summary).toContain(src);
  expect(skipped.summary).not.toContain('\n');

  const made = backup(src, dest, 'full', ['--no-skip-empty']);
  expect(made).toMatchObject({ skipped: false, type: 'full', files: counts({}) });
  const { items } = runCliJson(['list', '--dest', dest]);
  expect(items.map(asListItem).map((b) => b.backupId)).toEqual([made.backupId]);
});

test('an incremental with no full yet becomes a full, and the decision says so', () => {
  const src = path.join(tmp, 'data');
  writeFile(src, 'a.txt', 'a');
  const item = backup(src, path.join(tmp, 'dest'), 'incremental');
  expect(item).toMatchObject({ operation: 'incremental', type: 'full' });
  expect(item.backupId).toMatch(/-full$/);
  expect(item.decision).toMatch(/full/);
});

test('--set names the set; list --set shows only that set, one object per backup', () => {
  const a = path.join(tmp, 'a');
  const b = path.join(tmp, 'b');
  const dest = path.join(tmp, 'dest');
  writeFile(a, 'a.txt', 'a');
  writeFile(b, 'b.txt', 'b');
  const fa = backup(a, dest, 'full', ['--set', 'alpha']);
  expect(fa.set).toBe('alpha');
  writeFile(a, 'a2.txt', 'a2');
  const ia = backup(a, dest, 'incremental', ['--set', 'alpha']);
  backup(b, dest, 'full', ['--set', 'beta']);

  const all = runCliJson(['list', '--dest', dest]);
  expectExit(all.result, 0);
  expect(all.items.map(asListItem).map((x) => [x.set, x.backupId])).toEqual([
    ['alpha', fa.backupId],
    ['alpha', ia.backupId],
    ['beta', expect.stringMatching(/-full$/) as string],
  ]);
  const alpha = runCliJson(['list', '--dest', dest, '--set', 'alpha']);
  expect(alpha.items.map(asListItem).map((x) => x.backupId)).toEqual([fa.backupId, ia.backupId]);
});

test('list of an empty or missing destination is an empty array, exit 0', () => {
  const { result, items } = runCliJson(['list', '--dest', path.join(tmp, 'nothing-here')]);
  expectExit(result, 0);
  expect(items).toEqual([]);
});

test('without --json: a short human summary on stdout, nothing on stderr', () => {
  const src = path.join(tmp, 'data');
  const dest = path.join(tmp, 'dest');
  writeFile(src, 'a.txt', 'a');
  const r = runCli(['backup', src, '--dest', dest, '--type', 'full']);
  expectExit(r, 0);
  expect(r.stderr).toBe('');
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^Full backup of /);
  expect(lines[0]).toContain(src);

  const list = runCli(['list', '--dest', dest]);
  expectExit(list, 0);
  expect(list.stdout).toMatch(/^SET\s+BACKUP\s+TYPE/);
  expect(list.stdout).toMatch(/-full\s+full\s/);
});

test('relative source and destination resolve against the working directory and reuse the same set', () => {
  writeFile(tmp, 'rel/a.txt', 'a');
  const first = runCliJson(['backup', 'rel', '--dest', 'out', '--type', 'full'], { cwd: tmp });
  expectExit(first.result, 0);
  const full = asBackupItem(first.items[0]);
  expect(full.source).toBe(path.join(tmp, 'rel'));
  expect(full.destination).toBe(path.join(tmp, 'out'));
  writeFile(tmp, 'rel/b.txt', 'b');
  const inc = backup(path.join(tmp, 'rel'), path.join(tmp, 'out'), 'incremental');
  expect(inc.set).toBe(full.set);
  expect(inc.type).toBe('incremental');
  expect(inc.files).toEqual(counts({ scanned: 2, added: 1, unchanged: 1, stored: 1 }));
});
