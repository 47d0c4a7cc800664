import { openLocal } from './local';
import type { RetryOptions } from './retry';
import { RetryPolicy, withRetries } from './retry';
import type { S3Settings } from './s3';
import type { SftpSettings } from './sftp';
import type { Destination } from './types';
import { parseDestinationUrl } from './url';

export type { Destination, ObjectInfo, ListEntry, Body, SmallBody, ByteRange, ReadOptions, ObjectStream } from './types';
export { DestinationError } from './faults';
export { parseDestinationUrl } from './url';
export { withRetries, RetryPolicy } from './retry';

export interface DestinationOptions {
  s3?: Omit<S3Settings, 'bucket' | 'prefix'>;
  sftp?: Omit<SftpSettings, 'host' | 'port' | 'username' | 'path'>;
  /** The retry policy around every operation; false for none (tests of the raw stores). */
  retry?: Partial<RetryOptions> | false;
}

/**
 * Opens what `--dest` names, checks it is there (the folder, the bucket, the server's folder) and
 * wraps it in the retry policy. Faults come as DestinationError codes, never with a secret.
 */
export async function openDestination(dest: string, options: DestinationOptions = {}): Promise<Destination> {
  const url = parseDestinationUrl(dest);
  // The AWS SDK and ssh2 load only for their destinations: together they took about 250 ms of
  // every CLI run's start (a no-change local backup takes about a second), and of n8n's node load.
  const open = async (): Promise<Destination> => {
    if (url.kind === 'local') return openLocal(url.path);
    if (url.kind === 's3') return (await import('./s3')).openS3({ ...options.s3, bucket: url.bucket, prefix: url.prefix });
    return (await import('./sftp')).openSftp({ ...options.sftp, host: url.host, port: url.port, username: url.username, path: url.path });
  };
  if (options.retry === false) return open();
  const opened = await new RetryPolicy(options.retry).run(open);
  return withRetries(opened, options.retry);
}
