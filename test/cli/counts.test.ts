/**
 * The command line's counts (README "Counts"): list's table has FILES, FOLDERS and SYMLINKS apart,
 * with "?" for a backup made before they were counted apart, and an incremental on top of such a
 * backup counts each kind. Runs the built binary: `npm run build` first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { asBackupItem, assertCliBuilt, expectExit, makeTempDir, removeTempDir, runCli, runCliJson } from '../helpers/cli';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'pre-kind-counts', 'old-folder');

let tmp: string;
beforeAll(() => assertCliBuilt());
beforeEach(() => {
  tmp = makeTempDir('counts');
});
afterEach(() => removeTempDir(tmp));

/** The tree of the fixture: 5 files (docs/hard.txt a hard link of docs/a.txt), 3 folders, 2 symlinks. */
function makeTree(src: string): void {
  fs.mkdirSync(path.join(src, 'docs', 'deep'), { recursive: true });
  fs.mkdirSync(path.join(src, 'empty'));
  fs.writeFileSync(path.join(src, 'top.txt'), 'top\n');
  fs.writeFileSync(path.join(src, 'docs', 'a.txt'), 'alpha\n');
  fs.writeFileSync(path.join(src, 'docs', 'b.txt'), 'beta\n');
  fs.writeFileSync(path.join(src, 'docs', 'deep', 'c.txt'), 'gamma\n');
  fs.linkSync(path.join(src, 'docs', 'a.txt'), path.join(src, 'docs', 'hard.txt'));
  fs.symlinkSync('a.txt', path.join(src, 'docs', 'to-a'));
  fs.symlinkSync('docs', path.join(src, 'link-out'));
}

test('an old backup lists with "?" per kind and its entries; a new one on top counts each kind', () => {
  const dest = path.join(tmp, 'dest');
  fs.cpSync(FIXTURE, dest, { recursive: true });
  const src = path.join(tmp, 'src');
  makeTree(src);

  const { result, items } = runCliJson(['backup', src, '--dest', dest, '--set', 'old', '--type', 'full']);
  expectExit(result, 0);
  const made = asBackupItem(items[0]);
  expect(made.files).toMatchObject({ scanned: 5, added: 5, stored: 4, links: 1 });
  expect(made.folders).toMatchObject({ scanned: 3, added: 3 });
  expect(made.symlinks).toMatchObject({ scanned: 2, added: 2 });

  const listed = runCli(['list', '--dest', dest, '--set', 'old']);
  expectExit(listed, 0);
  const lines = listed.stdout.trimEnd().split('\n');
  expect(lines[0].split(/\s+/)).toEqual(['SET', 'BACKUP', 'TYPE', 'FORMAT', 'STARTED', 'PARENT', 'ENTRIES', 'FILES', 'FOLDERS', 'SYMLINKS', 'STORED', 'SIZE', 'COMPLETE']);
  const cells = (line: string): string[] => line.split(/\s+/).slice(6, 11);
  expect(cells(lines[1])).toEqual(['10', '?', '?', '?', '4']);
  expect(cells(lines[2])).toEqual(['10', '5', '3', '2', '4']);
  expect(lines[3]).toBe('?: made before files, folders and symlinks were counted apart (ENTRIES has them together).');
});
