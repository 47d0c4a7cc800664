import { compareWalkOrder } from './paths';
import type { ScanItem } from './scan';
import { isScanProblem } from './scan';
import type { ManifestEntry } from './types';

/**
 * What the scan says about one path compared with the previous manifest.
 * `recheck`: metadata looks equal but cannot be trusted (ctime moved, the file was written
 * while the previous backup ran, or content mode): hash the content and compare.
 */
export type Verdict = 'added' | 'changed' | 'unchanged' | 'recheck';

export interface Decision {
  verdict: Verdict;
  reason: string;
  /** The stored bytes may be different: copy them (added/changed files). */
  storeContent: boolean;
}

export interface CurrentState {
  kind: 'file' | 'dir' | 'symlink';
  size: number;
  mtime: number;
  ctime: number;
  mode: number;
  uid: number;
  gid: number;
  target?: string;
}

export interface CompareContext {
  /**
   * Files whose mtime is at or after this instant (ms) were possibly modified again within the
   * same timestamp tick after the previous scan saw them ("racy"), so metadata alone cannot clear them.
   */
  racySinceMs: number;
  compareContent: boolean;
}

// Coarse file-system clocks (1 s on ext3/HFS+, 2 s on FAT) bound how stale an mtime can look.
export const RACY_WINDOW_MS = 2000;

export const modeOrOwnerChanged = (prev: ManifestEntry, cur: CurrentState): boolean =>
  prev.mode !== cur.mode || prev.uid !== cur.uid || prev.gid !== cur.gid;

/** Pure: did this entry change since `prev`? Table-tested in test/engine/compare.test.ts. */
export function decideEntry(prev: ManifestEntry | undefined, cur: CurrentState, ctx: CompareContext): Decision {
  const isFile = cur.kind === 'file';
  if (prev === undefined) return { verdict: 'added', reason: 'new', storeContent: isFile };
  if (prev.kind !== cur.kind) return { verdict: 'changed', reason: `was a ${prev.kind}`, storeContent: isFile };
  if (cur.kind === 'symlink') {
    if (prev.target !== cur.target) return { verdict: 'changed', reason: 'link target changed', storeContent: false };
  }
  if (isFile) {
    if (prev.size !== cur.size) return { verdict: 'changed', reason: 'size changed', storeContent: true };
    if (prev.mtime !== cur.mtime) return { verdict: 'changed', reason: 'mtime changed', storeContent: true };
    if (ctx.compareContent) return { verdict: 'recheck', reason: 'content comparison', storeContent: false };
    if (prev.ctime !== cur.ctime) return { verdict: 'recheck', reason: 'ctime changed', storeContent: false };
    // ctime too: an old mtime put back within the same clock tick as the previous scan leaves only ctime recent.
    if (Math.max(prev.mtime, prev.ctime) >= ctx.racySinceMs) return { verdict: 'recheck', reason: 'modified while the previous backup ran', storeContent: false };
  }
  if (modeOrOwnerChanged(prev, cur)) return { verdict: 'changed', reason: 'mode or owner changed', storeContent: false };
  if (cur.kind === 'symlink' && prev.mtime !== cur.mtime) return { verdict: 'changed', reason: 'mtime changed', storeContent: false };
  return { verdict: 'unchanged', reason: 'same size, mtime and ctime', storeContent: false };
}

/** One path of the merged walk: present in the scan, in the previous manifest, or both. */
export interface WalkPair {
  path: string;
  current?: ScanItem;
  previous?: ManifestEntry;
  /** previous entry below a folder that could not be listed this time: keep it as it was. */
  carried?: boolean;
}

class Peekable<T> {
  private head: IteratorResult<T> | undefined;
  constructor(private readonly iterator: AsyncIterator<T>) {}

  async peek(): Promise<T | undefined> {
    if (this.head === undefined) this.head = await this.iterator.next();
    return this.head.done ? undefined : this.head.value;
  }

  async take(): Promise<T | undefined> {
    const value = await this.peek();
    if (value !== undefined) this.head = undefined;
    return value;
  }
}

const isBelow = (p: string, dir: string): boolean => p.length > dir.length && p.startsWith(dir) && p.charCodeAt(dir.length) === 0x2f;

/**
 * Merges the scan and the previous manifest, both in walk order, in one pass (like rclone's
 * march): neither side is ever held in memory.
 */
export async function* mergeWalk(scan: AsyncIterable<ScanItem>, previous: AsyncIterable<ManifestEntry>): AsyncGenerator<WalkPair> {
  const cur = new Peekable(scan[Symbol.asyncIterator]());
  const prev = new Peekable(previous[Symbol.asyncIterator]());
  for (;;) {
    const c = await cur.peek();
    const p = await prev.peek();
    if (c === undefined && p === undefined) return;
    const order = c === undefined ? 1 : p === undefined ? -1 : compareWalkOrder(c.path, p.path);
    if (order < 0) {
      yield { path: (await cur.take())!.path, current: c };
    } else if (order > 0) {
      yield { path: (await prev.take())!.path, previous: p };
    } else {
      await cur.take();
      await prev.take();
      yield { path: c!.path, current: c, previous: p };
    }
    if (c !== undefined && order <= 0 && !isScanProblem(c) && c.listProblem !== undefined) {
      // The folder could not be listed: its previous contents are kept rather than recorded as deleted.
      for (let q = await prev.peek(); q !== undefined && isBelow(q.path, c.path); q = await prev.peek()) {
        await prev.take();
        yield { path: q.path, previous: q, carried: true };
      }
    }
  }
}
