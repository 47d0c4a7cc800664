import * as path from 'node:path';
import { parseDestinationUrl } from '../../nodes/Backup/engine/destination/url';

describe('parseDestinationUrl', () => {
  test.each([
    ['/backups', { kind: 'local', path: '/backups' }],
    ['relative/dir', { kind: 'local', path: path.resolve('relative/dir') }],
    ['file:///srv/backups', { kind: 'local', path: '/srv/backups' }],
    ['s3://my-bucket', { kind: 's3', bucket: 'my-bucket', prefix: '' }],
    ['s3://my-bucket/', { kind: 's3', bucket: 'my-bucket', prefix: '' }],
    ['s3://my.bucket/team/n8n/', { kind: 's3', bucket: 'my.bucket', prefix: 'team/n8n' }],
    ['S3://my-bucket/a%20b', { kind: 's3', bucket: 'my-bucket', prefix: 'a b' }],
    ['sftp://backup@example.com/srv/backups', { kind: 'sftp', username: 'backup', host: 'example.com', port: 22, path: '/srv/backups' }],
    ['sftp://backup@example.com:2222/srv', { kind: 'sftp', username: 'backup', host: 'example.com', port: 2222, path: '/srv' }],
    ['sftp://backup@[::1]:2200/x', { kind: 'sftp', username: 'backup', host: '::1', port: 2200, path: '/x' }],
    ['sftp://backup@host/~/backups', { kind: 'sftp', username: 'backup', host: 'host', port: 22, path: 'backups' }],
    ['sftp://backup@host/~', { kind: 'sftp', username: 'backup', host: 'host', port: 22, path: '.' }],
    ['sftp://host/data', { kind: 'sftp', host: 'host', port: 22, path: '/data' }],
  ])('%s', (input, expected) => {
    expect(parseDestinationUrl(input)).toMatchObject(expected);
  });

  test.each([
    ['s3://AKIAEXAMPLE:SuperSecretKey123@my-bucket/x', 'password or secret', 'SuperSecretKey123'],
    ['sftp://backup:hunter2hunter2@host/srv', 'password or secret', 'hunter2hunter2'],
    ['s3://my-bucket/x?region=eu', 'query', undefined],
    ['s3://My_Bucket/x', 'bucket name', undefined],
    ['s3://ab', 'bucket name', undefined],
    ['s3://my-bucket/a/../b', '".."', undefined],
    ['s3://my-bucket/a//b', 'empty', undefined],
    ['sftp://backup@host:70000/x', 'port', undefined],
    ['sftp://backup@/x', 'host', undefined],
    ['ftp://host/x', 'Unknown destination type', undefined],
    ['  ', 'empty', undefined],
  ])('%s is refused', (input, words, secret) => {
    let caught: unknown;
    try {
      parseDestinationUrl(input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'DESTINATION_URL_INVALID' });
    const error = caught as Error & { hint?: string };
    expect(error.message).toContain(words);
    if (secret !== undefined) expect(`${error.message} ${error.hint} ${JSON.stringify(error)}`).not.toContain(secret);
  });
});
