/**
 * Encrypted sets end to end on real trees (issue 7): round trip through full and incremental
 * backups, nothing readable at the destination, the key check (wrong or missing passphrase fails
 * before anything is written or restored), the set's encryption cannot be turned off or on halfway,
 * and a flipped byte, a truncated file, swapped chunks or a file moved between backups are caught
 * by restore and by verify, with no unauthenticated byte restored.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackupOptions, BackupReport, BackupType } from '../../nodes/Backup/engine';
import { BackupError, listDestination, pruneSet, restoreBackup, runBackup, verifyBackups } from '../../nodes/Backup/engine';
import { SEAL_CHUNK_BYTES, SEAL_HEADER_BYTES, SEAL_TAG_BYTES } from '../../nodes/Backup/engine/formats/sealed';
import { tempDirs, writeTree } from '../helpers/fixtures';
import { expectSameTree, snapshotTree } from '../helpers/tree';

const dirs = tempDirs('n8n-backup-enc-');
afterEach(() => dirs.cleanup());

const SET = 'set';
const PASS = 'correct horse battery staple';
const SECRET_NAME = 'quarterly-salaries-secret';
const SECRET_TEXT = 'the launch code is 0000';

async function backup(src: string, dest: string, type: BackupType, extra: Partial<BackupOptions> = {}): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, type, setName: SET, format: 'tar.gz', passphrase: PASS, ...extra });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

async function backupError(src: string, dest: string, extra: Partial<BackupOptions>): Promise<BackupError> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, type: 'incremental', setName: SET, format: 'tar.gz', ...extra });
  if (outcome.ok) throw new Error(`expected a failure, got backup ${String(outcome.report.backupId)}`);
  return outcome.error;
}

/** Every byte of every file under `root`, for looking for leaked plaintext. */
function allBytes(root: string): Buffer {
  const parts: Buffer[] = [];
  for (const entry of fs.readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) parts.push(fs.readFileSync(path.join(entry.parentPath, entry.name)));
  }
  return Buffer.concat(parts);
}

/** A source with a secret name and text, some small files and one file of several sealed chunks. */
async function makeSource(): Promise<{ src: string; dest: string; big: Buffer }> {
  const src = await dirs.make();
  const dest = await dirs.make();
  const big = randomBytes(3 * SEAL_CHUNK_BYTES + 1234); // incompressible: several sealed chunks
  await writeTree(src, {
    [`docs/${SECRET_NAME}.txt`]: SECRET_TEXT,
    'docs/empty/': null,
    'big.bin': big,
    ...Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`many/f${i}.txt`, `file ${i}\n`.repeat(i + 1)])),
  });
  await fsp.symlink('docs', path.join(src, 'link'));
  return { src, dest, big };
}

const backupFolder = (dest: string, id: string | null): string => path.join(dest, SET, id as string);

test('round trip: full and incremental encrypted backups restore exactly; verify full passes; nothing readable at the destination', async () => {
  const { src, dest } = await makeSource();
  const first = await backup(src, dest, 'full');
  const wantFull = await snapshotTree(src);
  await writeTree(src, { 'docs/new.txt': 'added later', 'many/f3.txt': 'changed' });
  await fsp.rm(path.join(src, 'many/f4.txt'));
  const second = await backup(src, dest, 'incremental');
  expect(second.type).toBe('incremental');
  expect(second.files).toMatchObject({ added: 1, changed: 1, deleted: 1 });

  for (const [report, want] of [[first, wantFull], [second, await snapshotTree(src)]] as const) {
    const target = await dirs.make();
    const restored = await restoreBackup({ destination: dest, setName: SET, backupId: report.backupId as string, target, passphrase: PASS });
    expect(restored.errors).toEqual([]);
    expectSameTree(await snapshotTree(target), want, report.backupId as string);
  }
  for (const full of [false, true]) {
    const verified = await verifyBackups({ destination: dest, setName: SET, full, passphrase: PASS });
    expect(verified.problems).toEqual([]);
    expect(verified.ok).toBe(true);
  }

  // On disk: sealed files only, a key file in the set and in every backup, no name or text in the clear.
  for (const report of [first, second]) {
    expect(fs.readdirSync(backupFolder(dest, report.backupId)).sort()).toEqual(['backup.json', 'data.tar.gz.enc', 'data.tar.idx.enc', 'key.json', 'manifest.jsonl.gz.enc']);
    const summary = JSON.parse(fs.readFileSync(path.join(backupFolder(dest, report.backupId), 'backup.json'), 'utf8')) as Record<string, unknown>;
    expect(summary).toMatchObject({ encrypted: true, source: '', storage: 'tar.gz' });
  }
  expect(fs.existsSync(path.join(dest, SET, 'key.json'))).toBe(true);
  const everything = allBytes(dest);
  for (const leak of [SECRET_NAME, SECRET_TEXT, 'many/f', src]) expect([leak, everything.includes(Buffer.from(leak))]).toEqual([leak, false]);
  // List and prune need no passphrase.
  expect((await listDestination(dest, SET)).map((b) => [b.backupId, b.encrypted])).toEqual([[first.backupId, true], [second.backupId, true]]);
  const pruned = await pruneSet({ destination: dest, setName: SET, keepFull: 1, dryRun: true });
  expect(pruned.remove).toEqual([]);
});

test('wrong passphrase: backup, restore and verify fail at once (WRONG_PASSPHRASE) and nothing is written', async () => {
  const { src, dest } = await makeSource();
  const first = await backup(src, dest, 'full');
  const before = fs.readdirSync(path.join(dest, SET)).sort();
  const error = await backupError(src, dest, { passphrase: 'not it' });
  expect(error.code).toBe('WRONG_PASSPHRASE');
  expect(error.message).toContain('nothing was read or written');
  expect(fs.readdirSync(path.join(dest, SET)).sort()).toEqual(before);

  const target = path.join(await dirs.make(), 'restore-here');
  await expect(restoreBackup({ destination: dest, setName: SET, target, passphrase: 'not it' })).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE' });
  expect(fs.existsSync(target)).toBe(false);
  await expect(verifyBackups({ destination: dest, setName: SET, passphrase: 'not it' })).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE' });
  expect(first.backupId).toBeTruthy();
});

test('a later run without the passphrase cannot silently turn encryption off (PASSPHRASE_REQUIRED), nor can restore or verify read the set', async () => {
  const { src, dest } = await makeSource();
  await backup(src, dest, 'full');
  const before = fs.readdirSync(path.join(dest, SET)).sort();
  for (const type of ['incremental', 'full', 'auto'] as const) {
    const error = await backupError(src, dest, { type, passphrase: undefined });
    expect(error.code).toBe('PASSPHRASE_REQUIRED');
    expect(error.message).toMatch(/is encrypted: a backup without its passphrase would silently stop encrypting it/);
    // The folder format too: the set's encryption is checked, and a folder backup is not written.
    const folder = await backupError(src, dest, { type, passphrase: undefined, format: 'folder' });
    expect(folder.code).toBe('PASSPHRASE_REQUIRED');
  }
  expect(fs.readdirSync(path.join(dest, SET)).sort()).toEqual(before);
  // Even with the set's key.json gone, the backups' own copies and backup.json say it is encrypted.
  await fsp.rm(path.join(dest, SET, 'key.json'));
  expect((await backupError(src, dest, { passphrase: undefined })).code).toBe('PASSPHRASE_REQUIRED');
  const target = await dirs.make();
  await expect(restoreBackup({ destination: dest, setName: SET, target })).rejects.toMatchObject({ code: 'PASSPHRASE_REQUIRED' });
  await expect(verifyBackups({ destination: dest, setName: SET })).rejects.toMatchObject({ code: 'PASSPHRASE_REQUIRED' });
  expect(fs.readdirSync(target)).toEqual([]);
  // With the passphrase, a backup works again and puts the set's key file back.
  await backup(src, dest, 'incremental');
  expect(fs.existsSync(path.join(dest, SET, 'key.json'))).toBe(true);
});

test('a lost set key.json: restore uses the copy in the backup folder', async () => {
  const { src, dest } = await makeSource();
  const first = await backup(src, dest, 'full');
  await fsp.rm(path.join(dest, SET, 'key.json'));
  const target = await dirs.make();
  const restored = await restoreBackup({ destination: dest, setName: SET, backupId: first.backupId as string, target, passphrase: PASS });
  expect(restored.errors).toEqual([]);
  expectSameTree(await snapshotTree(target), await snapshotTree(src));
});

test('folder format with a passphrase is refused (ENCRYPTION_NEEDS_TARGZ), suggesting tar.gz', async () => {
  const { src, dest } = await makeSource();
  const run = runBackup({ sources: [src], destination: dest, type: 'full', format: 'folder', passphrase: PASS });
  await expect(run).rejects.toMatchObject({ code: 'ENCRYPTION_NEEDS_TARGZ', hint: expect.stringMatching(/tar\.gz/) });
  expect(fs.readdirSync(dest)).toEqual([]);
});

test('a passphrase for a set that already holds plain backups is refused (ENCRYPTION_MISMATCH); restore of a plain set ignores it', async () => {
  const { src, dest } = await makeSource();
  await backup(src, dest, 'full', { passphrase: undefined });
  const before = fs.readdirSync(path.join(dest, SET)).sort();
  const error = await backupError(src, dest, { passphrase: PASS });
  expect(error.code).toBe('ENCRYPTION_MISMATCH');
  expect(error.hint).toMatch(/new set/);
  expect(fs.readdirSync(path.join(dest, SET)).sort()).toEqual(before);
  const target = await dirs.make();
  expect((await restoreBackup({ destination: dest, setName: SET, target, passphrase: PASS })).errors).toEqual([]);
});

/** Sealed file of a backup, and the byte offset of its sealed chunk `i`. */
const sealedChunk = SEAL_CHUNK_BYTES + SEAL_TAG_BYTES;
const chunkOffset = (i: number): number => SEAL_HEADER_BYTES + i * sealedChunk;

async function damagedSet(damage: (dir: string) => Promise<void>): Promise<{ src: string; dest: string; report: BackupReport }> {
  const { src, dest } = await makeSource();
  const report = await backup(src, dest, 'full');
  await damage(backupFolder(dest, report.backupId));
  return { src, dest, report };
}

/** Restore reports problems (or fails); every file it did write is byte-identical to the source. */
async function expectRestoreCatches(src: string, dest: string): Promise<void> {
  const target = await dirs.make();
  let caught = false;
  try {
    const report = await restoreBackup({ destination: dest, setName: SET, target, passphrase: PASS });
    caught = report.errorCount > 0;
  } catch (error) {
    caught = error instanceof BackupError;
  }
  expect(caught).toBe(true);
  for (const entry of fs.readdirSync(target, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const rel = path.relative(target, path.join(entry.parentPath, entry.name));
    expect([rel, fs.readFileSync(path.join(target, rel)).equals(fs.readFileSync(path.join(src, rel)))]).toEqual([rel, true]);
  }
}

async function expectVerifyCatches(dest: string, codes: RegExp): Promise<void> {
  for (const full of [false, true]) {
    const verified = await verifyBackups({ destination: dest, setName: SET, full, passphrase: PASS });
    expect(verified.ok).toBe(false);
    expect(verified.problems.map((p) => p.code).join(',')).toMatch(codes);
  }
}

const flipByte = (file: string, at: number) => async (): Promise<void> => {
  const bytes = await fsp.readFile(file);
  bytes[at] ^= 0x20;
  await fsp.writeFile(file, bytes);
};

describe.each([
  ['a flipped byte in the second chunk of data.tar.gz.enc', (dir: string) => flipByte(path.join(dir, 'data.tar.gz.enc'), chunkOffset(1) + 100)(), /CORRUPT|MISSING/],
  ['a flipped byte in the last chunk of data.tar.gz.enc', async (dir: string) => {
    const file = path.join(dir, 'data.tar.gz.enc');
    await flipByte(file, (await fsp.stat(file)).size - 20)();
  }, /CORRUPT|MISSING|TRUNCATED/],
  ['data.tar.gz.enc cut at a chunk boundary', async (dir: string) => fsp.truncate(path.join(dir, 'data.tar.gz.enc'), chunkOffset(2)), /CORRUPT|MISSING|TRUNCATED/],
  ['data.tar.gz.enc cut inside a chunk', async (dir: string) => fsp.truncate(path.join(dir, 'data.tar.gz.enc'), chunkOffset(1) + 5000), /CORRUPT|MISSING|TRUNCATED/],
  ['two chunks of data.tar.gz.enc swapped', async (dir: string) => {
    const file = path.join(dir, 'data.tar.gz.enc');
    const bytes = await fsp.readFile(file);
    const a = Buffer.from(bytes.subarray(chunkOffset(0), chunkOffset(1)));
    bytes.copy(bytes, chunkOffset(0), chunkOffset(1), chunkOffset(2));
    a.copy(bytes, chunkOffset(1));
    await fsp.writeFile(file, bytes);
  }, /CORRUPT|MISSING/],
  ['a flipped byte in manifest.jsonl.gz.enc', (dir: string) => flipByte(path.join(dir, 'manifest.jsonl.gz.enc'), SEAL_HEADER_BYTES + 10)(), /MANIFEST_CORRUPT/],
  ['manifest.jsonl.gz.enc cut short', async (dir: string) => fsp.truncate(path.join(dir, 'manifest.jsonl.gz.enc'), SEAL_HEADER_BYTES + 30), /MANIFEST_CORRUPT/],
])('%s', (_name, damage, verifyCodes) => {
  test('is caught by restore (no wrong byte restored) and by verify, quick and full', async () => {
    const { src, dest } = await damagedSet(damage);
    await expectRestoreCatches(src, dest);
    await expectVerifyCatches(dest, verifyCodes);
  });
});

test('a sealed file moved from one backup to another fails to open (it is bound to its backup id)', async () => {
  const { src, dest } = await makeSource();
  const first = await backup(src, dest, 'full');
  await writeTree(src, { 'docs/x.txt': 'x' });
  const second = await backup(src, dest, 'full');
  for (const name of ['manifest.jsonl.gz.enc', 'data.tar.gz.enc']) {
    await fsp.copyFile(path.join(backupFolder(dest, first.backupId), name), path.join(backupFolder(dest, second.backupId), name));
  }
  const target = await dirs.make();
  await expect(restoreBackup({ destination: dest, setName: SET, backupId: second.backupId as string, target, passphrase: PASS })).rejects.toMatchObject({ code: 'MANIFEST_CORRUPT' });
  expect(fs.readdirSync(target)).toEqual([]);
  const verified = await verifyBackups({ destination: dest, setName: SET, backupId: second.backupId as string, passphrase: PASS });
  expect(verified.problems.map((p) => p.code)).toEqual(['MANIFEST_CORRUPT']);
  expect(verified.problems[0].message).toMatch(/authentication/);
});

test('a hostile key.json (absurd scrypt cost) is refused before any work', async () => {
  const { src, dest } = await makeSource();
  await backup(src, dest, 'full');
  const file = path.join(dest, SET, 'key.json');
  const keyFile = JSON.parse(await fsp.readFile(file, 'utf8')) as Record<string, unknown>;
  await fsp.writeFile(file, JSON.stringify({ ...keyFile, N: 2 ** 30 }));
  const error = await backupError(src, dest, { passphrase: PASS });
  expect(error.message).toMatch(/key file .* is damaged: its scrypt cost is out of range/);
});
