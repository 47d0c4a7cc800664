/**
 * The sealed-file format (engine/sealed.ts) on its own: what goes in comes out, for every length
 * around the chunk boundaries; and any change to the sealed bytes (a flipped bit, a cut at any
 * byte, swapped, dropped, repeated or appended chunks, another file's key label) fails to open,
 * without releasing a byte of the chunk that failed.
 */
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { openStream, SEAL_HEADER_BYTES, SEAL_TAG_BYTES, Sealer, SetKey } from '../../nodes/Backup/engine/formats/sealed';

const CHUNK = 64;
const key = new SetKey(randomBytes(32), '{}');

function seal(plain: Buffer, label = 'b/data.tar.gz', chunk = CHUNK): Buffer {
  const sealer = new Sealer(key, label, chunk);
  return Buffer.concat([sealer.header, ...sealer.seal(plain), sealer.finish()]);
}

/** Opens `sealed` fed in pieces of `piece` bytes; returns what came out before any error, and the error. */
async function open(sealed: Buffer, label = 'b/data.tar.gz', piece = 17, withKey = key): Promise<{ out: Buffer; error?: Error }> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < sealed.length; i += piece) pieces.push(sealed.subarray(i, i + piece));
  const got: Buffer[] = [];
  try {
    await pipeline(
      Readable.from(pieces),
      openStream(withKey, label, 'the file'),
      new Writable({
        write(chunk: Buffer, _e, cb) {
          got.push(chunk);
          cb();
        },
      }),
    );
    return { out: Buffer.concat(got) };
  } catch (error) {
    return { out: Buffer.concat(got), error: error as Error };
  }
}

const sealedChunk = CHUNK + SEAL_TAG_BYTES;
const chunkAt = (sealed: Buffer, i: number): Buffer => sealed.subarray(SEAL_HEADER_BYTES + i * sealedChunk, SEAL_HEADER_BYTES + (i + 1) * sealedChunk);

test.each([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5])('round trip of %i bytes, fed in odd pieces', async (size) => {
  const plain = randomBytes(size);
  const sealed = seal(plain);
  expect(sealed.length).toBe(SEAL_HEADER_BYTES + Math.floor(size / CHUNK) * sealedChunk + (size % CHUNK) + SEAL_TAG_BYTES);
  for (const piece of [1, 7, 4096]) expect(await open(sealed, undefined, piece)).toEqual({ out: plain });
});

test('the same bytes sealed twice differ (random salt per file), and both open', async () => {
  const plain = Buffer.from('same content');
  const a = seal(plain);
  const b = seal(plain);
  expect(a.equals(b)).toBe(false);
  expect((await open(a)).out).toEqual(plain);
  expect((await open(b)).out).toEqual(plain);
});

test('no plaintext is visible in the sealed bytes', () => {
  const plain = Buffer.from('secret-file-name.txt '.repeat(20));
  expect(seal(plain).includes(Buffer.from('secret-file-name'))).toBe(false);
});

test('a flipped bit anywhere fails, and no byte of the failing chunk comes out (property)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 5 * CHUNK }), fc.nat(), fc.integer({ min: 0, max: 7 }), async (size, where, bit) => {
      const plain = randomBytes(size);
      const sealed = Buffer.from(seal(plain));
      const at = where % sealed.length;
      sealed[at] ^= 1 << bit;
      const { out, error } = await open(sealed);
      expect(error).toBeDefined();
      // What came out is a whole-chunk prefix of the plain bytes, ending before the damaged chunk.
      expect(out.length % CHUNK).toBe(0);
      expect(out.equals(plain.subarray(0, out.length))).toBe(true);
      if (at >= SEAL_HEADER_BYTES) expect(out.length).toBeLessThanOrEqual(Math.floor((at - SEAL_HEADER_BYTES) / sealedChunk) * CHUNK);
      else expect(out.length).toBe(0);
    }),
    { numRuns: 300 },
  );
});

test('a cut at any byte fails (including exactly at a chunk boundary)', async () => {
  const plain = randomBytes(3 * CHUNK + 10);
  const sealed = seal(plain);
  for (let cut = 0; cut < sealed.length; cut++) {
    const { error } = await open(sealed.subarray(0, cut));
    expect([cut, error?.message]).toEqual([cut, expect.stringMatching(/truncated|authentication/)]);
  }
});

test('swapped, dropped, repeated and appended chunks fail', async () => {
  const plain = randomBytes(4 * CHUNK + 3);
  const sealed = seal(plain);
  const header = sealed.subarray(0, SEAL_HEADER_BYTES);
  const c = [0, 1, 2, 3, 4].map((i) => chunkAt(sealed, i));
  const variants: Record<string, Buffer> = {
    swapped: Buffer.concat([header, c[1], c[0], c[2], c[3], c[4]]),
    dropped: Buffer.concat([header, c[0], c[2], c[3], c[4]]),
    repeated: Buffer.concat([header, c[0], c[0], c[1], c[2], c[3], c[4]]),
    'last chunk dropped': Buffer.concat([header, c[0], c[1], c[2], c[3]]),
    appended: Buffer.concat([sealed, c[0]]),
    'another file header': Buffer.concat([seal(plain).subarray(0, SEAL_HEADER_BYTES), c[0], c[1], c[2], c[3], c[4]]),
  };
  for (const [name, bytes] of Object.entries(variants)) {
    const { error } = await open(bytes);
    expect([name, error?.message]).toEqual([name, expect.stringMatching(/authentication|truncated/)]);
  }
  expect((await open(sealed)).out).toEqual(plain);
});

test('a file opened under another label (moved to another backup) or with another key fails at the first chunk', async () => {
  const sealed = seal(randomBytes(2 * CHUNK), 'A/data.tar.gz');
  expect((await open(sealed, 'B/data.tar.gz')).error?.message).toMatch(/chunk 0/);
  expect((await open(sealed, 'A/data.tar.gz', 17, new SetKey(randomBytes(32), '{}'))).error?.message).toMatch(/chunk 0/);
});

test('a hostile header is refused before any buffering: wrong magic, unknown version, absurd chunk size', async () => {
  const sealed = Buffer.from(seal(randomBytes(10)));
  const magic = Buffer.from(sealed);
  magic[0] ^= 1;
  const version = Buffer.from(sealed);
  version[8] = 9;
  const huge = Buffer.from(sealed);
  huge.writeUInt32BE(0xffffffff, 12);
  expect((await open(magic)).error?.message).toMatch(/not a sealed n8n-backup file/);
  expect((await open(version)).error?.message).toMatch(/version 9/);
  expect((await open(huge)).error?.message).toMatch(/impossible chunk size/);
});
