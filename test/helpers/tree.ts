import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Temp folders and exact snapshots of real trees, for round-trip tests (backup -> restore -> compare). */

export type TreeEntryKind = 'file' | 'dir' | 'symlink' | 'other';

export interface TreeEntry {
  kind: TreeEntryKind;
  /** Permission bits: mode & 0o7777. */
  mode: number;
  mtimeMs: number;
  /** file: byte length. */
  size?: number;
  /** file: the bytes (trees under test are small). */
  content?: Buffer;
  /** file: hex sha256 of the bytes. */
  sha256?: string;
  /** symlink: the link text, never followed. */
  target?: string;
}

/** Every entry below a root (not the root itself), keyed by relative posix path, in sorted order. */
export type TreeSnapshot = ReadonlyMap<string, TreeEntry>;

/** A light listing (no contents) for picking targets of operations. */
export interface TreeListing {
  path: string;
  kind: TreeEntryKind;
}

// Node's utimes passes seconds as a double: about a microsecond survives, so mtimes compare within this.
export const MTIME_TOLERANCE_MS = 0.01;

/** Creates a fresh folder under os.tmpdir() and returns its absolute path. */
export async function makeTempDir(prefix: string): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** Removes a tree, even one holding folders without write permission (for a run that is not root). */
export async function removeTree(root: string): Promise<void> {
  try {
    await fsp.rm(root, { recursive: true, force: true });
    return;
  } catch {
    await makeFoldersWritable(root);
  }
  await fsp.rm(root, { recursive: true, force: true });
}

async function makeFoldersWritable(abs: string): Promise<void> {
  const stats = await fsp.lstat(abs).catch(() => undefined);
  if (stats === undefined || !stats.isDirectory()) return;
  await fsp.chmod(abs, 0o700).catch(() => undefined);
  for (const name of await fsp.readdir(abs).catch(() => [] as string[])) await makeFoldersWritable(path.join(abs, name));
}

function kindOf(stats: Stats): TreeEntryKind {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'symlink';
  return 'other';
}

const join = (relDir: string, name: string): string => (relDir === '' ? name : `${relDir}/${name}`);

/** Walks below `root` with lstat only; yields folders before their contents. */
async function walk(root: string, visit: (rel: string, abs: string, stats: Stats) => Promise<void>, relDir = ''): Promise<void> {
  const names = (await fsp.readdir(path.join(root, relDir))).sort();
  for (const name of names) {
    const rel = join(relDir, name);
    const abs = path.join(root, rel);
    const stats = await fsp.lstat(abs);
    await visit(rel, abs, stats);
    if (stats.isDirectory()) await walk(root, visit, rel);
  }
}

/** Paths and kinds of every entry below `root`, sorted by path. */
export async function listTree(root: string): Promise<TreeListing[]> {
  const out: TreeListing[] = [];
  await walk(root, async (rel, _abs, stats) => {
    out.push({ path: rel, kind: kindOf(stats) });
  });
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Exact state of every entry below `root` (never following symlinks). */
export async function snapshotTree(root: string): Promise<TreeSnapshot> {
  const entries: [string, TreeEntry][] = [];
  await walk(root, async (rel, abs, stats) => {
    const kind = kindOf(stats);
    const entry: TreeEntry = { kind, mode: stats.mode & 0o7777, mtimeMs: stats.mtimeMs };
    if (kind === 'file') {
      const content = await fsp.readFile(abs);
      entry.content = content;
      entry.size = content.length;
      entry.sha256 = createHash('sha256').update(content).digest('hex');
    } else if (kind === 'symlink') {
      entry.target = await fsp.readlink(abs);
    }
    entries.push([rel, entry]);
  });
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return new Map(entries);
}

const show = (p: string): string => JSON.stringify(p);
const octal = (mode: number): string => `0o${mode.toString(8).padStart(3, '0')}`;

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

function diffEntry(p: string, actual: TreeEntry, expected: TreeEntry, toleranceMs: number): string[] {
  if (actual.kind !== expected.kind) return [`${show(p)}: is a ${actual.kind}, expected a ${expected.kind}`];
  const out: string[] = [];
  if (actual.kind === 'file') {
    if (actual.size !== expected.size || actual.sha256 !== expected.sha256) {
      const where = actual.content !== undefined && expected.content !== undefined ? `, first difference at byte ${firstDifference(actual.content, expected.content)}` : '';
      out.push(`${show(p)}: content differs: ${actual.size} bytes sha256 ${actual.sha256?.slice(0, 12)}, expected ${expected.size} bytes sha256 ${expected.sha256?.slice(0, 12)}${where}`);
    }
  }
  if (actual.kind === 'symlink' && actual.target !== expected.target) {
    out.push(`${show(p)}: symlink target ${show(actual.target ?? '')}, expected ${show(expected.target ?? '')}`);
  }
  if (actual.mode !== expected.mode) out.push(`${show(p)}: mode ${octal(actual.mode)}, expected ${octal(expected.mode)}`);
  const drift = actual.mtimeMs - expected.mtimeMs;
  if (!(Math.abs(drift) <= toleranceMs)) {
    out.push(`${show(p)}: mtime ${new Date(actual.mtimeMs).toISOString()} (${actual.mtimeMs}), expected ${new Date(expected.mtimeMs).toISOString()} (${expected.mtimeMs}), off by ${drift} ms`);
  }
  return out;
}

/** Human-readable differences between two snapshots (empty when they match). */
export function diffTrees(actual: TreeSnapshot, expected: TreeSnapshot, toleranceMs = MTIME_TOLERANCE_MS): string[] {
  const out: string[] = [];
  for (const [p, want] of expected) {
    const got = actual.get(p);
    if (got === undefined) out.push(`${show(p)}: missing (expected a ${want.kind})`);
    else out.push(...diffEntry(p, got, want, toleranceMs));
  }
  for (const [p, got] of actual) {
    if (!expected.has(p)) out.push(`${show(p)}: unexpected ${got.kind}`);
  }
  return out;
}

/** Throws an Error listing every difference (path + what differs) when the trees do not match. */
export function expectSameTree(actual: TreeSnapshot, expected: TreeSnapshot, context = 'tree'): void {
  const diffs = diffTrees(actual, expected);
  if (diffs.length === 0) return;
  const shown = diffs.slice(0, 40);
  const more = diffs.length > shown.length ? `\n  ... and ${diffs.length - shown.length} more` : '';
  throw new Error(`${context}: ${diffs.length} difference(s):\n  ${shown.join('\n  ')}${more}`);
}

/** One line per entry, for failure messages. */
export function describeTree(tree: TreeSnapshot): string {
  const lines: string[] = [];
  for (const [p, e] of tree) {
    const what = e.kind === 'file' ? `file ${e.size}B ${e.sha256?.slice(0, 8)}` : e.kind === 'symlink' ? `symlink -> ${show(e.target ?? '')}` : e.kind;
    lines.push(`${show(p)} ${what} ${octal(e.mode)} mtime ${e.mtimeMs}`);
  }
  return lines.length === 0 ? '(empty)' : lines.join('\n');
}
