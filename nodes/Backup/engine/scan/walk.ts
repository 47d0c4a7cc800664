import type { Stats } from 'node:fs';
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import picomatch from 'picomatch';
import { toFileProblem } from '../errors';
import { compareNames } from '../paths';
import { workerFile } from '../workers';
import type { PackedBatch } from './packedBatch';
import { unpackBatch } from './packedBatch';
import type { EntryKind, FileProblem } from '../types';

/** The parts of lstat the engine uses, as a plain object (it crosses from the scan's thread). */
export interface EntryStats {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  atimeMs: number;
  mode: number;
  uid: number;
  gid: number;
  /** Which file the scan saw: the copy checks it opened this one (see fileJobs.ts). */
  dev?: number;
  ino?: number;
  /** Names the inode has (a file with more than one is part of a hard-link group). */
  nlink?: number;
}

/** One entry of the source tree, as the walk found it. */
export interface ScanEntry {
  path: string;
  kind: EntryKind | 'special';
  stats: EntryStats;
  /** special: what it is (a FIFO, a socket, a device file), for the note saying it is skipped. */
  special?: string;
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

function specialKind(stats: Stats): string {
  return stats.isFIFO() ? 'a FIFO' : stats.isSocket() ? 'a socket' : 'a device file';
}

function kindOf(stats: Stats): EntryKind | 'special' {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'symlink';
  return 'special';
}

// Entries handed over at once: one message per batch, not per entry.
const SCAN_BATCH = 256;

/** `root`/`rel` without path.join's normalizing (names from readdir need none): a few % of the scan. */
function under(root: string, rel: string): string {
  return root.endsWith('/') ? root + rel : `${root}/${rel}`;
}

function statChild(root: string, rel: string): ScanItem {
  const abs = under(root, rel);
  try {
    const s = fs.lstatSync(abs);
    const stats: EntryStats = { size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, atimeMs: s.atimeMs, mode: s.mode, uid: s.uid, gid: s.gid, dev: s.dev, ino: s.ino, nlink: s.nlink };
    const kind = kindOf(s);
    if (kind === 'symlink') return { path: rel, kind, stats, target: fs.readlinkSync(abs) };
    if (kind === 'special') return { path: rel, kind, stats, special: specialKind(s) };
    return { path: rel, kind, stats };
  } catch (error) {
    return { path: rel, problem: toFileProblem(rel, error) };
  }
}

/** A name's bytes for a message: printable ASCII as is, every other byte as \\xNN. */
function escapeNameBytes(raw: Buffer): string {
  let text = '';
  for (const byte of raw) text += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  return text;
}

interface Listing {
  names: string[];
  /**
   * Names that are not valid UTF-8, as Node gives them (invalid bytes become U+FFFD), with their
   * real bytes escaped. Node's fs takes paths as UTF-8, so no call can open such an entry by the
   * name it was given: without this, it read as "vanished" on every run.
   */
  undecodable?: Map<string, string>;
}

function listNames(abs: string): Listing {
  const names = fs.readdirSync(abs).sort(compareNames);
  // Only a name holding U+FFFD can be lossy: the second, byte-exact listing is rare.
  if (!names.some((name) => name.includes('\uFFFD'))) return { names };
  const undecodable = new Map<string, string>();
  for (const raw of fs.readdirSync(abs, { encoding: 'buffer' })) {
    const name = raw.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(raw)) undecodable.set(name, escapeNameBytes(raw));
  }
  return { names, undecodable };
}

interface OpenFolder {
  /** Paths (relative to the root) of the folder's remaining children, in walk order. */
  rels: string[];
  next: number;
  /** Relative paths of children whose names are not valid UTF-8 -> their bytes, escaped. */
  undecodable?: Map<string, string>;
}

function openFolder(relDir: string, listing: Listing, isExcluded: ExcludeMatcher): OpenFolder {
  const rel = (name: string): string => (relDir === '' ? name : `${relDir}/${name}`);
  const rels = listing.names.map(rel).filter((r) => !isExcluded(r));
  if (listing.undecodable === undefined) return { rels, next: 0 };
  return { rels, next: 0, undecodable: new Map([...listing.undecodable].map(([name, bytes]) => [rel(name), bytes])) };
}

function undecodableName(rel: string, bytes: string): ScanProblem {
  const message = `name is not valid UTF-8 (bytes: ${bytes}); not backed up, nor anything inside it if it is a folder. Rename it to back it up.`;
  return { path: rel, problem: { path: rel, code: 'ENAMEENCODING', message } };
}

/**
 * Walks `root` depth-first with names sorted bytewise in each folder (the manifest's walk
 * order), never following symlinks, in batches of up to SCAN_BATCH entries. Synchronous: it runs
 * on the scan's own thread. Streams: memory holds one name list per open folder.
 * Throws only when the root itself cannot be listed.
 */
export function* walkTree(root: string, isExcluded: ExcludeMatcher): Generator<ScanItem[]> {
  const stack: OpenFolder[] = [openFolder('', listNames(root), isExcluded)];
  let batch: ScanItem[] = [];
  while (stack.length > 0) {
    const folder = stack[stack.length - 1];
    if (folder.next >= folder.rels.length) {
      stack.pop();
      continue;
    }
    const rel = folder.rels[folder.next++];
    const badBytes = folder.undecodable?.get(rel);
    const item = badBytes === undefined ? statChild(root, rel) : undecodableName(rel, badBytes);
    if (!isScanProblem(item) && item.kind === 'dir') {
      try {
        const children = listNames(under(root, item.path));
        batch.push(item);
        stack.push(openFolder(item.path, children, isExcluded));
      } catch (error) {
        batch.push({ ...item, listProblem: toFileProblem(item.path, error) });
      }
    } else {
      batch.push(item);
    }
    if (batch.length >= SCAN_BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Messages from the scan's thread, and to it (a source to walk, or "send one more batch"). */
export type ScanMessage = { packed: PackedBatch } | { done: true } | { error: { code?: string; message: string } };
export type ScanRequest = { root: string; exclude: string[] } | 'next';

/** Batches the scan's thread may run ahead of the consumer: bounds memory, keeps both busy. */
export const SCAN_AHEAD = 8;

/** Scan threads between two walks, kept for the next (a thread takes tens of ms to start). */
const idleScanners = new Map<Worker, () => void>();
const KEEP_IDLE = 2;

function takeScanner(): Worker {
  for (const [worker, onExit] of idleScanners) {
    idleScanners.delete(worker);
    worker.off('exit', onExit);
    worker.ref();
    return worker;
  }
  return new Worker(workerFile('scan/walkWorker'));
}

function giveBack(worker: Worker): void {
  if (idleScanners.size >= KEEP_IDLE) {
    void worker.terminate();
    return;
  }
  // An idle thread does not keep the process alive; one that stops is forgotten.
  const onExit = (): void => void idleScanners.delete(worker);
  worker.unref();
  worker.once('exit', onExit);
  idleScanners.set(worker, onExit);
}

/** A scan started on its thread: its batches, once (see startScan). */
export interface ScanStream {
  batches: AsyncGenerator<ScanItem[]>;
  /** Stops it early (its thread is stopped) or gives its thread back; the end of batches() does it too. */
  close(): Promise<void>;
}

/**
 * `walkTree` on a thread of its own (walkWorker.ts), streamed back in batches. Profiled on the
 * 52,000-entry bench set: lstat and its objects were a third of a no-change backup's main-thread
 * time; on their own thread they overlap with reading the old manifest and writing the new one,
 * and n8n's event loop never waits for a slow file system.
 * The thread starts at once, not on the first read: it takes tens of ms to start, meanwhile the
 * caller opens the previous manifest. The batches throw only when the root itself cannot be listed.
 */
export function startScan(root: string, exclude: readonly string[]): ScanStream {
  const worker = takeScanner();
  const arrived: ScanMessage[] = [];
  let wake: (() => void) | undefined;
  let failure: unknown;
  let finished = false;
  let closing: Promise<void> | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  const onMessage = (message: ScanMessage): void => {
    arrived.push(message);
    notify();
  };
  const onError = (error: unknown): void => {
    failure ??= error;
    notify();
  };
  const onExit = (code: number): void => {
    failure ??= new Error(`the scan thread stopped (exit code ${code})`);
    notify();
  };
  // Only these listeners are removed afterwards: removeAllListeners() would also drop the ones
  // Node uses to ref the thread's message port, and a reused thread would then never be heard.
  worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  worker.postMessage({ root, exclude: [...exclude] } satisfies ScanRequest);
  const close = (): Promise<void> => {
    closing ??= (async () => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      // A walk left unfinished (an error elsewhere, a cancel) cannot be reused: stop its thread.
      if (finished && failure === undefined) giveBack(worker);
      else await worker.terminate();
    })();
    return closing;
  };
  async function* batches(): AsyncGenerator<ScanItem[]> {
    try {
      for (;;) {
        const message = arrived.shift();
        if (message === undefined) {
          if (failure !== undefined) throw failure;
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        if ('done' in message) {
          finished = true;
          return;
        }
        if ('error' in message) {
          finished = true;
          throw Object.assign(new Error(message.error.message), { code: message.error.code });
        }
        // Asks for one more batch: the thread keeps at most SCAN_AHEAD batches unconsumed.
        worker.postMessage('next' satisfies ScanRequest);
        yield unpackBatch(message.packed);
      }
    } finally {
      await close();
    }
  }
  return { batches: batches(), close };
}
