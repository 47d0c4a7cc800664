/**
 * Property: after any sequence of backups of random types and prunes with random keep counts,
 * every backup still listed restores exactly the tree it was taken of, retention never removes
 * the newest backup, and nothing half-deleted or locked is left in the set.
 */
import * as fc from 'fast-check';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupType } from '../../nodes/Backup/engine';
import { listDestination, pruneSet, restoreBackup, runBackup } from '../../nodes/Backup/engine';
import { tempDirs } from '../helpers/fixtures';
import type { TreeSnapshot } from '../helpers/tree';
import { diffTrees, snapshotTree } from '../helpers/tree';

const NUM_RUNS = Number(process.env.PROPERTY_RUNS ?? 200);
const SET = 'retained';
const FILES = ['a.txt', 'a/x', 'b/c/d.bin', 'é.txt', 'z'];

type Step =
  | { kind: 'write'; file: number; size: number }
  | { kind: 'delete'; file: number }
  | { kind: 'backup'; type: BackupType; keep: [number, number, number] | null }
  | { kind: 'prune'; keep: [number, number, number] };

const keep = fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 2 }), fc.nat({ max: 3 }));
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), file: fc.nat({ max: FILES.length - 1 }), size: fc.nat({ max: 3000 }) }),
  fc.record({ kind: fc.constant('delete' as const), file: fc.nat({ max: FILES.length - 1 }) }),
  fc.record({ kind: fc.constant('backup' as const), type: fc.constantFrom<BackupType>('full', 'differential', 'incremental'), keep: fc.option(keep, { nil: null }) }),
  fc.record({ kind: fc.constant('prune' as const), keep }),
);

const dirs = tempDirs('n8n-backup-retention-prop-');
afterAll(() => dirs.cleanup());

async function runSteps(steps: Step[]): Promise<void> {
  const root = await dirs.make();
  const src = path.join(root, 'src');
  const dest = path.join(root, 'dest');
  await fsp.mkdir(src);
  const taken = new Map<string, TreeSnapshot>();
  let newest: string | undefined;
  let version = 0;
  try {
    for (const s of [...steps, { kind: 'backup', type: 'incremental', keep: [1, 1, 1] } as Step]) {
      if (s.kind === 'write') {
        const file = path.join(src, FILES[s.file]);
        await fsp.rm(path.dirname(file), { force: true }).catch(() => undefined); // a file may stand where a folder is needed
        await fsp.mkdir(path.dirname(file), { recursive: true }).catch(() => undefined);
        await fsp.rm(file, { recursive: true, force: true });
        await fsp.writeFile(file, Buffer.alloc(s.size, `v${version++}`));
      } else if (s.kind === 'delete') {
        await fsp.rm(path.join(src, FILES[s.file]), { recursive: true, force: true });
      } else if (s.kind === 'backup') {
        const [k1, k2, k3] = s.keep ?? [0, 0, 0];
        const [o] = await runBackup({ sources: [src], destination: dest, type: s.type, setName: SET, skipEmptySource: false, keepFull: k1, keepDifferential: k2, keepIncremental: k3 });
        if (!o.ok) throw o.error;
        taken.set(o.report.backupId as string, await snapshotTree(src));
        newest = o.report.backupId as string;
      } else if (newest !== undefined) {
        await pruneSet({ destination: dest, setName: SET, keepFull: s.keep[0], keepDifferential: s.keep[1], keepIncremental: s.keep[2] });
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

test('every backup kept by retention and prune restores exactly', async () => {
  await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), runSteps), { numRuns: NUM_RUNS });
}, 600_000);
