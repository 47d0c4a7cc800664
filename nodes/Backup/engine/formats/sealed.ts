/**
 * The sealed-file format of an encrypted set: `manifest.jsonl.gz.enc` and `data.tar.gz.enc` are
 * the bytes of `manifest.jsonl.gz` and `data.tar.gz`, cut into chunks and encrypted one by one with
 * AES-256-GCM (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár, as in age and
 * Tink's streaming AEAD):
 *
 *   header (48 bytes): "N8NBSEAL" | version 1 | 3 zero bytes | chunk size (u32 BE) | salt (32 random bytes)
 *   chunks: ciphertext of `chunk size` bytes + 16-byte tag, ...; the last chunk holds 0 to
 *           chunk size - 1 bytes (+ tag)
 *
 * Each file has its own key, HKDF-SHA256(set key, salt, "n8n-backup sealed v1 " + label), where the
 * label is `<backup id>/<file name>`: a file moved to another backup or swapped with another file
 * fails to open. Chunk i is sealed with the nonce (i as 11 bytes BE | 1 if last else 0) and the
 * header as associated data, so reordered, dropped, repeated or appended chunks and a file cut at
 * any byte (including a chunk boundary: its new last chunk was not sealed as last) fail the tag.
 * A reader releases a chunk's bytes only after its tag checked: nothing unauthenticated comes out.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { RandomAccess } from '../destination/randomAccess';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';

export const SEALED_SUFFIX = '.enc';
const MAGIC = Buffer.from('N8NBSEAL', 'latin1');
const VERSION = 1;
export const SEAL_HEADER_BYTES = 48;
export const SEAL_TAG_BYTES = 16;
/** Plaintext bytes per chunk: big enough that the tag and a cipher per chunk cost nothing. */
export const SEAL_CHUNK_BYTES = 1 << 20;
// A header may ask for at most this; a bigger one is hostile (the reader buffers a whole chunk).
const MAX_CHUNK_BYTES = 16 << 20;

/** The set's data key, unlocked from its key file with the passphrase (keyfile.ts). */
export class SetKey {
  constructor(
    private readonly dataKey: Buffer,
    /** The key file's text, copied into every backup so one backup folder alone can be restored. */
    readonly keyFileText: string,
  ) {}

  fileKey(salt: Buffer, label: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.dataKey, salt, `n8n-backup sealed v1 ${label}`, 32));
  }
}

/** A sealed file that does not open: changed, truncated, or not the file this place expects. */
export class SealedFileError extends Error {
  constructor(
    readonly code: 'SEAL_TRUNCATED' | 'SEAL_CORRUPT',
    message: string,
  ) {
    super(message);
    this.name = 'SealedFileError';
  }
}

function nonce(index: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(index, 5, 6);
  n[11] = last ? 1 : 0;
  return n;
}

/** Seals a byte stream written in order: header first, then whole chunks as they fill, then the last. */
export class Sealer {
  readonly header: Buffer;
  private readonly key: Buffer;
  private readonly chunk: Buffer;
  private used = 0;
  private index = 0;
  private finished = false;

  constructor(setKey: SetKey, label: string, chunkSize = SEAL_CHUNK_BYTES) {
    const salt = randomBytes(32);
    this.header = Buffer.alloc(SEAL_HEADER_BYTES);
    MAGIC.copy(this.header, 0);
    this.header[8] = VERSION;
    this.header.writeUInt32BE(chunkSize, 12);
    salt.copy(this.header, 16);
    this.key = setKey.fileKey(salt, label);
    this.chunk = Buffer.allocUnsafe(chunkSize);
  }

  /** Takes the next plain bytes; returns the sealed chunks they completed (often none). */
  seal(data: Buffer): Buffer[] {
    if (this.finished) throw new Error('the sealed file was already finished');
    const out: Buffer[] = [];
    let at = 0;
    while (at < data.length) {
      const n = Math.min(data.length - at, this.chunk.length - this.used);
      data.copy(this.chunk, this.used, at, at + n);
      this.used += n;
      at += n;
      if (this.used === this.chunk.length) out.push(this.sealChunk(false));
    }
    return out;
  }

  /** The last chunk (possibly of no plain bytes): without it a reader reports the file truncated. */
  finish(): Buffer {
    const last = this.sealChunk(true);
    this.finished = true;
    return last;
  }

  private sealChunk(last: boolean): Buffer {
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce(this.index++, last));
    cipher.setAAD(this.header);
    const sealed = Buffer.concat([cipher.update(this.chunk.subarray(0, this.used)), cipher.final(), cipher.getAuthTag()]);
    this.used = 0;
    return sealed;
  }
}

/** A Transform that seals what is written to it (for piping, e.g. gzip -> seal -> file). */
export function sealStream(setKey: SetKey, label: string): Transform {
  const sealer = new Sealer(setKey, label);
  let started = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (!started) {
        started = true;
        this.push(sealer.header);
      }
      for (const sealed of sealer.seal(chunk)) this.push(sealed);
      callback();
    },
    flush(callback: TransformCallback) {
      if (!started) this.push(sealer.header);
      this.push(sealer.finish());
      callback();
    },
  });
}

interface OpenedHeader {
  header: Buffer;
  chunkSize: number;
  key: Buffer;
}

function readSealHeader(h: Buffer, setKey: SetKey, label: string, name: string): OpenedHeader {
  if (!h.subarray(0, 8).equals(MAGIC)) throw new SealedFileError('SEAL_CORRUPT', `${name} is not a sealed n8n-backup file (wrong magic bytes)`);
  if (h[8] !== VERSION) throw new SealedFileError('SEAL_CORRUPT', `${name} is sealed with format version ${h[8]}; this release reads version ${VERSION}`);
  const chunkSize = h.readUInt32BE(12);
  if (chunkSize < 1 || chunkSize > MAX_CHUNK_BYTES) throw new SealedFileError('SEAL_CORRUPT', `${name} has an impossible chunk size ${chunkSize}`);
  return { header: h, chunkSize, key: setKey.fileKey(h.subarray(16, 48), label) };
}

/** Chunk `index`'s plain bytes, or undefined when its tag fails. */
function openChunk(opened: OpenedHeader, index: number, last: boolean, sealed: Buffer): Buffer | undefined {
  const decipher = createDecipheriv('aes-256-gcm', opened.key, nonce(index, last));
  decipher.setAAD(opened.header);
  decipher.setAuthTag(sealed.subarray(sealed.length - SEAL_TAG_BYTES));
  const plain = decipher.update(sealed.subarray(0, sealed.length - SEAL_TAG_BYTES));
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return plain;
}

/** Plain bytes of a sealed file at plain offset `at`, or a part lost from `at` up to `lostUntil` (undefined: to the end). */
export type SealedPiece = { at: number; bytes: Buffer } | { at: number; lostUntil: number | undefined; error: SealedFileError };

/**
 * Opens a sealed file chunk by chunk and carries on past a chunk that fails its tag: the chunks
 * are sealed one by one (their nonce is their number), so one damaged chunk costs its own bytes
 * only. Throws SealedFileError when the header itself does not open. Only authenticated bytes come
 * out. A cut file ends with a lost part; so does a file cut exactly at a chunk boundary (its new
 * last chunk was sealed as not last: its bytes are good, the rest is missing).
 */
export async function* openChunks(handle: Pick<RandomAccess, 'size' | 'read'>, setKey: SetKey, label: string, name: string): AsyncGenerator<SealedPiece> {
  const size = handle.size;
  const h = Buffer.alloc(SEAL_HEADER_BYTES);
  const { bytesRead } = await handle.read(h, 0, SEAL_HEADER_BYTES, 0);
  if (bytesRead < SEAL_HEADER_BYTES) throw new SealedFileError('SEAL_TRUNCATED', `${name} is truncated (shorter than its ${SEAL_HEADER_BYTES}-byte header)`);
  const opened = readSealHeader(h, setKey, label, name);
  const sealedChunk = opened.chunkSize + SEAL_TAG_BYTES;
  const buffer = Buffer.allocUnsafe(sealedChunk);
  for (let index = 0, position = SEAL_HEADER_BYTES; ; index++, position += sealedChunk) {
    const at = index * opened.chunkSize;
    const length = Math.min(sealedChunk, size - position);
    const last = position + length >= size;
    if (length < SEAL_TAG_BYTES) {
      yield { at, lostUntil: undefined, error: new SealedFileError('SEAL_TRUNCATED', `${name} is truncated or damaged: its last chunk is missing`) };
      return;
    }
    let got = 0;
    while (got < length) {
      const n = (await handle.read(buffer, got, length - got, position + got)).bytesRead;
      if (n === 0) break;
      got += n;
    }
    const sealed = buffer.subarray(0, got);
    const plain = openChunk(opened, index, last, sealed) ?? (last && got === sealedChunk ? openChunk(opened, index, false, sealed) : undefined);
    if (plain === undefined) {
      const why = last ? 'is truncated or its last chunk is damaged' : `failed authentication at chunk ${index} (it was changed)`;
      yield { at, lostUntil: last ? undefined : at + opened.chunkSize, error: new SealedFileError(last ? 'SEAL_TRUNCATED' : 'SEAL_CORRUPT', `${name} ${why}`) };
      if (last) return;
      continue;
    }
    yield { at, bytes: Buffer.from(plain) };
    if (last) {
      // Opened only as not last: the file was cut at this chunk's end.
      if (openChunk(opened, index, true, sealed) === undefined) {
        yield { at: at + plain.length, lostUntil: undefined, error: new SealedFileError('SEAL_TRUNCATED', `${name} is truncated (cut after chunk ${index})`) };
      }
      return;
    }
  }
}

/**
 * A Transform that opens a sealed file as it streams in, chunk by chunk, and passes on only bytes
 * whose tag checked. `name` is how messages call the file.
 */
export function openStream(setKey: SetKey, label: string, name: string): Transform {
  let opened: OpenedHeader | undefined;
  let sealedChunk = 0;
  let index = 0;
  const parts: Buffer[] = [];
  let buffered = 0;

  const take = (n: number): Buffer => {
    const whole = parts.length === 1 ? parts[0] : Buffer.concat(parts, buffered);
    parts.length = 0;
    const taken = whole.subarray(0, n);
    if (whole.length > n) parts.push(whole.subarray(n));
    buffered -= n;
    return taken;
  };

  const next = (sealed: Buffer, last: boolean): Buffer => {
    const plain = openChunk(opened as OpenedHeader, index, last, sealed);
    if (plain === undefined) {
      throw new SealedFileError(
        'SEAL_CORRUPT',
        `${name} failed authentication at chunk ${index}: it was changed, cut short or reordered, or it belongs to another backup or set`,
      );
    }
    index++;
    return plain;
  };

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        parts.push(chunk);
        buffered += chunk.length;
        if (opened === undefined) {
          if (buffered < SEAL_HEADER_BYTES) return callback();
          opened = readSealHeader(Buffer.from(take(SEAL_HEADER_BYTES)), setKey, label, name);
          sealedChunk = opened.chunkSize + SEAL_TAG_BYTES;
        }
        // A chunk is known not to be the last once more bytes follow it.
        while (buffered > sealedChunk) this.push(next(take(sealedChunk), false));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        if (opened === undefined) throw new SealedFileError('SEAL_TRUNCATED', `${name} is truncated (shorter than its ${SEAL_HEADER_BYTES}-byte header)`);
        if (buffered < SEAL_TAG_BYTES) throw new SealedFileError('SEAL_CORRUPT', `${name} is truncated or damaged: its last chunk is missing`);
        this.push(next(take(buffered), true));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}
