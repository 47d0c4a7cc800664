/**
 * Property: after any sequence of backups of random types, hours to weeks apart (an injected
 * clock), with calendar retention after backups and in prunes (random keep-last/hourly/daily/
 * weekly/monthly/yearly/within, time zones, mixed with the per-type counts), every backup still
 * listed restores exactly the tree it was taken of, the newest is never removed, and nothing
 * half-deleted is left. Real engine, real temp trees.
 */
import * as fc from 'fast-check';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupType, CalendarOptions } from '../../nodes/Backup/engine';
import { listDestination, pruneSet, restoreBackup, runBackup } from '../../nodes/Backup/engine';
import { tempDirs } from '../helpers/fixtures';
import type { TreeSnapshot } from '../helpers/tree';
import { diffTrees, snapshotTree } from '../helpers/tree';

const NUM_RUNS = Number(process.env.PROPERTY_RUNS ?? 80);
const SET = 'gfs';
const FILES = ['a.txt', 'a/x', 'b/c/d.bin', 'z'];
const HOUR = 3_600_000;

type Counts = { keepFull: number; keepDifferential: number; keepIncremental: number };
type Policy = CalendarOptions & Counts;
type Step =
  | { kind: 'write'; file: number; size: number }
  | { kind: 'delete'; file: number }
  | { kind: 'backup'; type: BackupType; hoursLater: number; policy: Policy | null }
  | { kind: 'prune'; policy: Policy };

const policy: fc.Arbitrary<Policy> = fc.record({
  keepLast: fc.nat({ max: 3 }),
  keepHourly: fc.nat({ max: 3 }),
  keepDaily: fc.nat({ max: 3 }),
  keepWeekly: fc.nat({ max: 2 }),
  keepMonthly: fc.nat({ max: 2 }),
  keepYearly: fc.nat({ max: 1 }),
  keepWithin: fc.option(fc.tuple(fc.integer({ min: 1, max: 9 }), fc.constantFrom('h', 'd', 'w', 'm')).map(([n, u]) => `${n}${u}`), { nil: undefined }),
  timeZone: fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham'),
  // Mostly calendar alone; sometimes on top of the per-type counts.
  keepFull: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat({ max: 2 }) }),
  keepDifferential: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat({ max: 2 }) }),
  keepIncremental: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat({ max: 2 }) }),
});

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), file: fc.nat({ max: FILES.length - 1 }), size: fc.nat({ max: 2000 }) }),
  fc.record({ kind: fc.constant('delete' as const), file: fc.nat({ max: FILES.length - 1 }) }),
  fc.record({
    kind: fc.constant('backup' as const),
    type: fc.constantFrom<BackupType>('full', 'differential', 'incremental'),
    hoursLater: fc.oneof(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 24, max: 24 * 40 })),
    policy: fc.option(policy, { nil: null }),
  }),
  fc.record({ kind: fc.constant('prune' as const), policy }),
);

const dirs = tempDirs('n8n-backup-gfs-prop-');
afterAll(() => dirs.cleanup());

async function runSteps(steps: Step[]): Promise<void> {
  const root = await dirs.make();
  const src = path.join(root, 'src');
  const dest = path.join(root, 'dest');
  await fsp.mkdir(src);
  const taken = new Map<string, TreeSnapshot>();
  let clock = Date.UTC(2025, 11, 28, 22, 30); // across a new year, a DST-free start
  let newest: string | undefined;
  let version = 0;
  const last: Step = { kind: 'backup', type: 'incremental', hoursLater: 5, policy: { keepLast: 1, keepFull: 0, keepDifferential: 0, keepIncremental: 0 } };
  try {
    for (const s of [...steps, last]) {
      if (s.kind === 'write') {
        const file = path.join(src, FILES[s.file]);
        await fsp.rm(path.dirname(file), { force: true }).catch(() => undefined);
        await fsp.mkdir(path.dirname(file), { recursive: true }).catch(() => undefined);
        await fsp.rm(file, { recursive: true, force: true });
        await fsp.writeFile(file, Buffer.alloc(s.size, `v${version++}`));
      } else if (s.kind === 'delete') {
        await fsp.rm(path.join(src, FILES[s.file]), { recursive: true, force: true });
      } else if (s.kind === 'backup') {
        clock += s.hoursLater * HOUR;
        const at = new Date(clock);
        const [o] = await runBackup({ sources: [src], destination: dest, type: s.type, setName: SET, skipEmptySource: false, ...(s.policy ?? {}), now: () => at });
        if (!o.ok) throw o.error;
        taken.set(o.report.backupId as string, await snapshotTree(src));
        newest = o.report.backupId as string;
        // Every kept backup says why; removed ones are gone from the listing.
        for (const id of o.report.retention.kept) expect(o.report.retention.rules[id]?.length).toBeGreaterThan(0);
      } else if (newest !== undefined) {
        const at = new Date(clock);
        const dry = await pruneSet({ destination: dest, setName: SET, ...s.policy, dryRun: true, now: () => at });
        const done = await pruneSet({ destination: dest, setName: SET, ...s.policy, now: () => at });
        // The dry run announces exactly what the prune then does, for the same reasons.
        expect({ removed: done.remove, rules: done.rules }).toEqual({ removed: dry.remove, rules: dry.rules });
      }
    }
    const listed = await listDestination(dest, SET);
    expect(listed.map((b) => b.backupId)).toContain(newest);
    expect(listed.every((b) => b.complete)).toBe(true);
    expect((await fsp.readdir(path.join(dest, SET))).filter((n) => n.startsWith('.'))).toEqual([]);
    for (const b of listed) {
      const target = path.join(root, `restore-${b.backupId}`);
      const report = await restoreBackup({ destination: dest, setName: SET, backupId: b.backupId, target });
      expect(report.errorCount).toBe(0);
      const problems = diffTrees(await snapshotTree(target), taken.get(b.backupId) as TreeSnapshot);
      if (problems.length > 0) throw new Error(`${b.backupId} does not restore exactly:\n${problems.join('\n')}`);
    }
  } finally {
    await fsp.rm(root, { recursive: true, force: true });
  }
}

test('every backup kept by calendar retention (after backups and in prunes) restores exactly', async () => {
  await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), runSteps), { numRuns: NUM_RUNS });
}, 900_000);
