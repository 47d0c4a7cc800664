import type { CompletedPart, S3Client } from '@aws-sdk/client-s3';
import { AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';

/** S3 refuses parts under 5 MiB (all but the last) and more than 10,000 parts. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

export interface UploadTarget {
  client: S3Client;
  bucket: string;
  key: string;
  partSize: number;
  /** Parts in flight at once. Memory held: partSize x (concurrency + 1), the part being filled included. */
  concurrency: number;
  /** Sends one part again after a retryable fault (the part is in memory, so it can be). */
  retryPiece: <T>(attempt: () => Promise<T>) => Promise<T>;
}

/** Fills part-size buffers from a stream, one copy per chunk (no concat of a whole part). */
async function* parts(stream: Readable, partSize: number): AsyncGenerator<Buffer> {
  let part = Buffer.allocUnsafe(partSize);
  let filled = 0;
  for await (const data of stream) {
    let chunk = data as Buffer;
    while (chunk.length > 0) {
      const n = chunk.copy(part, filled, 0, Math.min(chunk.length, partSize - filled));
      filled += n;
      chunk = chunk.subarray(n);
      if (filled === partSize) {
        yield part;
        part = Buffer.allocUnsafe(partSize);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield part.subarray(0, filled);
}

/**
 * Uploads a stream as one object with bounded memory: a body that fits in one part is one
 * PutObject; a longer one a multipart upload (visible only once completed, so never half), which
 * is aborted on any failure. A process killed meanwhile leaves an incomplete upload: the
 * destination's sweep() aborts those.
 */
export async function uploadStream(target: UploadTarget, stream: Readable): Promise<{ etag: string; size: number }> {
  const { client, bucket, key, partSize, concurrency, retryPiece } = target;
  const source = parts(stream, partSize);
  const first = await source.next();
  const firstPart = first.done === true ? Buffer.alloc(0) : first.value;
  if (firstPart.length < partSize) {
    // Only the last part is short: the stream ended inside the first one.
    const put = await retryPiece(() => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: firstPart, ContentLength: firstPart.length })));
    return { etag: put.ETag ?? '', size: firstPart.length };
  }
  const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const uploadId = created.UploadId as string;
  const done: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let size = 0;
  const send = (body: Buffer, partNumber: number): void => {
    size += body.length;
    const sent = retryPiece(() => client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }))).then(
      (answer) => {
        done.push({ PartNumber: partNumber, ETag: answer.ETag });
      },
      (error: unknown) => {
        failure ??= error;
      },
    );
    const tracked = sent.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };
  try {
    let partNumber = 1;
    send(firstPart, partNumber);
    for await (const part of source) {
      // Waiting here stops reading the stream: the producer is held back, memory stays bounded.
      while (inFlight.size >= concurrency && failure === undefined) await Promise.race(inFlight);
      if (failure !== undefined) break;
      send(part, ++partNumber);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    done.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    const completed = await retryPiece(() => client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: done } })));
    return { etag: completed.ETag ?? '', size };
  } catch (error) {
    await Promise.allSettled(inFlight);
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
    stream.destroy();
    throw error;
  }
}
