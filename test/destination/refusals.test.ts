/**
 * Refusals and errors map to their own codes with a hint, and carry no secret: not the S3 secret
 * key, not a key passphrase, not private key text, in the message, the hint, JSON or util.inspect.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { openLocal } from '../../nodes/Backup/engine/destination/local';
import { openS3 } from '../../nodes/Backup/engine/destination/s3';
import { openSftp } from '../../nodes/Backup/engine/destination/sftp';
import { withRetries } from '../../nodes/Backup/engine/destination/retry';
import { TEST_ACCESS_KEY, TEST_SECRET } from '../helpers/destinations';
import type { Moto, Sshd } from '../helpers/servers';
import { freePort, makeKey, motoUnavailable, sshdUnavailable, startMoto, startSshd } from '../helpers/servers';

async function failure(promise: Promise<unknown>): Promise<Error & { code?: string; hint?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string; hint?: string };
  }
  throw new Error('expected a failure');
}

function expectNoSecret(error: Error & { hint?: string }, secrets: string[]): void {
  const everything = `${error.message}\n${error.hint}\n${JSON.stringify(error)}\n${inspect(error, { depth: 10 })}`;
  for (const secret of secrets) expect(everything).not.toContain(secret);
}

const s3Credentials = { accessKeyId: TEST_ACCESS_KEY, secretAccessKey: TEST_SECRET };

describe('S3 refusals', () => {
  const unavailable = motoUnavailable();
  const maybe = unavailable === undefined ? test : test.skip;
  const title = (t: string): string => (unavailable === undefined ? t : `${t} - SKIPPED: ${unavailable}`);
  let moto: Moto | undefined;
  beforeAll(async () => {
    if (unavailable === undefined) moto = await startMoto();
  }, 60_000);
  afterAll(async () => moto?.stop());

  maybe(title('a missing bucket is DESTINATION_NOT_FOUND'), async () => {
    const error = await failure(openS3({ bucket: 'no-such-bucket', prefix: '', endpoint: moto?.endpoint, credentials: s3Credentials }));
    expect(error).toMatchObject({ code: 'DESTINATION_NOT_FOUND' });
    expect(error.hint).toMatch(/Create the bucket/);
    expectNoSecret(error, [TEST_SECRET]);
  });

  test('a wrong endpoint (nothing listening) is DESTINATION_UNREACHABLE, retried, with no secret', async () => {
    const port = await freePort();
    let retried = 0;
    const error = await failure(
      openS3({ bucket: 'b-bucket', prefix: 'x', endpoint: `http://127.0.0.1:${port}`, credentials: s3Credentials, connectTimeoutMs: 500 }).then((d) =>
        withRetries(d, { attempts: 2, baseDelayMs: 10, onRetry: () => retried++ }).stat('a'),
      ),
    );
    expect(error).toMatchObject({ code: 'DESTINATION_UNREACHABLE' });
    expectNoSecret(error, [TEST_SECRET]);
    expect(retried).toBe(0); // openS3 itself does not retry; openDestination does
  });

  test('refused credentials (403 from the service) are DESTINATION_AUTH_FAILED, never retried, with no secret', async () => {
    // A stand-in service that answers as AWS does for a bad key; it echoes request headers into the
    // body the way SignatureDoesNotMatch answers carry the string to sign.
    let requests = 0;
    const server = http.createServer((request, response) => {
      requests++;
      response.writeHead(403, { 'content-type': 'application/xml' });
      response.end(`<?xml version="1.0"?><Error><Code>SignatureDoesNotMatch</Code><Message>bad signature</Message><StringToSign>${JSON.stringify(request.headers)}</StringToSign></Error>`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const error = await failure(openS3({ bucket: 'b-bucket', prefix: '', endpoint, credentials: s3Credentials }));
      expect(error).toMatchObject({ code: 'DESTINATION_AUTH_FAILED' });
      expect(error.hint).toMatch(/access key/);
      expectNoSecret(error, [TEST_SECRET]);
      const before = requests;
      const retried = withRetries(await openS3Unchecked(endpoint), { attempts: 4, baseDelayMs: 10 });
      const again = await failure(retried.write('x', 'y'));
      expect(again).toMatchObject({ code: 'DESTINATION_AUTH_FAILED' });
      expect(requests - before).toBe(1);
      await retried.close();
    } finally {
      server.close();
    }
  });

  test('503 SlowDown is retried up to the bound, then DESTINATION_UNAVAILABLE', async () => {
    let requests = 0;
    const server = http.createServer((_request, response) => {
      requests++;
      response.writeHead(503, { 'content-type': 'application/xml' });
      response.end('<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const destination = withRetries(await openS3Unchecked(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), { attempts: 3, baseDelayMs: 10 });
      const error = await failure(destination.write('x', 'y'));
      expect(error).toMatchObject({ code: 'DESTINATION_UNAVAILABLE' });
      expect(error.message).toMatch(/Gave up after 3 attempts/);
      expect(requests).toBe(3);
      await destination.close();
    } finally {
      server.close();
    }
  });
});

async function openS3Unchecked(endpoint: string) {
  const { S3Destination } = await import('../../nodes/Backup/engine/destination/s3');
  return new S3Destination({ bucket: 'b-bucket', prefix: '', endpoint, credentials: s3Credentials });
}

describe('SFTP refusals and host keys', () => {
  const unavailable = sshdUnavailable();
  const maybe = unavailable === undefined ? test : test.skip;
  const title = (t: string): string => (unavailable === undefined ? t : `${t} - SKIPPED: ${unavailable}`);
  let sshd: Sshd;
  let scratch: string;
  beforeAll(async () => {
    if (unavailable !== undefined) return;
    sshd = await startSshd();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-backup-keys-'));
  }, 60_000);
  afterAll(async () => {
    if (unavailable !== undefined) return;
    await sshd.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });
  const base = () => ({ host: '127.0.0.1', port: sshd.port, username: sshd.user, path: sshd.dir, privateKeyPath: sshd.clientKey, home: scratch, readyTimeoutMs: 5000 });

  maybe(title('a server in known_hosts (plain or hashed) is accepted'), async () => {
    const d = await openSftp({ ...base(), knownHostsPath: sshd.knownHosts });
    await d.close();
    const hashed = path.join(scratch, 'known_hosts_hashed');
    fs.copyFileSync(sshd.knownHosts, hashed);
    require('node:child_process').execFileSync('ssh-keygen', ['-H', '-f', hashed], { stdio: 'pipe' });
    expect(fs.readFileSync(hashed, 'utf8')).toMatch(/^\|1\|/);
    const d2 = await openSftp({ ...base(), knownHostsPath: hashed });
    await d2.close();
  });

  maybe(title('an unknown host key is refused: HOST_KEY_UNKNOWN with its fingerprint'), async () => {
    const empty = path.join(scratch, 'known_hosts_empty');
    fs.writeFileSync(empty, '');
    const error = await failure(openSftp({ ...base(), knownHostsPath: empty }));
    expect(error).toMatchObject({ code: 'HOST_KEY_UNKNOWN' });
    expect(error.message).toMatch(/SHA256:/);
    expect(error.hint).toMatch(/ssh-keyscan/);
    // No known_hosts at all (the default ~/.ssh/known_hosts of an empty home) is the same.
    expect(await failure(openSftp(base()))).toMatchObject({ code: 'HOST_KEY_UNKNOWN' });
  });

  maybe(title('a changed host key is refused: HOST_KEY_CHANGED'), async () => {
    const other = makeKey(scratch, 'other_host');
    const otherPublic = fs.readFileSync(`${other}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    const wrong = path.join(scratch, 'known_hosts_wrong');
    fs.writeFileSync(wrong, `[127.0.0.1]:${sshd.port} ${otherPublic}\n`);
    const error = await failure(openSftp({ ...base(), knownHostsPath: wrong }));
    expect(error).toMatchObject({ code: 'HOST_KEY_CHANGED' });
    expect(await failure(openSftp({ ...base(), hostKey: otherPublic }))).toMatchObject({ code: 'HOST_KEY_CHANGED' });
    expect(await failure(openSftp({ ...base(), hostKey: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }))).toMatchObject({ code: 'HOST_KEY_CHANGED' });
  });

  maybe(title('a key the server does not know is DESTINATION_AUTH_FAILED, with no key text'), async () => {
    const stranger = makeKey(scratch, 'stranger');
    const error = await failure(openSftp({ ...base(), hostKey: sshd.hostKey, privateKeyPath: stranger }));
    expect(error).toMatchObject({ code: 'DESTINATION_AUTH_FAILED' });
    const keyText = fs.readFileSync(stranger, 'utf8');
    expectNoSecret(error, [keyText.split('\n')[1]]);
  });

  maybe(title('an encrypted key with a wrong passphrase is DESTINATION_AUTH_FAILED, without the passphrase or the key'), async () => {
    const passphrase = 'correct horse battery staple';
    const locked = makeKey(scratch, 'locked', passphrase);
    const keyText = fs.readFileSync(locked, 'utf8');
    const wrongPass = 'Tr0ub4dor&3-not-it';
    const error = await failure(openSftp({ ...base(), hostKey: sshd.hostKey, privateKey: keyText, passphrase: wrongPass }));
    expect(error).toMatchObject({ code: 'DESTINATION_AUTH_FAILED' });
    expect(error.message).toMatch(/passphrase/);
    expectNoSecret(error, [wrongPass, passphrase, keyText.split('\n')[1], keyText.split('\n')[2]]);
  });

  maybe(title('a missing folder is DESTINATION_NOT_FOUND; nothing listening is DESTINATION_UNREACHABLE'), async () => {
    expect(await failure(openSftp({ ...base(), hostKey: sshd.hostKey, path: path.join(sshd.dir, 'nope') }))).toMatchObject({ code: 'DESTINATION_NOT_FOUND' });
    const port = await freePort();
    expect(await failure(openSftp({ ...base(), hostKey: sshd.hostKey, port }))).toMatchObject({ code: 'DESTINATION_UNREACHABLE' });
  });
});

describe('local refusals', () => {
  test('a missing folder is DESTINATION_NOT_FOUND', async () => {
    await expect(openLocal(path.join(os.tmpdir(), 'n8n-backup-no-such-folder-here'))).rejects.toMatchObject({ code: 'DESTINATION_NOT_FOUND' });
  });
});
