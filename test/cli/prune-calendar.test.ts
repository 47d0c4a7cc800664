/**
 * Calendar retention through the CLI (README "Retention"): --keep-last/-hourly/-daily/-weekly/
 * -monthly/-yearly, --keep-within and --time-zone on prune and backup; --dry-run shows the same
 * rules as the real run; a kept incremental keeps its chain as references; what stays restores.
 * Backups are moved back in time with backdateBackup (the CLI has no clock flag).
 * Runs the built binary: `npm run build` first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackupItem, Snapshot } from '../helpers/cli';
import {
  asBackupItem, assertCliBuilt, backdateBackup, expectExit, listJson, makeTempDir, removeTempDir, restoreDiffs, runCli, runCliJson, snapshotTree, writeFile,
} from '../helpers/cli';

const SET = 'cal';
const DAY = 86_400_000;

let tmp: string;
let src: string;
let dest: string;
let setDir: string;
let states: Map<string, Snapshot>;
let edits = 0;

beforeAll(() => assertCliBuilt());
beforeEach(() => {
  tmp = makeTempDir('prune-calendar');
  src = path.join(tmp, 'src');
  dest = path.join(tmp, 'dest');
  setDir = path.join(dest, SET);
  states = new Map();
  writeFile(src, 'a.txt', 'a\n');
  writeFile(src, 'b/c.txt', 'c\n');
});
afterEach(() => removeTempDir(tmp));

function edit(rel: string): void {
  edits++;
  writeFile(src, rel, `edit ${edits}\n`.repeat(edits));
}

function backup(...flags: string[]): BackupItem {
  const state = snapshotTree(src);
  const { result, items } = runCliJson(['backup', src, '--dest', dest, '--set', SET, ...flags]);
  expectExit(result, 0);
  const item = asBackupItem(items[0]);
  if (item.backupId !== null) states.set(item.backupId, state);
  return item;
}

/** A backup of `type` made `days` ago (moved back right after it was made, so the order holds). */
function backupDaysAgo(type: string, days: number): string {
  edit(type === 'full' ? 'b/c.txt' : 'a.txt');
  const made = backup('--type', type);
  const id = backdateBackup(setDir, made.backupId as string, new Date(Date.now() - days * DAY));
  states.set(id, states.get(made.backupId as string) as Snapshot);
  states.delete(made.backupId as string);
  return id;
}

const ids = (): string[] => listJson(dest, SET).map((b) => b.backupId);

function expectAllRestore(): void {
  const diffs: string[] = [];
  for (const id of ids()) {
    const target = path.join(tmp, 'restore', id);
    diffs.push(...restoreDiffs(dest, SET, id, states.get(id) as Snapshot, target));
    fs.rmSync(target, { recursive: true, force: true });
  }
  expect(diffs).toEqual([]);
}

function prune(...flags: string[]): Record<string, unknown> {
  const { result, items } = runCliJson(['prune', '--dest', dest, '--set', SET, ...flags]);
  expectExit(result, 0);
  return items[0];
}

test('prune --keep-daily 2: the two newest days stay, their full as a reference; --dry-run reports the same rules', () => {
  const [f1, i1, i2, f2, i3, i4] = [backupDaysAgo('full', 6), backupDaysAgo('incremental', 5), backupDaysAgo('incremental', 4), backupDaysAgo('full', 3), backupDaysAgo('incremental', 2), backupDaysAgo('incremental', 1)];
  const dry = prune('--keep-daily', '2', '--dry-run');
  expect(dry).toEqual(expect.objectContaining({ dryRun: true, removed: [i2, i1, f1], kept: [f2, i3, i4], keptReferenced: [f2] }));
  expect(dry.rules).toEqual({ [i4]: ['daily #1'], [i3]: ['daily #2'], [f2]: [`reference of ${i4}`, `reference of ${i3}`] });
  expect(ids()).toEqual([f1, i1, i2, f2, i3, i4]);
  const text = runCli(['prune', '--dest', dest, '--set', SET, '--keep-daily', '2', '--dry-run']);
  expectExit(text, 0);
  expect(text.stdout).toContain(`kept ${i4}: daily #1`);
  expect(text.stdout).toContain(`would remove ${f1}`);

  const done = prune('--keep-daily', '2');
  expect(done).toEqual(expect.objectContaining({ dryRun: false, removed: dry.removed, kept: dry.kept, rules: dry.rules }));
  expect(ids()).toEqual([f2, i3, i4]);
  expectAllRestore();
  expectExit(runCli(['verify', '--dest', dest, '--set', SET, '--full']), 0);
});

test('calendar rules add to --keep-full; --keep-within counts back from the newest backup', () => {
  const [f1, i1, f2, i2] = [backupDaysAgo('full', 40), backupDaysAgo('incremental', 39), backupDaysAgo('full', 10), backupDaysAgo('incremental', 9)];
  // --keep-full 1 alone removes the old chain; --keep-daily 3 (three days that have a backup) reaches i1, and f1 for it.
  expect(prune('--keep-full', '1', '--dry-run').removed).toEqual([i1, f1]);
  const withDaily = prune('--keep-full', '1', '--keep-daily', '3', '--dry-run');
  expect(withDaily.removed).toEqual([]);
  const rules = withDaily.rules as Record<string, string[]>;
  expect([rules[i2], rules[f2], rules[i1], rules[f1]]).toEqual([['all incremental', 'daily #1'], ['full #1', 'daily #2'], ['daily #3'], [`reference of ${i1}`]]);
  // 2 days back from i2 (9 days ago) reaches f2 (10 days ago), not the old chain.
  const within = prune('--keep-within', '2d', '--time-zone', 'Europe/Berlin');
  expect(within).toEqual(expect.objectContaining({ removed: [i1, f1], kept: [f2, i2] }));
  expect((within.rules as Record<string, string[]>)[i2]).toEqual(['within 2d']);
  expect(ids()).toEqual([f2, i2]);
  expectAllRestore();
});

test('backup --keep-last 1 applies calendar retention after the backup and reports the rules', () => {
  const f1 = backupDaysAgo('full', 3);
  const i1 = backupDaysAgo('incremental', 2);
  edit('a.txt');
  const made = backup('--type', 'full', '--keep-last', '1', '--time-zone', 'UTC');
  expect(made.retention).toEqual({ removed: [i1, f1], keptReferenced: [], kept: [made.backupId], rules: { [made.backupId as string]: ['last #1'] } });
  expect(ids()).toEqual([made.backupId]);
});

test.each([
  [['--keep-within', '30 days'], /--keep-within takes a duration .*30d, 2w, 1y2m/],
  [['--keep-within', '1d1d'], /--keep-within/],
  [['--time-zone', 'Mars/Olympus'], /--time-zone takes an IANA time zone name/],
  [['--keep-daily', '-1'], /--keep-daily/],
  [['--keep-weekly', 'x'], /--keep-weekly takes a whole number/],
])('prune and backup refuse %j (usage error, exit 2)', (flags, message) => {
  for (const args of [['prune', '--dest', dest, '--set', SET], ['backup', src, '--dest', dest]]) {
    const r = runCli([...args, ...flags]);
    expectExit(r, 2);
    expect(r.stderr).toMatch(message);
  }
  expect(fs.existsSync(dest)).toBe(false);
});

test('calendar flags do not apply to restore, verify or list', () => {
  for (const args of [['restore', '--dest', dest, '--set', SET, '--target', path.join(tmp, 't')], ['verify', '--dest', dest, '--set', SET], ['list', '--dest', dest]]) {
    const r = runCli([...args, '--keep-daily', '3']);
    expectExit(r, 2);
    expect(r.stderr).toMatch(/--keep-daily does not apply/);
  }
});
