/**
 * Several sources in one call, and the refusals that exit 1 with one clear line on stderr and a
 * code in the --json output.
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliResult, FailureItem, JsonObject } from '../helpers/cli';
import {
  asBackupItem, asFailureItem, asListItem, assertCliBuilt, expectExit, findPartials, isFailureItem, makeTempDir, removeTempDir, runCli, runCliJson, snapshotTree,
  stderrProblems, writeFile,
} from '../helpers/cli';

let tmp: string;
let src: string;
let dest: string;

beforeAll(() => assertCliBuilt());
beforeEach(() => {
  tmp = makeTempDir('refuse');
  src = path.join(tmp, 'src');
  dest = path.join(tmp, 'dest');
  writeFile(src, 'a.txt', 'alpha\n');
  writeFile(src, 'sub/b.txt', 'beta\n');
});
afterEach(() => removeTempDir(tmp));

/** A refused command: exit 1, one line on stderr naming the code, and `[failure]` on stdout. */
function expectRefusal(result: CliResult, items: JsonObject[], code: string): FailureItem {
  expectExit(result, 1);
  expect(stderrProblems(result.stderr)).toEqual([]);
  expect(result.stderr).toMatch(/^n8n-backup: /);
  expect(result.stderr).toContain(code);
  expect(items).toHaveLength(1);
  const failure = asFailureItem(items[0]);
  expect(failure.code).toBe(code);
  expect(failure.error.length).toBeGreaterThan(10);
  return failure;
}

// One full backup of the standard source (set "main"), made once; fullBackup() gives each test its own copy.
let template: string | undefined;

afterAll(() => removeTempDir(template));

function fullBackup(): void {
  if (template === undefined) {
    template = makeTempDir('refuse-template');
    const { result } = runCliJson(['backup', src, '--dest', path.join(template, 'dest'), '--type', 'full', '--set', 'main']);
    expectExit(result, 0);
  }
  fs.cpSync(path.join(template, 'dest'), dest, { recursive: true, preserveTimestamps: true });
}

describe('several sources in one call', () => {
  test('each source is its own set', () => {
    const other = path.join(tmp, 'other');
    writeFile(other, 'c.txt', 'gamma\n');
    const { result, items } = runCliJson(['backup', src, other, '--dest', dest, '--type', 'full']);
    expectExit(result, 0);
    expect(result.stderr).toBe('');
    const reports = items.map(asBackupItem);
    expect(reports.map((r) => r.source)).toEqual([src, other]);
    expect(new Set(reports.map((r) => r.set)).size).toBe(2);
    expect(reports.map((r) => r.files.stored)).toEqual([2, 1]);
    const listed = runCliJson(['list', '--dest', dest]).items.map(asListItem);
    expect(listed.map((b) => b.set).sort()).toEqual(reports.map((r) => r.set).sort());
  });

  test('a missing source among them: exit 1, the good ones are backed up, the bad one is {source, error, code}', () => {
    const other = path.join(tmp, 'other');
    const missing = path.join(tmp, 'no-such-folder');
    writeFile(other, 'c.txt', 'gamma\n');
    const { result, items } = runCliJson(['backup', src, missing, other, '--dest', dest, '--type', 'full']);
    expectExit(result, 1);
    expect(items).toHaveLength(3);
    expect(asBackupItem(items[0]).source).toBe(src);
    expect(asBackupItem(items[2]).source).toBe(other);
    const failure = asFailureItem(items[1]);
    expect(failure).toMatchObject({ source: missing, code: 'SOURCE_MISSING' });
    expect(failure.error).toContain(missing);
    expect(stderrProblems(result.stderr)).toEqual([]);
    expect(result.stderr).toContain(missing);
    expect(result.stderr).toContain('SOURCE_MISSING');
    expect(runCliJson(['list', '--dest', dest]).items).toHaveLength(2);
  });

  test('without --json: summaries on stdout for the good ones, one error line on stderr for the bad one', () => {
    const missing = path.join(tmp, 'gone');
    const r = runCli(['backup', src, missing, '--dest', dest, '--type', 'full']);
    expectExit(r, 1);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toContain(src);
    expect(stderrProblems(r.stderr)).toEqual([]);
    expect(r.stderr).toContain(missing);
  });

  test('--set with two sources is refused (INVALID_OPTION) and nothing is written', () => {
    const other = path.join(tmp, 'other');
    writeFile(other, 'c.txt', 'gamma\n');
    const { result, items } = runCliJson(['backup', src, other, '--dest', dest, '--set', 'both']);
    expectRefusal(result, items, 'INVALID_OPTION');
    expect(fs.existsSync(path.join(dest, 'both'))).toBe(false);
  });
});

describe('backup refusals', () => {
  test('missing source: SOURCE_MISSING', () => {
    const missing = path.join(tmp, 'missing');
    const { result, items } = runCliJson(['backup', missing, '--dest', dest]);
    expect(expectRefusal(result, items, 'SOURCE_MISSING').source).toBe(missing);
  });

  test('source is a file: SOURCE_NOT_DIRECTORY', () => {
    const file = path.join(src, 'a.txt');
    const { result, items } = runCliJson(['backup', file, '--dest', dest]);
    expect(expectRefusal(result, items, 'SOURCE_NOT_DIRECTORY').source).toBe(file);
  });

  test('destination inside the source: DESTINATION_INSIDE_SOURCE, and nothing is created there', () => {
    const inside = path.join(src, 'backups');
    const { result, items } = runCliJson(['backup', src, '--dest', inside]);
    expectRefusal(result, items, 'DESTINATION_INSIDE_SOURCE');
    expect(fs.existsSync(inside)).toBe(false);
  });

  test('a destination named ..bk inside the source: DESTINATION_INSIDE_SOURCE (a bare startsWith("..") let it through)', () => {
    const inside = path.join(src, '..bk');
    const { result, items } = runCliJson(['backup', src, '--dest', inside]);
    expectRefusal(result, items, 'DESTINATION_INSIDE_SOURCE');
    expect(fs.existsSync(inside)).toBe(false);
  });

  test('a restore target named ..t inside the backup set: TARGET_INSIDE_BACKUP', () => {
    fullBackup();
    const target = path.join(dest, 'main', '..t');
    const { result, items } = runCliJson(['restore', '--dest', dest, '--set', 'main', '--target', target]);
    expectRefusal(result, items, 'TARGET_INSIDE_BACKUP');
    expect(fs.existsSync(target)).toBe(false);
  });

  test('destination equal to the source: DESTINATION_INSIDE_SOURCE', () => {
    const before = snapshotTree(src);
    const { result, items } = runCliJson(['backup', src, '--dest', src]);
    expectRefusal(result, items, 'DESTINATION_INSIDE_SOURCE');
    expect([...snapshotTree(src).keys()]).toEqual([...before.keys()]);
  });

  test('source inside the destination: SOURCE_INSIDE_DESTINATION', () => {
    const { result, items } = runCliJson(['backup', src, '--dest', tmp]);
    expectRefusal(result, items, 'SOURCE_INSIDE_DESTINATION');
  });

  test('destination inside the source through a symlink: DESTINATION_INSIDE_SOURCE', () => {
    const link = path.join(tmp, 'looks-elsewhere');
    fs.symlinkSync(src, link);
    const { result, items } = runCliJson(['backup', src, '--dest', path.join(link, 'nested', 'backups')]);
    expectRefusal(result, items, 'DESTINATION_INSIDE_SOURCE');
    expect(fs.existsSync(path.join(src, 'nested'))).toBe(false);
  });

  test('destination through a symlink that points into a sub-folder of the source: DESTINATION_INSIDE_SOURCE', () => {
    const link = path.join(tmp, 'into-sub');
    fs.symlinkSync(path.join(src, 'sub'), link);
    const { result, items } = runCliJson(['backup', src, '--dest', link]);
    expectRefusal(result, items, 'DESTINATION_INSIDE_SOURCE');
  });

  test('source given through a symlink into the destination: SOURCE_INSIDE_DESTINATION', () => {
    writeFile(dest, 'inner/x.txt', 'x');
    const link = path.join(tmp, 'src-link');
    fs.symlinkSync(path.join(dest, 'inner'), link);
    const { result, items } = runCliJson(['backup', link, '--dest', dest]);
    expectRefusal(result, items, 'SOURCE_INSIDE_DESTINATION');
  });

  test('a destination that is a file: DESTINATION_UNUSABLE', () => {
    const file = writeFile(tmp, 'dest-file', 'not a folder');
    const { result, items } = runCliJson(['backup', src, '--dest', file]);
    expectRefusal(result, items, 'DESTINATION_UNUSABLE');
    expect(fs.readFileSync(file, 'utf8')).toBe('not a folder');
  });

  test('an invalid --set name is refused with a code, not a crash', () => {
    const { result, items } = runCliJson(['backup', src, '--dest', dest, '--set', '../escape']);
    expectRefusal(result, items, 'SET_NAME_INVALID');
    expect(fs.existsSync(path.join(tmp, 'escape'))).toBe(false);
  });
});

describe('restore refusals and overwrite policies', () => {
  test('restore into a non-empty target: TARGET_NOT_EMPTY and the target is left alone', () => {
    fullBackup();
    const target = path.join(tmp, 'target');
    writeFile(target, 'a.txt', 'mine\n');
    writeFile(target, 'keep.txt', 'not in the backup\n');
    const before = snapshotTree(target);
    const { result, items } = runCliJson(['restore', '--dest', dest, '--set', 'main', '--target', target]);
    expectRefusal(result, items, 'TARGET_NOT_EMPTY');
    expect(snapshotTree(target)).toEqual(before);
  });

  test('--overwrite replaces what is there; files not in the backup stay', () => {
    fullBackup();
    const target = path.join(tmp, 'target');
    writeFile(target, 'a.txt', 'mine\n');
    writeFile(target, 'keep.txt', 'not in the backup\n');
    const { result, items } = runCliJson(['restore', '--dest', dest, '--set', 'main', '--target', target, '--overwrite']);
    expectExit(result, 0);
    expect(items).toHaveLength(1);
    expect(items[0].backupId).toEqual(expect.stringMatching(/-full$/));
    expect(fs.readFileSync(path.join(target, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(fs.readFileSync(path.join(target, 'sub/b.txt'), 'utf8')).toBe('beta\n');
    expect(fs.readFileSync(path.join(target, 'keep.txt'), 'utf8')).toBe('not in the backup\n');
  });

  test('--overwrite replaces a symlink planted in the target instead of writing through it', () => {
    fullBackup();
    const target = path.join(tmp, 'target');
    const outside = writeFile(tmp, 'outside.txt', 'outside\n');
    fs.mkdirSync(target);
    fs.symlinkSync(outside, path.join(target, 'a.txt'));
    const { result } = runCliJson(['restore', '--dest', dest, '--set', 'main', '--target', target, '--overwrite']);
    expectExit(result, 0);
    expect(fs.readFileSync(outside, 'utf8')).toBe('outside\n');
    expect(fs.lstatSync(path.join(target, 'a.txt')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(target, 'a.txt'), 'utf8')).toBe('alpha\n');
  });

  test('--skip-existing leaves an existing file untouched and restores the rest', () => {
    fullBackup();
    const target = path.join(tmp, 'target');
    const mine = writeFile(target, 'a.txt', 'mine\n');
    const old = new Date('2001-02-03T04:05:06Z');
    fs.utimesSync(mine, old, old);
    const { result, items } = runCliJson(['restore', '--dest', dest, '--set', 'main', '--target', target, '--skip-existing']);
    expectExit(result, 0);
    expect(fs.readFileSync(mine, 'utf8')).toBe('mine\n');
    expect(fs.statSync(mine).mtimeMs).toBe(old.getTime());
    expect(fs.readFileSync(path.join(target, 'sub/b.txt'), 'utf8')).toBe('beta\n');
    expect((items[0].files as { skipped: number }).skipped).toBe(1);
  });

  test('unknown backup id: BACKUP_NOT_FOUND (well-formed and malformed ids)', () => {
    fullBackup();
    for (const id of ['20000101T000000000Z-full', 'nonsense']) {
      const target = path.join(tmp, `target-${id}`);
      const { result, items } = runCliJson(['restore', '--dest', dest, '--set', 'main', '--backup', id, '--target', target]);
      expectRefusal(result, items, 'BACKUP_NOT_FOUND');
      expect(fs.existsSync(target) && fs.readdirSync(target).length > 0).toBe(false);
    }
  });

  test('unknown set: SET_NOT_FOUND', () => {
    fullBackup();
    const { result, items } = runCliJson(['restore', '--dest', dest, '--set', 'nope', '--target', path.join(tmp, 'target')]);
    expectRefusal(result, items, 'SET_NOT_FOUND');
  });

  test('restore from a destination that does not exist: SET_NOT_FOUND, not a crash', () => {
    const { result, items } = runCliJson(['restore', '--dest', path.join(tmp, 'nowhere'), '--set', 'main', '--target', path.join(tmp, 'target')]);
    expectRefusal(result, items, 'SET_NOT_FOUND');
  });

  test('a restore target that is a file: TARGET_UNUSABLE', () => {
    fullBackup();
    const file = writeFile(tmp, 'target-file', 'keep me');
    const { result, items } = runCliJson(['restore', '--dest', dest, '--set', 'main', '--target', file]);
    expectRefusal(result, items, 'TARGET_UNUSABLE');
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me');
  });

  test('list --set with an invalid set name: SET_NAME_INVALID', () => {
    fullBackup();
    const { result, items } = runCliJson(['list', '--dest', dest, '--set', '../main']);
    expectRefusal(result, items, 'SET_NAME_INVALID');
  });

  test('restore into the backup set itself is refused', () => {
    fullBackup();
    const { result, items } = runCliJson(['restore', '--dest', dest, '--set', 'main', '--target', path.join(dest, 'main', 'restored')]);
    expectExit(result, 1);
    expect(stderrProblems(result.stderr)).toEqual([]);
    expect(items.every(isFailureItem)).toBe(true);
    expect(findPartials(dest)).toEqual([]);
  });

  test('every refusal without --json: exit 1, one line on stderr, nothing on stdout', () => {
    fullBackup();
    const r = runCli(['restore', '--dest', dest, '--set', 'main', '--backup', 'nonsense', '--target', path.join(tmp, 't')]);
    expectExit(r, 1);
    expect(r.stdout).toBe('');
    expect(stderrProblems(r.stderr)).toEqual([]);
    expect(r.stderr).toContain('BACKUP_NOT_FOUND');
  });
});
