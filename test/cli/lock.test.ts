/**
 * One writer per set (DESIGN.md "Writing safely"): `<set>/.lock/owner.json` (pid, host, since,
 * purpose, and the lease: boot id, PID namespace, renewedAt, expiresAt). A second run waits up to
 * --lock-timeout, then fails with one line naming the holder (LOCKED); a holder that died in this
 * boot and PID namespace is taken over at once; old notes (no lease) not refreshed for 30 s are
 * stale; prune takes the same lock. Lease expiry and renewal: test/engine/lease.test.ts.
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CliResult, LockOwnerNote } from '../helpers/cli';
import {
  asBackupItem, asFailureItem, assertCliBuilt, compareSnapshots, deadPid, describeRun, expectExit, findPartials, listJson, LOCK_DIR, LOCK_OWNER, lockState,
  makeTempDir, parseJsonArray, partialIds, plantLock, removeTempDir, restoreDiffs, runCli, runCliJson, sleep, snapshotTree, startCli, stderrProblems, waitFor,
  writeFile,
} from '../helpers/cli';

const SET = 's';
const HOST = os.hostname();

/** A source big enough that a full backup holds the lock for a second or more. */
let bigSrc: string;
let template: string;
let tmp: string;
let dest: string;
let setDir: string;

beforeAll(() => {
  assertCliBuilt();
  template = makeTempDir('lock-template');
  bigSrc = path.join(template, 'big-src');
  for (let d = 0; d < 12; d++) for (let f = 0; f < 100; f++) writeFile(bigSrc, `d${d}/f${f}.txt`, `file ${d}/${f}\n`.repeat(1 + (f % 23)));
  for (let i = 0; i < 3; i++) writeFile(bigSrc, `big/b${i}.bin`, randomBytes(2 << 20));
});
afterAll(() => removeTempDir(template));

beforeEach(() => {
  tmp = makeTempDir('lock');
  dest = path.join(tmp, 'dest');
  setDir = path.join(dest, SET);
});
afterEach(() => removeTempDir(tmp));

const backupArgs = (src: string, type: string, ...extra: string[]): string[] => ['backup', src, '--dest', dest, '--set', SET, '--type', type, ...extra];

/** A small source of its own for a test. */
function smallSource(): string {
  const src = path.join(tmp, 'src');
  for (let i = 0; i < 40; i++) writeFile(src, `f${i}.txt`, `small ${i}\n`);
  return src;
}

/** Starts a slow full backup of the big source and resolves once it holds the set's lock. */
async function startHolder(): Promise<ReturnType<typeof startCli>> {
  const run = startCli([...backupArgs(bigSrc, 'full'), '--json']);
  // Its owner note written too: a lock folder alone is, for a moment, what debris looks like.
  const holding = await waitFor(() => lockState(setDir).owner?.pid === run.child.pid, 15000, 2);
  if (!holding) throw new Error(`the first backup never took the lock: ${describeRun(await run.done)}`);
  return run;
}

const stillRunning = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

function expectLockedLine(result: CliResult): void {
  expectExit(result, 1);
  expect(stderrProblems(result.stderr)).toEqual([]);
  expect(result.stderr).toContain('[LOCKED]');
}

test('lock timeout 0 while another backup holds the set: exit 1 at once, one line, LOCKED, naming the holder (pid and host)', async () => {
  const first = await startHolder();
  // Frozen while it holds the lock (a stopped process is alive and its lease still counts), so the
  // second run surely asks while the first is mid-backup, however fast this machine is.
  first.child.kill('SIGSTOP');
  const started = Date.now();
  const second = await startCli([...backupArgs(bigSrc, 'incremental'), '--lock-timeout', '0', '--json']).done;
  const firstWasRunning = stillRunning(first.child);
  first.child.kill('SIGCONT');
  const firstResult = await first.done;
  expectExit(firstResult, 0);
  expect(firstWasRunning).toBe(true);

  expectLockedLine(second);
  expect(second.stderr).toContain(`pid ${String(first.child.pid)} on ${HOST}`);
  expect(Date.now() - started).toBeLessThan(5000);
  const failure = asFailureItem(parseJsonArray(second)[0]);
  expect(failure.code).toBe('LOCKED');
  expect(failure.error).toContain(`pid ${String(first.child.pid)}`);
  expect(failure.error).toContain(HOST);

  // Only the holder's backup exists; nothing is left behind.
  expect(listJson(dest, SET).map((b) => b.backupId)).toEqual([asBackupItem(parseJsonArray(firstResult)[0]).backupId]);
  expect(findPartials(dest)).toEqual([]);
  expect(lockState(setDir)).toEqual({ locked: false, owner: undefined });
});

test('a generous lock timeout waits for the holder, then succeeds; the second backup is an incremental on top of the first', async () => {
  const state = snapshotTree(bigSrc);
  const first = await startHolder();
  const second = startCli([...backupArgs(bigSrc, 'incremental'), '--lock-timeout', '60', '--json']);
  const [firstResult, secondResult] = await Promise.all([first.done, second.done]);
  expectExit(firstResult, 0);
  expectExit(secondResult, 0);
  const a = asBackupItem(parseJsonArray(firstResult)[0]);
  const b = asBackupItem(parseJsonArray(secondResult)[0]);
  expect(a.type).toBe('full');
  expect(b.type).toBe('incremental');
  expect(b.decision).toContain(a.backupId as string);
  // The second wrote only after the first had finished.
  expect(Date.parse(b.finishedAt)).toBeGreaterThanOrEqual(Date.parse(a.finishedAt));

  const listed = listJson(dest, SET);
  expect(listed.map((x) => [x.backupId, x.type, x.base, x.parent, x.complete])).toEqual([
    [a.backupId, 'full', null, null, true],
    [b.backupId, 'incremental', a.backupId, a.backupId, true],
  ]);
  expect(restoreDiffs(dest, SET, b.backupId as string, state, path.join(tmp, 'restored'))).toEqual([]);
  expect(findPartials(dest)).toEqual([]);
  expect(lockState(setDir)).toEqual({ locked: false, owner: undefined });
});

test('a lock left by a run killed while writing is taken over at once by the next run (lock timeout 0)', async () => {
  const run = await startHolder();
  const midway = await waitFor(() => lockState(setDir).owner !== undefined && partialIds(setDir).length > 0, 15000, 2);
  expect(midway).toBe(true);
  run.child.kill('SIGKILL');
  const killed = await run.done;
  expect(killed.signal).toBe('SIGKILL');
  const left = lockState(setDir);
  expect(left.locked).toBe(true);
  expect(left.owner).toEqual(expect.objectContaining({ pid: run.child.pid, host: HOST }));
  const partials = partialIds(setDir);
  expect(partials).toHaveLength(1);

  const started = Date.now();
  const next = runCliJson([...backupArgs(bigSrc, 'full'), '--lock-timeout', '0']);
  expectExit(next.result, 0);
  expect(Date.now() - started).toBeLessThan(15000);
  const item = asBackupItem(next.items[0]);
  expect(item.removedPartials).toEqual(partials);
  expect(findPartials(dest)).toEqual([]);
  expect(lockState(setDir)).toEqual({ locked: false, owner: undefined });
  expect(listJson(dest, SET).map((b) => [b.backupId, b.complete])).toEqual([[item.backupId, true]]);
});

test.each([
  ['just after it took the lock (before its owner note is written)', 'taking'],
  ['while it releases the lock (its owner note already removed)', 'releasing'],
] as const)('a run killed %s does not block the next run either (lock timeout 0)', async (_label, phase) => {
  const src = smallSource();
  expectExit(runCli(backupArgs(src, 'full')), 0);
  const lockDir = path.join(setDir, LOCK_DIR);
  const ownerFile = path.join(setDir, LOCK_OWNER);
  const problems: string[] = [];
  const states: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const run = startCli(backupArgs(src, 'incremental'));
    // Busy waits on purpose: a timer is far too coarse for a gap of a millisecond or so.
    const deadline = Date.now() + 15000;
    const until = (condition: () => boolean): void => {
      while (!condition() && Date.now() < deadline && stillRunning(run.child)) {
        // spin
      }
    };
    if (phase === 'taking') until(() => fs.existsSync(lockDir));
    else {
      until(() => fs.existsSync(ownerFile));
      until(() => !fs.existsSync(ownerFile));
    }
    run.child.kill('SIGKILL');
    await run.done;
    const left = lockState(setDir);
    const state = !left.locked ? 'no lock' : left.owner === undefined ? '.lock without .lock-owner.json' : `.lock owned by pid ${left.owner.pid}`;
    states.push(state);
    const next = runCli([...backupArgs(src, 'incremental'), '--lock-timeout', '0']);
    if (next.status !== 0) problems.push(`killed run left ${state}; the next run failed: ${next.stderr.trim()}`);
    // Clean up by hand so the next attempt starts from an unlocked set.
    fs.rmSync(lockDir, { recursive: true, force: true });
    fs.rmSync(ownerFile, { force: true });
  }
  console.log(`killed ${phase} the lock, states left: ${states.join('; ')}`);
  expect(problems).toEqual([]);
});

test('a lock held by a live process on another host: --lock-timeout 1 waits, then LOCKED naming that host; the lock is left alone', () => {
  const src = smallSource();
  expectExit(runCli(backupArgs(src, 'full')), 0);
  const owner: Partial<LockOwnerNote> = { pid: 4242, host: 'backup-worker-2.example', purpose: 'backup of /srv/data' };
  plantLock(setDir, owner);
  const before = fs.readFileSync(path.join(setDir, LOCK_OWNER), 'utf8');
  const started = Date.now();
  const { result, items } = runCliJson([...backupArgs(src, 'incremental'), '--lock-timeout', '1']);
  const waited = Date.now() - started;
  expectLockedLine(result);
  expect(result.stderr).toContain('pid 4242 on backup-worker-2.example');
  expect(asFailureItem(items[0]).code).toBe('LOCKED');
  expect(waited).toBeGreaterThanOrEqual(1000);
  expect(waited).toBeLessThan(10000);
  // Not taken over, not touched: the other host's run still owns the set.
  expect(lockState(setDir).locked).toBe(true);
  expect(fs.readFileSync(path.join(setDir, LOCK_OWNER), 'utf8')).toBe(before);
  expect(listJson(dest, SET)).toHaveLength(1);
  expect(findPartials(dest)).toEqual([]);
});

test('a lease held from another PID namespace of this host (a container with host networking) is not taken over although its pid does not exist here', () => {
  const src = smallSource();
  expectExit(runCli(backupArgs(src, 'full')), 0);
  const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const now = Date.now();
  plantLock(setDir, {
    pid: deadPid(), host: HOST, purpose: 'backup in another container', version: 2, bootId, pidNs: 'pid:[4026530001]',
    renewedAt: new Date(now).toISOString(), expiresAt: new Date(now + 60_000).toISOString(),
  });
  const before = fs.readFileSync(path.join(setDir, LOCK_OWNER), 'utf8');
  const { result, items } = runCliJson([...backupArgs(src, 'incremental'), '--lock-timeout', '1']);
  expectLockedLine(result);
  expect(asFailureItem(items[0]).code).toBe('LOCKED');
  expect(result.stderr).toContain('backup in another container');
  expect(fs.readFileSync(path.join(setDir, LOCK_OWNER), 'utf8')).toBe(before);
  expect(listJson(dest, SET)).toHaveLength(1);
});

test('a live holder on this host is never taken over: LOCKED naming its pid', () => {
  const src = smallSource();
  expectExit(runCli(backupArgs(src, 'full')), 0);
  plantLock(setDir, { pid: process.pid, host: HOST }); // this test process: alive
  const { result } = runCliJson([...backupArgs(src, 'incremental'), '--lock-timeout', '0']);
  expectLockedLine(result);
  expect(result.stderr).toContain(`pid ${process.pid} on ${HOST}`);
  expect(lockState(setDir).locked).toBe(true);
});

test('a dead holder on this host is taken over at once, even with a fresh lock folder', () => {
  const src = smallSource();
  expectExit(runCli(backupArgs(src, 'full')), 0);
  plantLock(setDir, { pid: deadPid(), host: HOST });
  const { result, items } = runCliJson([...backupArgs(src, 'incremental'), '--lock-timeout', '0']);
  expectExit(result, 0);
  expect(asBackupItem(items[0]).type).toBe('incremental');
  expect(lockState(setDir)).toEqual({ locked: false, owner: undefined });
});

test('a lock folder with no owner note is debris (the lock and its note appear together): it is cleared', () => {
  const src = smallSource();
  expectExit(runCli(backupArgs(src, 'full')), 0);
  plantLock(setDir, null, 2_000);
  const { result, items } = runCliJson([...backupArgs(src, 'incremental'), '--lock-timeout', '0']);
  expectExit(result, 0);
  expect(asBackupItem(items[0]).type).toBe('incremental');
  expect(lockState(setDir).locked).toBe(false);
});

test.each([
  ['with no owner note', null],
  ['owned by another host', { pid: 4242, host: 'backup-worker-2.example' }],
  ['owned by a live process of this host', { pid: process.pid, host: HOST }],
])('a lock not refreshed for more than 30 s is stale and taken over (%s)', (_label, owner) => {
  const src = smallSource();
  expectExit(runCli(backupArgs(src, 'full')), 0);
  plantLock(setDir, owner, 60_000);
  const { result, items } = runCliJson([...backupArgs(src, 'incremental'), '--lock-timeout', '0']);
  expectExit(result, 0);
  expect(asBackupItem(items[0]).type).toBe('incremental');
  expect(lockState(setDir)).toEqual({ locked: false, owner: undefined });
});

test('prune takes the same lock: LOCKED while a backup holds the set; with a timeout it waits, then prunes what the backup left', async () => {
  const first = runCliJson([...backupArgs(bigSrc, 'full')]);
  expectExit(first.result, 0);
  const f1 = asBackupItem(first.items[0]).backupId as string;

  // A planted live holder (this process) blocks prune too, and nothing is removed.
  plantLock(setDir, { pid: process.pid, host: HOST, purpose: 'backup of elsewhere' });
  const blocked = runCliJson(['prune', '--dest', dest, '--set', SET, '--keep-full', '1', '--lock-timeout', '0']);
  expectLockedLine(blocked.result);
  expect(blocked.result.stderr).toContain(`pid ${process.pid} on ${HOST}`);
  fs.rmSync(path.join(setDir, LOCK_DIR), { recursive: true });
  fs.rmSync(path.join(setDir, LOCK_OWNER), { force: true });

  // A real backup holding the lock.
  const second = await startHolder();
  second.child.kill('SIGSTOP'); // frozen holding the lock: see the first test
  const now = await startCli(['prune', '--dest', dest, '--set', SET, '--keep-full', '1', '--lock-timeout', '0', '--json']).done;
  const wasRunning = stillRunning(second.child);
  const waiting = startCli(['prune', '--dest', dest, '--set', SET, '--keep-full', '1', '--lock-timeout', '60', '--json']);
  second.child.kill('SIGCONT');
  const [secondResult, waited] = await Promise.all([second.done, waiting.done]);
  expectExit(secondResult, 0);
  expect(wasRunning).toBe(true);
  const f2 = asBackupItem(parseJsonArray(secondResult)[0]).backupId as string;

  expectLockedLine(now);
  expect(now.stderr).toContain(`pid ${String(second.child.pid)} on ${HOST}`);
  expect(asFailureItem(parseJsonArray(now)[0]).code).toBe('LOCKED');

  // The waiting prune ran after the backup: it saw F2 and so removed F1.
  expectExit(waited, 0);
  const pruned = parseJsonArray(waited)[0];
  expect(pruned.removed).toEqual([f1]);
  expect(pruned.kept).toEqual([f2]);
  expect(listJson(dest, SET).map((b) => b.backupId)).toEqual([f2]);
  expect(lockState(setDir)).toEqual({ locked: false, owner: undefined });
});

/** Busy processes for a moment: scheduling delays widen the gap between reading the owner note and taking over. */
function burnCpu(count: number, ms: number): ChildProcess[] {
  return Array.from({ length: count }, () => spawn(process.execPath, ['-e', `const end = Date.now() + ${ms}; while (Date.now() < end) {}`], { stdio: 'ignore' }));
}

test('several runs waiting on a holder that dies: exactly one takes over at a time (a linear chain, no failures)', async () => {
  const src = smallSource();
  expectExit(runCli(backupArgs(src, 'full')), 0);
  const WAITERS = 8;
  const problems: string[] = [];
  for (let attempt = 0; attempt < 4 && problems.length === 0; attempt++) {
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    const holderGone = new Promise((resolve) => holder.on('exit', resolve));
    plantLock(setDir, { pid: holder.pid, host: HOST, purpose: 'stand-in holder' });
    const waiters = Array.from({ length: WAITERS }, () => startCli([...backupArgs(src, 'incremental'), '--lock-timeout', '60', '--json']));
    await sleep(1500); // all of them started and polling
    const burners = burnCpu(4, 700);
    await sleep(100);
    holder.kill('SIGKILL');
    await holderGone;
    const results = await Promise.all(waiters.map((w) => w.done));
    await Promise.all(burners.map((b) => new Promise((resolve) => (b.exitCode === null ? b.on('exit', resolve) : resolve(undefined)))));
    results.forEach((r, i) => {
      if (r.status !== 0) problems.push(`attempt ${attempt}, waiter ${i}: ${r.stderr.trim()}`);
    });
    const listed = listJson(dest, SET);
    for (let i = 1; i < listed.length; i++) {
      if (listed[i].parent !== listed[i - 1].backupId) problems.push(`attempt ${attempt}: ${listed[i].backupId} has parent ${String(listed[i].parent)}, not the backup before it ${listed[i - 1].backupId} (two runs wrote at once)`);
    }
    const incomplete = listed.filter((b) => !b.complete).map((b) => b.backupId);
    if (incomplete.length > 0) problems.push(`attempt ${attempt}: incomplete backups ${incomplete.join(', ')}`);
    if (findPartials(dest).length > 0) problems.push(`attempt ${attempt}: partial folders left: ${findPartials(dest).join(', ')}`);
    // Whatever happened, every listed backup must still restore to the (unchanged) source.
    const want = snapshotTree(src);
    for (const b of listed.slice(-2)) {
      const target = path.join(tmp, `restore-${attempt}-${b.backupId}`);
      const restored = runCli(['restore', '--dest', dest, '--set', SET, '--backup', b.backupId, '--target', target]);
      if (restored.status !== 0) problems.push(`attempt ${attempt}: restore of ${b.backupId} failed: ${restored.stderr.trim()}`);
      else problems.push(...compareSnapshots(want, snapshotTree(target)).map((d) => `attempt ${attempt}: ${b.backupId}: ${d}`));
    }
    fs.rmSync(path.join(setDir, LOCK_DIR), { recursive: true, force: true });
    fs.rmSync(path.join(setDir, LOCK_OWNER), { force: true });
  }
  expect(problems).toEqual([]);
});
