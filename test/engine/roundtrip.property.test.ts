import fc from 'fast-check';
import { constants as C, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { BackupReport, BackupType } from '../../nodes/Backup/engine';
import { restoreBackup, runBackup } from '../../nodes/Backup/engine';
import type { TreeListing, TreeSnapshot } from '../helpers/tree';
import { describeTree, diffTrees, expectSameTree, listTree, makeTempDir, removeTree, snapshotTree } from '../helpers/tree';

/**
 * Round trip: random operations on a real source tree, backups of random types in between, then
 * every backup restored into an empty folder must equal the tree as it was when that backup ran.
 */

// PROPERTY_RUNS sets the number of scenarios; PROPERTY_SEED and PROPERTY_PATH (both printed with a
// counterexample) replay a failure.
const NUM_RUNS = Number(process.env.PROPERTY_RUNS ?? 200);
const REPLAY: Pick<fc.Parameters<unknown>, 'seed' | 'path'> = {
  ...(process.env.PROPERTY_SEED === undefined ? {} : { seed: Number(process.env.PROPERTY_SEED) }),
  ...(process.env.PROPERTY_PATH === undefined ? {} : { path: process.env.PROPERTY_PATH }),
};
const SET = 'roundtrip';
const MAX_ENTRIES = 30;
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

// 'a' next to 'a.txt'/'a-b' (walk order: 'a/x' < 'a-b' < 'a.txt'), NFC 'é' next to NFD 'é',
// 'ｆ' (U+FF46) and '😀' (outside the BMP) which UTF-8 and UTF-16 order differently, a backslash, a newline.
const NAMES = ['a', 'a.txt', 'a-b', 'A', 'b', 'é', 'e\u0301', '日本', '😀', 'ｆ', '-x', '--', 'with space', ' lead', '.hidden', 'back\\slash', 'new\nline'] as const;
const FILE_MODES = [0o600, 0o755, 0o444, 0o700, 0o644] as const;
// Folders keep owner rwx, so the test can still write into them.
const DIR_MODES = [0o700, 0o755, 0o2750, 0o711, 0o1777] as const;
// Past mtimes, some with a sub-millisecond part (restore must keep more than whole milliseconds).
const PAST_MS = [Date.UTC(2001, 0, 1), Date.UTC(2001, 0, 1) + 1000, Date.UTC(2015, 5, 30, 23, 59, 59, 999) + 0.25, 86_400_000.5] as const;

interface Content {
  size: number;
  seed: number;
}

type LinkTarget = { to: 'entry'; index: number } | { to: 'dir'; index: number } | { to: 'dangling'; name: number };

/** Indexes pick among the paths that exist when the operation runs (modulo the list's length). */
type Op =
  /** mtime: index of a past mtime to give the new file (as an archive extraction does), or null. */
  | { op: 'addFile'; dir: number; name: number; content: Content; mtime: number | null }
  | { op: 'mkdir'; dir: number; name: number }
  | { op: 'addSymlink'; dir: number; name: number; target: LinkTarget }
  | { op: 'modify'; file: number; content: Content }
  | { op: 'rewriteSameSize'; file: number; xor: number }
  /** Same-size rewrite, then the mtime put back (cp -p, rsync -t): only ctime shows the change. */
  | { op: 'rewriteKeepMtime'; file: number; xor: number; at: number }
  | { op: 'deleteFile'; file: number }
  | { op: 'deleteSymlink'; link: number }
  | { op: 'rmTree'; dir: number }
  | { op: 'move'; entry: number; dir: number; name: number }
  | { op: 'setMtime'; entry: number; at: number }
  | { op: 'chmod'; entry: number; mode: number }
  | { op: 'fileToDir'; file: number; child: number | null }
  | { op: 'dirToFile'; dir: number; content: Content };

interface Segment {
  ops: Op[];
  backup: BackupType;
}

interface Scenario {
  segments: Segment[];
}

// Positions in the list of paths that exist when the operation runs (taken modulo its length).
const index = fc.nat({ max: 63 });
const name = fc.nat({ max: NAMES.length - 1 });
const pastTime = fc.nat({ max: PAST_MS.length - 1 });
const modeChoice = fc.nat({ max: Math.max(FILE_MODES.length, DIR_MODES.length) - 1 });
const content: fc.Arbitrary<Content> = fc.record({
  size: fc.oneof(
    { arbitrary: fc.constant(0), weight: 2 },
    { arbitrary: fc.integer({ min: 1, max: 64 }), weight: 4 },
    { arbitrary: fc.integer({ min: 65, max: 4096 }), weight: 3 },
    { arbitrary: fc.constantFrom(65_535, 65_536, 65_537, 100_000, (1 << 20) + 1), weight: 1 },
  ),
  seed: fc.nat(),
});
const linkTarget: fc.Arbitrary<LinkTarget> = fc.oneof(
  fc.record({ to: fc.constant('entry' as const), index }),
  fc.record({ to: fc.constant('dir' as const), index }),
  fc.record({ to: fc.constant('dangling' as const), name }),
);

const growing = [
  { weight: 5, arbitrary: fc.record({ op: fc.constant('addFile' as const), dir: index, name, content, mtime: fc.option(pastTime, { freq: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('mkdir' as const), dir: index, name }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('addSymlink' as const), dir: index, name, target: linkTarget }) },
];
const growOp: fc.Arbitrary<Op> = fc.oneof(...growing);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  ...growing,
  { weight: 2, arbitrary: fc.record({ op: fc.constant('modify' as const), file: index, content }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('rewriteSameSize' as const), file: index, xor: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rewriteKeepMtime' as const), file: index, xor: fc.integer({ min: 1, max: 255 }), at: pastTime }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deleteFile' as const), file: index }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deleteSymlink' as const), link: index }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('rmTree' as const), dir: index }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('move' as const), entry: index, dir: index, name }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('setMtime' as const), entry: index, at: pastTime }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('chmod' as const), entry: index, mode: modeChoice }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fileToDir' as const), file: index, child: fc.option(name) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('dirToFile' as const), dir: index, content }) },
);
// Fulls are rarer so that chains of differentials and incrementals get long.
const backupType: fc.Arbitrary<BackupType> = fc.oneof(
  { weight: 1, arbitrary: fc.constant('full' as const) },
  { weight: 2, arbitrary: fc.constant('differential' as const) },
  { weight: 3, arbitrary: fc.constant('incremental' as const) },
);
// Zero operations between two backups is allowed: an unchanged tree must round-trip too.
const segment: fc.Arbitrary<Segment> = fc.record({ ops: fc.array(opArb, { maxLength: 4, size: 'max' }), backup: backupType });
// A prelude of growing operations gives the first backup a tree to work on (or, when empty, an empty source).
const scenarioArb: fc.Arbitrary<Scenario> = fc
  .tuple(fc.array(growOp, { maxLength: 14, size: 'max' }), backupType, fc.array(segment, { maxLength: 6, size: 'max' }))
  .map(([ops, backup, rest]) => ({ segments: [{ ops, backup }, ...rest] }));

/** Deterministic bytes for a content spec (mulberry32), so shrinking and replays see the same data. */
function bytesOf(spec: Content): Buffer {
  const out = Buffer.allocUnsafe(spec.size);
  let state = spec.seed >>> 0;
  for (let i = 0; i < spec.size; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}

const pick = <T>(list: readonly T[], i: number): T | undefined => (list.length === 0 ? undefined : list[i % list.length]);
const join = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);
const isSameOrBelow = (p: string, dir: string): boolean => p === dir || p.startsWith(`${dir}/`);

async function exists(abs: string): Promise<boolean> {
  return fsp.lstat(abs).then(
    () => true,
    () => false,
  );
}

/** Writes into an existing file; a run that is not root lends itself owner-write for a 0o444 file. */
async function writeExisting(abs: string, write: (abs: string) => Promise<void>): Promise<void> {
  const mode = (await fsp.lstat(abs)).mode & 0o7777;
  const lend = !IS_ROOT && (mode & 0o200) === 0;
  if (lend) await fsp.chmod(abs, mode | 0o200);
  await write(abs);
  if (lend) await fsp.chmod(abs, mode);
}

/** Rewrites a file in place with the same length and different bytes; false for an empty file. */
async function rewriteInPlace(abs: string, xor: number): Promise<boolean> {
  const old = await fsp.readFile(abs);
  if (old.length === 0) return false;
  const next = Buffer.from(old.map((b) => b ^ xor));
  await writeExisting(abs, async (p) => {
    const handle = await fsp.open(p, C.O_WRONLY);
    try {
      await handle.write(next, 0, next.length, 0);
    } finally {
      await handle.close();
    }
  });
  return true;
}

/** Applies one operation to the tree under `root`; returns what it did (or why it did nothing). */
async function apply(root: string, op: Op): Promise<string> {
  const all = await listTree(root);
  const abs = (rel: string): string => path.join(root, rel);
  const ofKind = (kind: TreeListing['kind']): string[] => all.filter((e) => e.kind === kind).map((e) => e.path);
  const files = ofKind('file');
  const dirs = ofKind('dir');
  const links = ofKind('symlink');
  const dirsWithRoot = ['', ...dirs];
  const full = all.length >= MAX_ENTRIES;
  const q = JSON.stringify;

  switch (op.op) {
    case 'addFile': {
      const rel = join(dirsWithRoot[op.dir % dirsWithRoot.length], NAMES[op.name % NAMES.length]);
      if (full || (await exists(abs(rel)))) return `skip addFile ${q(rel)}`;
      await fsp.writeFile(abs(rel), bytesOf(op.content), { flag: 'wx' });
      if (op.mtime === null) return `addFile ${q(rel)} (${op.content.size} B)`;
      const ms = PAST_MS[op.mtime % PAST_MS.length];
      await fsp.utimes(abs(rel), ms / 1000, ms / 1000);
      return `addFile ${q(rel)} (${op.content.size} B, mtime ${ms})`;
    }
    case 'mkdir': {
      const rel = join(dirsWithRoot[op.dir % dirsWithRoot.length], NAMES[op.name % NAMES.length]);
      if (full || (await exists(abs(rel)))) return `skip mkdir ${q(rel)}`;
      await fsp.mkdir(abs(rel));
      return `mkdir ${q(rel)}`;
    }
    case 'addSymlink': {
      const dir = dirsWithRoot[op.dir % dirsWithRoot.length];
      const rel = join(dir, NAMES[op.name % NAMES.length]);
      if (full || (await exists(abs(rel)))) return `skip addSymlink ${q(rel)}`;
      let target: string;
      const t = op.target;
      if (t.to === 'dangling') target = `missing/${NAMES[t.name % NAMES.length]}`;
      else {
        const to = t.to === 'dir' ? dirsWithRoot[t.index % dirsWithRoot.length] : pick(all, t.index)?.path;
        if (to === undefined) return `skip addSymlink ${q(rel)} (nothing to point at)`;
        target = path.posix.relative(dir, to) || '.';
      }
      await fsp.symlink(target, abs(rel));
      return `addSymlink ${q(rel)} -> ${q(target)}`;
    }
    case 'modify': {
      const rel = pick(files, op.file);
      if (rel === undefined) return 'skip modify (no file)';
      const size = (await fsp.lstat(abs(rel))).size;
      const spec = op.content.size === size ? { ...op.content, size: size + 1 } : op.content;
      await writeExisting(abs(rel), (p) => fsp.writeFile(p, bytesOf(spec)));
      return `modify ${q(rel)} (${size} -> ${spec.size} B)`;
    }
    case 'rewriteSameSize': {
      const rel = pick(files, op.file);
      if (rel === undefined) return 'skip rewriteSameSize (no file)';
      // The mtime is left as the write set it, on purpose: the engine must still see the change.
      if (!(await rewriteInPlace(abs(rel), op.xor))) return `skip rewriteSameSize ${q(rel)} (empty)`;
      return `rewriteSameSize ${q(rel)} (xor ${op.xor})`;
    }
    case 'rewriteKeepMtime': {
      const rel = pick(files, op.file);
      if (rel === undefined) return 'skip rewriteKeepMtime (no file)';
      const before = (await fsp.lstat(abs(rel))).mtimeMs;
      // Putting back one of our past mtimes reproduces it to the nanosecond; any other is only close.
      const kept = PAST_MS.find((ms) => Math.abs(ms - before) < 0.01);
      const ms = kept ?? PAST_MS[op.at % PAST_MS.length];
      if (!(await rewriteInPlace(abs(rel), op.xor))) return `skip rewriteKeepMtime ${q(rel)} (empty)`;
      await fsp.utimes(abs(rel), ms / 1000, ms / 1000);
      return `rewriteKeepMtime ${q(rel)} (xor ${op.xor}, mtime ${kept === undefined ? 'set to' : 'kept at'} ${ms})`;
    }
    case 'deleteFile': {
      const rel = pick(files, op.file);
      if (rel === undefined) return 'skip deleteFile (no file)';
      await fsp.unlink(abs(rel));
      return `deleteFile ${q(rel)}`;
    }
    case 'deleteSymlink': {
      const rel = pick(links, op.link);
      if (rel === undefined) return 'skip deleteSymlink (no symlink)';
      await fsp.unlink(abs(rel));
      return `deleteSymlink ${q(rel)}`;
    }
    case 'rmTree': {
      const rel = pick(dirs, op.dir);
      if (rel === undefined) return 'skip rmTree (no folder)';
      await fsp.rm(abs(rel), { recursive: true });
      return `rmTree ${q(rel)}`;
    }
    case 'move': {
      const from = pick(all, op.entry);
      if (from === undefined) return 'skip move (empty tree)';
      const dir = dirsWithRoot[op.dir % dirsWithRoot.length];
      const to = join(dir, NAMES[op.name % NAMES.length]);
      if (isSameOrBelow(dir, from.path) || to === from.path) return `skip move ${q(from.path)} -> ${q(to)}`;
      const there = all.find((e) => e.path === to);
      // A file may replace a file (rename(2) does that); anything else is left alone.
      if (there !== undefined && !(there.kind === 'file' && from.kind === 'file')) return `skip move ${q(from.path)} -> ${q(to)} (exists)`;
      await fsp.rename(abs(from.path), abs(to));
      return `move ${from.kind} ${q(from.path)} -> ${q(to)}${there === undefined ? '' : ' (replacing a file)'}`;
    }
    case 'setMtime': {
      const e = pick(all, op.entry);
      if (e === undefined) return 'skip setMtime (empty tree)';
      const ms = PAST_MS[op.at % PAST_MS.length];
      if (e.kind === 'symlink') await fsp.lutimes(abs(e.path), ms / 1000, ms / 1000);
      else await fsp.utimes(abs(e.path), ms / 1000, ms / 1000);
      return `setMtime ${e.kind} ${q(e.path)} = ${new Date(ms).toISOString()} (${ms})`;
    }
    case 'chmod': {
      const e = pick(all.filter((x) => x.kind !== 'symlink'), op.entry);
      if (e === undefined) return 'skip chmod (no file or folder)';
      const modes: readonly number[] = e.kind === 'dir' ? DIR_MODES : FILE_MODES;
      const mode = modes[op.mode % modes.length];
      await fsp.chmod(abs(e.path), mode);
      return `chmod ${e.kind} ${q(e.path)} 0o${mode.toString(8)}`;
    }
    case 'fileToDir': {
      const rel = pick(files, op.file);
      if (rel === undefined) return 'skip fileToDir (no file)';
      await fsp.unlink(abs(rel));
      await fsp.mkdir(abs(rel));
      if (op.child === null) return `fileToDir ${q(rel)} (empty)`;
      const child = join(rel, NAMES[op.child % NAMES.length]);
      await fsp.writeFile(abs(child), bytesOf({ size: 1 + (op.child % 100), seed: op.child }));
      return `fileToDir ${q(rel)} with ${q(child)}`;
    }
    case 'dirToFile': {
      const rel = pick(dirs, op.dir);
      if (rel === undefined) return 'skip dirToFile (no folder)';
      await fsp.rm(abs(rel), { recursive: true });
      await fsp.writeFile(abs(rel), bytesOf(op.content));
      return `dirToFile ${q(rel)} (${op.content.size} B)`;
    }
  }
}

interface Taken {
  report: BackupReport;
  requested: BackupType;
  tree: TreeSnapshot;
}

async function backup(source: string, destination: string, type: BackupType): Promise<BackupReport> {
  const [outcome, ...more] = await runBackup({ sources: [source], destination, type, setName: SET, exclude: [], skipEmptySource: false });
  if (more.length > 0) throw new Error(`one source gave ${more.length + 1} outcomes`);
  if (!outcome.ok) throw new Error(`${type} backup failed: ${outcome.error.code} ${outcome.error.message}`);
  return outcome.report;
}

/** Problems with one backup's report (the restore side is checked separately). */
function reportProblems(taken: Taken, isFirst: boolean): string[] {
  const r = taken.report;
  const out: string[] = [];
  if (r.skipped || r.backupId === null) out.push(`${taken.requested} backup was skipped: ${r.skipReason ?? ''}`);
  if (r.errorCount !== 0) out.push(`${r.backupId}: errorCount ${r.errorCount}: ${JSON.stringify(r.errors)}`);
  const expectedType = isFirst ? 'full' : taken.requested;
  if (r.type !== expectedType) out.push(`${r.backupId}: type ${String(r.type)}, expected ${expectedType}`);
  return out;
}

/** Restores one backup into an empty folder; problems with the restore or differences from `expected`. */
async function restoreProblems(destination: string, backupId: string, target: string, expected: TreeSnapshot): Promise<string[]> {
  let errors: string;
  try {
    const restored = await restoreBackup({ destination, setName: SET, backupId, target });
    errors = restored.errorCount === 0 ? '' : `restore of ${backupId}: errorCount ${restored.errorCount}: ${JSON.stringify(restored.errors)}`;
  } catch (error) {
    return [`restore of ${backupId} threw ${error instanceof Error ? error.message : String(error)}`];
  }
  const diffs = diffTrees(await snapshotTree(target), expected);
  const out = errors === '' ? [] : [errors];
  if (diffs.length > 0) {
    const then = describeTree(expected).split('\n').join('\n    ');
    out.push(`restore of ${backupId} differs from the source at that backup:\n    ${diffs.join('\n    ')}\n  source then:\n    ${then}`);
  }
  return out;
}

async function runScenario(scenario: Scenario): Promise<void> {
  const work = await makeTempDir('roundtrip-');
  const source = path.join(work, 'src');
  const destination = path.join(work, 'dest');
  const log: string[] = [];
  const failures: string[] = [];
  const taken: Taken[] = [];
  try {
    await fsp.mkdir(source);
    for (const seg of scenario.segments) {
      for (const op of seg.ops) log.push(await apply(source, op));
      const report = await backup(source, destination, seg.backup);
      const tree = await snapshotTree(source);
      taken.push({ report, requested: seg.backup, tree });
      log.push(`backup ${seg.backup} -> ${report.backupId ?? 'none'} (${tree.size} entries, stored ${report.files.stored})`);
    }
    for (const [i, t] of taken.entries()) {
      failures.push(...reportProblems(t, i === 0));
      const id = t.report.backupId;
      if (id !== null) failures.push(...(await restoreProblems(destination, id, path.join(work, 'restore', String(i)), t.tree)));
    }
  } catch (error) {
    failures.push(`threw ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    await removeTree(work);
  }
  if (failures.length > 0) throw new Error(`${failures.join('\n')}\nsteps:\n  ${log.join('\n  ')}`);
}

describe('backup -> restore round trip', () => {
  test(`every backup of a randomly changing tree restores exactly (${NUM_RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, (scenario) => runScenario(scenario)),
      { numRuns: NUM_RUNS, ...REPLAY },
    );
  }, 900_000);

  test('walk-order edge case: a/x, a.txt, a-b, A, é, 😀, -x through a full and an incremental', async () => {
    const work = await makeTempDir('roundtrip-order-');
    try {
      const source = path.join(work, 'src');
      const destination = path.join(work, 'dest');
      await fsp.mkdir(path.join(source, 'a'), { recursive: true });
      for (const rel of ['a/x', 'a.txt', 'a-b', 'A', 'é', '😀', '-x']) await fsp.writeFile(path.join(source, rel), `content of ${rel}`);

      const full = await backup(source, destination, 'full');
      const fullTree = await snapshotTree(source);
      await fsp.writeFile(path.join(source, 'a/x'), 'changed, and longer than before');
      const incremental = await backup(source, destination, 'incremental');
      const incrementalTree = await snapshotTree(source);

      expect(full).toMatchObject({ type: 'full', errorCount: 0 });
      expect(incremental).toMatchObject({ type: 'incremental', errorCount: 0 });
      expect(incremental.files).toMatchObject({ changed: 1, stored: 1, added: 0, deleted: 0 });
      // Manifest order is depth-first with names in UTF-8 byte order: 'a/x' before 'a-b' and 'a.txt'.
      const manifest = gunzipSync(await fsp.readFile(path.join(destination, SET, incremental.backupId as string, 'manifest.jsonl.gz')))
        .toString('utf8')
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as { path?: string; trailer?: boolean; manifest?: string });
      const paths = manifest.filter((l) => l.trailer !== true && l.manifest === undefined).map((l) => l.path);
      expect(paths).toEqual(['-x', 'A', 'a', 'a/x', 'a-b', 'a.txt', 'é', '😀']);

      for (const [report, tree] of [
        [full, fullTree],
        [incremental, incrementalTree],
      ] as const) {
        const target = path.join(work, `restore-${report.type ?? 'none'}`);
        const restored = await restoreBackup({ destination, setName: SET, backupId: report.backupId as string, target });
        expect(restored.errorCount).toBe(0);
        expectSameTree(await snapshotTree(target), tree, `restore of ${report.backupId}`);
      }
    } finally {
      await removeTree(work);
    }
  });
});
