/**
 * The operations on every destination, through the public API with the URL and options a user
 * gives (a folder, s3:// on moto_server, sftp:// on sshd): backups of every kind and format,
 * encryption, list, restore, verify, prune, what a dead run leaves, and two runs at once.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupOptions, BackupReport } from '../../nodes/Backup/engine';
import { listDestination, pruneSet, restoreBackup, runBackup, verifyBackups } from '../../nodes/Backup/engine';
import type { Destination, ListEntry } from '../../nodes/Backup/engine/destination/types';
import type { Subject } from '../helpers/destinations';
import { allSubjects, TEST_SECRET } from '../helpers/destinations';
import { tempDirs, writeTree } from '../helpers/fixtures';

const dirs = tempDirs('n8n-backup-remote-');
afterAll(() => dirs.cleanup());

/** Every entry of a tree: kind, mode, mtime (files and symlinks), content hash or link text. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(rel: string): Promise<void> {
    for (const name of (await fsp.readdir(path.join(root, rel))).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const abs = path.join(root, r);
      const st = await fsp.lstat(abs);
      if (st.isDirectory()) {
        out[r] = `dir ${(st.mode & 0o7777).toString(8)}`;
        await walk(r);
      } else if (st.isSymbolicLink()) out[r] = `link ${await fsp.readlink(abs)}`;
      else out[r] = `file ${(st.mode & 0o7777).toString(8)} ${Math.floor(st.mtimeMs / 1000)} ${createHash('sha256').update(await fsp.readFile(abs)).digest('hex')}`;
    }
  }
  await walk('');
  return out;
}

async function names(dest: Destination, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of dest.list(prefix) as AsyncIterable<ListEntry>) out.push(e.name);
  return out.sort();
}

const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i * 2654435761 >>> 0, i);

describe.each(allSubjects().map((s) => [s.label, s] as [string, Subject]))('operations on a %s destination', (label, subject) => {
  const maybe = subject.unavailable === undefined ? test : test.skip;
  const title = (t: string): string => (subject.unavailable === undefined ? t : `${t} - SKIPPED: ${subject.unavailable}`);
  let src: string;
  let work: string;

  beforeAll(async () => {
    if (subject.unavailable === undefined) await subject.start();
  }, 120_000);
  afterAll(async () => {
    if (subject.unavailable === undefined) await subject.stop();
  });
  beforeEach(async () => {
    if (subject.unavailable !== undefined) return;
    await subject.fresh();
    work = await dirs.make();
    src = path.join(work, 'src');
    await fsp.mkdir(src);
    await writeTree(src, { 'a/x.txt': 'x', 'a/deep/y.txt': 'why', 'b.txt': 'bee', 'empty/': null, 'big.bin': big });
    await fsp.symlink('a/x.txt', path.join(src, 'link'));
    await fsp.chmod(path.join(src, 'b.txt'), 0o640);
  });

  const options = (extra: Partial<BackupOptions> = {}): BackupOptions => {
    const { url, options: destinationOptions } = subject.target();
    return { sources: [src], destination: url, destinationOptions, type: 'auto', setName: 'docs', ...extra };
  };
  const backup = async (extra: Partial<BackupOptions> = {}): Promise<BackupReport> => {
    const [outcome] = await runBackup(options(extra));
    if (!outcome.ok) throw outcome.error;
    return outcome.report;
  };
  const where = (): { destination: string; destinationOptions: BackupOptions['destinationOptions'] } => {
    const { url, options: destinationOptions } = subject.target();
    return { destination: url, destinationOptions };
  };

  for (const format of ['tar.gz', 'folder'] as const) {
    maybe(title(`${format}: full, incremental, list, restore exactly, verify quick and full, prune`), async () => {
      const full = await backup({ format, type: 'full' });
      expect(full).toMatchObject({ type: 'full', errorCount: 0, skipped: false });
      await fsp.writeFile(path.join(src, 'a/x.txt'), 'changed');
      await fsp.rm(path.join(src, 'b.txt'));
      await fsp.writeFile(path.join(src, 'new.txt'), 'new');
      const inc = await backup({ format, type: 'incremental' });
      expect(inc.files).toMatchObject({ added: 1, changed: 1, deleted: 1 });
      const unchanged = await backup({ format });
      expect(unchanged).toMatchObject({ skipped: true, skipReason: 'no changes' });

      const listed = await listDestination(where().destination, undefined, where().destinationOptions);
      expect(listed.map((b) => [b.set, b.backupId, b.complete])).toEqual([['docs', full.backupId, true], ['docs', inc.backupId, true]]);

      const target = path.join(work, 'restored');
      await fsp.mkdir(target);
      const restored = await restoreBackup({ ...where(), setName: 'docs', target });
      expect(restored.backupId).toBe(inc.backupId);
      expect(restored.errors).toEqual([]);
      expect(await snapshot(target)).toEqual(await snapshot(src));

      const old = path.join(work, 'restored-full');
      await fsp.mkdir(old);
      await restoreBackup({ ...where(), setName: 'docs', backupId: full.backupId as string, target: old });
      expect(await fsp.readFile(path.join(old, 'b.txt'), 'utf8')).toBe('bee');

      for (const fullCheck of [false, true]) {
        const verified = await verifyBackups({ ...where(), setName: 'docs', full: fullCheck });
        expect(verified).toMatchObject({ ok: true, problemCount: 0 });
        expect(verified.filesChecked).toBeGreaterThan(0);
      }

      // The incremental needs its full: keep-full 1 keeps both; a second full makes the first removable.
      await fsp.writeFile(path.join(src, 'more.txt'), 'more');
      const second = await backup({ format, type: 'full' });
      const pruned = await pruneSet({ ...where(), setName: 'docs', keepFull: 1, keepIncremental: 0 });
      expect(pruned.remove.sort()).toEqual([full.backupId, inc.backupId].sort());
      expect((await listDestination(where().destination, 'docs', where().destinationOptions)).map((b) => b.backupId)).toEqual([second.backupId]);
      if (label !== 'local') {
        const dest = await subject.open();
        try {
          expect((await names(dest, 'docs/')).filter((n) => n.includes(full.backupId as string) || n.includes(inc.backupId as string))).toEqual([]);
        } finally {
          await dest.close();
        }
      }
    }, 180_000);
  }

  maybe(title('an encrypted set: backup and restore with the passphrase; without it refused; no plain bytes on the store'), async () => {
    await backup({ format: 'tar.gz', passphrase: 'correct horse' });
    const target = path.join(work, 'restored');
    await fsp.mkdir(target);
    await expect(restoreBackup({ ...where(), setName: 'docs', target })).rejects.toMatchObject({ code: 'PASSPHRASE_REQUIRED' });
    await expect(restoreBackup({ ...where(), setName: 'docs', target, passphrase: 'wrong' })).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE' });
    await restoreBackup({ ...where(), setName: 'docs', target, passphrase: 'correct horse' });
    expect(await snapshot(target)).toEqual(await snapshot(src));
    expect(await verifyBackups({ ...where(), setName: 'docs', full: true, passphrase: 'correct horse' })).toMatchObject({ ok: true });
    if (label === 'local') return;
    const dest = await subject.open();
    try {
      const stored = await names(dest, 'docs/');
      expect(stored.some((n) => n.endsWith('key.json'))).toBe(true);
      expect(stored.some((n) => n.endsWith('data.tar.gz.enc'))).toBe(true);
      for (const name of stored.filter((n) => n.endsWith('.enc'))) {
        const chunks: Buffer[] = [];
        for await (const c of await dest.read(name)) chunks.push(c as Buffer);
        expect(Buffer.concat(chunks).includes(Buffer.from('why'))).toBe(false);
      }
    } finally {
      await dest.close();
    }
  }, 180_000);

  maybe(title('what a dead run left (objects without backup.json) is never listed and the next backup removes it'), async () => {
    if (label === 'local') return; // a folder's leftovers are .partial- folders (test/cli/kill.test.ts)
    const done = await backup({ format: 'tar.gz', type: 'full' });
    const dead = `20990101T000000000Z-full`;
    const dest = await subject.open();
    try {
      await dest.write(`docs/${dead}/data.tar.gz`, 'half an archive');
      await dest.write(`docs/${dead}/manifest.jsonl.gz`, 'half a manifest');
      expect((await listDestination(where().destination, 'docs', where().destinationOptions)).map((b) => b.backupId)).toEqual([done.backupId]);
      await fsp.writeFile(path.join(src, 'b.txt'), 'changed');
      const next = await backup({ format: 'tar.gz' });
      expect(next.removedPartials).toEqual([dead]);
      expect(await names(dest, `docs/${dead}/`)).toEqual([]);
    } finally {
      await dest.close();
    }
  }, 180_000);

  maybe(title('two runs at once against one set: one after the other, both restorable'), async () => {
    await fsp.writeFile(path.join(work, 'other'), 'x');
    const [a, b] = await Promise.all([backup({ format: 'tar.gz', type: 'full' }), backup({ format: 'tar.gz', type: 'full' })]);
    expect(a.backupId).not.toBe(b.backupId);
    const listed = await listDestination(where().destination, 'docs', where().destinationOptions);
    expect(listed.map((x) => x.backupId).sort()).toEqual([a.backupId, b.backupId].sort());
    for (const id of [a.backupId, b.backupId]) {
      const target = path.join(work, `r-${id}`);
      await fsp.mkdir(target);
      await restoreBackup({ ...where(), setName: 'docs', backupId: id as string, target });
      expect(await snapshot(target)).toEqual(await snapshot(src));
    }
  }, 180_000);

  maybe(title('no secret in reports, lists or errors'), async () => {
    const report = await backup({ format: 'tar.gz' });
    const listed = await listDestination(where().destination, 'docs', where().destinationOptions);
    const text = JSON.stringify({ report, listed });
    expect(text).not.toContain(TEST_SECRET);
    expect(report.destination).toBe(where().destination);
  }, 180_000);
});
