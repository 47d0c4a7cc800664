import type { Dirent, Stats } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import picomatch from 'picomatch';
import { toFileProblem } from './errors';
import { compareNames } from './paths';
import type { EntryKind, FileProblem } from './types';

/** One entry of the source tree, as the walk found it. */
export interface ScanEntry {
  path: string;
  kind: EntryKind | 'special';
  stats: Stats;
  /** symlink: the link text. */
  target?: string;
  /** dir: its contents could not be listed (the entry itself is known). */
  listProblem?: FileProblem;
}

/** An entry the walk could not even lstat (it vanished, or permission denied on it). */
export interface ScanProblem {
  path: string;
  problem: FileProblem;
}

export type ScanItem = ScanEntry | ScanProblem;

export function isScanProblem(item: ScanItem): item is ScanProblem {
  return 'problem' in item;
}

export type ExcludeMatcher = (relPath: string) => boolean;

/**
 * Globs match the path relative to the source (`cache/**` leaves out the folder `cache` and all
 * in it; a leading `/` is allowed); a glob without `/` matches a name at any depth (`*.log`).
 */
export function compileExcludes(patterns: readonly string[]): ExcludeMatcher {
  const cleaned = patterns.map((p) => p.trim()).filter((p) => p.length > 0);
  const byName = cleaned.filter((p) => !p.includes('/'));
  const byPath = cleaned.filter((p) => p.includes('/')).map((p) => p.replace(/^\/+/, ''));
  // Compiled separately: picomatch's basename mode would also match path globs against names.
  const matchers = [
    ...(byName.length > 0 ? [picomatch(byName, { dot: true, basename: true })] : []),
    ...(byPath.length > 0 ? [picomatch(byPath, { dot: true })] : []),
  ];
  return (relPath) => matchers.some((isMatch) => isMatch(relPath));
}

function kindOf(stats: Stats): EntryKind | 'special' {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'symlink';
  return 'special';
}

// lstat calls in flight per folder: enough to keep the thread pool busy, bounded for huge folders.
const LSTAT_BATCH = 256;

async function statChild(root: string, rel: string): Promise<ScanItem> {
  const abs = path.join(root, rel);
  try {
    const stats = await fsp.lstat(abs);
    const kind = kindOf(stats);
    if (kind === 'symlink') return { path: rel, kind, stats, target: await fsp.readlink(abs) };
    return { path: rel, kind, stats };
  } catch (error) {
    return { path: rel, problem: toFileProblem(rel, error) };
  }
}

async function listNames(abs: string): Promise<string[]> {
  const dirents: Dirent[] = await fsp.readdir(abs, { withFileTypes: true });
  return dirents.map((d) => d.name).sort(compareNames);
}

/**
 * Walks `root` depth-first with names sorted bytewise in each folder (the manifest's walk
 * order), never following symlinks. Streams: memory holds one name list per open folder.
 * Throws only when the root itself cannot be listed.
 */
export async function* scanTree(root: string, isExcluded: ExcludeMatcher): AsyncGenerator<ScanItem> {
  yield* walkFolder(root, '', await listNames(root), isExcluded);
}

async function* walkFolder(root: string, relDir: string, names: string[], isExcluded: ExcludeMatcher): AsyncGenerator<ScanItem> {
  const rels = names.map((name) => (relDir === '' ? name : `${relDir}/${name}`)).filter((rel) => !isExcluded(rel));
  for (let start = 0; start < rels.length; start += LSTAT_BATCH) {
    const batch = await Promise.all(rels.slice(start, start + LSTAT_BATCH).map((rel) => statChild(root, rel)));
    for (const item of batch) {
      if (isScanProblem(item) || item.kind !== 'dir') {
        yield item;
        continue;
      }
      let children: string[];
      try {
        children = await listNames(path.join(root, item.path));
      } catch (error) {
        yield { ...item, listProblem: toFileProblem(item.path, error) };
        continue;
      }
      yield item;
      yield* walkFolder(root, item.path, children, isExcluded);
    }
  }
}
