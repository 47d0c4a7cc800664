/**
 * One contract, the same cases for every destination (local folder, S3 on moto, SFTP on sshd):
 * what the engine will rely on whichever store it writes to.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { withRetries } from '../../nodes/Backup/engine/destination/retry';
import type { Destination, ListEntry } from '../../nodes/Backup/engine/destination/types';
import type { Subject } from '../helpers/destinations';
import { allSubjects, CONCURRENCY, PART_SIZE } from '../helpers/destinations';

async function text(destination: Destination, name: string, range?: { offset: number; length?: number }): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of await destination.read(name, range)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

async function listed(destination: Destination, prefix: string, options?: { delimiter?: boolean; pageSize?: number }): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of destination.list(prefix, options) as AsyncIterable<ListEntry>) names.push(entry.kind === 'prefix' ? `[${entry.name}]` : entry.name);
  return names.sort();
}

/** A stream of `total` pseudo-random bytes made as it is read; `produced` says how far it got. */
function generated(total: number, chunk = 64 * 1024): { stream: Readable; produced: () => number; hash: () => string } {
  let produced = 0;
  const hash = createHash('sha256');
  let seed = 1;
  const stream = new Readable({
    highWaterMark: chunk,
    read() {
      if (produced >= total) {
        this.push(null);
        return;
      }
      const size = Math.min(chunk, total - produced);
      const bytes = Buffer.allocUnsafe(size);
      for (let i = 0; i < size; i += 4) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        bytes.writeUInt32LE(seed, Math.min(i, size - 4));
      }
      produced += size;
      hash.update(bytes);
      this.push(bytes);
    },
  });
  return { stream, produced: () => produced, hash: () => hash.digest('hex') };
}

async function sha256Of(destination: Destination, name: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await destination.read(name)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe.each(allSubjects().map((s) => [s.label, s] as [string, Subject]))('destination contract: %s', (label, subject) => {
  const maybe = subject.unavailable === undefined ? test : test.skip;
  const title = (t: string): string => (subject.unavailable === undefined ? t : `${t} - SKIPPED: ${subject.unavailable}`);
  let destination: Destination;
  const opened: Destination[] = [];
  // As the engine will use them: behind the retry wrapper (moto under load resets kept-alive connections).
  const open = async (overrides?: Record<string, unknown>): Promise<Destination> => {
    const d = withRetries(await subject.open(overrides), { attempts: 3, baseDelayMs: 50, maxDelayMs: 200 });
    opened.push(d);
    return d;
  };

  beforeAll(async () => {
    if (subject.unavailable === undefined) await subject.start();
  }, 60_000);
  afterAll(async () => {
    if (subject.unavailable === undefined) await subject.stop();
  });
  beforeEach(async () => {
    if (subject.unavailable !== undefined) return;
    await subject.fresh();
    destination = await open();
  });
  afterEach(async () => {
    for (const d of opened.splice(0)) await d.close();
  });

  maybe(title('round trip: a buffer, a string and a stream read back whole, with stat'), async () => {
    await destination.write('set/a.bin', Buffer.from('hello buffer'));
    await destination.write('set/b.txt', 'hello string');
    const info = await destination.write('set/deep/c.txt', () => Readable.from([Buffer.from('hello '), Buffer.from('stream')]));
    expect(info).toMatchObject({ name: 'set/deep/c.txt', size: 12 });
    expect(await text(destination, 'set/a.bin')).toBe('hello buffer');
    expect(await text(destination, 'set/b.txt')).toBe('hello string');
    expect(await text(destination, 'set/deep/c.txt')).toBe('hello stream');
    const stat = await destination.stat('set/b.txt');
    expect(stat).toMatchObject({ name: 'set/b.txt', size: 12 });
    expect(stat?.version).not.toBe('');
    expect(await destination.stat('set/missing')).toBeUndefined();
    await expect(destination.read('set/missing')).rejects.toMatchObject({ code: 'OBJECT_NOT_FOUND' });
    // write() replaces: the new content, whole.
    await destination.write('set/b.txt', 'replaced');
    expect(await text(destination, 'set/b.txt')).toBe('replaced');
    expect(destination.describe()).not.toMatch(/secret|KEY/i);
  });

  maybe(title('range reads: offset and length, offset to the end, empty and past the end'), async () => {
    await destination.write('r/digits', '0123456789');
    expect(await text(destination, 'r/digits', { offset: 2, length: 3 })).toBe('234');
    expect(await text(destination, 'r/digits', { offset: 7 })).toBe('789');
    expect(await text(destination, 'r/digits', { offset: 0, length: 10 })).toBe('0123456789');
    expect(await text(destination, 'r/digits', { offset: 4, length: 0 })).toBe('');
    expect(await text(destination, 'r/digits', { offset: 20 })).toBe('');
  });

  maybe(title('a read carries its version; a read pinned to it fails with OBJECT_CHANGED once the object was replaced or removed'), async () => {
    // 1000 bytes: a content hash on file trees; 100 KiB: size and mtime there (a size that differs).
    for (const size of [1000, 100 * 1024]) {
      const name = `pin/${size}`;
      const first = randomBytes(size);
      await destination.write(name, first);
      const opened = await destination.read(name, { offset: 0, length: 10 });
      for await (const chunk of opened) void chunk;
      const version = opened.version as string;
      expect(version).toBe((await destination.stat(name))?.version);
      const follow: Buffer[] = [];
      for await (const chunk of await destination.read(name, { offset: 10, length: 20 }, { ifVersion: version })) follow.push(chunk as Buffer);
      expect(Buffer.concat(follow).equals(first.subarray(10, 30))).toBe(true);
      await destination.write(name, randomBytes(size + 1));
      await expect(destination.read(name, { offset: 10 }, { ifVersion: version })).rejects.toMatchObject({ code: 'OBJECT_CHANGED', message: expect.stringMatching(/was replaced while/) });
      await expect(destination.read(name, { offset: 10, length: 0 }, { ifVersion: version })).rejects.toMatchObject({ code: 'OBJECT_CHANGED' });
      await destination.delete(name);
      await expect(destination.read(name, undefined, { ifVersion: version })).rejects.toMatchObject({ code: 'OBJECT_CHANGED', message: expect.stringMatching(/was removed while/) });
      await expect(destination.read(name)).rejects.toMatchObject({ code: 'OBJECT_NOT_FOUND' });
    }
  });

  maybe(title('create-if-absent: of two writers racing for each name, exactly one wins'), async () => {
    const other = await open();
    const names = Array.from({ length: 8 }, (_, i) => `locks/lock-${i}`);
    const results = await Promise.all(names.map((name) => Promise.all([destination.create(name, `first ${name}`), other.create(name, `second ${name}`)])));
    for (const [i, [a, b]] of results.entries()) {
      expect([a, b].filter((r) => r !== undefined)).toHaveLength(1);
      const winner = a !== undefined ? 'first' : 'second';
      expect(await text(destination, names[i])).toBe(`${winner} ${names[i]}`);
    }
    expect(await destination.create(names[0], 'late')).toBeUndefined();
    expect(await listed(destination, 'locks/')).toEqual(names);
  });

  maybe(title('replace-if-unchanged: only against the current version; of two racing replacers one wins'), async () => {
    const first = await destination.create('lease', 'note 1');
    if (first === undefined) throw new Error('create failed');
    const second = await destination.replace('lease', first.version, 'note 2');
    expect(second).toBeDefined();
    expect(second?.version).not.toBe(first.version);
    expect(await destination.replace('lease', first.version, 'stale writer')).toBeUndefined();
    expect(await text(destination, 'lease')).toBe('note 2');
    expect(await destination.replace('gone', first.version, 'x')).toBeUndefined();
    expect(await destination.stat('gone')).toBeUndefined();
    // Two takers judged the same version: one gets it, the other is told it changed.
    const other = await open();
    const current = second?.version as string;
    const [a, b] = await Promise.all([destination.replace('lease', current, 'taker A'), other.replace('lease', current, 'taker B')]);
    expect([a, b].filter((r) => r !== undefined)).toHaveLength(1);
    expect(await text(destination, 'lease')).toBe(a !== undefined ? 'taker A' : 'taker B');
  });

  maybe(title('list: more than one page, by prefix, folded at / with the delimiter; no temp files'), async () => {
    const names = [...Array.from({ length: 7 }, (_, i) => `l/item-${i}`), 'l/sub/one', 'l/sub/two', 'other/x'];
    for (const name of names) await destination.write(name, name);
    expect(await listed(destination, 'l/', { pageSize: 2 })).toEqual(names.filter((n) => n.startsWith('l/')).sort());
    expect(await listed(destination, 'l/', { delimiter: true, pageSize: 3 })).toEqual([...names.filter((n) => /^l\/item/.test(n)), '[l/sub/]'].sort());
    expect(await listed(destination, 'l/item-', { pageSize: 2 })).toHaveLength(7);
    expect(await listed(destination, '', { delimiter: true })).toEqual(['[l/]', '[other/]']);
    expect(await listed(destination, 'nothing/')).toEqual([]);
    const sizes: number[] = [];
    for await (const e of destination.list('l/sub/')) if (e.kind === 'object') sizes.push(e.size);
    expect(sizes.sort()).toEqual([9, 9]);
  });

  maybe(title('delete: one object, a missing one, a whole folder'), async () => {
    for (const name of ['d/a', 'd/b/c', 'd/b/d', 'keep/e']) await destination.write(name, 'x');
    await destination.delete('d/a');
    expect(await destination.stat('d/a')).toBeUndefined();
    await destination.delete('d/a'); // already gone: not an error
    expect(await destination.deleteAll('d/')).toBe(2);
    expect(await listed(destination, 'd/')).toEqual([]);
    expect(await listed(destination, '')).toEqual(['keep/e']);
  });

  maybe(title('an interrupted upload is never visible, and sweep() removes it'), async () => {
    // A writer whose stream stops after more than one part and whose connection then goes away,
    // as when the process is killed: nothing must show under the name, and the next run sweeps it.
    let fed = 0;
    const stuck = new Readable({
      read() {
        if (fed > 2 * PART_SIZE) return; // then never ends, never fails: the writer hangs
        fed += 64 * 1024;
        this.push(Buffer.alloc(64 * 1024, 7));
      },
    });
    const abandoned = await open();
    const writing = abandoned.write('big/archive.tar.gz', stuck).catch((error: unknown) => error);
    const until = Date.now() + 20_000;
    while (subject.reached() < 2 * PART_SIZE && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(subject.reached()).toBeGreaterThanOrEqual(2 * PART_SIZE);
    // The process "dies": its connections drop (local: the file stays open and unfinished).
    if (label !== 'local') await abandoned.close();
    const next = await open();
    expect(await next.stat('big/archive.tar.gz')).toBeUndefined();
    expect(await listed(next, '')).toEqual([]);
    // Younger than the age given: kept, it may still be running (moto reports a fixed 2010 start date for every upload).
    if (label !== 's3') expect(await next.sweep(60_000)).toBe(0);
    expect(await next.sweep(0)).toBeGreaterThanOrEqual(1);
    expect(await next.sweep(0)).toBe(0);
    expect(await next.stat('big/archive.tar.gz')).toBeUndefined();
    stuck.destroy();
    await Promise.race([writing, new Promise((resolve) => setTimeout(resolve, 2000))]);
  });

  if (label !== 's3') {
    maybe(title("sweep(0, 'set/') leaves other processes' conditional writes alone (a reader's marker, a lock being taken) until they are a minute old"), async () => {
      const root = label === 'local' ? subject.target().url : decodeURIComponent(new URL(subject.target().url).pathname);
      const incoming = path.join(root, '.incoming', 'set');
      fs.mkdirSync(incoming, { recursive: true });
      const planted = ['a.tmp', 'b.ctl', 'c.mark', '0123abcd.replacing', 'old.ctl', 'old.tmp'];
      for (const name of planted) fs.writeFileSync(path.join(incoming, name), 'x');
      const twoMinutesAgo = new Date(Date.now() - 120_000);
      for (const name of ['old.ctl', 'old.tmp']) fs.utimesSync(path.join(incoming, name), twoMinutesAgo, twoMinutesAgo);
      // A dead writer's temp is not from this very moment (a file system's clock may run a tick ahead of Date.now()).
      const secondAgo = new Date(Date.now() - 1_000);
      fs.utimesSync(path.join(incoming, 'a.tmp'), secondAgo, secondAgo);
      const sweeper = await open();
      // Data temps of a dead writer go at once; fresh control temps stay; old ones go.
      expect(await sweeper.sweep(0, 'set/')).toBe(3);
      expect(fs.readdirSync(incoming).sort()).toEqual(['0123abcd.replacing', 'b.ctl', 'c.mark']);
      // Creates and replaces racing a writer's leftover sweep all succeed.
      const other = await open();
      const made = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
        const [info] = await Promise.all([other.create(`set/readers/r${i}.json`, `{"n":${i}}`), sweeper.sweep(0, 'set/')]);
        return info === undefined ? 'lost' : 'made';
      }));
      expect(made).toEqual(Array.from({ length: 20 }, () => 'made'));
    });
  }

  maybe(title("sweep(age, 'set/') removes that set's interrupted upload and leaves another set's upload in progress alone"), async () => {
    // Set a: a writer that stalls after two parts and whose process "dies".
    let fedA = 0;
    const stuck = new Readable({
      read() {
        if (fedA > 2 * PART_SIZE) return;
        fedA += 64 * 1024;
        this.push(Buffer.alloc(64 * 1024, 7));
      },
    });
    const abandoned = await open();
    // reached() counts from the start of the store (S3, SFTP: of the whole suite): from here on.
    const base = subject.reached();
    const writingA = abandoned.write('a/archive.tar.gz', stuck).catch((error: unknown) => error);
    let until = Date.now() + 60_000;
    while (subject.reached() - base < 2 * PART_SIZE && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(subject.reached() - base).toBeGreaterThanOrEqual(2 * PART_SIZE);
    if (label !== 'local') await abandoned.close();
    // Set b: a live writer, paused after more than one part until the sweep is done.
    const bBytes = randomBytes(2 * PART_SIZE + 4096);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const reachedBefore = subject.reached();
    const live = Readable.from((async function* () {
      for (let at = 0; at < bBytes.length; at += 64 * 1024) {
        if (at >= PART_SIZE + 256 * 1024) await gate;
        yield bBytes.subarray(at, at + 64 * 1024);
      }
    })());
    const writer = await open();
    const writingB = writer.write('b/archive.tar.gz', live);
    until = Date.now() + 60_000;
    while (subject.reached() - reachedBefore < PART_SIZE && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(subject.reached() - reachedBefore).toBeGreaterThanOrEqual(PART_SIZE);
    const sweeper = await open();
    expect(await sweeper.sweep(0, 'a/')).toBeGreaterThanOrEqual(1);
    expect(await sweeper.sweep(0, 'a/')).toBe(0);
    await expect(sweeper.sweep(0, 'a/b/')).rejects.toThrow(/one top folder/);
    release();
    const info = await writingB;
    expect(info.size).toBe(bBytes.length);
    expect(await sha256Of(sweeper, 'b/archive.tar.gz')).toBe(createHash('sha256').update(bBytes).digest('hex'));
    expect(await sweeper.stat('a/archive.tar.gz')).toBeUndefined();
    expect(await sweeper.sweep(0)).toBe(0);
    stuck.destroy();
    await Promise.race([writingA, new Promise((resolve) => setTimeout(resolve, 2000))]);
  });

  maybe(title(`a stream of more than two parts is uploaded with bounded memory (part size x (concurrency + 1))`), async () => {
    const total = 5 * PART_SIZE + 12345;
    const source = generated(total);
    let ahead = 0;
    const start = subject.reached();
    const watch = setInterval(() => {
      ahead = Math.max(ahead, source.produced() - (subject.reached() - start));
    }, 5);
    try {
      const info = await destination.write('big/stream.bin', source.stream);
      expect(info.size).toBe(total);
    } finally {
      clearInterval(watch);
    }
    // What the producer got ahead of the store side: the parts held in memory, plus stream buffers.
    expect(ahead).toBeLessThanOrEqual(PART_SIZE * (CONCURRENCY + 1) + 2 * 1024 * 1024);
    expect(await sha256Of(destination, 'big/stream.bin')).toBe(source.hash());
    expect(await destination.sweep(0)).toBe(0); // nothing left behind
  });
});
