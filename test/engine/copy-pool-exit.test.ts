import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { tempDirs } from '../helpers/fixtures';

const ROOT = path.join(__dirname, '..', '..');

/**
 * A copy thread that dies fails the pool; the pool's other threads must stop with it. Left running,
 * a thread that held a batch stays ref'd and the process (a CLI run from cron) never exits.
 * In a child process, since what is measured is whether that process ends.
 */
test('a pool whose thread died lets the process exit', async () => {
  const temp = tempDirs();
  try {
    const dir = await temp.make();
    const file = path.join(dir, 'data');
    await fsp.writeFile(file, Buffer.alloc(1 << 20, 7));
    const script = `
      const { FilePool } = require(${JSON.stringify(path.join(ROOT, 'dist/nodes/Backup/engine/store/copyPool.js'))});
      const pool = new FilePool(2);
      const jobs = Array.from({ length: 400 }, () => pool.run({ src: ${JSON.stringify(file)}, sizeHint: 1 << 20 }));
      // After the pool's first pump (queued by run() before this): both threads hold batches.
      setImmediate(() => {
        console.log('threads ' + pool.threads);
        pool.slots[0].worker.terminate();
      });
      Promise.allSettled(jobs).then((settled) => {
        console.log('rejected ' + settled.filter((s) => s.status === 'rejected').length);
        console.log('threads after ' + pool.threads);
      });`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
    expect(run.stderr).toBe('');
    expect(run.signal).toBeNull(); // not killed by the timeout: it ended by itself
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('threads 2');
    expect(Number(lines[1].replace('rejected ', ''))).toBeGreaterThan(0);
    expect(lines[2]).toBe('threads after 0');
  } finally {
    await temp.cleanup();
  }
}, 60_000);
