import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { BatchResult, JobBatch } from './copyWorker';
import type { FileJob, FileJobResult } from './fileJobs';
import { workerFile } from '../workers';

/** Jobs per message: enough to make the message cost vanish, few enough to keep every worker busy. */
const BATCH_JOBS = 32;
/** ... and bytes per message, so one worker does not get all the large files of a folder. */
const BATCH_BYTES = 8 << 20;
/** Batches a worker holds at once: the next is ready when one finishes. */
const BATCHES_PER_WORKER = 2;

interface Waiting {
  job: FileJob;
  resolve: (result: FileJobResult) => void;
  reject: (error: unknown) => void;
}

interface Slot {
  worker: Worker;
  outstanding: Map<number, Waiting[]>;
}

export function defaultWorkerCount(): number {
  return Math.min(4, Math.max(2, os.availableParallelism()));
}

/** What runs file jobs: the thread pool, or (in tests) anything that keeps the same contract. */
export interface JobRunner {
  /** Resolves with the job's result; errors of the job are results, not rejections. */
  run(job: FileJob): Promise<FileJobResult>;
}

/**
 * Worker threads that copy and hash files with synchronous system calls, fed in batches.
 * Keeps the event loop free (n8n runs other workflows meanwhile) and avoids one promise and one
 * thread-pool round trip per system call. Usually the shared one (sharedFilePool()); close() ends a pool.
 */
export class FilePool implements JobRunner {
  private readonly slots: Slot[] = [];
  private readonly queue: Waiting[] = [];
  private queueHead = 0;
  private nextBatch = 0;
  private pumpScheduled = false;
  private failure: unknown;

  constructor(private readonly workers = defaultWorkerCount()) {}

  /** Threads running now (none before the first job, none after a failure or close()). */
  get threads(): number {
    return this.slots.length;
  }

  /**
   * Starts one more thread. Threads start as the work needs them: none for a backup with nothing
   * to read, one for a few re-checked files, all of them once jobs queue up behind the first. A
   * thread costs about 100 ms of CPU to start: a no-change run that re-checked ten files started
   * two, on a machine whose two cores were busy with the scan (bench: 0.2 CPU-s of 1.9).
   */
  private startThread(): void {
    const slot: Slot = { worker: new Worker(workerFile('store/copyWorker')), outstanding: new Map() };
    slot.worker.on('message', (message: BatchResult) => this.settle(slot, message));
    slot.worker.on('error', (error) => this.fail(error));
    slot.worker.on('exit', (code) => this.fail(new Error(`a copy worker stopped (exit code ${code})`)));
    // An idle pool must not keep the process alive (the CLI exits, a test runner ends). After
    // the listeners: adding a 'message' listener refs the thread's port again.
    slot.worker.unref();
    this.slots.push(slot);
  }

  /** Runs one job on some worker; resolves with its result (errors are results, not rejections). */
  run(job: FileJob): Promise<FileJobResult> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      if (!this.pumpScheduled) {
        this.pumpScheduled = true;
        // Lets the caller queue everything it has this turn, so batches fill up.
        setImmediate(() => {
          this.pumpScheduled = false;
          this.pump();
        });
      }
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('the copy pool is closed');
    const slots = this.slots.splice(0);
    for (const slot of slots) slot.worker.removeAllListeners('exit');
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
    for (const slot of slots) for (const batch of slot.outstanding.values()) for (const w of batch) w.reject(this.failure);
  }

  private pump(): void {
    // pump() runs from setImmediate and from a thread's message: a thread that cannot start must
    // fail the jobs waiting for it, not throw where nobody catches it (that would end the process).
    try {
      if (this.slots.length === 0 && this.queueHead < this.queue.length) this.startThread();
      this.fillSlots();
      // Jobs left over once every thread holds all it may: the work is more than one thread's.
      while (this.queueHead < this.queue.length && this.slots.length < this.workers) {
        this.startThread();
        this.fillSlots();
      }
    } catch (error) {
      this.fail(error);
    }
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
  }

  private fillSlots(): void {
    for (const slot of this.slots) {
      while (slot.outstanding.size < BATCHES_PER_WORKER && this.queueHead < this.queue.length) {
        const batch: Waiting[] = [];
        let bytes = 0;
        while (this.queueHead < this.queue.length && batch.length < BATCH_JOBS && (batch.length === 0 || bytes < BATCH_BYTES)) {
          const next = this.queue[this.queueHead++];
          batch.push(next);
          bytes += next.job.sizeHint;
        }
        const id = this.nextBatch++;
        if (slot.outstanding.size === 0) slot.worker.ref();
        slot.outstanding.set(id, batch);
        slot.worker.postMessage({ id, jobs: batch.map((w) => w.job) } satisfies JobBatch);
      }
    }
  }

  private settle(slot: Slot, message: BatchResult): void {
    const batch = slot.outstanding.get(message.id);
    if (batch === undefined) return;
    slot.outstanding.delete(message.id);
    if (slot.outstanding.size === 0) slot.worker.unref();
    batch.forEach((waiting, i) => waiting.resolve(message.results[i]));
    this.pump();
  }

  private fail(error: unknown): void {
    this.failure ??= error;
    if (shared === this) shared = undefined;
    // A failed pool runs nothing more: its other threads stop too. Left running, a thread that
    // held a batch stays ref'd (its answer finds no batch to settle) and keeps the process alive:
    // a CLI run that never exits.
    for (const slot of this.slots.splice(0)) {
      for (const batch of slot.outstanding.values()) for (const w of batch) w.reject(error);
      slot.outstanding.clear();
      slot.worker.removeAllListeners('exit');
      slot.worker.removeAllListeners('message');
      slot.worker.terminate().catch(() => undefined);
    }
    for (let i = this.queueHead; i < this.queue.length; i++) this.queue[i].reject(error);
    this.queue.length = 0;
    this.queueHead = 0;
  }
}

let shared: FilePool | undefined;

/**
 * The pool every backup and restore of this process shares: started on first use (starting
 * threads for every run made a run of many small backups ten times slower), idle threads do not
 * keep the process alive, and a pool whose thread died is replaced.
 */
export function sharedFilePool(): FilePool {
  shared ??= new FilePool();
  return shared;
}
