/**
 * Interrupted and concurrent runs: Ctrl-C cancels cleanly, a killed run's partial folder is not a
 * backup and is cleaned up by the next run, two runs on one set never leave a broken backup.
 * Runs the built binary: `npm run build` first (.ci/run builds before testing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  asBackupItem, asFailureItem, asListItem, assertCliBuilt, compareSnapshots, expectExit, findPartials, isFailureItem, makeTempDir, parseJsonArray, removeTempDir,
  runCliJson, snapshotTree, startCli, stderrProblems, waitFor, writeFile,
} from '../helpers/cli';

let tmp: string;
let src: string;
let dest: string;

beforeAll(() => assertCliBuilt());
beforeEach(() => {
  tmp = makeTempDir('interrupt');
  src = path.join(tmp, 'src');
  dest = path.join(tmp, 'dest');
  for (let d = 0; d < 10; d++) for (let f = 0; f < 50; f++) writeFile(src, `d${d}/f${f}.txt`, `file ${d}/${f}\n`.repeat(20));
});
afterEach(() => removeTempDir(tmp));

const setDir = (): string => path.join(dest, 's');

async function startAndCatchInTheMiddle(): Promise<ReturnType<typeof startCli>> {
  // Big enough that a full backup takes around a second: time to catch it in the middle.
  for (let d = 0; d < 10; d++) for (let f = 50; f < 120; f++) writeFile(src, `d${d}/f${f}.txt`, `file ${d}/${f}\n`.repeat(20));
  for (let i = 0; i < 8; i++) writeFile(src, `big/b${i}.bin`, Buffer.alloc(1 << 20, i));
  const run = startCli(['backup', src, '--dest', dest, '--type', 'full', '--set', 's', '--json']);
  const caught = await waitFor(() => findPartials(dest).length > 0, 10000);
  if (!caught) {
    const result = await run.done;
    throw new Error(`the backup never showed a .partial- folder (exit ${String(result.status)}): ${result.stderr}`);
  }
  return run;
}

test('SIGINT cancels: exit 1, one line (CANCELLED), the partial folder removed, no backup listed', async () => {
  const run = await startAndCatchInTheMiddle();
  run.child.kill('SIGINT');
  const result = await run.done;
  expectExit(result, 1);
  expect(stderrProblems(result.stderr)).toEqual([]);
  expect(result.stderr).toContain('CANCELLED');
  const items = parseJsonArray(result);
  expect(asFailureItem(items[0]).code).toBe('CANCELLED');
  expect(findPartials(dest)).toEqual([]);
  expect(runCliJson(['list', '--dest', dest]).items).toEqual([]);
});

test('a killed run leaves a partial that is not a backup; the next run removes it and works', async () => {
  const run = await startAndCatchInTheMiddle();
  run.child.kill('SIGKILL');
  await run.done;
  expect(findPartials(dest)).toHaveLength(1);
  const listed = runCliJson(['list', '--dest', dest]);
  expectExit(listed.result, 0);
  expect(listed.items).toEqual([]);

  const next = runCliJson(['backup', src, '--dest', dest, '--type', 'incremental', '--set', 's']);
  expectExit(next.result, 0);
  expect(asBackupItem(next.items[0]).type).toBe('full');
  expect(runCliJson(['list', '--dest', dest]).items.map(asListItem).map((b) => b.complete)).toEqual([true]);
  expect(findPartials(dest)).toEqual([]);
});

test('two backups of one set at once: each succeeds or fails cleanly, and every listed backup restores', async () => {
  expectExit(runCliJson(['backup', src, '--dest', dest, '--type', 'full', '--set', 's']).result, 0);
  writeFile(src, 'new.txt', 'added before the concurrent runs\n');
  const state = snapshotTree(src);
  const runs = [0, 1].map(() => startCli(['backup', src, '--dest', dest, '--type', 'incremental', '--set', 's', '--json']));
  const results = await Promise.all(runs.map((r) => r.done));
  for (const result of results) {
    expect([0, 1]).toContain(result.status);
    const item = parseJsonArray(result)[0];
    if (result.status === 1) {
      expect(stderrProblems(result.stderr)).toEqual([]);
      expect(isFailureItem(item)).toBe(true);
    } else asBackupItem(item);
  }
  expect(results.some((r) => r.status === 0)).toBe(true);
  expect(findPartials(dest)).toEqual([]);
  const listed = runCliJson(['list', '--dest', dest]).items.map(asListItem);
  expect(listed.every((b) => b.complete)).toBe(true);
  const folders = fs.readdirSync(setDir(), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  expect(folders.sort()).toEqual(listed.map((b) => b.backupId).sort());
  for (const b of listed.slice(1)) {
    const target = path.join(tmp, `target-${b.backupId}`);
    expectExit(runCliJson(['restore', '--dest', dest, '--set', 's', '--backup', b.backupId, '--target', target]).result, 0);
    expect(compareSnapshots(state, snapshotTree(target))).toEqual([]);
  }
});
