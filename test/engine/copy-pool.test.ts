import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { FilePool } from '../../nodes/Backup/engine/store/copyPool';
import { tempDirs } from '../helpers/fixtures';

/** The copy pool starts threads as the work needs them, and every job still gets its own result. */
describe('FilePool', () => {
  const temp = tempDirs();
  afterAll(() => temp.cleanup());
  const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

  async function files(count: number): Promise<string[]> {
    const dir = await temp.make();
    const names = Array.from({ length: count }, (_, i) => path.join(dir, `f${i}`));
    await Promise.all(names.map((name, i) => fsp.writeFile(name, `content ${i}`)));
    return names;
  }

  test('starts no thread before the first job, one for a few jobs, and all of them when jobs queue up', async () => {
    const pool = new FilePool(3);
    try {
      expect(pool.threads).toBe(0);
      const few = await files(5);
      const results = await Promise.all(few.map((src) => pool.run({ src, sizeHint: 16 })));
      expect(results).toEqual(few.map((_, i) => ({ ok: true, size: `content ${i}`.length, hash: sha256(`content ${i}`) })));
      expect(pool.threads).toBe(1);

      // Two batches of 32 fill the first thread: the rest of 200 queued in one turn start the others.
      const many = await files(200);
      const more = await Promise.all(many.map((src) => pool.run({ src, sizeHint: 16 })));
      expect(more.map((r) => r.ok && r.hash)).toEqual(many.map((_, i) => sha256(`content ${i}`)));
      expect(pool.threads).toBe(3);
    } finally {
      await pool.close();
    }
  });

  test('a job that fails is a result, and the pool goes on with the next', async () => {
    const pool = new FilePool(2);
    try {
      const [good] = await files(1);
      const missing = path.join(path.dirname(good), 'missing');
      const [bad, ok] = await Promise.all([pool.run({ src: missing, sizeHint: 0 }), pool.run({ src: good, sizeHint: 16 })]);
      expect(bad).toMatchObject({ ok: false, side: 'source', code: 'ENOENT' });
      expect(ok).toMatchObject({ ok: true, hash: sha256('content 0') });
      expect(pool.threads).toBe(1);
    } finally {
      await pool.close();
    }
  });
});
