/**
 * Restore against prune, as two real processes on one set (engine/readers.ts): the restore of an
 * incremental registers as a reader; a prune that would delete the chain's base waits for it, so
 * the restore completes whole and the prune then deletes. Runs the built binary (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  asBackupItem, assertCliBuilt, compareSnapshots, describeRun, expectExit, listJson, makeTempDir, parseJsonArray, removeTempDir, runCliJson, snapshotTree, startCli, waitFor,
  writeFile,
} from '../helpers/cli';

const SET = 's';
let tmp: string;

beforeAll(() => assertCliBuilt());
beforeEach(() => {
  tmp = makeTempDir('readers');
});
afterEach(() => removeTempDir(tmp));

test('a restore of a chain and a prune that would delete its base, at once: the restore completes whole, the prune waits and then deletes (restore paused with SIGSTOP half-way)', async () => {
  const src = path.join(tmp, 'src');
  const dest = path.join(tmp, 'dest');
  const setDir = path.join(dest, SET);
  // Big enough that the restore reads for a second or more (many small files and a few large ones).
  for (let d = 0; d < 12; d++) for (let f = 0; f < 100; f++) writeFile(src, `d${d}/f${f}.txt`, `file ${d}/${f}\n`.repeat(1 + (f % 23)));
  for (let i = 0; i < 4; i++) writeFile(src, `big/b${i}.bin`, randomBytes(4 << 20));
  const backup = (type: string): string => {
    const { result, items } = runCliJson(['backup', src, '--dest', dest, '--set', SET, '--type', type]);
    expectExit(result, 0);
    return asBackupItem(items[0]).backupId as string;
  };
  const f1 = backup('full');
  writeFile(src, 'd0/changed.txt', 'changed\n');
  const i1 = backup('incremental');
  const atI1 = snapshotTree(src);
  const f2 = backup('full');

  const target = path.join(tmp, 'target');
  const restore = startCli(['restore', '--dest', dest, '--set', SET, '--backup', i1, '--target', target, '--json']);
  // Reading means registered and already writing into the target. (A reader that registered but
  // had not yet looked at the lock note yields to a prune that announced first: it would then fail
  // cleanly, before writing anything, with BACKUP_NOT_FOUND.)
  const registered = (): boolean => fs.readdirSync(setDir).some((n) => /^\.reader-[0-9a-f]+\.json$/.test(n));
  const reading = await waitFor(() => registered() && fs.existsSync(path.join(target, 'd0')), 15_000, 2);
  if (!reading) throw new Error(`the restore never registered as a reader: ${describeRun(await restore.done)}`);
  // Frozen mid-read (a stopped process is alive: its marker's lease still counts), so the prune
  // below surely runs while the restore is half-way, however fast this machine is.
  restore.child.kill('SIGSTOP');
  const restoreWasRunning = restore.child.exitCode === null && restore.child.signalCode === null;
  const prune = startCli(['prune', '--dest', dest, '--set', SET, '--keep-full', '1', '--lock-timeout', '120', '--json']);
  // The prune announces its deletes on the lock note, then waits for the reader.
  const announced = await waitFor(() => {
    try {
      return (JSON.parse(fs.readFileSync(path.join(setDir, '.lock', 'owner.json'), 'utf8')) as { deleting?: boolean }).deleting === true;
    } catch {
      return false;
    }
  }, 30_000, 2);
  const baseKeptMeanwhile = fs.existsSync(path.join(setDir, f1)) && fs.existsSync(path.join(setDir, i1));
  restore.child.kill('SIGCONT');
  const [restored, pruned] = await Promise.all([restore.done, prune.done]);
  if (!restoreWasRunning) throw new Error('the restore finished before it could be paused: make the source bigger');
  expect(announced).toBe(true);
  expect(baseKeptMeanwhile).toBe(true);
  expectExit(restored, 0);
  expect(compareSnapshots(atI1, snapshotTree(target))).toEqual([]);
  expectExit(pruned, 0);
  expect(parseJsonArray(pruned)[0].removed).toEqual([i1, f1]);
  expect(listJson(dest, SET).map((b) => b.backupId)).toEqual([f2]);
  expect(fs.readdirSync(setDir).filter((n) => n.startsWith('.'))).toEqual([]);
});
