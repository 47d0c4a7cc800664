import { FilePool } from '../../nodes/Backup/engine/store/copyPool';

// The compiled worker file cannot be found (an install without dist/): the thread cannot start.
jest.mock('../../nodes/Backup/engine/workers', () => ({
  workerFile: (): string => {
    throw new Error('store/copyWorker.js not found; run npm run build');
  },
}));

/** A copy thread that cannot start fails the jobs waiting for it; nothing is thrown where nobody catches it. */
test('a copy thread that cannot start rejects the waiting jobs, and the next ones', async () => {
  const pool = new FilePool(2);
  await expect(Promise.all([pool.run({ src: '/nonexistent/a', sizeHint: 1 }), pool.run({ src: '/nonexistent/b', sizeHint: 1 })])).rejects.toThrow('copyWorker.js not found');
  await expect(pool.run({ src: '/nonexistent/c', sizeHint: 1 })).rejects.toThrow('copyWorker.js not found');
  expect(pool.threads).toBe(0);
  await pool.close();
});
