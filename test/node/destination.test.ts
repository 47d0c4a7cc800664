/**
 * The node's Destination Type (Local Folder, S3, SFTP): parameters and credentials as n8n hands
 * them over (a hand-written execute context, test/node/harness.ts), the engine for real, against a
 * real moto_server and sshd. The real n8n run is in test/integration/n8n.test.ts.
 */
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { INodeExecutionData } from 'n8n-workflow';
import { Backup } from '../../nodes/Backup/Backup.node';
import { formatPrivateKey, parseHostKey } from '../../nodes/Backup/actions/helpers/sshKeys';
import { tempDirs, writeTree } from '../helpers/fixtures';
import type { Moto, Sshd } from '../helpers/servers';
import { motoUnavailable, sshdUnavailable, startMoto, startSshd } from '../helpers/servers';
import { expectSameTree, snapshotTree } from '../helpers/tree';
import type { MockOptions } from './harness';
import { mockContext, nodeError, parameterValue, runNode } from './harness';

const temp = tempDirs('n8n-backup-node-dest-');
afterAll(temp.cleanup);

const SECRET_KEY = 'node-test-secret-9Kq2vX7mZ1pL4wR8tY6u';
const ACCESS_KEY = 'AKIANODETESTKEY00001';

async function run(options: MockOptions): Promise<{ out: INodeExecutionData[]; checked: string[] }> {
  const mock = mockContext(options);
  const [out] = await new Backup().execute.call(mock.ctx);
  return { out, checked: mock.checked };
}

/** Every text of the items (and the messages sent to the editor), for secret checks. */
const everything = (items: INodeExecutionData[]): string => JSON.stringify(items);

describe('Destination Type: parameters', () => {
  test('Local Folder is the default, on both resources; Backup Folder shows only for it', () => {
    for (const [resource, operation] of [['backup', 'auto'], ['backupSet', 'list'], ['backupSet', 'restore'], ['backupSet', 'verify'], ['backupSet', 'prune']]) {
      expect(parameterValue({ resource, operation }, 'destinationType')).toBe('local');
      expect(parameterValue({ resource, operation }, 'destinationPath')).toBe('');
      expect(parameterValue({ resource, operation, destinationType: 's3' }, 'destinationPath')).toBeUndefined();
      expect(parameterValue({ resource, operation, destinationType: 's3' }, 's3Bucket')).toBe('');
      expect(parameterValue({ resource, operation, destinationType: 'sftp' }, 'sftpHostKey')).toBe('');
      expect(parameterValue({ resource, operation }, 's3Bucket')).toBeUndefined();
    }
    const declared = new Backup().description.credentials ?? [];
    expect(declared.slice(1)).toEqual([
      { name: 's3', required: true, displayOptions: { show: { destinationType: ['s3'], s3CredentialType: ['s3'] } } },
      { name: 'aws', required: true, displayOptions: { show: { destinationType: ['s3'], s3CredentialType: ['aws'] } } },
      { name: 'sftp', required: true, displayOptions: { show: { destinationType: ['sftp'] } } },
    ]);
  });

  test('a workflow saved before Destination Type (no destinationType) backs up, lists and restores its local folder as before, with the allowed-folder checks', async () => {
    const allowed = await fsp.realpath(await temp.make());
    const src = path.join(allowed, 'data');
    await writeTree(src, { 'a.txt': 'alpha', 'sub/b.txt': 'beta' });
    const dest = path.join(allowed, 'backups');
    // Exactly the parameters an older workflow JSON holds.
    const old = { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: dest, options: { setName: 'data' } };
    const { out, checked } = await run({ allowedRoot: allowed, params: old });
    expect(out[0].json).toMatchObject({ destination: dest, set: 'data', type: 'full', errorCount: 0 });
    expect(checked).toContain(dest);
    expect(fs.readdirSync(path.join(dest, 'data')).filter((n) => !n.startsWith('.') && n !== 'last-run.json')).toEqual([out[0].json.backupId]);
    const listed = await runNode({ allowedRoot: allowed, params: { resource: 'backupSet', operation: 'list', destinationPath: dest } });
    expect(listed.map((i) => i.json.backupId)).toEqual([out[0].json.backupId]);
    // The allowed folders still apply to a local backup folder.
    const outside = await fsp.realpath(await temp.make());
    const refused = await nodeError({ allowedRoot: allowed, params: { ...old, destinationPath: outside } });
    expect(refused.message).toBe(`Access to ${outside} is not allowed`);
  });

  test('a URL in Backup Folder is refused with a pointer to Destination Type', async () => {
    const src = await temp.make();
    await writeTree(src, { 'a.txt': 'a' });
    const error = await nodeError({ params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationPath: 's3://bucket/x' } });
    expect(error.message).toMatch(/"Backup Folder" is a URL \(s3:\/\/\.\.\.\), not a folder/);
    expect(error.description).toMatch(/Destination Type S3 or SFTP.*\[INVALID_OPTION\]/);
  });

  test('Host Key: a public key line, a known_hosts / ssh-keyscan line or a fingerprint; anything else refused before connecting', () => {
    const blob = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)]);
    const key = `ssh-ed25519 ${blob.toString('base64')}`;
    const fp = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
    expect(parseHostKey(`${key} root@nas`)).toBe(key);
    expect(parseHostKey(`# nas:22 SSH-2.0-OpenSSH_9.2\n[nas.local]:2222 ${key}\n`)).toBe(key);
    expect(parseHostKey(` ${fp} `)).toBe(fp);
    expect(() => parseHostKey('')).toThrow(expect.objectContaining({ code: 'HOST_KEY_REQUIRED', hint: expect.stringContaining('ssh_host_ed25519_key.pub') }));
    expect(() => parseHostKey('ssh-rsa notbase64!!')).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    // The type named must be the type inside the key.
    expect(() => parseHostKey(`ssh-rsa ${blob.toString('base64')}`)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => parseHostKey('SHA256:short')).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  test('a private key pasted on one line (spaces or \\n for line breaks) is made multi-line again; anything else is kept', () => {
    const pem = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQUJDREVGR0g=\n-----END OPENSSH PRIVATE KEY-----\n';
    expect(formatPrivateKey(pem.replace(/\n/g, ' ').trim())).toBe(pem);
    expect(formatPrivateKey(pem.replace(/\n/g, '\\n').trim())).toBe(pem);
    expect(formatPrivateKey(pem)).toBe(pem.trim());
    expect(formatPrivateKey('not a key')).toBe('not a key');
  });

  test('missing or unusable credentials: their own codes, no credential value in the message', async () => {
    const src = await temp.make();
    await writeTree(src, { 'a.txt': 'a' });
    const s3 = { resource: 'backup', operation: 'full', sourcePaths: src, destinationType: 's3', s3Bucket: 'bucket-x' };
    const items = async (params: Record<string, unknown>, credentials?: Record<string, Record<string, unknown>>): Promise<Record<string, unknown>> =>
      (await runNode({ continueOnFail: true, params, credentials }))[0].json;
    expect(await items(s3)).toMatchObject({ code: 'CREDENTIAL_MISSING', hint: expect.stringContaining('S3 credential') });
    expect(await items(s3, { s3: { accessKeyId: ACCESS_KEY, secretAccessKey: '' } })).toMatchObject({ code: 'CREDENTIAL_INVALID', error: expect.stringContaining('Secret Access Key') });
    const ssl = await items(s3, { s3: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, ignoreSSLIssues: true } });
    expect(ssl).toMatchObject({ code: 'CREDENTIAL_INVALID', error: expect.stringContaining('Ignore SSL Issues') });
    expect(JSON.stringify(ssl)).not.toContain(SECRET_KEY);
    const sftp = { resource: 'backupSet', operation: 'list', destinationType: 'sftp', sftpPath: '/srv', sftpHostKey: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' };
    expect(await items(sftp)).toMatchObject({ code: 'CREDENTIAL_MISSING', hint: expect.stringContaining('SFTP credential') });
    // Neither password nor key: refused, never the n8n machine's own ssh-agent or ~/.ssh keys.
    expect(await items(sftp, { sftp: { host: 'nas', port: 22, username: 'u', password: '', privateKey: '' } })).toMatchObject({ code: 'CREDENTIAL_INVALID' });
    expect(await items(sftp, { sftp: { host: 'sftp://nas', port: 22, username: 'u', password: 'pw-1234' } })).toMatchObject({ code: 'CREDENTIAL_INVALID', error: expect.stringContaining('Host') });
    expect(await items({ ...sftp, sftpHostKey: '' }, { sftp: { host: 'nas', port: 22, username: 'u', password: 'pw-1234' } })).toMatchObject({ code: 'HOST_KEY_REQUIRED' });
  });
});

describe('Destination Type S3 (moto_server)', () => {
  const unavailable = motoUnavailable();
  const maybe = unavailable === undefined ? test : test.skip;
  let moto: Moto;
  beforeAll(async () => {
    if (unavailable === undefined) moto = await startMoto();
  }, 60_000);
  afterAll(async () => {
    if (unavailable === undefined) await moto.stop();
  });

  maybe(`backup, list, restore, verify and prune through the S3 credential; the allowed folders do not apply to the bucket; no secret in any item${unavailable === undefined ? '' : ` - SKIPPED: ${unavailable}`}`, async () => {
    const bucket = `node-dest-${process.pid}`;
    const client = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const allowed = await fsp.realpath(await temp.make());
    const src = path.join(allowed, 'data');
    await writeTree(src, { 'a.txt': 'alpha', 'docs/b.txt': 'beta', empty: null });
    const credentials = { s3: { endpoint: moto.endpoint, region: 'us-east-1', accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, forcePathStyle: true, ignoreSSLIssues: false } };
    const where = { destinationType: 's3', s3Bucket: bucket, s3Prefix: '/n8n/backups/' };
    const common = { allowedRoot: allowed, credentials };

    const backup = await run({ ...common, params: { resource: 'backup', operation: 'full', sourcePaths: src, ...where, options: { setName: 'data', format: 'tar.gz' } } });
    expect(backup.out[0].json).toMatchObject({ destination: `s3://${bucket}/n8n/backups`, set: 'data', type: 'full', errorCount: 0 });
    expect(backup.checked).toContain(src);
    expect(backup.checked.some((p) => p.includes('s3:'))).toBe(false);
    const keys = (await client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map((o) => o.Key) ?? [];
    expect(keys).toEqual(expect.arrayContaining([`n8n/backups/data/${String(backup.out[0].json.backupId)}/backup.json`]));

    const list = await runNode({ ...common, params: { resource: 'backupSet', operation: 'list', ...where } });
    expect(list.map((i) => i.json.backupId)).toEqual([backup.out[0].json.backupId]);

    const target = path.join(allowed, 'restored');
    const restore = await run({ ...common, params: { resource: 'backupSet', operation: 'restore', ...where, setName: 'data', targetPath: target } });
    expect(restore.out[0].json).toMatchObject({ backupId: backup.out[0].json.backupId, errorCount: 0 });
    expect(restore.checked).toContain(target);
    expectSameTree(await snapshotTree(target), await snapshotTree(src));

    const verify = await runNode({ ...common, params: { resource: 'backupSet', operation: 'verify', ...where, setName: 'data', fullVerify: true } });
    expect(verify[0].json).toMatchObject({ ok: true, problemCount: 0 });
    const prune = await runNode({ ...common, params: { resource: 'backupSet', operation: 'prune', ...where, setName: 'data', keepFull: 1, dryRun: true } });
    expect(prune[0].json).toMatchObject({ destination: `s3://${bucket}/n8n/backups`, removed: [], kept: [backup.out[0].json.backupId] });

    // n8n's AWS (IAM) credential instead: its S3 Endpoint (Custom Endpoints), a session token.
    const aws = { aws: { region: 'us-east-1', accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, temporaryCredentials: true, sessionToken: 'session-token-secret-77x', customEndpoints: true, s3Endpoint: moto.endpoint } };
    const viaAws = await runNode({ allowedRoot: allowed, credentials: aws, params: { resource: 'backupSet', operation: 'list', ...where, s3CredentialType: 'aws' } });
    expect(viaAws.map((i) => i.json.backupId)).toEqual([backup.out[0].json.backupId]);
    expect(everything(viaAws)).not.toContain('session-token-secret-77x');
    const noToken = await runNode({ continueOnFail: true, credentials: { aws: { ...aws.aws, sessionToken: '' } }, params: { resource: 'backupSet', operation: 'list', ...where, s3CredentialType: 'aws' } });
    expect(noToken[0].json).toMatchObject({ code: 'CREDENTIAL_INVALID', error: expect.stringContaining('Session Token') });

    // A bucket that does not exist: its own code, an error item that names the destination, no secret.
    const missing = await runNode({ ...common, continueOnFail: true, params: { resource: 'backupSet', operation: 'list', ...where, s3Bucket: 'no-such-bucket-here' } });
    expect(missing[0].json).toMatchObject({ code: 'DESTINATION_NOT_FOUND', destination: 's3://no-such-bucket-here/n8n/backups' });
    for (const items of [backup.out, list, restore.out, verify, prune, missing]) {
      expect(everything(items)).not.toContain(SECRET_KEY);
      expect(everything(items)).not.toContain(ACCESS_KEY);
    }
    client.destroy();
  });
});

describe('Destination Type SFTP (sshd)', () => {
  const unavailable = sshdUnavailable();
  const maybe = unavailable === undefined ? test : test.skip;
  const title = (t: string): string => (unavailable === undefined ? t : `${t} - SKIPPED: ${unavailable}`);
  let sshd: Sshd;
  beforeAll(async () => {
    if (unavailable === undefined) sshd = await startSshd();
  }, 60_000);
  afterAll(async () => {
    if (unavailable === undefined) await sshd.stop();
  });
  const credential = (): Record<string, unknown> => ({
    host: '127.0.0.1', port: sshd.port, username: sshd.user, password: '',
    // As n8n's editor may store a pasted key: on one line.
    privateKey: fs.readFileSync(sshd.clientKey, 'utf8').trim().replace(/\n/g, ' '), passphrase: '',
  });

  maybe(title('backup, list, restore and verify through the SFTP credential and Host Key (key line or fingerprint); nothing secret in the items'), async () => {
    const allowed = await fsp.realpath(await temp.make());
    const src = path.join(allowed, 'data');
    await writeTree(src, { 'a.txt': 'alpha', 'docs/b.txt': 'beta' });
    const folder = path.join(sshd.dir, 'node-backups');
    fs.mkdirSync(folder);
    const where = { destinationType: 'sftp', sftpPath: folder, sftpHostKey: `${sshd.hostKey} root@server` };
    const common = { allowedRoot: allowed, credentials: { sftp: credential() } };

    const backup = await run({ ...common, params: { resource: 'backup', operation: 'full', sourcePaths: src, ...where, options: { setName: 'data' } } });
    expect(backup.out[0].json).toMatchObject({ destination: `sftp://${sshd.user}@127.0.0.1:${sshd.port}${folder}`, type: 'full', errorCount: 0 });
    expect(fs.existsSync(path.join(folder, 'data', String(backup.out[0].json.backupId), 'backup.json'))).toBe(true);
    expect(backup.checked.some((p) => p.includes('sftp:'))).toBe(false);

    const blob = Buffer.from(sshd.hostKey.split(' ')[1], 'base64');
    const fingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
    const list = await runNode({ ...common, params: { resource: 'backupSet', operation: 'list', ...where, sftpHostKey: fingerprint } });
    expect(list.map((i) => i.json.backupId)).toEqual([backup.out[0].json.backupId]);
    const target = path.join(allowed, 'restored');
    const restore = await runNode({ ...common, params: { resource: 'backupSet', operation: 'restore', ...where, setName: 'data', targetPath: target } });
    expect(restore[0].json).toMatchObject({ errorCount: 0 });
    expectSameTree(await snapshotTree(target), await snapshotTree(src));
    const verify = await runNode({ ...common, params: { resource: 'backupSet', operation: 'verify', ...where, setName: 'data', fullVerify: true } });
    expect(verify[0].json).toMatchObject({ ok: true, problemCount: 0 });
    const keyLine = fs.readFileSync(sshd.clientKey, 'utf8').split('\n')[1];
    for (const items of [backup.out, list, restore, verify]) expect(everything(items)).not.toContain(keyLine);
  });

  maybe(title('a folder under the login folder (~/x) is an sftp:// URL with /~/'), async () => {
    const error = (await runNode({ continueOnFail: true, credentials: { sftp: credential() }, params: { resource: 'backupSet', operation: 'list', destinationType: 'sftp', sftpPath: '~/no-such-folder-here', sftpHostKey: sshd.hostKey } }))[0].json;
    expect(error).toMatchObject({ code: 'DESTINATION_NOT_FOUND', destination: `sftp://${sshd.user}@127.0.0.1:${sshd.port}/~/no-such-folder-here` });
  });

  maybe(title('another host key than Host Key is refused (HOST_KEY_CHANGED) with a hint about Host Key; nothing is written'), async () => {
    const other = `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 1)]).toString('base64')}`;
    const src = await temp.make();
    await writeTree(src, { 'a.txt': 'a' });
    const folder = path.join(sshd.dir, 'never-written');
    fs.mkdirSync(folder);
    const error = await nodeError({ credentials: { sftp: credential() }, params: { resource: 'backup', operation: 'full', sourcePaths: src, destinationType: 'sftp', sftpPath: folder, sftpHostKey: other } });
    expect(error.message).toMatch(/host key of \[127\.0\.0\.1\]:\d+ does not match the given host key/);
    expect(error.description).toMatch(/node's Host Key.*\[HOST_KEY_CHANGED\]$/);
    expect(fs.readdirSync(folder)).toEqual([]);
  });

  maybe(title('a login the server refuses is DESTINATION_AUTH_FAILED, without the password'), async () => {
    const password = 'not-the-password-4242';
    const item = (await runNode({
      continueOnFail: true,
      credentials: { sftp: { ...credential(), privateKey: '', password } },
      params: { resource: 'backupSet', operation: 'list', destinationType: 'sftp', sftpPath: sshd.dir, sftpHostKey: sshd.hostKey },
    }))[0].json;
    expect(item).toMatchObject({ code: 'DESTINATION_AUTH_FAILED', error: expect.stringContaining('with the password offered') });
    expect(JSON.stringify(item)).not.toContain(password);
  });
});
