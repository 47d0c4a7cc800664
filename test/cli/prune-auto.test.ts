/**
 * Automatic mode and retention through the CLI (README "Automatic mode", "Retention"):
 * - `--type auto` (the default): first a full ("auto: no full backup yet"), then incrementals;
 *   no change -> skipped ("no changes"), unless --no-skip-unchanged; explicit types never skip
 *   unless --skip-unchanged; an empty source is skipped ("source is empty").
 * - --full-every-days / --differential-every-days: the CLI has no clock flag, so a backup is moved
 *   back in time by giving it an older id (helpers' backdateBackup rewrites the id everywhere).
 * - retention after a backup (--keep-*) and `prune` (--dry-run, keep flags, unknown set): removed
 *   newest first, chains removed whole, what a kept backup points into is kept and reported, and
 *   every backup that stays restores exactly.
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackupItem, Snapshot } from '../helpers/cli';
import {
  asBackupItem, asFailureItem, assertCliBuilt, backdateBackup, expectExit, findPartials, listJson, makeTempDir, removeTempDir, restoreDiffs, runCli, runCliJson,
  snapshotTree, stderrProblems, writeFile,
} from '../helpers/cli';

const SET = 'p';
const DAY = 86_400_000;

let tmp: string;
let src: string;
let dest: string;
let setDir: string;
/** The source state each backup must restore to. */
let states: Map<string, Snapshot>;
let edits = 0;

beforeAll(() => assertCliBuilt());
beforeEach(() => {
  tmp = makeTempDir('prune-auto');
  src = path.join(tmp, 'src');
  dest = path.join(tmp, 'dest');
  setDir = path.join(dest, SET);
  states = new Map();
  for (let i = 0; i < 20; i++) writeFile(src, `docs/d${i}.txt`, `document ${i}\n`);
  writeFile(src, 'notes/a.txt', 'a\n');
  writeFile(src, 'notes/b.txt', 'b\n');
  fs.symlinkSync('docs/d0.txt', path.join(src, 'link'));
});
afterEach(() => removeTempDir(tmp));

/** Changes one file (a new size, so it is a change whatever the clock does). */
function edit(rel: string): void {
  edits++;
  writeFile(src, rel, `edit ${edits} of ${rel}\n`.repeat(edits));
}

/** A backup run that must succeed; records the source state of what it wrote. */
function backup(...flags: string[]): BackupItem {
  const state = snapshotTree(src);
  const { result, items } = runCliJson(['backup', src, '--dest', dest, '--set', SET, ...flags]);
  expectExit(result, 0);
  expect(items).toHaveLength(1);
  const item = asBackupItem(items[0]);
  if (item.backupId !== null) states.set(item.backupId, state);
  return item;
}

/** Moves a backup `days` back in time (see backdateBackup) and keeps its recorded state under its new id. */
function backdate(id: string | null, days: number): string {
  const newId = backdateBackup(setDir, id as string, new Date(Date.now() - days * DAY));
  const state = states.get(id as string);
  if (state !== undefined) {
    states.delete(id as string);
    states.set(newId, state);
  }
  return newId;
}

const ids = (): string[] => listJson(dest, SET).map((b) => b.backupId);

/** Every backup left in the set restores exactly to the state it was taken from. */
function expectAllRestore(): void {
  const diffs: string[] = [];
  for (const id of ids()) {
    const want = states.get(id);
    if (want === undefined) throw new Error(`no recorded state for ${id}`);
    const target = path.join(tmp, 'restore', id);
    diffs.push(...restoreDiffs(dest, SET, id, want, target));
    fs.rmSync(target, { recursive: true, force: true });
  }
  expect(diffs).toEqual([]);
}

describe('automatic mode', () => {
  test('auto is the default: a full first, then an incremental for a change, then skipped when nothing changed', () => {
    const first = backup();
    expect(first).toEqual(expect.objectContaining({ operation: 'auto', type: 'full', skipped: false }));
    expect(first.decision).toContain('auto: no full backup yet');

    edit('notes/a.txt');
    const second = backup();
    expect(second).toEqual(expect.objectContaining({ operation: 'auto', type: 'incremental', skipped: false }));
    expect(second.decision).toContain(`auto: incremental, changes since ${first.backupId as string}`);
    expect(second.files).toEqual(expect.objectContaining({ added: 0, changed: 1, deleted: 0, stored: 1 }));

    const third = backup('--type', 'auto');
    expect(third).toEqual(expect.objectContaining({ operation: 'auto', type: null, backupId: null, skipped: true, skipReason: 'no changes' }));
    expect(third.decision).toBe(`skipped: no changes since ${second.backupId as string} (${(second.startedAt as string).slice(0, 16).replace('T', ' ')} UTC)`);
    expect(third.retention).toEqual({ removed: [], keptReferenced: [], kept: [], rules: {} });
    expect(ids()).toEqual([first.backupId, second.backupId]);
    expect(findPartials(dest)).toEqual([]);
    expectAllRestore();
  });

  test('--no-skip-unchanged writes an incremental with no change; explicit types write unless --skip-unchanged', () => {
    const full = backup();
    const forced = backup('--no-skip-unchanged');
    expect(forced).toEqual(expect.objectContaining({ type: 'incremental', skipped: false }));
    expect(forced.files).toEqual(expect.objectContaining({ added: 0, changed: 0, deleted: 0, stored: 0 }));

    const explicit = backup('--type', 'incremental');
    expect(explicit).toEqual(expect.objectContaining({ operation: 'incremental', type: 'incremental', skipped: false }));
    const asked = backup('--type', 'incremental', '--skip-unchanged');
    expect(asked).toEqual(expect.objectContaining({ skipped: true, skipReason: 'no changes', backupId: null }));
    const differential = backup('--type', 'differential', '--skip-unchanged');
    expect(differential).toEqual(expect.objectContaining({ skipped: true, skipReason: 'no changes' }));

    expect(ids()).toEqual([full.backupId, forced.backupId, explicit.backupId]);
    // --skip-unchanged and --no-skip-unchanged together: a usage error.
    const both = runCli(['backup', src, '--dest', dest, '--set', SET, '--skip-unchanged', '--no-skip-unchanged']);
    expectExit(both, 2);
    expectAllRestore();
  });

  test('an empty source is skipped ("source is empty"); --no-skip-empty makes a full of it', () => {
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    const { result, items } = runCliJson(['backup', empty, '--dest', dest, '--set', 'e']);
    expectExit(result, 0);
    expect(asBackupItem(items[0])).toEqual(expect.objectContaining({ skipped: true, skipReason: 'source is empty', type: null }));
    expect(listJson(dest, 'e')).toEqual([]);
    const forced = runCliJson(['backup', empty, '--dest', dest, '--set', 'e', '--no-skip-empty']);
    expectExit(forced.result, 0);
    expect(asBackupItem(forced.items[0])).toEqual(expect.objectContaining({ skipped: false, type: 'full' }));
  });

  test('backdating keeps a backup intact: the moved full still lists, verifies and restores', () => {
    const full = backup();
    const moved = backdate(full.backupId, 10);
    expect(listJson(dest, SET).map((b) => [b.backupId, b.complete])).toEqual([[moved, true]]);
    expectExit(runCli(['verify', '--dest', dest, '--set', SET, '--full']), 0);
    expectAllRestore();
  });

  test('the newest full is older than --full-every-days: a new full, and decision says why', () => {
    const full = backup();
    const old = backdate(full.backupId, 10);
    edit('notes/a.txt');
    const next = backup('--full-every-days', '7');
    expect(next.type).toBe('full');
    expect(next.decision).toMatch(new RegExp(`auto: newest full ${old} is 10\\.0 days old \\(full every 7 days\\)`));
    // The default is 7 days as well.
    const again = backdate(next.backupId, 8);
    edit('notes/b.txt');
    expect(backup().decision).toMatch(new RegExp(`auto: newest full ${again} is 8\\.0 days old \\(full every 7 days\\)`));
  });

  test('a full that is due is made even when nothing changed (auto skips only incrementals and differentials)', () => {
    const full = backup();
    backdate(full.backupId, 9);
    const due = backup();
    expect(due).toEqual(expect.objectContaining({ type: 'full', skipped: false }));
    expect(backup()).toEqual(expect.objectContaining({ skipped: true, skipReason: 'no changes' }));
    expectAllRestore();
  });

  test('a full younger than --full-every-days, and --full-every-days 0 (only when there is none): an incremental', () => {
    const full = backup();
    const old = backdate(full.backupId, 5);
    edit('notes/a.txt');
    const young = backup('--full-every-days', '7');
    expect(young.type).toBe('incremental');
    expect(young.decision).toContain(`auto: incremental, changes since ${old}`);
    backdate(young.backupId, 4);
    backdate(old, 400);
    edit('notes/b.txt');
    const never = backup('--full-every-days', '0');
    expect(never.type).toBe('incremental');
  });

  test('--differential-every-days: a differential when the newest full/differential is that old, then incrementals; 0 = never', () => {
    const full = backup();
    const old = backdate(full.backupId, 10);
    edit('notes/a.txt');
    const none = backup('--full-every-days', '0');
    expect(none.type).toBe('incremental'); // differential-every-days defaults to 0: never
    edit('notes/b.txt');
    const diff = backup('--full-every-days', '0', '--differential-every-days', '3');
    expect(diff.type).toBe('differential');
    expect(diff.decision).toMatch(new RegExp(`auto: newest full/differential ${old} is 10\\.0 days old \\(differential every 3 days\\)`));
    // A differential stores everything changed since the full: both edits.
    expect(diff.files.stored).toBe(2);
    edit('docs/d3.txt');
    const after = backup('--full-every-days', '0', '--differential-every-days', '3');
    expect(after.type).toBe('incremental');
    const listed = listJson(dest, SET);
    expect(listed.map((b) => [b.type, b.base, b.parent])).toEqual([
      ['full', null, null],
      ['incremental', old, old],
      ['differential', old, old],
      ['incremental', old, diff.backupId],
    ]);
    // The differential is fresh, the full 10 days old: with full-every-days 7 a full wins (rule 2 before rule 3).
    edit('docs/d4.txt');
    expect(backup('--differential-every-days', '3').type).toBe('full');
    expectAllRestore();
  });
});

describe('retention after a backup', () => {
  test('F1 I I F2 I I, the last with --keep-full 1 --keep-incremental 1: the old chain goes newest first, the kept incremental keeps what it needs', () => {
    const f1 = backup('--type', 'full');
    edit('notes/a.txt');
    const i1a = backup('--type', 'incremental');
    edit('notes/b.txt');
    const i1b = backup('--type', 'incremental');
    expect([f1, i1a, i1b].map((b) => b.retention)).toEqual([f1, i1a, i1b].map(() => expect.objectContaining({ removed: [], keptReferenced: [] })));
    // No keep flags: everything stays, each by the count that keeps all of its type.
    expect(i1b.retention.kept).toEqual([f1.backupId, i1a.backupId, i1b.backupId]);
    expect(i1b.retention.rules).toEqual({ [f1.backupId as string]: ['all full'], [i1a.backupId as string]: ['all incremental'], [i1b.backupId as string]: ['all incremental'] });
    edit('docs/d1.txt');
    const f2 = backup('--type', 'full');
    edit('notes/a.txt'); // held by i2a from now on
    const i2a = backup('--type', 'incremental');
    edit('notes/b.txt'); // held by i2b; i2b still points into i2a for notes/a.txt
    const i2b = backup('--type', 'incremental', '--keep-full', '1', '--keep-incremental', '1');

    expect(i2b.retention.removed).toEqual([i1b.backupId, i1a.backupId, f1.backupId]);
    expect(i2b.retention.keptReferenced).toEqual([i2a.backupId]);
    expect(ids()).toEqual([f2.backupId, i2a.backupId, i2b.backupId]);
    expect(fs.readdirSync(setDir).filter((n) => !n.startsWith('.') && n !== 'last-run.json').sort()).toEqual([f2.backupId, i2a.backupId, i2b.backupId]);
    expectAllRestore();
    expectExit(runCli(['verify', '--dest', dest, '--set', SET, '--full']), 0);
  });

  test('a skipped run applies no retention', () => {
    backup('--type', 'full');
    backup('--type', 'full', '--no-skip-unchanged');
    const skipped = backup('--keep-full', '1'); // auto, nothing changed
    expect(skipped.skipped).toBe(true);
    expect(skipped.retention).toEqual({ removed: [], keptReferenced: [], kept: [], rules: {} });
    expect(ids()).toHaveLength(2);
  });
});

describe('prune', () => {
  function prune(...flags: string[]): Record<string, unknown> {
    const { result, items } = runCliJson(['prune', '--dest', dest, '--set', SET, ...flags]);
    expectExit(result, 0);
    expect(items).toHaveLength(1);
    return items[0];
  }

  test('--dry-run removes nothing and lists what it would; with keep flags it removes; what stays restores exactly', () => {
    const f1 = backup('--type', 'full');
    edit('notes/a.txt');
    const i1 = backup('--type', 'incremental');
    const f2 = backup('--type', 'full');
    edit('notes/b.txt');
    const i2 = backup('--type', 'incremental');
    const all = [f1, i1, f2, i2].map((b) => b.backupId);
    const before = fs.readdirSync(setDir).sort();

    const dry = prune('--keep-full', '1', '--dry-run');
    expect(dry).toEqual(expect.objectContaining({ set: SET, dryRun: true, removed: [i1.backupId, f1.backupId], kept: [f2.backupId, i2.backupId], keptReferenced: [] }));
    expect(Object.keys(dry.reasons as object).sort()).toEqual([f2.backupId, i2.backupId].sort());
    expect(fs.readdirSync(setDir).sort()).toEqual(before);
    expect(ids()).toEqual(all);
    const text = runCli(['prune', '--dest', dest, '--set', SET, '--keep-full', '1', '--dry-run']);
    expectExit(text, 0);
    expect(text.stdout).toContain('would remove 2 backup(s)');
    expect(ids()).toEqual(all);

    // No keep flags: keep everything.
    expect(prune()).toEqual(expect.objectContaining({ dryRun: false, removed: [], keptReferenced: [] }));
    expect(ids()).toEqual(all);

    const done = prune('--keep-full', '1');
    expect(done).toEqual(expect.objectContaining({ dryRun: false, removed: [i1.backupId, f1.backupId], kept: [f2.backupId, i2.backupId] }));
    expect(ids()).toEqual([f2.backupId, i2.backupId]);
    expect(findPartials(dest)).toEqual([]);
    expectAllRestore();
  });

  test('--keep-incremental 1 keeps the incrementals the newest one points into, and removes those it does not need', () => {
    const f = backup('--type', 'full');
    edit('notes/a.txt');
    const ia = backup('--type', 'incremental');
    edit('notes/b.txt');
    const ib = backup('--type', 'incremental');
    edit('docs/d2.txt');
    const ic = backup('--type', 'incremental');
    // ic points into f, ia (notes/a.txt) and ib (notes/b.txt): nothing can go.
    const kept = prune('--keep-incremental', '1');
    expect(kept).toEqual(expect.objectContaining({ removed: [], keptReferenced: [ia.backupId, ib.backupId] }));

    // Rewrite all three files: the next incremental needs only f and itself.
    edit('notes/a.txt');
    edit('notes/b.txt');
    edit('docs/d2.txt');
    const id = backup('--type', 'incremental');
    const pruned = prune('--keep-incremental', '1');
    expect(pruned).toEqual(expect.objectContaining({ removed: [ic.backupId, ib.backupId, ia.backupId], keptReferenced: [], kept: [f.backupId, id.backupId] }));
    expect(ids()).toEqual([f.backupId, id.backupId]);
    expectAllRestore();
    expectExit(runCli(['verify', '--dest', dest, '--set', SET, '--full']), 0);
    // The set goes on: the next auto backup is an incremental on top of what is left.
    edit('notes/a.txt');
    const next = backup();
    expect(next.type).toBe('incremental');
    expect(listJson(dest, SET).pop()?.parent).toBe(id.backupId);
    expectAllRestore();
  });

  test('a damaged full and the incremental that depends on it are left alone; the rest is pruned', () => {
    const f1 = backup('--type', 'full');
    edit('notes/a.txt');
    const i1 = backup('--type', 'incremental');
    const f2 = backup('--type', 'full');
    const f3 = backup('--type', 'full');
    // f1 damaged beyond listing: manifest cut, summary gone.
    const manifest = path.join(setDir, f1.backupId as string, 'manifest.jsonl.gz');
    fs.truncateSync(manifest, Math.floor(fs.statSync(manifest).size / 2));
    fs.rmSync(path.join(setDir, f1.backupId as string, 'backup.json'));
    const pruned = prune('--keep-full', '1');
    expect(pruned.removed).toEqual([f2.backupId]);
    expect(pruned.kept).toEqual([i1.backupId, f3.backupId]);
    expect(ids()).toEqual([f1.backupId, i1.backupId, f3.backupId]);
    expect(listJson(dest, SET).map((b) => b.complete)).toEqual([false, true, true]);
  });

  test('prune of an unknown set: SET_NOT_FOUND, exit 1, one line', () => {
    backup('--type', 'full');
    for (const flags of [[], ['--dry-run'], ['--keep-full', '1']]) {
      const { result, items } = runCliJson(['prune', '--dest', dest, '--set', 'no-such-set', ...flags]);
      expectExit(result, 1);
      expect(stderrProblems(result.stderr)).toEqual([]);
      expect(result.stderr).toContain('[SET_NOT_FOUND]');
      expect(asFailureItem(items[0]).code).toBe('SET_NOT_FOUND');
    }
    expect(fs.existsSync(path.join(dest, 'no-such-set'))).toBe(false);
    expect(ids()).toHaveLength(1);
  });
});
