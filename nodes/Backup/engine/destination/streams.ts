import { Readable } from 'node:stream';
import type { Body, ObjectStream } from './types';

/** Any body as a stream (a function body is opened now: each call is a fresh attempt). */
export function bodyStream(body: Body): Readable {
  if (typeof body === 'function') return body();
  if (body instanceof Readable) return body;
  return Readable.from([typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength)]);
}

/** The same bytes, with a stream error turned into a destination fault (a cut mid-read is retryable). */
export function mapStreamErrors(source: AsyncIterable<unknown>, map: (error: unknown) => Error, expectedBytes?: number): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    let got = 0;
    try {
      for await (const chunk of source) {
        got += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
    } catch (error) {
      throw map(error);
    }
    // An HTTP body cut off can end without an error: fewer bytes than announced is a cut connection.
    if (expectedBytes !== undefined && got < expectedBytes) throw map(Object.assign(new Error('the response ended early'), { code: 'ECONNRESET' }));
  }
  return quietWhenAbandoned(Readable.from(chunks(), { objectMode: false }));
}

/**
 * A stream made from an async generator keeps running after its reader has gone (a reader that
 * stopped early destroys it while the generator waits out a retry delay): the generator's last
 * error then comes as an 'error' event with nobody listening, which would crash the process. A
 * reader still gets every error through its own listener (for await, pipeline); this one only
 * keeps the late one from being uncaught.
 */
export function quietWhenAbandoned<T extends Readable>(stream: T): T {
  stream.on('error', () => undefined);
  return stream;
}

/** Labels a stream with the version of the object it reads. */
export function withVersion(stream: Readable, version: string | undefined): ObjectStream {
  return Object.assign(stream, { version });
}

/** All of a stream's bytes; with `limit`, reading stops at the chunk that would pass it (those before are returned). */
export async function readAll(stream: AsyncIterable<unknown>, limit = Infinity): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const part = chunk as Buffer;
    size += part.length;
    if (size > limit) break;
    chunks.push(part);
  }
  return Buffer.concat(chunks);
}
