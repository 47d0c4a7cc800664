/**
 * The formats over every destination (a local folder, S3 on moto_server, SFTP on sshd): a manifest
 * and a tar.gz archive (plain and sealed, with data.tar.idx) written through the byte I/O seam
 * (destination/appender.ts, randomAccess.ts) and read back, damage, aborts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withRetries } from '../../nodes/Backup/engine/destination/retry';
import type { Destination, ListEntry } from '../../nodes/Backup/engine/destination/types';
import { ManifestReader, ManifestWriter, readManifestEndsOn } from '../../nodes/Backup/engine/formats/manifest';
import { SetKey } from '../../nodes/Backup/engine/formats/sealed';
import { readIndexOn } from '../../nodes/Backup/engine/formats/tar/memberIndex';
import { TarReader } from '../../nodes/Backup/engine/formats/tar/reader';
import { TarGzSink } from '../../nodes/Backup/engine/formats/tar/sink';
import type { ManifestEntry, ManifestHeader, ManifestTrailer } from '../../nodes/Backup/engine/types';
import { FORMAT_VERSION, MANIFEST_MAGIC } from '../../nodes/Backup/engine/types';
import type { Subject } from '../helpers/destinations';
import { allSubjects } from '../helpers/destinations';

const KiB = 1024;
const MiB = 1024 * KiB;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const ID = '20261201T020000000Z-full';
const PREFIX = `my-set-0123abcd/${ID}`;

interface Source {
  root: string;
  /** Relative paths in walk order (plain names in one folder: byte order). */
  files: string[];
  content: Map<string, Buffer>;
}

/** Incompressible files: 24 of 256 KiB (about 4 per gzip member) and two of 3 MiB, so the archive is multi-part on S3. */
async function makeSource(): Promise<Source> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'n8n-backup-fmt-remote-'));
  const content = new Map<string, Buffer>();
  for (let i = 0; i < 24; i++) content.set(`f${String(i).padStart(2, '0')}.bin`, randomBytes(256 * KiB));
  content.set('g-big-1.bin', randomBytes(3 * MiB));
  content.set('g-big-2.bin', randomBytes(3 * MiB));
  content.set('h-empty.txt', Buffer.alloc(0));
  for (const [rel, bytes] of content) await fsp.writeFile(path.join(root, rel), bytes);
  return { root, files: [...content.keys()].sort(), content };
}

function header(): ManifestHeader {
  return {
    manifest: MANIFEST_MAGIC, version: FORMAT_VERSION, id: ID, type: 'full', base: null, parent: null, source: '/src', set: 'my-set-0123abcd',
    storage: 'tar.gz', hash: 'sha256', startedAt: new Date().toISOString(), exclude: [],
  };
}

/** Writes the archive and the manifest of `source` to the destination, as a backup does. */
async function writeBackup(dest: Destination, source: Source, key?: SetKey): Promise<ManifestEntry[]> {
  const sink = await TarGzSink.createOn(dest, PREFIX, 1, key);
  const writer = await ManifestWriter.createOn(dest, PREFIX, header(), key);
  const entries: ManifestEntry[] = [];
  // Stats first: store() claims its place in the archive when called, so the calls go in walk order.
  const stats = await Promise.all(source.files.map((rel) => fsp.stat(path.join(source.root, rel))));
  const stored = await Promise.all(source.files.map((rel, i) => sink.store(rel, path.join(source.root, rel), stats[i])));
  source.files.forEach((rel, i) => {
    const entry = { path: rel, kind: 'file', mode: 0o644, mtime: 1, size: stored[i].size, hash: stored[i].hash, in: ID } as ManifestEntry;
    entries.push(entry);
    writer.writeEntry(entry);
  });
  await sink.close();
  const trailer = { trailer: true, complete: true, finishedAt: new Date().toISOString(), entries: entries.length, files: {}, bytes: {}, errorCount: 0, references: [], errors: [] } as unknown as ManifestTrailer;
  await writer.finish(trailer);
  return entries;
}

type Outcome = { ok: true } | { ok: false; why: string };

/** Reads every entry's bytes from the archive: exact (size and sha256) or why not. */
async function readBack(dest: Destination, entries: ManifestEntry[], key: SetKey | undefined, source: Source): Promise<{ outcomes: Map<string, Outcome>; damage: unknown }> {
  const reader = TarReader.onDestination(dest, PREFIX, key);
  const outcomes = new Map<string, Outcome>();
  try {
    for (const entry of entries) {
      const found = await reader.seek(entry.path);
      if (!('member' in found)) {
        outcomes.set(entry.path, { ok: false, why: JSON.stringify(found) });
        continue;
      }
      const parts: Buffer[] = [];
      try {
        await found.member.read((chunk) => parts.push(Buffer.from(chunk)));
        const bytes = Buffer.concat(parts);
        const exact = bytes.equals(source.content.get(entry.path) as Buffer) && sha256(bytes) === entry.hash;
        outcomes.set(entry.path, exact ? { ok: true } : { ok: false, why: 'wrong bytes' });
      } catch (error) {
        outcomes.set(entry.path, { ok: false, why: (error as Error).message });
      }
    }
    return { outcomes, damage: await reader.finish() };
  } finally {
    reader.close();
  }
}

async function listed(dest: Destination, prefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of dest.list(prefix) as AsyncIterable<ListEntry>) names.push(entry.name);
  return names.sort();
}

async function readObject(dest: Destination, name: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await dest.read(name)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe.each(allSubjects().map((s) => [s.label, s] as [string, Subject]))('formats on a destination: %s', (label, subject) => {
  const maybe = subject.unavailable === undefined ? test : test.skip;
  const title = (t: string): string => (subject.unavailable === undefined ? t : `${t} - SKIPPED: ${subject.unavailable}`);
  let dest: Destination;
  let source: Source;
  const key = new SetKey(randomBytes(32), '{}');

  beforeAll(async () => {
    if (subject.unavailable !== undefined) return;
    await subject.start();
    source = await makeSource();
  }, 60_000);
  afterAll(async () => {
    if (subject.unavailable !== undefined) return;
    await subject.stop();
    await fsp.rm(source.root, { recursive: true, force: true });
  });
  beforeEach(async () => {
    if (subject.unavailable !== undefined) return;
    await subject.fresh();
    // As the engine uses them: behind the retry wrapper.
    dest = withRetries(await subject.open(), { attempts: 3, baseDelayMs: 50, maxDelayMs: 200 });
  });
  afterEach(async () => {
    if (subject.unavailable === undefined) await dest.close();
  });

  maybe(title('a plain tar.gz archive, its index and its manifest round-trip: every file exact'), async () => {
    const entries = await writeBackup(dest, source);
    expect(await listed(dest, `${PREFIX}/`)).toEqual([`${PREFIX}/data.tar.gz`, `${PREFIX}/data.tar.idx`, `${PREFIX}/manifest.jsonl.gz`]);
    const index = await readIndexOn(dest, PREFIX, undefined, ID);
    expect('index' in index && index.index.members).toBeGreaterThan(8);
    const manifest = await ManifestReader.openOn(dest, PREFIX);
    const read: ManifestEntry[] = [];
    for await (const entry of manifest.entries()) read.push(entry);
    expect(manifest.header.id).toBe(ID);
    expect(read.map((e) => [e.path, e.size, e.hash])).toEqual(entries.map((e) => [e.path, source.content.get(e.path)?.length, sha256(source.content.get(e.path) as Buffer)]));
    expect((await readManifestEndsOn(dest, PREFIX)).trailer.entries).toBe(entries.length);
    const { outcomes, damage } = await readBack(dest, read, undefined, source);
    expect([...outcomes.values()].every((o) => o.ok)).toBe(true);
    expect(damage).toBeUndefined();
  }, 120_000);

  maybe(title('a sealed (encrypted) archive, index and manifest round-trip; the wrong key opens none of them'), async () => {
    const entries = await writeBackup(dest, source, key);
    expect(await listed(dest, `${PREFIX}/`)).toEqual([`${PREFIX}/data.tar.gz.enc`, `${PREFIX}/data.tar.idx.enc`, `${PREFIX}/manifest.jsonl.gz.enc`]);
    expect('index' in (await readIndexOn(dest, PREFIX, key, ID))).toBe(true);
    const ends = await readManifestEndsOn(dest, PREFIX, key);
    expect([ends.header.id, ends.trailer.entries]).toEqual([ID, entries.length]);
    const { outcomes, damage } = await readBack(dest, entries, key, source);
    expect([...outcomes.entries()].filter(([, o]) => !o.ok)).toEqual([]);
    expect(damage).toBeUndefined();
    const other = new SetKey(randomBytes(32), '{}');
    await expect(readManifestEndsOn(dest, PREFIX, other)).rejects.toMatchObject({ code: 'MANIFEST_CORRUPT' });
    const wrong = await readBack(dest, entries.slice(0, 1), other, source);
    expect(wrong.outcomes.get(entries[0].path)).toMatchObject({ ok: false });
  }, 120_000);

  maybe(title('a damaged gzip member in the stored archive costs only its own files; the reader resumes at the next member by the index'), async () => {
    const entries = await writeBackup(dest, source);
    const found = await readIndexOn(dest, PREFIX, undefined, ID);
    if (!('index' in found)) throw new Error('no index');
    const index = found.index;
    // A member in the run of 256 KiB files (about four per member), damaged inside its deflate data.
    const k = 2;
    const member = index.record(k);
    const archive = await readObject(dest, `${PREFIX}/data.tar.gz`);
    archive[member.compressed + 2000] ^= 0xff;
    await dest.write(`${PREFIX}/data.tar.gz`, archive);
    const { outcomes, damage } = await readBack(dest, entries, undefined, source);
    const bad = [...outcomes.entries()].filter(([, o]) => !o.ok).map(([p]) => p);
    // The member holds about 1 MiB of the tar stream: at most the five 256 KiB files it touches.
    expect(bad.length).toBeGreaterThanOrEqual(1);
    expect(bad.length).toBeLessThanOrEqual(5);
    // Everything after the damaged member (the big files too) is exact.
    for (const rel of ['f12.bin', 'f23.bin', 'g-big-1.bin', 'g-big-2.bin', 'h-empty.txt']) expect(outcomes.get(rel)).toEqual({ ok: true });
    expect(damage).toMatchObject({ code: 'CORRUPT' });
  }, 120_000);

  maybe(title('an aborted sink and manifest writer leave nothing listed and no interrupted upload'), async () => {
    const sink = await TarGzSink.createOn(dest, PREFIX, 1);
    const writer = await ManifestWriter.createOn(dest, PREFIX, header());
    // More than one S3 part (5 MiB in the tests): the multipart upload has begun.
    for (const rel of ['f00.bin', 'g-big-1.bin', 'g-big-2.bin']) await sink.store(rel, path.join(source.root, rel), await fsp.stat(path.join(source.root, rel)));
    writer.writeEntry({ path: 'f00.bin', kind: 'file', mode: 0o644, mtime: 1, size: 1, hash: 'x', in: ID } as ManifestEntry);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await sink.abort();
    await writer.abort();
    expect(await listed(dest, '')).toEqual([]);
    // S3: no incomplete multipart upload; file trees: no temp file.
    expect(await dest.sweep(0)).toBe(0);
  }, 120_000);

  maybe(title('a manifest that is not there is MANIFEST_CORRUPT (missing), an archive that is not there MISSING'), async () => {
    await expect(ManifestReader.openOn(dest, PREFIX)).rejects.toMatchObject({ code: 'MANIFEST_CORRUPT', message: expect.stringMatching(/missing/) });
    const reader = TarReader.onDestination(dest, PREFIX, undefined);
    expect(await reader.seek('a')).toMatchObject({ damage: { code: 'MISSING' } });
    reader.close();
  }, 60_000);

  if (label !== 'local') {
    maybe(title('a connection that keeps dropping mid-archive fails the sink with the destination\'s own code, and nothing is listed'), async () => {
      const sink = await TarGzSink.createOn(dest, PREFIX, 1);
      subject.proxy()?.arm({ kind: 'cut', afterBytes: 256 * 1024, direction: 'up', scope: 'every' });
      try {
        const stored = ['g-big-1.bin', 'g-big-2.bin'].map(async (rel) => sink.store(rel, path.join(source.root, rel), await fsp.stat(path.join(source.root, rel))));
        const closed = (async () => {
          await Promise.allSettled(stored);
          return sink.close();
        })();
        await expect(closed).rejects.toMatchObject({ code: 'DESTINATION_UNAVAILABLE' });
      } finally {
        subject.proxy()?.heal();
        await sink.abort();
      }
      expect(await listed(dest, '')).toEqual([]);
    }, 120_000);
  }

  if (label === 'local') {
    test('a local destination is read and written through FileHandles at the same paths as the path-based entry points', async () => {
      await writeBackup(dest, source);
      const file = dest.localPath?.(`${PREFIX}/data.tar.gz`) as string;
      expect(path.isAbsolute(file)).toBe(true);
      const backupDir = path.dirname(file);
      expect((await fsp.readdir(backupDir)).sort()).toEqual(['data.tar.gz', 'data.tar.idx', 'manifest.jsonl.gz']);
      const reader = await ManifestReader.open(backupDir);
      expect(reader.header.id).toBe(ID);
      await reader.close();
      const archive = TarReader.forBackup(path.dirname(backupDir), ID, undefined);
      expect(await archive.finish()).toBeUndefined();
      archive.close();
    }, 60_000);
  }
});
