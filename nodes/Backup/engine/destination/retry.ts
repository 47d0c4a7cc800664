import { Readable } from 'node:stream';
import { DestinationError, isRetryable } from './faults';
import { quietWhenAbandoned, readAll, withVersion } from './streams';
import type { Body, ByteRange, Destination, ListEntry, ListOptions, ObjectInfo, ObjectStream, SmallBody, WriteOptions } from './types';

export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts: number;
  /** The first wait; each next one doubles, up to maxDelayMs, with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Tests pass a fixed one; the jitter spreads many clients that failed together. */
  random?: () => number;
  onRetry?: (error: DestinationError, attempt: number, delayMs: number) => void;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 5, baseDelayMs: 250, maxDelayMs: 8_000 };

/**
 * Bounded retries with exponential backoff and jitter, for faults a destination marks retryable
 * (a cut connection, a timeout, 500/503/SlowDown). Refusals (403, 404, 412, a host key) are never
 * retried: asking again cannot change the answer.
 */
export class RetryPolicy {
  private readonly options: RetryOptions;

  constructor(options: Partial<RetryOptions> = {}) {
    this.options = { ...DEFAULT_RETRY, ...options };
  }

  delayFor(attempt: number): number {
    const { baseDelayMs, maxDelayMs, random = Math.random } = this.options;
    const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
    return Math.round(cap / 2 + (random() * cap) / 2); // "equal jitter": never less than half the step
  }

  /** Runs `attempt` until it succeeds, fails for good, or the bound is reached (then the last fault, marked final). */
  async run<T>(attempt: (n: number) => Promise<T>): Promise<T> {
    for (let n = 1; ; n++) {
      try {
        return await attempt(n);
      } catch (error) {
        if (!isRetryable(error)) throw error;
        const fault = error as DestinationError;
        if (n >= this.options.attempts) throw gaveUp(fault, n);
        const delay = this.delayFor(n);
        this.options.onRetry?.(fault, n, delay);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}

function gaveUp(fault: DestinationError, attempts: number): DestinationError {
  return new DestinationError(fault.code, `${fault.message} Gave up after ${attempts} attempts.`, { hint: fault.hint, detail: fault.detail, retryable: false });
}

const sameBytes = (a: Buffer, b: SmallBody): boolean => a.equals(typeof b === 'string' ? Buffer.from(b) : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/**
 * Wraps any destination with the retry policy (restic keeps retries outside its backends the same
 * way). What cannot be replayed is not: a one-shot stream is retried piece by piece where the
 * destination holds pieces (S3 parts), a listing only until its first entry was given out.
 */
export function withRetries(inner: Destination, options: Partial<RetryOptions> = {}): Destination {
  const policy = new RetryPolicy(options);
  const retryPiece = <T>(attempt: () => Promise<T>): Promise<T> => policy.run(attempt);

  /**
   * A conditional write whose answer was lost (the connection cut after the server stored it)
   * looks, on the next try, like someone else's object: it is ours if it holds our bytes (lock
   * notes and commit markers are unique by content).
   */
  async function conditional(name: string, body: SmallBody, write: () => Promise<ObjectInfo | undefined>): Promise<ObjectInfo | undefined> {
    let faulted = false;
    return policy.run(async () => {
      try {
        const done = await write();
        if (done !== undefined || !faulted) return done;
        const there = await inner.stat(name);
        if (there === undefined || !sameBytes(await readAll(await inner.read(name)), body)) return undefined;
        return there;
      } catch (error) {
        if (isRetryable(error)) faulted = true;
        throw error;
      }
    });
  }

  /**
   * A read that picks up where it broke off: a range read from the last byte received, pinned to
   * the version the first read got (S3 If-Match on its ETag; file trees compare the open file's
   * version), so an object replaced in between fails with OBJECT_CHANGED instead of mixing the
   * bytes of two versions. A read whose version is unknown is not resumed.
   */
  function resumingRead(name: string, range: ByteRange | undefined, first: ObjectStream, pinned: string | undefined): ObjectStream {
    async function* chunks(): AsyncGenerator<Buffer> {
      const start = range?.offset ?? 0;
      let got = 0;
      let stream: Readable | undefined = first;
      for (let n = 1; ; n++) {
        try {
          stream ??= await inner.read(name, { offset: start + got, length: range?.length === undefined ? undefined : range.length - got }, { ifVersion: pinned });
          for await (const chunk of stream) {
            got += (chunk as Buffer).length;
            yield chunk as Buffer;
          }
          return;
        } catch (error) {
          stream = undefined;
          if (!isRetryable(error) || pinned === undefined) throw error;
          if (n >= (options.attempts ?? DEFAULT_RETRY.attempts)) throw gaveUp(error as DestinationError, n);
          await new Promise((resolve) => setTimeout(resolve, policy.delayFor(n)));
        }
      }
    }
    return withVersion(quietWhenAbandoned(Readable.from(chunks(), { objectMode: false })), pinned);
  }

  return {
    capabilities: inner.capabilities,
    describe: () => inner.describe(),
    write(name: string, body: Body, writeOptions?: WriteOptions) {
      if (body instanceof Readable) return inner.write(name, body, { ...writeOptions, retryPiece });
      return policy.run(() => inner.write(name, body, writeOptions));
    },
    create: (name, body) => conditional(name, body, () => inner.create(name, body)),
    replace: (name, expected, body) => conditional(name, body, () => inner.replace(name, expected, body)),
    async read(name, range, readOptions) {
      const first = await policy.run(() => inner.read(name, range, readOptions));
      return resumingRead(name, range, first, readOptions?.ifVersion ?? first.version);
    },
    stat: (name) => policy.run(() => inner.stat(name)),
    list(prefix: string, listOptions?: ListOptions): AsyncIterable<ListEntry> {
      return {
        async *[Symbol.asyncIterator]() {
          for (let n = 1; ; n++) {
            let given = 0;
            try {
              for await (const entry of inner.list(prefix, listOptions)) {
                given++;
                yield entry;
              }
              return;
            } catch (error) {
              if (given > 0 || !isRetryable(error)) throw error;
              if (n >= (options.attempts ?? DEFAULT_RETRY.attempts)) throw gaveUp(error as DestinationError, n);
              await new Promise((resolve) => setTimeout(resolve, policy.delayFor(n)));
            }
          }
        },
      };
    },
    delete: (name) => policy.run(() => inner.delete(name)),
    deleteAll: (prefix) => policy.run(() => inner.deleteAll(prefix)),
    sweep: (olderThanMs, prefix) => policy.run(() => inner.sweep(olderThanMs, prefix)),
    close: () => inner.close(),
    ...(inner.localPath === undefined ? {} : { localPath: (name: string) => inner.localPath?.(name) }),
  };
}
