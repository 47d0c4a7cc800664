import { parentPort } from 'node:worker_threads';
import type { ScanMessage, ScanRequest } from './walk';
import { compileExcludes, SCAN_AHEAD, walkTree } from './walk';
import { packBatch, transferables } from './packedBatch';

/**
 * The scan's own thread: walks one source at a time synchronously and streams batches back,
 * at most SCAN_AHEAD ahead of the consumer; then waits for the next source (threads are reused).
 */
const port = parentPort;
let credit = 0;
let resume: (() => void) | undefined;

async function scan(root: string, exclude: string[]): Promise<void> {
  if (port === null) return;
  credit = SCAN_AHEAD;
  try {
    for (const batch of walkTree(root, compileExcludes(exclude))) {
      if (credit <= 0) await new Promise<void>((resolve) => (resume = resolve));
      credit--;
      const packed = packBatch(batch);
      port.postMessage({ packed } satisfies ScanMessage, transferables(packed));
    }
    port.postMessage({ done: true } satisfies ScanMessage);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    port.postMessage({ error: { code: typeof code === 'string' ? code : undefined, message: error instanceof Error ? error.message : String(error) } } satisfies ScanMessage);
  }
}

port?.on('message', (request: ScanRequest) => {
  if (request === 'next') {
    credit++;
    resume?.();
    resume = undefined;
  } else {
    void scan(request.root, request.exclude);
  }
});
