import type { GetObjectCommandOutput, S3ClientConfig } from '@aws-sdk/client-s3';
import {
  AbortMultipartUploadCommand, DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command,
  PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { errnoCode } from '../errors';
import { connectionLost, DestinationError, NETWORK_CODES, notFound, objectChanged, unreachable, UNREACHABLE_CODES } from './faults';
import { uploadStream, MIN_PART_SIZE } from './multipart';
import { checkName, checkPrefix, checkSetFolder } from './names';
import { bodyStream, mapStreamErrors, withVersion } from './streams';
import type { Body, ByteRange, Capabilities, Destination, ListEntry, ListOptions, ObjectInfo, ObjectStream, ReadOptions, SmallBody, WriteOptions } from './types';

export interface S3Settings {
  bucket: string;
  /** Key prefix of the destination, without leading or trailing `/` ('' for the bucket's root). */
  prefix: string;
  /** Any S3-compatible service; without it the SDK reads AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / the config files, then AWS. */
  endpoint?: string;
  region?: string;
  /** `bucket` in the path rather than the host name; defaults to on when an endpoint is set (MinIO and most others need it). */
  forcePathStyle?: boolean;
  /** Without them, the AWS CLI's chain: environment, shared credentials and config files, SSO, instance role. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  partSize?: number;
  concurrency?: number;
  /** Per request; a stalled connection fails after it (retryable). */
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
}

export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
export const DEFAULT_CONCURRENCY = 4;

interface SdkFault {
  name?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

const RETRYABLE_NAMES = new Set(['SlowDown', 'InternalError', 'ServiceUnavailable', 'RequestTimeout', 'RequestTimeTooSkewed', 'TimeoutError', 'ConditionalRequestConflict', 'OperationAborted', 'ThrottlingException', 'Throttling']);
const AUTH_NAMES = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AllAccessDisabled', 'CredentialsProviderError', 'AccountProblem']);
const FULL_NAMES = new Set(['XMinioStorageFull', 'QuotaExceeded', 'InsufficientStorage', 'StorageFull']);

export function statusOf(error: unknown): number | undefined {
  return (error as SdkFault | undefined)?.$metadata?.httpStatusCode;
}

function nameOf(error: unknown): string {
  const e = error as SdkFault | undefined;
  return e?.Code ?? e?.name ?? 'Error';
}

/** The errno of a network failure, also when the SDK wrapped it (an AggregateError, a cause). */
function networkCode(error: unknown, depth = 0): string | undefined {
  if (depth > 3 || typeof error !== 'object' || error === null) return undefined;
  const direct = errnoCode(error);
  if (direct !== undefined && /^E[A-Z]+$/.test(direct)) return direct;
  // Some paths hand over only the text ("connect ECONNREFUSED 127.0.0.1:9"): its errno word is enough.
  const named = /\b(E(?:CONNREFUSED|CONNRESET|HOSTUNREACH|NETUNREACH|NOTFOUND|TIMEDOUT|PIPE|AI_AGAIN|CONNABORTED|NETDOWN))\b/.exec(String((error as { message?: unknown }).message));
  if (named !== null) return named[1];
  const inner = error as { errors?: unknown[]; cause?: unknown };
  for (const e of [...(inner.errors ?? []), inner.cause]) {
    const found = networkCode(e, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * An SDK error as a destination fault. The SDK's message is not copied: some carry the string to
 * sign or the request's headers. The error's name (`NoSuchBucket`) and status are enough to act on.
 */
export function s3Fault(error: unknown, where: string, action: string): DestinationError {
  if (error instanceof DestinationError) return error;
  const name = nameOf(error);
  const status = statusOf(error);
  const errno = networkCode(error);
  const detail = `${name}${status === undefined ? '' : ` (HTTP ${status})`}`;
  if (name === 'NoSuchBucket') {
    return new DestinationError('DESTINATION_NOT_FOUND', `The bucket of ${where} does not exist.`, { hint: 'Create the bucket first, or check its name, the endpoint and the region.', detail });
  }
  if (AUTH_NAMES.has(name) || status === 403 || status === 401) {
    const hint = name === 'CredentialsProviderError'
      ? 'No credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE), or give them explicitly.'
      : 'Check the access key and secret, their permissions on the bucket and prefix, the region, and the endpoint.';
    return new DestinationError('DESTINATION_AUTH_FAILED', `The S3 service refused the credentials or the access to ${where} (${name}) while trying to ${action}.`, { hint, detail });
  }
  if (FULL_NAMES.has(name) || status === 507) return new DestinationError('NO_SPACE', `The storage behind ${where} is full (${name}).`, { hint: 'Free space or raise the quota, then run again.', detail });
  if (errno !== undefined && UNREACHABLE_CODES.has(errno)) return unreachable(where, errno);
  if ((errno !== undefined && NETWORK_CODES.has(errno)) || RETRYABLE_NAMES.has(name) || (status !== undefined && status >= 500)) return connectionLost(where, errno ?? detail);
  if (name === 'AbortError' || /socket hang up|ECONNRESET|aborted/i.test(String((error as Error | undefined)?.message))) return connectionLost(where, 'connection closed');
  return new DestinationError('IO_ERROR', `S3 could not ${action} in ${where} (${detail}).`, { detail });
}

const isMissing = (error: unknown): boolean => ['NoSuchKey', 'NotFound'].includes(nameOf(error)) || statusOf(error) === 404;
const isPrecondition = (error: unknown): boolean => nameOf(error) === 'PreconditionFailed' || statusOf(error) === 412;

/** An S3 (or compatible) bucket and prefix as a destination. Conditional writes are the server's. */
export class S3Destination implements Destination {
  readonly capabilities: Capabilities = { conditionalWrites: 'strong', folders: false };
  private readonly client: S3Client;
  private readonly root: string;
  private readonly where: string;
  private readonly partSize: number;
  private readonly concurrency: number;
  private closed = false;

  constructor(private readonly settings: S3Settings) {
    const endpoint = settings.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    const region = settings.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? (endpoint !== undefined ? 'us-east-1' : undefined);
    const config: S3ClientConfig = {
      ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
      ...(region === undefined ? {} : { region }),
      forcePathStyle: settings.forcePathStyle ?? endpoint !== undefined,
      ...(settings.credentials === undefined ? {} : { credentials: settings.credentials }),
      // Retries live in one place, the retry wrapper (retry.ts), where they are bounded and tested.
      maxAttempts: 1,
      // S3-compatible services (older MinIO, B2, R2) reject the new default checksum headers.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { requestTimeout: settings.requestTimeoutMs ?? 120_000, connectionTimeout: settings.connectTimeoutMs ?? 10_000, throwOnRequestTimeout: true },
    };
    this.client = new S3Client(config);
    this.root = settings.prefix === '' ? '' : `${settings.prefix}/`;
    this.where = `s3://${settings.bucket}${settings.prefix === '' ? '' : `/${settings.prefix}`}`;
    this.partSize = Math.max(MIN_PART_SIZE, settings.partSize ?? DEFAULT_PART_SIZE);
    this.concurrency = Math.max(1, settings.concurrency ?? DEFAULT_CONCURRENCY);
  }

  describe(): string {
    return this.where;
  }

  private key(name: string): string {
    return `${this.root}${checkName(name)}`;
  }

  private async call<T>(action: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw s3Fault(error, this.where, action);
    }
  }

  /** Checks that the bucket exists and the credentials open it (DESTINATION_NOT_FOUND, DESTINATION_AUTH_FAILED). */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }));
    } catch (error) {
      if (statusOf(error) === 404) throw s3Fault(Object.assign(new Error(''), { name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }), this.where, 'open');
      throw s3Fault(error, this.where, 'open the bucket');
    }
  }

  async write(name: string, body: Body, options: WriteOptions = {}): Promise<ObjectInfo> {
    const key = this.key(name);
    const retryPiece = options.retryPiece ?? (<T>(attempt: () => Promise<T>) => attempt());
    await this.call('upload', () =>
      uploadStream({ client: this.client, bucket: this.settings.bucket, key, partSize: this.partSize, concurrency: this.concurrency, retryPiece: (a) => retryPiece(() => this.call('upload', a)) }, bodyStream(body)),
    );
    const info = await this.stat(name);
    if (info === undefined) throw new DestinationError('IO_ERROR', `${name} is missing right after its upload to ${this.where}.`);
    return info;
  }

  private async putIf(name: string, body: SmallBody, condition: { IfNoneMatch: string } | { IfMatch: string }): Promise<ObjectInfo | undefined> {
    const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    let etag: string | undefined;
    try {
      etag = (await this.client.send(new PutObjectCommand({ Bucket: this.settings.bucket, Key: this.key(name), Body: bytes, ContentLength: bytes.length, ...condition }))).ETag;
    } catch (error) {
      if (isPrecondition(error) || ('IfMatch' in condition && isMissing(error))) return undefined;
      throw s3Fault(error, this.where, 'write');
    }
    // Trust, then verify: the object there must be the one this PUT made. AWS checks the condition
    // atomically; a server that does not (moto under concurrent writes) let a racing writer in, and
    // then only the last one's PUT is there and only it may count as the winner.
    const there = await this.stat(name);
    return there !== undefined && there.version === etag ? there : undefined;
  }

  create(name: string, body: SmallBody): Promise<ObjectInfo | undefined> {
    return this.putIf(name, body, { IfNoneMatch: '*' });
  }

  replace(name: string, expected: string, body: SmallBody): Promise<ObjectInfo | undefined> {
    return this.putIf(name, body, { IfMatch: expected });
  }

  async read(name: string, range?: ByteRange, options: ReadOptions = {}): Promise<ObjectStream> {
    const key = this.key(name);
    const pinned = options.ifVersion;
    // An empty range still asks (HEAD): it must fail like any read when the object is not there or not that version.
    if (range?.length === 0) return this.emptyRead(name, pinned);
    const header = range === undefined ? undefined : `bytes=${range.offset}-${range.length === undefined ? '' : range.offset + range.length - 1}`;
    let answer: GetObjectCommandOutput;
    try {
      answer = await this.client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: key, Range: header, IfMatch: pinned }));
    } catch (error) {
      if (nameOf(error) === 'NoSuchKey') throw pinned === undefined ? notFound(`${name} in ${this.where}`) : objectChanged(`${name} in ${this.where}`, 'removed');
      if (isPrecondition(error)) throw objectChanged(`${name} in ${this.where}`, 'replaced');
      if (statusOf(error) === 416) return this.emptyRead(name, pinned); // a range past the end reads nothing, as a file does
      throw s3Fault(error, this.where, 'read');
    }
    // A server that ignored the range sends the object from byte 0: appended at `offset` it would be wrong bytes.
    if (range !== undefined && (range.offset > 0 || range.length !== undefined) && !(answer.ContentRange ?? '').startsWith(`bytes ${range.offset}-`)) {
      (answer.Body as Readable | undefined)?.destroy();
      throw new DestinationError('IO_ERROR', `${this.where} did not answer the byte range asked for ${name} (${answer.ContentRange ?? 'the whole object'}).`, {
        hint: 'The S3-compatible service does not support range reads; use another service or a local or SFTP destination.',
        detail: `Content-Range ${answer.ContentRange ?? 'missing'}`,
      });
    }
    return withVersion(mapStreamErrors(answer.Body as Readable, (error) => s3Fault(error, this.where, 'read'), answer.ContentLength), answer.ETag);
  }

  private async emptyRead(name: string, pinned: string | undefined): Promise<ObjectStream> {
    const info = await this.stat(name);
    if (info === undefined) throw pinned === undefined ? notFound(`${name} in ${this.where}`) : objectChanged(`${name} in ${this.where}`, 'removed');
    if (pinned !== undefined && info.version !== pinned) throw objectChanged(`${name} in ${this.where}`, 'replaced');
    return withVersion(bodyStream(Buffer.alloc(0)), info.version);
  }

  async stat(name: string): Promise<ObjectInfo | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.key(name) }));
      return { name, size: head.ContentLength ?? 0, mtimeMs: head.LastModified?.getTime() ?? 0, version: head.ETag ?? '' };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw s3Fault(error, this.where, 'stat');
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    const full = `${this.root}${checkPrefix(prefix)}`;
    let token: string | undefined;
    do {
      const page = await this.call('list', () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: full, Delimiter: options.delimiter === true ? '/' : undefined, MaxKeys: options.pageSize, ContinuationToken: token })),
      );
      for (const p of page.CommonPrefixes ?? []) if (p.Prefix !== undefined) yield { kind: 'prefix', name: p.Prefix.slice(this.root.length) };
      for (const o of page.Contents ?? []) {
        if (o.Key !== undefined) yield { kind: 'object', name: o.Key.slice(this.root.length), size: o.Size ?? 0, mtimeMs: o.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async delete(name: string): Promise<void> {
    const key = this.key(name);
    await this.call('delete', () => this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: key })));
  }

  async deleteAll(prefix: string): Promise<number> {
    if (!prefix.endsWith('/')) throw new Error(`deleteAll takes a folder ending with /: ${JSON.stringify(prefix)}`);
    checkName(prefix.slice(0, -1));
    let removed = 0;
    let batch: string[] = [];
    const flush = async (): Promise<void> => {
      const keys = batch;
      batch = [];
      if (keys.length === 0) return;
      const answer = await this.call('delete', () => this.client.send(new DeleteObjectsCommand({ Bucket: this.settings.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } })));
      if ((answer.Errors ?? []).length > 0) throw s3Fault(Object.assign(new Error(''), { name: answer.Errors?.[0]?.Code ?? 'DeleteFailed' }), this.where, 'delete');
      removed += keys.length;
    };
    // One page listed, then deleted: a page of 1000 keys is the only thing held.
    for await (const entry of this.list(prefix)) {
      if (entry.kind !== 'object') continue;
      batch.push(`${this.root}${entry.name}`);
      if (batch.length === 1000) await flush();
    }
    await flush();
    return removed;
  }

  async sweep(olderThanMs: number, prefix?: string): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    // The uploads of names under the set's folder only: another set's upload in progress is not ours to judge.
    const under = prefix === undefined ? this.root : `${this.root}${checkSetFolder(prefix)}/`;
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.call('list uploads', () =>
        this.client.send(new ListMultipartUploadsCommand({ Bucket: this.settings.bucket, Prefix: under === '' ? undefined : under, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker })),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined || (upload.Initiated?.getTime() ?? 0) >= cutoff) continue;
        await this.call('abort an upload', () => this.client.send(new AbortMultipartUploadCommand({ Bucket: this.settings.bucket, Key: upload.Key, UploadId: upload.UploadId })));
        removed++;
      }
      if (page.IsTruncated !== true) return removed;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    // Requests after this (an abandoned upload's abort) fail at once instead of opening sockets.
    this.client.middlewareStack.add(() => () => Promise.reject(new DestinationError('IO_ERROR', `${this.where} was closed.`)), { step: 'initialize', name: 'closedDestination' });
    this.client.destroy();
    return Promise.resolve();
  }
}

/** Opens an S3 destination and checks its bucket. */
export async function openS3(settings: S3Settings): Promise<S3Destination> {
  const destination = new S3Destination(settings);
  try {
    await destination.check();
  } catch (error) {
    await destination.close();
    throw error;
  }
  return destination;
}
