/**
 * `backup --dry-run` and `status` through the built CLI (README "Dry run", "Status"): a dry run
 * reports what the next backup stores and leaves the destination as it was; status reports the
 * newest backup, the last run and the chain check, exit status 1 when the set is not OK.
 * Runs the built binary: `npm run build` first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { asBackupItem, assertCliBuilt, expectExit, makeTempDir, removeTempDir, runCli, runCliJson, writeFile } from '../helpers/cli';

const SET = 's';
let tmp: string;
let src: string;
let dest: string;

beforeAll(() => assertCliBuilt());
beforeEach(() => {
  tmp = makeTempDir('dry-run-status');
  src = path.join(tmp, 'src');
  dest = path.join(tmp, 'dest');
  writeFile(src, 'a.txt', 'alpha\n');
  writeFile(src, 'docs/b.txt', 'bravo bravo\n');
  writeFile(src, 'docs/c.txt', 'charlie\n');
});
afterEach(() => removeTempDir(tmp));

/** Names, sizes and mtimes of everything under root. */
function listing(root: string): string[] {
  if (!fs.existsSync(root)) return ['(missing)'];
  const out = [`. ${fs.statSync(root).mtimeMs}`];
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const abs = path.join(dir, name);
      const st = fs.lstatSync(abs);
      out.push(`${path.relative(root, abs)} ${st.isDirectory() ? 'dir' : st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(abs);
    }
  };
  walk(root);
  return out;
}

describe('backup --dry-run', () => {
  test.each(['folder', 'tar.gz'])('%s: reports what the next backup stores, writes nothing', (format) => {
    expectExit(runCli(['backup', src, '--dest', dest, '--set', SET, '--format', format]), 0);
    writeFile(src, 'new.txt', 'new file\n');
    writeFile(src, 'docs/b.txt', 'bravo changed, longer\n');
    fs.rmSync(path.join(src, 'docs/c.txt'));
    const before = listing(dest);
    const { result, items } = runCliJson(['backup', src, '--dest', dest, '--set', SET, '--format', format, '--dry-run', '--json']);
    expectExit(result, 0);
    expect(listing(dest)).toEqual(before);
    const dry = asBackupItem(items[0]);
    expect(dry).toMatchObject({ dryRun: true, type: 'incremental', backupId: null, skipped: false, files: { added: 1, changed: 1, deleted: 1, stored: 2 } });
    expect(dry.summary).toMatch(/^dry run: /);
    const human = runCli(['backup', src, '--dest', dest, '--set', SET, '--format', format, '--dry-run']);
    expectExit(human, 0);
    expect(human.stdout).toMatch(/^dry run: incremental backup of .* would store 2 files, .* nothing was written\./);
    expect(listing(dest)).toEqual(before);

    const real = runCliJson(['backup', src, '--dest', dest, '--set', SET, '--format', format, '--json']);
    expectExit(real.result, 0);
    const made = asBackupItem(real.items[0]);
    expect(made.files).toEqual(dry.files);
    expect(made.bytes.stored).toBe(dry.bytes.stored);
    expect(made.dryRun).toBeUndefined();
  });

  test('into a destination that does not exist: a full, and no folder made', () => {
    const { result, items } = runCliJson(['backup', src, '--dest', dest, '--dry-run', '--json']);
    expectExit(result, 0);
    expect(asBackupItem(items[0])).toMatchObject({ dryRun: true, type: 'full', files: { stored: 3 } });
    expect(fs.existsSync(dest)).toBe(false);
  });
});

describe('status', () => {
  test('a set with no run: exit 1, "no run recorded"', () => {
    fs.mkdirSync(dest);
    const result = runCli(['status', '--dest', dest, '--set', SET]);
    expectExit(result, 1);
    expect(result.stdout).toMatch(/^Set s: NOT OK: no complete backup; last run no run recorded;/);
    expect(result.stderr).toMatch(/\[STATUS_NOT_OK\]/);
  });

  test('after a backup: exit 0 with the newest backup, the run and the chain; a failed run makes it exit 1', () => {
    const made = runCliJson(['backup', src, '--dest', dest, '--set', SET, '--json']);
    expectExit(made.result, 0);
    const id = made.items[0].backupId as string;
    const ok = runCliJson(['status', '--dest', dest, '--set', SET, '--json']);
    expectExit(ok.result, 0);
    expect(ok.items).toHaveLength(1);
    expect(ok.items[0]).toMatchObject({ set: SET, ok: true, backupCount: 1, lastRunOutcome: 'success', newest: { backupId: id, type: 'full' }, health: { checked: true, ok: true } });
    expect(typeof (ok.items[0].newest as Record<string, unknown>).ageSeconds).toBe('number');

    expectExit(runCli(['backup', path.join(tmp, 'gone'), '--dest', dest, '--set', SET]), 1);
    const failed = runCli(['status', '--dest', dest, '--set', SET]);
    expectExit(failed, 1);
    expect(failed.stdout).toMatch(/last run failed .* \(SOURCE_MISSING\)/);
  });

  test('usage: --set is required, backup flags do not apply', () => {
    expectExit(runCli(['status', '--dest', dest]), 2);
    expectExit(runCli(['status', '--dest', dest, '--set', SET, '--dry-run']), 2);
  });
});
