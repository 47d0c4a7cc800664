import fc from 'fast-check';
import type { Stats } from 'node:fs';
import type { WalkPair } from '../../nodes/Backup/engine/scan/compare';
import { mergeWalk } from '../../nodes/Backup/engine/scan/compare';
import { compareWalkOrder } from '../../nodes/Backup/engine/paths';
import type { ScanItem } from '../../nodes/Backup/engine/scan/walk';
import type { ManifestEntry } from '../../nodes/Backup/engine/types';

// Names chosen so that walk order differs from plain string order ("a-b" and "a.b" sort before "a/").
const NAMES = ['a', 'a-b', 'a.b', 'b', 'é'];
const UNIVERSE: string[] = [];
for (const x of NAMES) {
  UNIVERSE.push(x);
  for (const y of NAMES) {
    UNIVERSE.push(`${x}/${y}`);
    for (const z of NAMES.slice(0, 2)) UNIVERSE.push(`${x}/${y}/${z}`);
  }
}
UNIVERSE.sort(compareWalkOrder);

const isBelow = (p: string, dir: string): boolean => p.startsWith(`${dir}/`);

/** Splits `items` into batches of the given sizes (cycled), the way a stream may deliver them. */
async function* inBatches<T>(items: T[], sizes: number[]): AsyncGenerator<T[]> {
  let at = 0;
  for (let i = 0; at < items.length; i++) {
    const size = sizes[i % sizes.length];
    yield items.slice(at, at + size);
    at += size;
  }
}

function entry(p: string): ManifestEntry {
  return { path: p, kind: 'file', mode: 0o644, mtime: 0, ctime: 0, uid: 0, gid: 0, size: 0, hash: 'h', in: 'B' };
}

/** The merge, written the obvious way with everything in memory. */
function reference(scan: ScanItem[], previous: ManifestEntry[]): WalkPair[] {
  const cur = new Map(scan.map((c) => [c.path, c]));
  const prev = new Map(previous.map((p) => [p.path, p]));
  const unlisted = scan.filter((c) => 'kind' in c && c.listProblem !== undefined).map((c) => c.path);
  return [...new Set([...cur.keys(), ...prev.keys()])].sort(compareWalkOrder).map((p) => {
    const pair: WalkPair = { path: p };
    if (cur.has(p)) pair.current = cur.get(p);
    if (prev.has(p)) pair.previous = prev.get(p);
    if (!cur.has(p) && unlisted.some((d) => isBelow(p, d))) pair.carried = true;
    return pair;
  });
}

describe('mergeWalk', () => {
  test('pairs the scan with the previous manifest exactly like an in-memory merge, whatever the batch boundaries', async () => {
    const subset = fc.array(fc.boolean(), { minLength: UNIVERSE.length, maxLength: UNIVERSE.length });
    const sizes = fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 5 });
    await fc.assert(
      fc.asyncProperty(subset, subset, subset, sizes, sizes, async (inScan, inPrev, unlistable, scanSizes, prevSizes) => {
        const unlisted = UNIVERSE.filter((_, i) => inScan[i] && unlistable[i]);
        // A folder that cannot be listed has no scanned children.
        const scanPaths = UNIVERSE.filter((p, i) => inScan[i] && !unlisted.some((d) => isBelow(p, d)));
        const scan: ScanItem[] = scanPaths.map((p) =>
          unlisted.includes(p) ? { path: p, kind: 'dir', stats: {} as Stats, listProblem: { path: p, code: 'EACCES', message: 'permission denied' } } : { path: p, kind: 'file', stats: {} as Stats },
        );
        const previous = UNIVERSE.filter((_, i) => inPrev[i]).map(entry);
        const merged: WalkPair[] = [];
        for await (const batch of mergeWalk(inBatches(scan, scanSizes), inBatches(previous, prevSizes))) {
          expect(batch.length).toBeGreaterThan(0);
          merged.push(...batch);
        }
        expect(merged).toEqual(reference(scan, previous));
      }),
      { numRuns: 300 },
    );
  });
});
