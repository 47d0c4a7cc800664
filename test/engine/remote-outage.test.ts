/**
 * A store that goes away in the middle of a restore or a verify (S3 on moto_server, SFTP on sshd,
 * through the fault proxy): the operation fails with the store's own code, once; it never calls
 * the backup damaged or lists every file as an error, and once the store is back all is well.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupOptions } from '../../nodes/Backup/engine';
import { restoreBackup, runBackup, verifyBackups } from '../../nodes/Backup/engine';
import type { Subject } from '../helpers/destinations';
import { allSubjects, usingSubject } from '../helpers/destinations';
import { tempDirs, writeTree } from '../helpers/fixtures';

const dirs = tempDirs('n8n-backup-outage-');
afterAll(() => dirs.cleanup());

const MiB = 1024 * 1024;
const remote = allSubjects().filter((s) => s.label !== 'local');

describe.each(remote.map((s) => [s.label, s] as [string, Subject]))('a %s store that goes away mid-read', (_label, subject) => {
  const { maybe, title } = usingSubject(subject);

  const where = (): Pick<BackupOptions, 'destination' | 'destinationOptions'> => {
    const { url, options } = subject.target();
    // Few, quick retries: the outage lasts; the test needs the give-up, not the patience.
    return { destination: url, destinationOptions: { ...options, retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 100 } } };
  };

  /** From the first download of more than 1 MiB on one connection (an archive or a big file), every connection is cut at once. */
  function outageDuringBigRead(): void {
    const proxy = subject.proxy();
    if (proxy === undefined) throw new Error('no proxy');
    proxy.arm({ kind: 'cut', afterBytes: MiB, direction: 'down', scope: 'every', onHit: () => proxy.arm({ kind: 'cut', afterBytes: 0, direction: 'down', scope: 'every' }) });
  }

  for (const format of ['tar.gz', 'folder'] as const) {
    maybe(title(`${format}: restore and verify (quick and full) fail with the store's code; nothing is called damaged; after it is back, all is intact`), async () => {
      await subject.fresh();
      const work = await dirs.make();
      const src = path.join(work, 'src');
      await fsp.mkdir(src);
      await writeTree(src, { 'a.txt': 'a', 'big/one.bin': randomBytes(3 * MiB), 'big/two.bin': randomBytes(3 * MiB), 'z.txt': 'z' });
      const [made] = await runBackup({ sources: [src], ...where(), type: 'full', format, setName: 'docs' });
      if (!made.ok) throw made.error;

      const attempts: { what: string; run: () => Promise<unknown> }[] = [
        { what: 'restore', run: () => restoreBackup({ ...where(), setName: 'docs', target: path.join(work, `restored-${Date.now()}`) }) },
        { what: 'verify full', run: () => verifyBackups({ ...where(), setName: 'docs', full: true }) },
      ];
      // Quick verify reads a tar.gz archive whole (gzip's checksum); the folder format only stats: no big read to cut.
      if (format === 'tar.gz') attempts.push({ what: 'verify quick', run: () => verifyBackups({ ...where(), setName: 'docs', full: false }) });
      for (const { what, run } of attempts) {
        outageDuringBigRead();
        let outcome: unknown;
        try {
          outcome = { resolved: await run() };
        } catch (error) {
          outcome = error;
        } finally {
          subject.proxy()?.heal();
        }
        expect([what, outcome]).toEqual([what, expect.objectContaining({ code: expect.stringMatching(/^DESTINATION_(UNAVAILABLE|UNREACHABLE)$/) })]);
      }

      // Back to the default retries: a connection dropped in the outage may still be met once.
      const { url, options } = subject.target();
      const normal = { destination: url, destinationOptions: options };
      const healed = await verifyBackups({ ...normal, setName: 'docs', full: true });
      expect(healed).toMatchObject({ ok: true, problemCount: 0 });
      const target = path.join(work, 'restored-after');
      const restored = await restoreBackup({ ...normal, setName: 'docs', target });
      expect(restored.errors).toEqual([]);
      // equals(), not toEqual: jest compares a Buffer byte by byte as an object (minutes for 3 MiB).
      expect((await fsp.readFile(path.join(target, 'big/two.bin'))).equals(await fsp.readFile(path.join(src, 'big/two.bin')))).toBe(true);
    }, 180_000);
  }
});
