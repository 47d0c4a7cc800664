import { compareWalkOrder } from '../paths';
import type { ScanItem } from './walk';
import { isScanProblem } from './walk';
import type { ManifestEntry } from '../types';

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
   * When the previous backup started (ms; Infinity for none). A file whose mtime or ctime lies
   * within one timestamp tick of it, or after it, may have been written again in the same tick
   * after the previous scan saw it ("racy"), so metadata alone cannot clear it (see isRacy).
   */
  previousStartMs: number;
  compareContent: boolean;
}

// Coarse file-system clocks (1 s on ext3/HFS+, 2 s on FAT) bound how stale an mtime can look.
export const RACY_WINDOW_MS = 2000;
/**
 * A time with a part below the millisecond comes from a file system that keeps nanoseconds (ext4,
 * XFS, btrfs, APFS, NTFS): stamped from the kernel's clock, whose tick is at most 10 ms (HZ=100).
 * The 2 s window made every file written in the 2 s before a backup racy until the next backup was
 * written: an auto run that found nothing changed hashed them all again, night after night.
 */
export const FINE_RACY_WINDOW_MS = 50;

/** Pure: may a write in the same timestamp tick as `time` (ms) have gone unseen by a scan that started at `startMs`? */
export function isRacy(time: number, startMs: number): boolean {
  return time >= startMs - (Number.isInteger(time) ? RACY_WINDOW_MS : FINE_RACY_WINDOW_MS);
}

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
    if (isRacy(prev.mtime, ctx.previousStartMs) || isRacy(prev.ctime, ctx.previousStartMs)) return { verdict: 'recheck', reason: 'modified while the previous backup ran', storeContent: false };
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

/** Reads a stream of batches one item at a time; only refilling is asynchronous. */
class BatchCursor<T> {
  private batch: T[] = [];
  private index = 0;
  private ended = false;

  constructor(private readonly iterator: AsyncIterator<T[]>) {}

  /** True when peek() can answer without a refill. */
  get ready(): boolean {
    return this.index < this.batch.length || this.ended;
  }

  async fill(): Promise<void> {
    while (!this.ready) {
      const next = await this.iterator.next();
      if (next.done === true) this.ended = true;
      else {
        this.batch = next.value;
        this.index = 0;
      }
    }
  }

  /** The next item; call only when ready. */
  peek(): T | undefined {
    return this.index < this.batch.length ? this.batch[this.index] : undefined;
  }

  take(): void {
    this.index++;
  }

  /** Ends the source early (its finally blocks run: a scan thread is stopped, a file closed). */
  async close(): Promise<void> {
    await this.iterator.return?.(undefined);
  }
}

const isBelow = (p: string, dir: string): boolean => p.length > dir.length && p.startsWith(dir) && p.charCodeAt(dir.length) === 0x2f;

/** Pairs handed on at once: the stages after the merge work a batch at a time. */
const PAIR_BATCH = 256;

/**
 * Merges the scan and the previous manifest, both in walk order and both arriving in batches, in
 * one pass (like rclone's march), and yields the pairs in batches: neither side is ever held in
 * memory, and the per-item work is plain synchronous code.
 */
export async function* mergeWalk(scan: AsyncIterable<ScanItem[]>, previous: AsyncIterable<ManifestEntry[]>): AsyncGenerator<WalkPair[]> {
  const cur = new BatchCursor(scan[Symbol.asyncIterator]());
  const prev = new BatchCursor(previous[Symbol.asyncIterator]());
  let out: WalkPair[] = [];
  try {
    for (;;) {
      // Both at once when both are empty (the start): the scan's thread and the manifest's read overlap.
      if (!cur.ready || !prev.ready) await Promise.all([cur.fill(), prev.fill()]);
      const c = cur.peek();
      const p = prev.peek();
      if (c === undefined && p === undefined) break;
      const order = c === undefined ? 1 : p === undefined ? -1 : compareWalkOrder(c.path, p.path);
      if (order < 0) {
        cur.take();
        out.push({ path: c!.path, current: c });
      } else if (order > 0) {
        prev.take();
        out.push({ path: p!.path, previous: p });
      } else {
        cur.take();
        prev.take();
        out.push({ path: c!.path, current: c, previous: p });
      }
      if (c !== undefined && order <= 0 && !isScanProblem(c) && c.listProblem !== undefined) {
        // The folder could not be listed: its previous contents are kept rather than recorded as deleted.
        for (;;) {
          if (!prev.ready) await prev.fill();
          const q = prev.peek();
          if (q === undefined || !isBelow(q.path, c.path)) break;
          prev.take();
          out.push({ path: q.path, previous: q, carried: true });
        }
      }
      if (out.length >= PAIR_BATCH) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  } finally {
    await Promise.allSettled([cur.close(), prev.close()]);
  }
}
