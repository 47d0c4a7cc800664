/**
 * Round trip through the real binary on a tree of ~3,000 files: full, changes, incremental, more
 * changes, differential; list; restore of each backup compared with the source as it was then
 * (contents, modes, mtimes within 0.01 ms, symlink targets, empty folders, deletions).
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackupItem, Snapshot } from '../helpers/cli';
import {
  asBackupItem, asListItem, assertCliBuilt, compareSnapshots, diffSnapshots, expectExit, findPartials, makeTempDir, parseJsonArray, removeTempDir, runCliJson,
  snapshotTree, startCli, writeFile,
} from '../helpers/cli';

const TOP = 10;
const SUB = 10;
const PER_FOLDER = 30; // 10 x 10 x 30 = 3,000 small files

/** Names that trip up shells, sorting and JSON: all must survive the round trip. */
const ODD_NAMES = [
  'with space.txt',
  'naïve café ☕.txt',
  '-leading-dash',
  '--',
  'back\\slash',
  'new\nline',
  '\uFF01fullwidth', // sorts before the next one in UTF-8 bytes, after it in UTF-16 code units
  '\u{1D11E}clef',
  'a.txt', // with the folder `a` below: walk order puts `a/x` before `a.txt`
  'a-b',
];

function buildTree(root: string): void {
  for (let d = 0; d < TOP; d++) {
    for (let s = 0; s < SUB; s++) {
      for (let f = 0; f < PER_FOLDER; f++) writeFile(root, `d${d}/s${s}/f${f}.txt`, `file ${d}/${s}/${f}\n`.repeat(1 + (f % 4)));
    }
  }
  fs.mkdirSync(path.join(root, 'empty-a'));
  fs.mkdirSync(path.join(root, 'empty-b/nested-empty'), { recursive: true });
  for (const name of ODD_NAMES) writeFile(root, `names/${name}`, `I am ${JSON.stringify(name)}\n`);
  writeFile(root, 'names/a/x', 'inside a\n');
  fs.mkdirSync(path.join(root, 'links'));
  fs.symlinkSync('../d0/s0/f0.txt', path.join(root, 'links/rel'));
  fs.symlinkSync('/etc/hostname', path.join(root, 'links/abs-outside'));
  fs.symlinkSync('does/not/exist', path.join(root, 'links/dangling'));
  fs.symlinkSync('../d1', path.join(root, 'links/to-dir'));
  writeFile(root, 'modes/private.txt', 'secret\n', 0o600);
  writeFile(root, 'modes/script.sh', '#!/bin/sh\necho hi\n', 0o755);
  writeFile(root, 'modes/readonly.txt', 'ro\n', 0o444);
  writeFile(root, 'modes/locked-dir/inner.txt', 'inner\n');
  fs.chmodSync(path.join(root, 'modes/locked-dir'), 0o700);
  writeFile(root, 'modes/ro-dir/child.txt', 'child\n');
  fs.chmodSync(path.join(root, 'modes/ro-dir'), 0o555);
  writeFile(root, 'big/blob.bin', randomBytes(2.5 * 1024 * 1024)); // more than one 1 MiB copy chunk
  writeFile(root, 'big/empty.txt', '');
  const ancient = writeFile(root, 'old/ancient.txt', 'from 1990\n');
  fs.utimesSync(ancient, new Date('1990-05-06T07:08:09.123Z'), new Date('1990-05-06T07:08:09.123Z'));
  writeFile(root, 'kindswap', 'a file that becomes a folder\n');
}

function setMtime(file: string, iso: string): void {
  fs.utimesSync(file, new Date(iso), new Date(iso));
}

let tmp: string;

beforeAll(() => assertCliBuilt());
beforeEach(() => {
  tmp = makeTempDir('roundtrip');
});
afterEach(() => removeTempDir(tmp));

function backup(src: string, dest: string, type: string): BackupItem {
  const { result, items } = runCliJson(['backup', src, '--dest', dest, '--type', type, '--set', 'tree']);
  expectExit(result, 0);
  expect(items).toHaveLength(1);
  return asBackupItem(items[0]);
}

/** The counts a backup must report, given the source state it compared with and the state it saw. */
function expectCounts(report: BackupItem, before: Snapshot, after: Snapshot): void {
  const d = diffSnapshots(before, after);
  const files = (paths: string[]): number => paths.filter((p) => after.get(p)?.kind === 'file').length;
  // Each kind counted apart (issue 16): files, folders and symlinks add up to every entry.
  const kinds = [report.files, report.folders, report.symlinks];
  const total = (k: 'scanned' | 'added' | 'changed' | 'deleted' | 'unchanged'): number => kinds.reduce((sum, c) => sum + c[k], 0);
  const f = { scanned: total('scanned'), added: total('added'), changed: total('changed'), deleted: total('deleted'), unchanged: total('unchanged'), stored: report.files.stored };
  const ofKind = (kind: string): number => [...after.values()].filter((e) => e.kind === kind).length;
  expect([report.files.scanned, report.folders.scanned, report.symlinks.scanned]).toEqual([ofKind('file'), ofKind('dir'), ofKind('symlink')]);
  expect(report.files.added).toBe(files(d.added));
  expect({ scanned: f.scanned, added: f.added, deleted: f.deleted }).toEqual({ scanned: after.size, added: d.added.length, deleted: d.deleted.length });
  // A folder whose mtime moved only because its contents changed may count either way; data changes must count.
  expect(f.changed).toBeGreaterThanOrEqual(d.contentChanged.length + d.modeOnly.length);
  expect(f.changed).toBeLessThanOrEqual(d.contentChanged.length + d.modeOnly.length + d.dirMtimeOnly.length);
  expect(f.unchanged).toBe(f.scanned - f.added - f.changed);
  // Stored: every new or changed file's bytes; a mode-only change may reuse the earlier bytes.
  expect(f.stored).toBeGreaterThanOrEqual(files(d.added) + files(d.contentChanged));
  expect(f.stored).toBeLessThanOrEqual(files(d.added) + files(d.contentChanged) + files(d.modeOnly));
  expect(report.errorCount).toBe(0);
}

test('full -> incremental -> differential on 3,000 files; each restore equals the source as it was', async () => {
  const src = path.join(tmp, 'src');
  const dest = path.join(tmp, 'dest');
  buildTree(src);
  const f0 = path.join(src, 'd0/s0/f0.txt');
  const f0Original = { content: fs.readFileSync(f0), mtime: fs.statSync(f0).mtime };

  // --- full
  const s0 = snapshotTree(src);
  expect(s0.size).toBeGreaterThan(3000);
  const full = backup(src, dest, 'full');
  expect(compareSnapshots(s0, snapshotTree(src))).toEqual([]); // a backup leaves its source alone
  expect(full.type).toBe('full');
  // Each kind counted apart (issue 16); together they are every entry of the source.
  const ofKind = (kind: string): number => [...s0.values()].filter((e) => e.kind === kind).length;
  expect([full.files.scanned, full.folders.scanned, full.symlinks.scanned]).toEqual([ofKind('file'), ofKind('dir'), ofKind('symlink')]);
  expect(full.files.scanned + full.folders.scanned + full.symlinks.scanned).toBe(s0.size);
  expect([full.files.added, full.folders.added, full.symlinks.added]).toEqual([ofKind('file'), ofKind('dir'), ofKind('symlink')]);
  expect(full.files.stored).toBe(ofKind('file') - full.files.links);
  expect(full.bytes.scanned).toBe([...s0.values()].reduce((sum, e) => sum + (e.size ?? 0), 0));

  // --- round 1: modify, add, delete, rename, retarget, change kind, move in an old file
  for (let i = 0; i < 10; i++) fs.appendFileSync(path.join(src, `d0/s0/f${i}.txt`), 'changed in round 1\n');
  const sneaky = path.join(src, 'd5/s5/f5.txt');
  const sneakyStat = fs.statSync(sneaky);
  const sneakyText = fs.readFileSync(sneaky, 'utf8');
  fs.writeFileSync(sneaky, sneakyText.toUpperCase()); // same size, and the old mtime put back: only ctime tells
  fs.utimesSync(sneaky, sneakyStat.atime, sneakyStat.mtime);
  fs.chmodSync(path.join(src, 'd6/s6/f6.txt'), 0o640);
  for (let i = 0; i < 10; i++) writeFile(src, `d7/s7/new-${i}.txt`, `new ${i}\n`);
  writeFile(src, 'added-dir/one.txt', 'one\n');
  writeFile(src, 'added-dir/two/three.txt', 'three\n');
  fs.mkdirSync(path.join(src, 'added-empty'));
  setMtime(writeFile(src, 'd8/moved-in.txt', 'moved in with an old mtime\n'), '2001-09-09T01:46:40.000Z');
  for (let i = 0; i < 5; i++) fs.rmSync(path.join(src, `d9/s9/f${i}.txt`));
  fs.rmdirSync(path.join(src, 'empty-a'));
  fs.rmSync(path.join(src, 'links/dangling'));
  fs.renameSync(path.join(src, 'd3/s5'), path.join(src, 'd3/s5-renamed'));
  fs.rmSync(path.join(src, 'links/rel'));
  fs.symlinkSync('../d0/s0/f1.txt', path.join(src, 'links/rel'));
  fs.rmSync(path.join(src, 'kindswap'));
  writeFile(src, 'kindswap/inside.txt', 'now a folder\n');
  fs.appendFileSync(path.join(src, 'names/new\nline'), 'more\n');

  const s1 = snapshotTree(src);
  const inc = backup(src, dest, 'incremental');
  expect(inc.type).toBe('incremental');
  expectCounts(inc, s0, s1);
  const d1 = diffSnapshots(s0, s1);
  expect(d1.added).toEqual(expect.arrayContaining(['d8/moved-in.txt', 'd3/s5-renamed', 'd3/s5-renamed/f0.txt', 'kindswap/inside.txt', 'added-empty']));
  expect(d1.deleted).toEqual(expect.arrayContaining(['d3/s5', 'd3/s5/f29.txt', 'empty-a', 'links/dangling', 'd9/s9/f0.txt']));
  expect(d1.contentChanged).toEqual(expect.arrayContaining(['d5/s5/f5.txt', 'kindswap', 'links/rel']));

  // --- round 2: more changes; one file goes back to exactly its state in the full
  for (let i = 1; i <= 3; i++) fs.appendFileSync(path.join(src, `d1/s1/f${i}.txt`), 'changed in round 2\n');
  fs.rmSync(path.join(src, 'added-dir/one.txt'));
  writeFile(src, 'round2/r.txt', 'round 2\n');
  fs.chmodSync(path.join(src, 'modes/locked-dir'), 0o750);
  fs.rmSync(path.join(src, 'big/blob.bin'));
  setMtime(writeFile(src, 'd2/old-moved.txt', 'also moved in\n'), '1999-12-31T23:59:59.999Z');
  fs.writeFileSync(f0, f0Original.content);
  fs.utimesSync(f0, f0Original.mtime, f0Original.mtime);

  const s2 = snapshotTree(src);
  const diff = backup(src, dest, 'differential');
  expect(diff.type).toBe('differential');
  expectCounts(diff, s0, s2);

  // --- list
  const { result: listRun, items: listItems } = runCliJson(['list', '--dest', dest]);
  expectExit(listRun, 0);
  const listed = listItems.map(asListItem);
  expect(listed.map((b) => [b.backupId, b.type, b.base, b.parent, b.complete])).toEqual([
    [full.backupId, 'full', null, null, true],
    [inc.backupId, 'incremental', full.backupId, full.backupId, true],
    [diff.backupId, 'differential', full.backupId, full.backupId, true],
  ]);
  expect(listed.map((b) => b.files)).toEqual([full.files, inc.files, diff.files]);
  expect(findPartials(dest)).toEqual([]);

  // --- restore each backup into a fresh folder (at once: restores only read the set)
  const expected: [string, Snapshot][] = [
    [full.backupId as string, s0],
    [inc.backupId as string, s1],
    ['latest', s2],
  ];
  const runs = expected.map(([id]) => startCli(['restore', '--dest', dest, '--set', 'tree', '--backup', id, '--target', path.join(tmp, `restore-${id}`), '--json']));
  const results = await Promise.all(runs.map((r) => r.done));
  expected.forEach(([id, snapshot], i) => {
    expectExit(results[i], 0);
    const items = parseJsonArray(results[i]);
    expect(items).toHaveLength(1);
    expect(items[0].backupId).toBe(id === 'latest' ? diff.backupId : id);
    expect(items[0].errorCount).toBe(0);
    expect(compareSnapshots(snapshot, snapshotTree(path.join(tmp, `restore-${id}`)))).toEqual([]);
  });
});

test('an incremental after an incremental compares with the newest backup of the chain', () => {
  const src = path.join(tmp, 'src');
  const dest = path.join(tmp, 'dest');
  writeFile(src, 'a.txt', 'a\n');
  writeFile(src, 'b.txt', 'b\n');
  const full = backup(src, dest, 'full');
  writeFile(src, 'c.txt', 'c\n');
  const inc1 = backup(src, dest, 'incremental');
  fs.rmSync(path.join(src, 'a.txt'));
  const s2 = snapshotTree(src);
  const inc2 = backup(src, dest, 'incremental');
  expect(inc2.files).toEqual({ scanned: 2, added: 0, changed: 0, deleted: 1, unchanged: 2, stored: 0, links: 0 });
  const listed = runCliJson(['list', '--dest', dest]).items.map(asListItem);
  expect(listed.map((b) => [b.type, b.base, b.parent])).toEqual([
    ['full', null, null],
    ['incremental', full.backupId, full.backupId],
    ['incremental', full.backupId, inc1.backupId],
  ]);
  const target = path.join(tmp, 'restored');
  expectExit(runCliJson(['restore', '--dest', dest, '--set', 'tree', '--target', target]).result, 0);
  expect(compareSnapshots(s2, snapshotTree(target))).toEqual([]);
});
