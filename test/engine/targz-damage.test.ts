/**
 * One damaged byte in a tar.gz backup costs the files whose bytes lie in the damaged gzip member
 * (or sealed chunk), never the rest of the archive: restore brings back every other file exactly,
 * reports exactly the ones it could not, and verify names the same files. Real backups on temp
 * trees, several ~1 MiB gzip members each; the damage is placed with the member index
 * (data.tar.idx), and the expected losses are worked out from the intact archive's tar layout.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { BackupOptions, BackupReport, BackupType } from '../../nodes/Backup/engine';
import { restoreBackup, runBackup, verifyBackups } from '../../nodes/Backup/engine';
import { listBackups } from '../../nodes/Backup/engine/set/catalog';
import { keyForReading } from '../../nodes/Backup/engine/set/encryption';
import type { SetKey } from '../../nodes/Backup/engine/formats/sealed';
import { openStream, SEAL_CHUNK_BYTES, SEAL_HEADER_BYTES, SEAL_TAG_BYTES } from '../../nodes/Backup/engine/formats/sealed';
import type { MemberIndex, MemberRecord } from '../../nodes/Backup/engine/formats/tar/memberIndex';
import { readIndex } from '../../nodes/Backup/engine/formats/tar/memberIndex';
import { tempDirs, textPattern, writeTree } from '../helpers/fixtures';

const dirs = tempDirs('n8n-backup-damage-');
afterEach(() => dirs.cleanup());

const SET = 'set';
const PASS = 'correct horse battery staple';
const FILES = 48;
const FILE_BYTES = 100 * 1024;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const padded = (size: number): number => size + ((512 - (size % 512)) % 512);


interface Scene {
  root: string;
  src: string;
  dest: string;
  full: BackupReport;
  /** path -> content at the time of the full. */
  content: Map<string, Buffer>;
}

async function backup(src: string, dest: string, type: BackupType, extra: Partial<BackupOptions>): Promise<BackupReport> {
  const [outcome] = await runBackup({ sources: [src], destination: dest, type, setName: SET, format: 'tar.gz', ...extra });
  if (!outcome.ok) throw outcome.error;
  return outcome.report;
}

async function scene(extra: Partial<BackupOptions> = {}): Promise<Scene> {
  const root = await dirs.make();
  const src = path.join(root, 'src');
  const dest = path.join(root, 'dest');
  const content = new Map<string, Buffer>();
  const tree: Record<string, Buffer> = {};
  for (let i = 0; i < FILES; i++) {
    const rel = `d/f${String(i).padStart(2, '0')}.txt`;
    tree[rel] = textPattern(FILE_BYTES + i * 7, i + 1);
    content.set(rel, tree[rel]);
  }
  await writeTree(src, tree);
  const full = await backup(src, dest, 'full', extra);
  return { root, src, dest, full, content };
}

const passphrases = new WeakMap<Scene, string>();
const passphraseOf = (s: Scene): { passphrase?: string } => (passphrases.has(s) ? { passphrase: passphrases.get(s) } : {});

const backupDir = (s: Scene, report: BackupReport): string => path.join(s.dest, SET, report.backupId as string);

async function setKey(s: Scene, passphrase: string | undefined): Promise<SetKey | undefined> {
  const setDir = path.join(s.dest, SET);
  return keyForReading(setDir, await listBackups(setDir), passphrase);
}

async function indexOf(s: Scene, key: SetKey | undefined): Promise<MemberIndex> {
  const found = await readIndex(backupDir(s, s.full), key, s.full.backupId as string);
  if (!('index' in found)) throw new Error(`no usable index: ${JSON.stringify(found)}`);
  return found.index;
}

/** The gzip stream of the full's archive (opened, for a sealed one). */
async function gzipStream(s: Scene, key: SetKey | undefined): Promise<Buffer> {
  const dir = backupDir(s, s.full);
  if (key === undefined) return fsp.readFile(path.join(dir, 'data.tar.gz'));
  const parts: Buffer[] = [];
  const opener = openStream(key, `${s.full.backupId}/data.tar.gz`, 'data.tar.gz.enc');
  for await (const part of createReadStream(path.join(dir, 'data.tar.gz.enc')).pipe(opener) as AsyncIterable<Buffer>) parts.push(part);
  return Buffer.concat(parts);
}

/** Where each file's header and bytes lie in the (uncompressed) tar stream: [start, end). */
function tarLayout(tar: Buffer): Map<string, [number, number]> {
  const layout = new Map<string, [number, number]>();
  for (let at = 0; at + 512 <= tar.length; ) {
    const block = tar.subarray(at, at + 512);
    if (block.every((b) => b === 0)) break;
    const name = block.toString('utf8', 0, block.indexOf(0));
    const size = parseInt(block.toString('latin1', 124, 135), 8);
    layout.set(name, [at, at + 512 + size]);
    at += 512 + padded(size);
  }
  return layout;
}

/** Files with any header or data byte in the tar range [from, to). */
function filesIn(layout: Map<string, [number, number]>, from: number, to: number): string[] {
  return [...layout].filter(([, [start, end]]) => start < to && end > from).map(([name]) => name);
}

/** A plain full backup of the scene, and the member in the middle of its archive (and the one after it). */
async function middleMember(): Promise<{ s: Scene; archive: string; bytes: Buffer; layout: Map<string, [number, number]>; member: MemberRecord; next: MemberRecord }> {
  const s = await scene();
  const index = await indexOf(s, undefined);
  expect(index.members).toBeGreaterThanOrEqual(4);
  const archive = path.join(backupDir(s, s.full), 'data.tar.gz');
  const bytes = await fsp.readFile(archive);
  const layout = tarLayout(gunzipSync(bytes));
  const k = Math.floor(index.members / 2);
  return { s, archive, bytes, layout, member: index.record(k), next: index.record(k + 1) };
}

function flip(bytes: Buffer, at: number): void {
  bytes[at] ^= 0xff;
}

/** Restores `backupId` into a fresh target: the paths reported, and every other file checked byte for byte. */
async function restoreAndCheck(s: Scene, backupId: string, expected: Map<string, Buffer>): Promise<{ reported: string[]; codes: string[] }> {
  const target = path.join(s.root, `target-${Math.random().toString(36).slice(2)}`);
  const report = await restoreBackup({ destination: s.dest, setName: SET, backupId, target, ...passphraseOf(s) });
  const reported = report.errors.map((e) => e.path).sort();
  for (const [rel, bytes] of expected) {
    const restored = await fsp.readFile(path.join(target, rel)).catch(() => undefined);
    if (reported.includes(rel)) {
      // Not left in the target with wrong bytes, under its name or any other.
      expect(restored).toBeUndefined();
    } else {
      expect(restored === undefined ? `${rel} missing` : sha256(restored)).toBe(sha256(bytes));
    }
  }
  const names = (await fsp.readdir(path.join(target, 'd'))).length;
  expect(names).toBe(expected.size - reported.length);
  return { reported, codes: [...new Set(report.errors.map((e) => e.code))] };
}

async function verifyNames(s: Scene, full: boolean, backupId?: string): Promise<{ files: string[]; archive: string[] }> {
  const report = await verifyBackups({ destination: s.dest, setName: SET, full, ...passphraseOf(s), ...(backupId === undefined ? {} : { backupId }) });
  const isArchive = (p: string): boolean => /data\.tar\.(gz|idx)(\.enc)?$/.test(p);
  return { files: report.problems.filter((p) => !isArchive(p.path)).map((p) => p.path).sort(), archive: report.problems.filter((p) => isArchive(p.path)).map((p) => p.code) };
}

describe.each([
  ['with its member index', true],
  ['without the index (a backup written before it existed)', false],
])('a damaged gzip member in a multi-member tar.gz full, %s', (_title, keepIndex) => {
  async function damaged(where: 'magic' | 'inside'): Promise<{ s: Scene; expectedLost: string[]; possiblyLost: string[] }> {
    const { s, archive, bytes, layout, member, next } = await middleMember();
    // The gzip magic (nothing of the member inflates), or the middle of its deflate data (what
    // inflates before the damage may still be right: each file's hash decides).
    flip(bytes, where === 'magic' ? member.compressed : Math.floor((member.compressed + next.compressed) / 2));
    await fsp.writeFile(archive, bytes);
    if (!keepIndex) await fsp.rm(path.join(backupDir(s, s.full), 'data.tar.idx'));
    const possiblyLost = filesIn(layout, member.uncompressed, next.uncompressed).sort();
    return { s, expectedLost: where === 'magic' ? possiblyLost : [], possiblyLost };
  }

  test('restore brings back every file outside the damaged member exactly and reports exactly the lost ones; verify names the same files', async () => {
    const { s, expectedLost, possiblyLost } = await damaged('magic');
    expect(possiblyLost.length).toBeGreaterThan(1);
    expect(possiblyLost.length).toBeLessThan(FILES / 2);
    const { reported, codes } = await restoreAndCheck(s, s.full.backupId as string, s.content);
    expect(reported).toEqual(expectedLost);
    expect(codes).toEqual(['ECORRUPT']);
    for (const full of [false, true]) {
      const named = await verifyNames(s, full);
      expect(named.files).toEqual(expectedLost);
      expect(named.archive).toContain('CORRUPT');
    }
  });

  test('damage inside the deflate data: only files in that member can be lost, at least one is, all others restore exactly', async () => {
    const { s, possiblyLost } = await damaged('inside');
    const { reported } = await restoreAndCheck(s, s.full.backupId as string, s.content);
    expect(reported.length).toBeGreaterThan(0);
    expect(possiblyLost).toEqual(expect.arrayContaining(reported));
    expect((await verifyNames(s, true)).files).toEqual(reported);
  });

  test('an incremental pointing into the damaged full restores all its other files', async () => {
    const { s, expectedLost } = await damaged('magic');
    // The incremental stores one changed file itself; the rest of its files are in the full.
    const changed = 'd/f00.txt';
    const newer = Buffer.from('changed after the full\n');
    await fsp.writeFile(path.join(s.src, changed), newer);
    const inc = await backup(s.src, s.dest, 'incremental', {});
    const expected = new Map(s.content);
    expected.set(changed, newer);
    const { reported } = await restoreAndCheck(s, inc.backupId as string, expected);
    expect(reported).toEqual(expectedLost.filter((p) => p !== changed));
    expect((await verifyNames(s, true, inc.backupId as string)).files).toEqual(reported);
  });

  test('a truncated archive loses only its tail: every file before the cut restores exactly', async () => {
    const { s, archive, layout, member, next } = await middleMember();
    await fsp.truncate(archive, Math.floor((member.compressed + next.compressed) / 2));
    if (!keepIndex) await fsp.rm(path.join(backupDir(s, s.full), 'data.tar.idx'));
    const tail = filesIn(layout, member.uncompressed, Number.MAX_SAFE_INTEGER).sort();
    const lostForSure = filesIn(layout, next.uncompressed, Number.MAX_SAFE_INTEGER).sort();
    const { reported } = await restoreAndCheck(s, s.full.backupId as string, s.content);
    expect(tail).toEqual(expect.arrayContaining(reported));
    expect(reported).toEqual(expect.arrayContaining(lostForSure));
    const named = await verifyNames(s, true);
    expect(named.files).toEqual(reported);
    expect(named.archive).toContain('TRUNCATED');
  });
});

describe('a damaged chunk of an encrypted tar.gz', () => {
  test('costs only the files whose bytes lie in that chunk; restore and verify name exactly those', async () => {
    // Level 0: the gzip stream is about as long as the tar, so the archive spans several sealed chunks.
    const s = await scene({ passphrase: PASS, compressionLevel: 0 });
    passphrases.set(s, PASS);
    const key = await setKey(s, PASS);
    const index = await indexOf(s, key);
    const layout = tarLayout(gunzipSync(await gzipStream(s, key)));
    const chunks = Math.ceil(index.record(index.members).compressed / SEAL_CHUNK_BYTES);
    expect(chunks).toBeGreaterThanOrEqual(4);
    const chunk = Math.floor(chunks / 2);
    const archive = path.join(backupDir(s, s.full), 'data.tar.gz.enc');
    const bytes = await fsp.readFile(archive);
    flip(bytes, SEAL_HEADER_BYTES + chunk * (SEAL_CHUNK_BYTES + SEAL_TAG_BYTES) + SEAL_CHUNK_BYTES / 2);
    await fsp.writeFile(archive, bytes);
    // The tar range the chunk's gzip bytes inflate to: from the member it starts in to the member after it ends.
    const from = chunk * SEAL_CHUNK_BYTES;
    const to = from + SEAL_CHUNK_BYTES;
    let first = 0;
    while (first + 1 <= index.members && index.record(first + 1).compressed <= from) first++;
    let last = first;
    while (last + 1 < index.members && index.record(last + 1).compressed < to) last++;
    const possiblyLost = filesIn(layout, index.record(first).uncompressed, index.record(last + 1).uncompressed);
    // Files inside members wholly within the chunk cannot survive.
    const surelyLost = filesIn(layout, index.record(first + 1).uncompressed, index.record(last).uncompressed).filter((name) => {
      const [start, end] = layout.get(name) as [number, number];
      return start >= index.record(first + 1).uncompressed && end <= index.record(last).uncompressed;
    });
    const { reported, codes } = await restoreAndCheck(s, s.full.backupId as string, s.content);
    expect(possiblyLost.length).toBeLessThan(FILES / 2);
    expect(possiblyLost).toEqual(expect.arrayContaining(reported));
    expect(reported).toEqual(expect.arrayContaining(surelyLost));
    expect(reported.length).toBeGreaterThan(0);
    expect(codes).toEqual(['ECORRUPT']);
    for (const full of [false, true]) {
      const named = await verifyNames(s, full);
      expect(named.files).toEqual(reported);
      expect(named.archive).toContain('CORRUPT');
    }
  });
});

describe('a damaged member index', () => {
  test('is reported and not trusted: the archive is read by scanning and every file restores exactly', async () => {
    const s = await scene();
    const file = path.join(backupDir(s, s.full), 'data.tar.idx');
    const bytes = await fsp.readFile(file);
    // A record's tar offset: a reader that trusted it would resume at the wrong place.
    flip(bytes, 16 + 24 + 12);
    await fsp.writeFile(file, bytes);
    const { reported } = await restoreAndCheck(s, s.full.backupId as string, s.content);
    expect(reported).toEqual([]);
    const report = await verifyBackups({ destination: s.dest, setName: SET, full: true });
    expect(report.problems).toEqual([expect.objectContaining({ path: 'data.tar.gz', code: 'CORRUPT', message: expect.stringMatching(/data\.tar\.idx fails its sha256/) })]);
  });
});

describe.each([
  ['with its member index', true],
  ['without the index', false],
])('a damaged member in the middle of a large file, %s', (_title, keepIndex) => {
  test('costs that one file: the files before and after it restore exactly', async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    const content = new Map<string, Buffer>([
      ['d/a.txt', textPattern(300 * 1024, 1)],
      ['d/big.bin', textPattern(5 * 1024 * 1024, 2)],
      ['d/z.txt', textPattern(300 * 1024, 3)],
    ]);
    await writeTree(src, Object.fromEntries(content));
    const full = await backup(src, dest, 'full', {});
    const s: Scene = { root, src, dest, full, content };
    const index = await indexOf(s, undefined);
    // A member that holds only the middle of big.bin: no tar header starts in it.
    let k = 1;
    while (k < index.members && index.record(k).header !== Number.MAX_SAFE_INTEGER) k++;
    expect(k).toBeLessThan(index.members - 1);
    const archive = path.join(backupDir(s, full), 'data.tar.gz');
    const bytes = await fsp.readFile(archive);
    flip(bytes, index.record(k).compressed);
    await fsp.writeFile(archive, bytes);
    if (!keepIndex) await fsp.rm(path.join(backupDir(s, full), 'data.tar.idx'));
    const { reported } = await restoreAndCheck(s, full.backupId as string, content);
    expect(reported).toEqual(['d/big.bin']);
    expect((await verifyNames(s, true)).files).toEqual(['d/big.bin']);
  });
});

describe('an archive without index that stores gzip files', () => {
  test("gzip headers inside stored files are not taken for member starts: every file restores, verify passes", async () => {
    const root = await dirs.make();
    const src = path.join(root, 'src');
    const dest = path.join(root, 'dest');
    // zlib's gzip files start with the very bytes the reader looks for; at level 0 (and for data
    // deflate cannot shrink) they appear in the archive's gzip stream as they are.
    const inner = Buffer.concat([0, 1, 2].map((i) => gzipSync(Buffer.concat([textPattern(50 * 1024, i), Buffer.from(createHash('sha256').update(String(i)).digest())]))));
    const content = new Map<string, Buffer>([
      ['d/a.txt', textPattern(100 * 1024, 1)],
      ['d/inner.tar.gz', inner],
      ['d/z.txt', textPattern(100 * 1024, 3)],
    ]);
    await writeTree(src, Object.fromEntries(content));
    const full = await backup(src, dest, 'full', { compressionLevel: 0 });
    const s: Scene = { root, src, dest, full, content };
    const archive = await fsp.readFile(path.join(backupDir(s, full), 'data.tar.gz'));
    expect(archive.indexOf(inner.subarray(0, 8), 10)).toBeGreaterThan(0);
    await fsp.rm(path.join(backupDir(s, full), 'data.tar.idx'));
    const { reported } = await restoreAndCheck(s, full.backupId as string, content);
    expect(reported).toEqual([]);
    expect((await verifyBackups({ destination: dest, setName: SET, full: true })).problems).toEqual([]);
  });
});
