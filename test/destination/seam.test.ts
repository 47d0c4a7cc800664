/**
 * The byte I/O seam the formats use (randomAccess.ts, appender.ts) on every destination: positioned
 * reads with read-ahead and pinning, streamed writes that show nothing before they finish.
 */
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { openAppender } from '../../nodes/Backup/engine/destination/appender';
import { connectionLost } from '../../nodes/Backup/engine/destination/faults';
import { openRandomAccess } from '../../nodes/Backup/engine/destination/randomAccess';
import { withRetries } from '../../nodes/Backup/engine/destination/retry';
import type { ByteRange, Destination, ListEntry } from '../../nodes/Backup/engine/destination/types';
import type { Subject } from '../helpers/destinations';
import { allSubjects } from '../helpers/destinations';

const MiB = 1024 * 1024;

/** The destination, with every read() it is asked for recorded. */
function counting(dest: Destination): { dest: Destination; reads: (ByteRange | undefined)[] } {
  const reads: (ByteRange | undefined)[] = [];
  const wrapped = new Proxy(dest, {
    get(target, property, receiver) {
      if (property === 'read') {
        return (name: string, range?: ByteRange) => {
          reads.push(range);
          return target.read(name, range);
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { dest: wrapped, reads };
}

async function listed(dest: Destination): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of dest.list('') as AsyncIterable<ListEntry>) names.push(entry.name);
  return names.sort();
}

describe.each(allSubjects().map((s) => [s.label, s] as [string, Subject]))('byte I/O seam: %s', (label, subject) => {
  const maybe = subject.unavailable === undefined ? test : test.skip;
  const title = (t: string): string => (subject.unavailable === undefined ? t : `${t} - SKIPPED: ${subject.unavailable}`);
  let dest: Destination;
  const remote = label !== 'local';

  beforeAll(async () => {
    if (subject.unavailable === undefined) await subject.start();
  }, 60_000);
  afterAll(async () => {
    if (subject.unavailable === undefined) await subject.stop();
  });
  beforeEach(async () => {
    if (subject.unavailable !== undefined) return;
    await subject.fresh();
    dest = withRetries(await subject.open(), { attempts: 3, baseDelayMs: 50, maxDelayMs: 200 });
  });
  afterEach(async () => {
    if (subject.unavailable === undefined) await dest.close();
  });

  maybe(title('front-to-back reads stream through bounded windows; a jump costs one range request; reads past the end read nothing'), async () => {
    const bytes = randomBytes(6 * MiB + 123);
    await dest.write('a/blob.bin', bytes);
    const { dest: watched, reads } = counting(dest);
    const file = await openRandomAccess(watched, 'a/blob.bin', { windowBytes: MiB });
    try {
      expect(file.size).toBe(bytes.length);
      if (!remote) expect(typeof (file as unknown as { handle: FileHandle }).handle.fd).toBe('number');
      const out = Buffer.alloc(bytes.length);
      // Odd-sized reads that straddle windows, as the sealed reader's chunk + tag reads do.
      for (let at = 0; at < bytes.length; ) {
        const { bytesRead } = await file.read(out, at, Math.min(300_000, bytes.length - at), at);
        expect(bytesRead).toBeGreaterThan(0);
        at += bytesRead;
      }
      expect(out.equals(bytes)).toBe(true);
      if (remote) {
        // One range request per window: never the whole object, never a window twice.
        expect(reads.length).toBe(7);
        expect(reads.every((r) => r !== undefined && (r.length ?? Infinity) <= MiB)).toBe(true);
      }
      reads.length = 0;
      const piece = Buffer.alloc(100);
      expect(await file.read(piece, 0, 100, 3 * MiB + 17)).toEqual(expect.objectContaining({ bytesRead: 100 }));
      expect(piece.equals(bytes.subarray(3 * MiB + 17, 3 * MiB + 117))).toBe(true);
      if (remote) expect(reads).toEqual([{ offset: 3 * MiB + 17, length: MiB }]);
      expect((await file.read(piece, 0, 100, bytes.length)).bytesRead).toBe(0);
      const tail = await file.read(piece, 0, 100, bytes.length - 10);
      expect(tail.bytesRead).toBe(10);
    } finally {
      await file.close();
    }
  }, 60_000);

  maybe(title('an object that changes between two ranges fails OBJECT_CHANGED instead of mixing two versions'), async () => {
    if (!remote) return; // a local FileHandle keeps the file it opened
    await dest.write('blob.bin', randomBytes(4 * MiB));
    const file = await openRandomAccess(dest, 'blob.bin', { windowBytes: MiB });
    const out = Buffer.alloc(MiB);
    await file.read(out, 0, MiB, 0);
    await dest.write('blob.bin', randomBytes(2 * MiB + 5));
    await expect(file.read(out, 0, MiB, 3 * MiB)).rejects.toMatchObject({ code: 'OBJECT_CHANGED' });
    await file.close();
  }, 60_000);

  maybe(title('an appender shows nothing under its name before finish (remote), refuses an existing name, and abort leaves nothing'), async () => {
    const bytes = randomBytes(7 * MiB);
    const out = await openAppender(dest, 'x/archive.bin');
    for (let at = 0; at < bytes.length; at += 256 * 1024) await out.write(bytes.subarray(at, at + 256 * 1024));
    if (remote) expect(await listed(dest)).toEqual([]);
    expect(await out.finish()).toEqual({ bytes: bytes.length });
    const parts: Buffer[] = [];
    for await (const chunk of await dest.read('x/archive.bin')) parts.push(chunk as Buffer);
    expect(Buffer.concat(parts).equals(bytes)).toBe(true);
    await expect(openAppender(dest, 'x/archive.bin')).rejects.toBeDefined();
    const abandoned = await openAppender(dest, 'x/other.bin');
    for (let at = 0; at < bytes.length; at += MiB) await abandoned.write(bytes.subarray(at, at + MiB));
    await abandoned.abort();
    expect(await listed(dest)).toEqual(['x/archive.bin']);
    expect(await dest.sweep(0)).toBe(0);
  }, 60_000);

  maybe(title('an appender aborted before its upload read anything (an unchanged run drops its manifest) throws nothing and leaves nothing'), async () => {
    const uncaught: unknown[] = [];
    const onError = (error: unknown): void => {
      uncaught.push(error);
    };
    process.on('uncaughtException', onError);
    try {
      for (let i = 0; i < 5; i++) {
        const out = await openAppender(dest, `y/dropped-${i}.bin`);
        if (i % 2 === 1) await out.write(Buffer.from('a few bytes'));
        await out.abort();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(uncaught).toEqual([]);
    expect((await listed(dest)).filter((n) => n.startsWith('y/'))).toEqual([]);
  }, 60_000);
});

test('an upload that stops reading its body and then fails: the writer waiting for room gets the upload\'s own fault, not the body\'s abort (seen on SFTP in CI as DESTINATION_UNUSABLE)', async () => {
  const fault = connectionLost('sftp://u@h:22', 'ECONNRESET');
  // What the SFTP store does when a write fails: leaves its for-await over the body (Node destroys
  // the body with an AbortError at once), then reports its own error a moment later.
  const failing = {
    describe: () => 'sftp://u@h:22/backups',
    stat: () => Promise.resolve(undefined),
    write: async (_name: string, body: unknown): Promise<never> => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      for await (const chunk of body as AsyncIterable<Buffer>) {
        void chunk;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      throw fault;
    },
  } as unknown as Destination;
  const out = await openAppender(failing, 'x/archive.bin');
  let thrown: unknown;
  try {
    for (let i = 0; i < 1000; i++) await out.write(Buffer.alloc(64 * 1024));
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBe(fault);
  await out.abort();
});

test('a resumed read whose reader stopped early and whose retries then run out raises nothing uncaught (seen as a crash on a folder restore from S3 during an outage)', async () => {
  const uncaught: unknown[] = [];
  const onError = (error: unknown): void => {
    uncaught.push(error);
  };
  process.on('uncaughtException', onError);
  try {
    let reads = 0;
    // The first read gives one chunk, then the connection drops (retryable); the object has a
    // version, so the read resumes, and every later attempt fails to connect.
    const flaky = {
      capabilities: { conditionalWrites: 'native', folders: false },
      describe: () => 's3://bucket/prefix',
      read: () => {
        reads++;
        if (reads > 1) return Promise.reject(connectionLost('s3://bucket/prefix', 'ECONNRESET'));
        const stream = Readable.from((async function* () {
          yield Buffer.alloc(1024, 1);
          throw connectionLost('s3://bucket/prefix', 'ECONNRESET');
        })());
        return Promise.resolve(Object.assign(stream, { version: '"etag-1"' }));
      },
    } as unknown as Destination;
    const dest = withRetries(flaky, { attempts: 3, baseDelayMs: 30, maxDelayMs: 30 });
    const stream = await dest.read('x/file.bin');
    for await (const chunk of stream) {
      void chunk;
      break; // the reader stops early: the stream is destroyed while its retries go on
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(reads).toBeGreaterThanOrEqual(1);
  } finally {
    process.off('uncaughtException', onError);
  }
  expect(uncaught).toEqual([]);
});
