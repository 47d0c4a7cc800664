/**
 * Crash safety: a backup killed with SIGKILL at any moment (before it starts, while it copies,
 * while it writes the manifest, after the rename, after it printed) never leaves something that
 * looks like a backup and is not one. Per storage format, 20+ rounds on one set:
 *   change a few source files -> start a backup -> SIGKILL after a delay from a fixed schedule
 *   (0 ms up to past the end of the run) -> `list`: every backup complete and restoring exactly
 *   the source as it was when it was taken -> the next backup (lock timeout 0) succeeds at once,
 *   names the `.partial-*` folder the killed run left in `removedPartials`, and leaves no
 *   partial folder and no lock behind.
 * Then a prune killed while it deletes a backup: the next prune must finish the job.
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackupType, CliResult, Snapshot, StorageFormat } from '../helpers/cli';
import {
  asBackupItem, describeEachFormat, describeRun, expectExit, findPartials, listJson, LOCK_DIR, lockState, makeTempDir, parseJsonArray, partialIds, removeTempDir,
  restoreDiffs, runCliJson, sleep, snapshotTree, startCli, writeFile,
} from '../helpers/cli';

const SET = 'k';
const ROUNDS = 20;
/** Kill delays as a fraction of the measured duration of a run of that type: 0 up to 30 % past its end. */
const LAST_FRACTION = 1.3;

interface Round {
  index: number;
  /** Type of the run that is killed. */
  type: BackupType;
  fraction: number;
  /** Type of the normal run that follows. */
  followType: BackupType;
}

// Deterministic schedule: types alternate, and i*7 mod 20 spreads the delays of each type over the whole range.
const SCHEDULE: Round[] = Array.from({ length: ROUNDS }, (_, index) => ({
  index,
  type: index % 2 === 0 ? 'full' : 'incremental',
  fraction: Number((((index * 7) % ROUNDS) / (ROUNDS - 1) * LAST_FRACTION).toFixed(3)),
  followType: index % 5 === 4 ? 'full' : 'incremental',
}));

const FOLDERS = 5;
const PER_FOLDER = 80;

/** 400 small files in 5 folders, 7 MiB in three big files, empty folder, symlinks, modes: a full run takes about a second. */
function buildTree(root: string): void {
  for (let d = 0; d < FOLDERS; d++) {
    for (let f = 0; f < PER_FOLDER; f++) writeFile(root, `d${d}/f${f}.txt`, `file ${d}/${f}\n`.repeat(1 + ((d * PER_FOLDER + f) % 37)));
  }
  writeFile(root, 'big/one.bin', randomBytes(1 << 20));
  writeFile(root, 'big/two.bin', randomBytes(2 << 20));
  writeFile(root, 'big/four.bin', randomBytes(4 << 20));
  fs.mkdirSync(path.join(root, 'empty'));
  fs.symlinkSync('../d0/f0.txt', path.join(root, 'd1/link-to-f0'));
  fs.symlinkSync('nowhere', path.join(root, 'd2/dangling'));
  writeFile(root, 'modes/private.txt', 'secret\n', 0o600);
  writeFile(root, 'modes/run.sh', '#!/bin/sh\n', 0o755);
}

/** A few changes before a round: rewritten, added, deleted files, a mode change, now and then a big file. */
function mutate(root: string, round: number): void {
  for (let k = 0; k < 3; k++) writeFile(root, `d${(round + k * 2) % FOLDERS}/f${(round * 7 + k * 31) % PER_FOLDER}.txt`, `round ${round}, change ${k}\n`.repeat(1 + round + k));
  writeFile(root, `added/r${round}.txt`, `added in round ${round}\n`);
  fs.rmSync(path.join(root, `added/r${round - 2}.txt`), { force: true });
  fs.chmodSync(path.join(root, `d${round % FOLDERS}/f50.txt`), round % 2 === 0 ? 0o640 : 0o644);
  if (round % 3 === 0) writeFile(root, 'big/one.bin', randomBytes((1 << 20) + round));
}

describeEachFormat('SIGKILL at any moment', (format: StorageFormat) => {
  let tmp: string;
  let src: string;
  let dest: string;
  let setDir: string;
  /** The source state each backup must restore to, by backup id. */
  const expected = new Map<string, Snapshot>();
  /** Backups already restored and compared (a backup never changes once written). */
  const verified = new Set<string>();
  const duration: Record<BackupType, number> = { full: 0, differential: 0, incremental: 0 };
  let current: Snapshot;
  let restores = 0;
  /** What each kill caught, for the log and for a check that the schedule reached every phase. */
  const outcomes: { round: number; delay: number; finished: boolean; partial: boolean; lock: 'none' | 'owned' | 'ownerless'; committed: boolean }[] = [];

  const backupArgs = (type: BackupType, extra: string[] = []): string[] => ['backup', src, '--dest', dest, '--set', SET, '--type', type, '--format', format, ...extra];

  /** A normal, timed run through startCli (the same clock the kill schedule uses). */
  async function timedBackup(type: BackupType): Promise<{ ms: number; id: string }> {
    const started = Date.now();
    const result = await startCli(backupArgs(type, ['--json'])).done;
    const ms = Date.now() - started;
    expectExit(result, 0);
    const item = asBackupItem(parseJsonArray(result)[0]);
    return { ms, id: item.backupId as string };
  }

  /** `list`: every backup complete, none lost; each new one restored once and compared. Returns whether the killed run made a backup. */
  function checkListed(round: number, killed: CliResult | undefined): boolean {
    const listed = listJson(dest, SET);
    const incomplete = listed.filter((b) => !b.complete).map((b) => b.backupId);
    if (incomplete.length > 0) throw new Error(`round ${round}: list shows incomplete backups ${incomplete.join(', ')}`);
    const ids = listed.map((b) => b.backupId);
    const lost = [...expected.keys()].filter((id) => !ids.includes(id));
    if (lost.length > 0) throw new Error(`round ${round}: backups that were listed before are gone: ${lost.join(', ')}`);
    const unknown = ids.filter((id) => !expected.has(id));
    // Only the killed run of this round can have made a backup we were not told about.
    if (unknown.length > 1) throw new Error(`round ${round}: more than one unexpected backup: ${unknown.join(', ')}`);
    if (unknown.length === 1) expected.set(unknown[0], current);
    if (killed !== undefined && killed.status === 0) {
      // It finished before the kill: the id it printed must be the one listed.
      const item = asBackupItem(parseJsonArray(killed)[0]);
      expect(ids).toContain(item.backupId);
    }
    const diffs: string[] = [];
    for (const id of ids.filter((i) => !verified.has(i))) {
      const target = path.join(tmp, 'restore', id);
      diffs.push(...restoreDiffs(dest, SET, id, expected.get(id) as Snapshot, target).slice(0, 10));
      fs.rmSync(target, { recursive: true, force: true });
      verified.add(id);
      restores++;
    }
    expect(diffs).toEqual([]);
    return unknown.length === 1;
  }

  beforeAll(async () => {
    tmp = makeTempDir(`kill-${format}`);
    src = path.join(tmp, 'src');
    dest = path.join(tmp, 'dest');
    setDir = path.join(dest, SET);
    buildTree(src);
    current = snapshotTree(src);
    // The set starts with a full and an incremental, which also time a whole run of each type.
    const full = await timedBackup('full');
    const inc = await timedBackup('incremental');
    duration.full = full.ms;
    duration.incremental = inc.ms;
    expected.set(full.id, current);
    expected.set(inc.id, current);
  });
  afterAll(() => {
    const rows = outcomes.map((o) => `  round ${o.round}: killed after ${o.delay} ms: ${o.finished ? 'had finished' : 'killed'}, partial ${o.partial ? 'left' : 'none'}, lock ${o.lock}, ${o.committed ? 'backup committed' : 'no backup'}`);
    console.log(`kill test [${format}]: a full run took ${duration.full} ms, an incremental ${duration.incremental} ms; ${restores} restores compared\n${rows.join('\n')}`);
    removeTempDir(tmp);
  });

  for (const round of SCHEDULE) {
    test(`round ${round.index}: ${round.type} killed at ${round.fraction} x its duration, then a normal ${round.followType}`, async () => {
      mutate(src, round.index);
      current = snapshotTree(src);

      const delay = Math.round(round.fraction * duration[round.type]);
      const run = startCli(backupArgs(round.type, ['--json']));
      await sleep(delay);
      run.child.kill('SIGKILL'); // a no-op when it already finished
      const killed = await run.done;
      if (killed.status !== 0 && killed.signal !== 'SIGKILL') throw new Error(`the run to be killed failed by itself: ${describeRun(killed)}`);

      const left = partialIds(setDir);
      const lock = lockState(setDir);
      const committed = checkListed(round.index, killed);
      outcomes.push({
        round: round.index, delay, finished: killed.status === 0, partial: left.length > 0, lock: !lock.locked ? 'none' : lock.owner === undefined ? 'ownerless' : 'owned', committed,
      });

      // The next run must not wait for anything the dead one held: lock timeout 0.
      let next = runCliJson(backupArgs(round.followType, ['--lock-timeout', '0']));
      let failure: string | undefined;
      if (next.result.status !== 0) {
        const ownerless = lock.locked && lock.owner === undefined;
        failure = `the run after the kill failed${ownerless ? ': the killed run left .lock without its owner note, which blocks the set until the lock goes stale (30 s)' : ''}\n` +
          `killed run: ${describeRun(killed)}\nnext run: ${describeRun(next.result)}`;
        if (!ownerless) throw new Error(failure);
        // Do what a person would (remove the lock), so one hit does not fail every later round too.
        fs.rmSync(path.join(setDir, LOCK_DIR), { recursive: true, force: true });
        next = runCliJson(backupArgs(round.followType, ['--lock-timeout', '0']));
        expectExit(next.result, 0);
      }
      const item = asBackupItem(next.items[0]);
      expected.set(item.backupId as string, current);
      expect(item.skipped).toBe(false);
      expect([...item.removedPartials].sort()).toEqual(left);
      expect(findPartials(dest)).toEqual([]);
      expect(lockState(setDir)).toEqual({ locked: false, owner: undefined });
      if (failure !== undefined) throw new Error(failure);
    });
  }

  test('after the last round: every backup is listed complete, restores exactly, and verify --full passes', () => {
    checkListed(ROUNDS, undefined);
    // The schedule is only useful if it caught runs in the middle (a partial left) and after their commit.
    expect(outcomes.filter((o) => o.partial).length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.committed).length).toBeGreaterThan(0);
    expect(listJson(dest, SET).length).toBeGreaterThanOrEqual(ROUNDS + 2);
    const { result, items } = runCliJson(['verify', '--dest', dest, '--set', SET, '--full']);
    expectExit(result, 0);
    expect(items[0].ok).toBe(true);
  });
});

/**
 * Retention deletes whole backup folders, and `rm -r` of a folder is not atomic. A prune killed
 * while it deletes must not leave a half-deleted backup for ever: the next prune finishes the job,
 * and the set verifies.
 */
describeEachFormat('SIGKILL during prune', (format: StorageFormat) => {
  let template: string;
  let tmp: string;
  let oldFull: string;
  let newFull: string;

  beforeAll(() => {
    template = makeTempDir(`kill-prune-template-${format.replace('.', '')}`);
    const src = path.join(template, 'src');
    // Many small files: deleting the old full takes long enough to be caught in the middle.
    for (let d = 0; d < 10; d++) for (let f = 0; f < 100; f++) writeFile(src, `d${d}/f${f}.txt`, `${d}/${f}\n`);
    const made = ['full', 'full'].map(() => {
      const { result, items } = runCliJson(['backup', src, '--dest', path.join(template, 'dest'), '--set', SET, '--type', 'full', '--format', format]);
      expectExit(result, 0);
      return asBackupItem(items[0]).backupId as string;
    });
    [oldFull, newFull] = made;
  });
  afterAll(() => removeTempDir(template));
  beforeEach(() => {
    tmp = makeTempDir(`kill-prune-${format.replace('.', '')}`);
  });
  afterEach(() => removeTempDir(tmp));

  test('a prune killed while it deletes the old full: the next prune finishes the job, nothing half-deleted stays, verify passes', async () => {
    const problems: string[] = [];
    const seen: string[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const dest = path.join(tmp, `dest-${attempt}`);
      fs.cpSync(path.join(template, 'dest'), dest, { recursive: true, preserveTimestamps: true });
      const victim = path.join(dest, SET, oldFull);
      const before = fs.readdirSync(victim).length;
      const run = startCli(['prune', '--dest', dest, '--set', SET, '--keep-full', '1']);
      // Busy wait (a timer is too coarse): kill as soon as the deletion has started, a little later on each attempt.
      const deadline = Date.now() + 15000;
      const started = (): boolean => {
        try {
          return fs.readdirSync(victim).length !== before || (format === 'folder' && fs.readdirSync(path.join(victim, 'data')).length < 10);
        } catch {
          return true; // gone already
        }
      };
      while (!started() && Date.now() < deadline && run.child.exitCode === null) {
        // spin
      }
      const pause = Date.now() + attempt * 2;
      while (Date.now() < pause) {
        // spin
      }
      run.child.kill('SIGKILL');
      await run.done;
      const after = listJson(dest, SET);
      seen.push(after.map((b) => `${b.backupId === oldFull ? 'old' : 'new'}:${b.complete ? 'complete' : 'INCOMPLETE'}`).join(','));

      const next = runCliJson(['prune', '--dest', dest, '--set', SET, '--keep-full', '1']);
      if (next.result.status !== 0) problems.push(`attempt ${attempt}: the next prune failed: ${next.result.stderr.trim()}`);
      const setDir = path.join(dest, SET);
      // The run record of the backups that made the template (a prune writes none) is not a leftover.
      const left = fs.readdirSync(setDir).filter((n) => n !== newFull && n !== 'last-run.json');
      // A kill inside a lock change can leave a lock folder moved aside (.lock.gone.*), a marker
      // being staged (.lock.new.*) or the tombstone of a dead run's marker (.lock.cleared.*, which
      // must outlive a late second clearer): by design they are swept once a minute old. Anything
      // else is a real leftover.
      const lockLeftovers = left.filter((n) => /^\.lock\.(gone|new|cleared)\./.test(n));
      const others = left.filter((n) => !lockLeftovers.includes(n));
      if (others.length > 0) problems.push(`attempt ${attempt}: after the next prune the set still holds ${others.join(', ')} (list: ${JSON.stringify(listJson(dest, SET).map((b) => [b.backupId, b.complete]))})`);
      if (lockLeftovers.length > 0) {
        const twoMinutesAgo = new Date(Date.now() - 120_000);
        for (const name of lockLeftovers) fs.utimesSync(path.join(setDir, name), twoMinutesAgo, twoMinutesAgo);
        const sweeper = runCliJson(['prune', '--dest', dest, '--set', SET, '--keep-full', '1']);
        const stillThere = fs.readdirSync(setDir).filter((n) => lockLeftovers.includes(n));
        if (sweeper.result.status !== 0 || stillThere.length > 0) problems.push(`attempt ${attempt}: lock leftovers a minute old were not swept by the next run: ${stillThere.join(', ')}`);
      }
      const verified = runCliJson(['verify', '--dest', dest, '--set', SET]);
      if (verified.result.status !== 0) problems.push(`attempt ${attempt}: verify after the next prune: ${verified.result.stdout.slice(0, 600)}`);
    }
    console.log(`prune killed while deleting [${format}]: list right after the kill: ${seen.join(' ; ')}`);
    expect(problems).toEqual([]);
  });
});
