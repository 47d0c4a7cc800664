import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { BackupOptions, BackupReport, StorageFormat } from '../../nodes/Backup/engine';
import { restoreBackup, runBackup, verifyBackups } from '../../nodes/Backup/engine';
import type { EntryStats } from '../../nodes/Backup/engine/scan/walk';
import { FolderSink } from '../../nodes/Backup/engine/store/folderSink';
import { TarGzSink } from '../../nodes/Backup/engine/formats/tar/sink';
import { mknodUnavailable, testIf } from '../helpers/capabilities';
import { readManifestLines, tempDirs, writeTree } from '../helpers/fixtures';

/**
 * A hostile or busy source (issue 7): loops, FIFOs, sockets, devices, and files swapped or resized
 * between the scan and the copy. The swaps happen at the one moment that matters, through a test
 * hook on the sink's store() (called after the scan saw the file, before the file is opened); the
 * hook works synchronously because the tar.gz sink claims its place in the archive at call time.
 * Every run has a timeout: a hang fails the test instead of stalling the suite.
 * Existing tests this file does not repeat: backup.test.ts "symlinks are stored as links and never
 * followed..." and "a FIFO is recorded...", faults.test.ts "per-file problems" (the store step
 * alone, folder format), targz.test.ts "files that change while they are stored".
 */

const dirs = tempDirs('n8n-backup-hostile-source-');
afterEach(async () => {
  jest.restoreAllMocks();
  await dirs.cleanup();
});

const FORMATS: StorageFormat[] = ['folder', 'tar.gz'];
const SET = 'set';
const HANG_LIMIT_MS = 30_000;
const MiB = 1024 * 1024;
const SECRET = 'root:x:0:0:SECRET-OUTSIDE-THE-SOURCE:/root:/bin/bash\n';

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

interface Scene {
  root: string;
  src: string;
  dest: string;
  /** A folder outside the source holding passwd (the secret). */
  outside: string;
}

async function scene(spec: Record<string, string | Buffer | null>): Promise<Scene> {
  const root = await dirs.make();
  const src = path.join(root, 'src');
  await fsp.mkdir(src);
  await writeTree(src, spec);
  const outside = path.join(root, 'outside');
  await writeTree(outside, { passwd: SECRET, 'victim.txt': SECRET, 'big.bin': Buffer.concat([Buffer.from(SECRET), Buffer.alloc(2 * MiB, 's')]) });
  return { root, src, dest: path.join(root, 'dest'), outside };
}

async function backup(s: Scene, format: StorageFormat, extra: Partial<BackupOptions> = {}): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [s.src], destination: s.dest, type: 'full', setName: SET, format, ...extra });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

async function entriesOf(s: Scene, r: BackupReport): Promise<Record<string, Record<string, unknown>>> {
  const lines = await readManifestLines(path.join(s.dest, SET, r.backupId as string));
  return Object.fromEntries(lines.slice(1, -1).map((e) => [e.path as string, e]));
}

/** Every byte the backup stored, whatever its format (files under data/, or the uncompressed tar). */
async function storedBytes(s: Scene, r: BackupReport): Promise<Buffer> {
  const dir = path.join(s.dest, SET, r.backupId as string);
  if (fs.existsSync(path.join(dir, 'data.tar.gz'))) return gunzipSync(await fsp.readFile(path.join(dir, 'data.tar.gz')));
  const parts: Buffer[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else if (e.isFile()) parts.push(await fsp.readFile(path.join(d, e.name)));
    }
  };
  await walk(path.join(dir, 'data'));
  return Buffer.concat(parts);
}

/** Verify --full passes and a restore reproduces every file entry's bytes (size and sha256 as recorded). */
async function expectConsistent(s: Scene, r: BackupReport): Promise<Record<string, Buffer>> {
  const verified = await verifyBackups({ destination: s.dest, setName: SET, full: true });
  expect(verified.problems).toEqual([]);
  const target = path.join(s.root, `restored-${r.backupId as string}`);
  const restored = await restoreBackup({ destination: s.dest, setName: SET, backupId: r.backupId as string, target });
  expect(restored.errors).toEqual([]);
  const out: Record<string, Buffer> = {};
  for (const [p, e] of Object.entries(await entriesOf(s, r))) {
    if (e.kind !== 'file') continue;
    const bytes = await fsp.readFile(path.join(target, p));
    expect([p, bytes.length, sha256(bytes)]).toEqual([p, e.size, e.hash]);
    out[p] = bytes;
  }
  return out;
}

type StoreFn = (rel: string, sourceAbs: string, stats: EntryStats) => Promise<{ size: number; hash: string }>;

/**
 * Runs `change` (synchronous) right before the sink stores `rel`: after the scan saw the file,
 * before it is opened. The tar.gz sink claims its place at call time, so no await may come first.
 */
function beforeStoring(format: StorageFormat, rel: string, change: () => void): { fired: () => boolean } {
  const proto = (format === 'tar.gz' ? TarGzSink.prototype : FolderSink.prototype) as unknown as { store: StoreFn };
  const original = proto.store;
  let fired = false;
  jest.spyOn(proto, 'store').mockImplementation(function (this: unknown, r: string, sourceAbs: string, stats: EntryStats) {
    if (r === rel && !fired) {
      fired = true;
      change();
    }
    return original.call(this, r, sourceAbs, stats);
  });
  return { fired: () => fired };
}

const NO_MKNOD = mknodUnavailable();

function mknod(file: string, major: number, minor: number): string | undefined {
  try {
    execFileSync('mknod', [file, 'c', String(major), String(minor)], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return String(error).split('\n')[0];
  }
}

describe.each(FORMATS)('%s: special files and loops in the source', (format) => {
  test(
    'symlink loops (self, pair, a folder link to its parent, a link to the source root) are stored as links; nothing is walked twice',
    async () => {
      const s = await scene({ 'a.txt': 'a', 'sub/inner.txt': 'inner' });
      await fsp.symlink('self', path.join(s.src, 'self'));
      await fsp.symlink('pong', path.join(s.src, 'ping'));
      await fsp.symlink('ping', path.join(s.src, 'pong'));
      await fsp.symlink('..', path.join(s.src, 'sub', 'up'));
      await fsp.symlink(s.src, path.join(s.src, 'root-link'));
      const r = await backup(s, format);
      expect(r.errors).toEqual([]);
      const entries = await entriesOf(s, r);
      expect(Object.keys(entries).sort()).toEqual(['a.txt', 'ping', 'pong', 'root-link', 'self', 'sub', 'sub/inner.txt', 'sub/up']);
      expect(entries['sub/up']).toMatchObject({ kind: 'symlink', target: '..' });
      expect(entries['root-link']).toMatchObject({ kind: 'symlink', target: s.src });
      await expectConsistent(s, r);
      const target = path.join(s.root, `restored-${r.backupId as string}`);
      expect(await fsp.readlink(path.join(target, 'ping'))).toBe('pong');
    },
    HANG_LIMIT_MS,
  );

  // The device-file variants need mknod (root, and a container that allows it): without it they
  // are registered as skipped, and the FIFO/socket variants still run.
  const special = [
    { what: 'a FIFO and a unix socket', device: false, when: test },
    { what: 'a character device (/dev/zero)', device: true, when: testIf(NO_MKNOD) },
  ];
  for (const { what, device, when } of special) {
    when(
      `${what}: per-file notes (ESPECIAL), never opened, never a hang`,
      async () => {
        const s = await scene({ 'a.txt': 'a', 'z.txt': 'z' });
        const server = net.createServer();
        if (device) {
          const cannot = mknod(path.join(s.src, 'zero'), 1, 5);
          if (cannot !== undefined) throw new Error(`the probe could mknod, this test cannot: ${cannot}`);
        } else {
          execFileSync('mkfifo', [path.join(s.src, 'fifo')]);
          await new Promise<void>((resolve) => server.listen(path.join(s.src, 'socket'), resolve));
        }
        try {
          const r = await backup(s, format);
          const expected = device
            ? [['zero', 'ESPECIAL', 'a device file is not backed up']]
            : [
                ['fifo', 'ESPECIAL', 'a FIFO is not backed up'],
                ['socket', 'ESPECIAL', 'a socket is not backed up'],
              ];
          expect(r.errors.map((e) => [e.path, e.code, e.message])).toEqual(expected);
          expect(Object.keys(await entriesOf(s, r))).toEqual(['a.txt', 'z.txt']);
          expect(r.summary).toMatch(new RegExp(`${expected.length} file errors?`));
          await expectConsistent(s, r);
        } finally {
          server.close();
        }
      },
      HANG_LIMIT_MS,
    );
  }

  const swapped = [
    { what: 'a FIFO (no writer)', name: 'fifo.txt', device: false, when: test },
    { what: '/dev/zero', name: 'zero.txt', device: true, when: testIf(NO_MKNOD) },
  ];
  for (const { what, name, device, when } of swapped) {
    when(
      `a file swapped for ${what} after the scan: not stored, a per-file problem, no hang`,
      async () => {
        const s = await scene({ 'a.txt': 'a', [name]: 'was a file' });
        const victim = path.join(s.src, name);
        let cannot: string | undefined;
        const hook = beforeStoring(format, name, () => {
          fs.rmSync(victim);
          if (device) cannot = mknod(victim, 1, 5);
          else execFileSync('mkfifo', [victim]);
        });
        const r = await backup(s, format);
        expect(hook.fired()).toBe(true);
        if (cannot !== undefined) throw new Error(`the probe could mknod, this test cannot: ${cannot}`);
        expect(r.errors.map((e) => [e.path, e.code])).toEqual([[name, 'ENOTREG']]);
        expect(Object.keys(await entriesOf(s, r))).toEqual(['a.txt']);
        await expectConsistent(s, r);
      },
      HANG_LIMIT_MS,
    );
  }
});

describe.each(FORMATS)('%s: a source file replaced by a symlink during the run', (format) => {
  test.each([
    ['a small file', 'victim.txt', 'mine'],
    ['a large file (streamed)', 'big.bin', 'b'.repeat(3 * MiB)],
  ])(
    '%s swapped for a link to a secret outside the source: the secret is never stored',
    async (_what, name, content) => {
      const s = await scene({ 'a.txt': 'a', [name]: content });
      const victim = path.join(s.src, name);
      const hook = beforeStoring(format, name, () => {
        fs.rmSync(victim);
        fs.symlinkSync(path.join(s.outside, name === 'big.bin' ? 'big.bin' : 'passwd'), victim);
      });
      const r = await backup(s, format);
      expect(hook.fired()).toBe(true);
      expect(r.errors).toEqual([expect.objectContaining({ path: name, code: 'ELOOP', message: 'became a symlink during the backup; not followed' })]);
      const entries = await entriesOf(s, r);
      expect(entries[name]).toBeUndefined();
      expect((await storedBytes(s, r)).includes(SECRET)).toBe(false);
      await expectConsistent(s, r);
    },
    HANG_LIMIT_MS,
  );

  test(
    'after an earlier backup: the previous version is kept (with a note), the secret is not stored',
    async () => {
      const s = await scene({ 'a.txt': 'a', 'victim.txt': 'version 1' });
      const first = await backup(s, format);
      await fsp.writeFile(path.join(s.src, 'victim.txt'), 'version 2, longer');
      const victim = path.join(s.src, 'victim.txt');
      beforeStoring(format, 'victim.txt', () => {
        fs.rmSync(victim);
        fs.symlinkSync(path.join(s.outside, 'passwd'), victim);
      });
      const r = await backup(s, format, { type: 'incremental' });
      expect(r.errors).toEqual([expect.objectContaining({ path: 'victim.txt', code: 'ELOOP' })]);
      expect(r.errors[0].message).toMatch(/kept the version from the previous backup/);
      expect((await entriesOf(s, r))['victim.txt']).toMatchObject({ kind: 'file', in: first.backupId, size: 9 });
      expect((await storedBytes(s, r)).includes(SECRET)).toBe(false);
      const files = await expectConsistent(s, r);
      expect(files['victim.txt'].toString()).toBe('version 1');
    },
    HANG_LIMIT_MS,
  );

  test(
    'a parent folder swapped for a link to an outside folder: the secret is never stored',
    async () => {
      const s = await scene({ 'a.txt': 'a', 'dir/victim.txt': 'mine' });
      const dir = path.join(s.src, 'dir');
      beforeStoring(format, 'dir/victim.txt', () => {
        fs.renameSync(dir, path.join(s.root, 'moved-away'));
        fs.symlinkSync(s.outside, dir);
      });
      const r = await backup(s, format);
      expect((await storedBytes(s, r)).includes(SECRET)).toBe(false);
      // O_NOFOLLOW guards only the last component: the open is checked against the scan's dev/inode.
      expect(r.errors).toEqual([expect.objectContaining({ path: 'dir/victim.txt', code: 'ESWAPPED' })]);
      expect(r.errors[0].message).toMatch(/replaced during the backup.*not stored/);
      expect((await entriesOf(s, r))['dir/victim.txt']).toBeUndefined();
      await expectConsistent(s, r);
    },
    HANG_LIMIT_MS,
  );

  test(
    'a file replaced by another regular file (a rename over it) after the scan: ESWAPPED, the previous version kept',
    async () => {
      const s = await scene({ 'a.txt': 'a', 'doc.txt': 'version 1' });
      const first = await backup(s, format);
      await fsp.writeFile(path.join(s.src, 'doc.txt'), 'version 2');
      beforeStoring(format, 'doc.txt', () => {
        fs.writeFileSync(path.join(s.src, 'doc.txt.new'), 'version 3, saved by an editor');
        fs.renameSync(path.join(s.src, 'doc.txt.new'), path.join(s.src, 'doc.txt'));
      });
      const r = await backup(s, format, { type: 'incremental' });
      expect(r.errors).toEqual([expect.objectContaining({ path: 'doc.txt', code: 'ESWAPPED' })]);
      expect((await entriesOf(s, r))['doc.txt']).toMatchObject({ in: first.backupId, size: 9 });
      await expectConsistent(s, r);
      // The next run stores it.
      const next = await backup(s, format, { type: 'incremental' });
      expect(next.errors).toEqual([]);
      expect((await expectConsistent(s, next))['doc.txt'].toString()).toBe('version 3, saved by an editor');
    },
    HANG_LIMIT_MS,
  );
});

describe.each(FORMATS)('%s: a folder swapped with a symlink by another process, again and again', (format) => {
  // The swaps above happen after the scan; this one races the scan too: the scan may list the
  // outside folder through the link and record its files with their own inodes, so only the
  // open itself can tell (Linux: /proc/self/fd). Without that check, 2 of 30 backups per format
  // stored the secret on the 2-core test machine; the check makes it impossible, so any leak fails.
  test(
    '40 backups while dir flips between the real folder and a link outside: the secret is never stored',
    async () => {
      const spec: Record<string, string> = {};
      const secrets: Record<string, string> = {};
      for (let i = 0; i < 200; i++) {
        const name = `f${String(i).padStart(4, '0')}`;
        spec[`dir/${name}`] = 'benign';
        secrets[name] = SECRET;
      }
      const s = await scene(spec);
      const lure = path.join(s.root, 'lure');
      await writeTree(lure, secrets);
      await fsp.symlink(lure, path.join(s.src, 'dir.link'));
      const flipper = `const fs = require('fs'); const d = ${JSON.stringify(s.src)}; const end = Date.now() + 60000;
        while (Date.now() < end) { try { fs.renameSync(d + '/dir', d + '/dir.real'); fs.renameSync(d + '/dir.link', d + '/dir');
        fs.renameSync(d + '/dir', d + '/dir.link'); fs.renameSync(d + '/dir.real', d + '/dir'); } catch {} }`;
      const child = spawn(process.execPath, ['-e', flipper], { stdio: 'ignore' });
      let written = 0;
      try {
        for (let i = 0; i < 40; i++) {
          const [outcome] = await runBackup({ sources: [s.src], destination: s.dest, type: 'full', setName: SET, format, exclude: ['dir.link', 'dir.real'] });
          if (!outcome.ok) throw outcome.error;
          written++;
          expect((await storedBytes(s, outcome.report)).includes(SECRET)).toBe(false);
          // Per-file notes of the race (gone, replaced, a link that was a folder again when read: EINVAL).
          for (const e of outcome.report.errors) expect(`${e.code} ${e.path} ${e.message}`).toMatch(/^(ENOENT|ESWAPPED|ENOTDIR|ELOOP|EINVAL) /);
        }
      } finally {
        child.kill();
      }
      expect(written).toBe(40);
    },
    120_000,
  );
});

describe.each(FORMATS)('%s: files that grow or shrink during the run', (format) => {
  const small = 'small file, first version\n'.repeat(10);
  const large = Buffer.alloc(5 * MiB + 123, 'L');

  test.each([
    ['a small file grows', 'small.txt', small, (f: string) => fs.appendFileSync(f, 'appended after the scan\n')],
    ['a small file shrinks', 'small.txt', small, (f: string) => fs.truncateSync(f, 7)],
    ['a small file is emptied', 'small.txt', small, (f: string) => fs.truncateSync(f, 0)],
    ['a large file grows', 'large.bin', large, (f: string) => fs.appendFileSync(f, Buffer.alloc(MiB, 'G'))],
    ['a large file shrinks', 'large.bin', large, (f: string) => fs.truncateSync(f, 2 * MiB + 1)],
  ])(
    '%s after the scan: what was stored is what the manifest says, or a per-file problem pointing nowhere',
    async (_what, name, content, change) => {
      const s = await scene({ 'a.txt': 'a', [name]: content, 'z.txt': 'z' });
      const file = path.join(s.src, name);
      const hook = beforeStoring(format, name, () => change(file));
      const r = await backup(s, format);
      expect(hook.fired()).toBe(true);
      const now = await fsp.readFile(file);
      const entry = (await entriesOf(s, r))[name];
      if (r.errors.length > 0) {
        // Only the tar.gz sink, for a file streamed after its header was written.
        expect(r.errors).toEqual([expect.objectContaining({ path: name, code: 'ESHRUNK' })]);
        expect(entry).toBeUndefined();
      } else {
        expect(entry).toMatchObject({ size: now.length, hash: sha256(now), in: r.backupId });
      }
      const restored = await expectConsistent(s, r);
      if (entry !== undefined) expect(sha256(restored[name])).toBe(sha256(now));
    },
    HANG_LIMIT_MS,
  );

  test(
    'a large file written to while it is copied: verify --full passes and restore gives exactly the recorded bytes',
    async () => {
      const s = await scene({ 'a.txt': 'a', 'busy.bin': Buffer.alloc(16 * MiB, 'B'), 'z.txt': 'z' });
      const file = path.join(s.src, 'busy.bin');
      let writes = 0;
      let timer: NodeJS.Timeout | undefined;
      beforeStoring(format, 'busy.bin', () => {
        // Appends and truncations interleaved with the copy until the run ends.
        timer = setInterval(() => {
          writes++;
          if (writes % 3 === 0) fs.truncateSync(file, Math.max(MiB, fs.statSync(file).size - 3 * MiB));
          else fs.appendFileSync(file, Buffer.alloc(256 * 1024, writes % 256));
        }, 1);
      });
      let r: BackupReport;
      try {
        r = await backup(s, format);
      } finally {
        clearInterval(timer);
      }
      const entry = (await entriesOf(s, r))['busy.bin'];
      if (entry === undefined) expect(r.errors).toEqual([expect.objectContaining({ path: 'busy.bin', code: 'ESHRUNK' })]);
      else expect(r.errors).toEqual([]);
      await expectConsistent(s, r);
    },
    HANG_LIMIT_MS,
  );
});
