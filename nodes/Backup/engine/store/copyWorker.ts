import { parentPort } from 'node:worker_threads';
import type { FileJob, FileJobResult } from './fileJobs';
import { runFileJob } from './fileJobs';

/** A batch of jobs sent to one worker, answered with the results in the same order. */
export interface JobBatch {
  id: number;
  jobs: FileJob[];
}

export interface BatchResult {
  id: number;
  results: FileJobResult[];
}

// One scratch buffer per worker, reused by every small file.
const scratch = Buffer.allocUnsafe(1 << 20);

parentPort?.on('message', (batch: JobBatch) => {
  const results = batch.jobs.map((job) => runFileJob(job, scratch));
  parentPort?.postMessage({ id: batch.id, results } satisfies BatchResult);
});
