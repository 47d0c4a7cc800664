/**
 * The folder format on a remote destination (store/remoteFolderSink.ts): each stored file an
 * object `<backup>/data/<rel>`, hashed on its way up, a few at once; on moto_server and sshd (and a
 * local folder through the same interface).
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withRetries } from '../../nodes/Backup/engine/destination/retry';
import type { Destination, ListEntry } from '../../nodes/Backup/engine/destination/types';
import { RemoteFolderSink } from '../../nodes/Backup/engine/store/remoteFolderSink';
import type { Subject } from '../helpers/destinations';
import { allSubjects } from '../helpers/destinations';

const MiB = 1024 * 1024;
const PREFIX = 'set-0123abcd/20261201T020000000Z-full';
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function readObject(dest: Destination, name: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await dest.read(name)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function listed(dest: Destination, prefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of dest.list(prefix) as AsyncIterable<ListEntry>) names.push(entry.name);
  return names.sort();
}

describe.each(allSubjects().map((s) => [s.label, s] as [string, Subject]))('folder format on a destination: %s', (_label, subject) => {
  const maybe = subject.unavailable === undefined ? test : test.skip;
  const title = (t: string): string => (subject.unavailable === undefined ? t : `${t} - SKIPPED: ${subject.unavailable}`);
  let dest: Destination;
  let root = '';
  const content = new Map<string, Buffer>();

  beforeAll(async () => {
    if (subject.unavailable !== undefined) return;
    await subject.start();
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'n8n-backup-remote-folder-'));
    content.set('a.txt', Buffer.from('hello'));
    content.set('docs/empty.txt', Buffer.alloc(0));
    content.set('docs/big.bin', randomBytes(6 * MiB + 7)); // more than one S3 part in the tests
    for (let i = 0; i < 12; i++) content.set(`many/f${i}.bin`, randomBytes(50_000 + i));
    content.set('name with spaces & ünïcode.txt', Buffer.from('x'));
    for (const [rel, bytes] of content) {
      await fsp.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
      await fsp.writeFile(path.join(root, rel), bytes);
    }
  }, 60_000);
  afterAll(async () => {
    if (subject.unavailable !== undefined) return;
    await subject.stop();
    await fsp.rm(root, { recursive: true, force: true });
  });
  beforeEach(async () => {
    if (subject.unavailable !== undefined) return;
    await subject.fresh();
    dest = withRetries(await subject.open(), { attempts: 3, baseDelayMs: 50, maxDelayMs: 200 });
  });
  afterEach(async () => {
    if (subject.unavailable === undefined) await dest.close();
  });

  maybe(title('every stored file is an object under data/ with exactly its bytes; size and sha256 are what was uploaded'), async () => {
    const sink = new RemoteFolderSink(dest, PREFIX, 3);
    const rels = [...content.keys()];
    const stats = await Promise.all(rels.map((rel) => fsp.stat(path.join(root, rel))));
    const copied = await Promise.all(rels.map((rel, i) => sink.store(rel, path.join(root, rel), stats[i])));
    const total = await sink.close();
    expect(total).toBe([...content.values()].reduce((n, b) => n + b.length, 0));
    expect(await listed(dest, `${PREFIX}/`)).toEqual(rels.map((rel) => `${PREFIX}/data/${rel}`).sort());
    for (const [i, rel] of rels.entries()) {
      const bytes = content.get(rel) as Buffer;
      expect(copied[i]).toEqual({ size: bytes.length, hash: sha256(bytes) });
      expect((await readObject(dest, `${PREFIX}/data/${rel}`)).equals(bytes)).toBe(true);
    }
  }, 120_000);

  maybe(title('source problems are per-file (raw errors) and the other files are still stored; abort starts nothing more'), async () => {
    const sink = new RemoteFolderSink(dest, PREFIX, 2);
    const stats = await fsp.stat(path.join(root, 'a.txt'));
    const results = await Promise.allSettled([
      sink.store('a.txt', path.join(root, 'a.txt'), stats),
      sink.store('gone.txt', path.join(root, 'gone.txt'), stats),
      sink.store('docs', path.join(root, 'docs'), stats),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'ENOENT' });
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'ENOTREG' });
    await sink.abort();
    await expect(sink.store('many/f1.bin', path.join(root, 'many/f1.bin'), await fsp.stat(path.join(root, 'many/f1.bin')))).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(await listed(dest, `${PREFIX}/`)).toEqual([`${PREFIX}/data/a.txt`]);
  }, 60_000);
});
