import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';
import type { DestinationOptions } from '../../engine';
import type { DestinationType } from '../../descriptions/destination';
import { AWS_CREDENTIAL, S3_CREDENTIAL, SFTP_CREDENTIAL } from '../../descriptions/destination';
import { invalidParameter, OperationFailure } from './errors';
import { assertPathAllowed } from './fileAccess';
import { labelOf, readFolder, readRequiredString, readString } from './parameters';
import { formatPrivateKey, parseHostKey } from './sshKeys';

/**
 * Where an item's backups are, as the engine takes it: `destination` is a local absolute path or
 * an `s3://`/`sftp://` URL, which names no secret (the engine refuses one in a URL), so it is what
 * output items and error items show. The secrets stay in `options`, which is never output.
 */
export interface NodeDestination {
  type: DestinationType;
  destination: string;
  options: DestinationOptions;
}

const LOCAL_EXAMPLE = '/home/node/.n8n-files/backups';

export function readDestinationType(ctx: IExecuteFunctions, itemIndex: number): DestinationType {
  const value = readString(ctx, 'destinationType', itemIndex, 'local');
  if (value === 'local' || value === 's3' || value === 'sftp') return value;
  throw invalidParameter(`"${labelOf('destinationType')}" must be Local Folder, S3 or SFTP, not ${JSON.stringify(value)}.`);
}

/** Reads a credential of n8n's; its values never reach a message. */
async function readCredential(ctx: IExecuteFunctions, type: string, label: string, itemIndex: number): Promise<IDataObject> {
  const data = await ctx.getCredentials<IDataObject>(type, itemIndex).catch((error: unknown) => error);
  if (data instanceof Error || typeof data !== 'object' || data === null) {
    const reason = data instanceof Error ? data.message : 'no credential data';
    throw new OperationFailure('CREDENTIAL_MISSING', `Destination Type is ${label}, but no ${label} credential could be read (${reason})`, `Choose an ${label} credential in the node ("Credential to connect with"), or create one.`);
  }
  return data as IDataObject;
}

function credentialText(data: IDataObject, field: string): string {
  const value = data[field];
  return typeof value === 'string' ? value.trim() : typeof value === 'number' ? String(value) : '';
}

function incomplete(label: string, field: string): OperationFailure {
  return new OperationFailure('CREDENTIAL_INVALID', `The ${label} credential has no ${field}`, `Open the ${label} credential chosen in the node and fill in ${field}.`);
}

type S3Options = NonNullable<DestinationOptions['s3']>;

/** n8n's AWS (IAM) credential: region, keys, a session token when Temporary Security Credentials is on, Custom Endpoints > S3 Endpoint. */
async function readAwsCredential(ctx: IExecuteFunctions, itemIndex: number): Promise<S3Options> {
  const c = await readCredential(ctx, AWS_CREDENTIAL, 'AWS', itemIndex);
  const accessKeyId = credentialText(c, 'accessKeyId');
  const secretAccessKey = typeof c.secretAccessKey === 'string' ? c.secretAccessKey.trim() : '';
  if (accessKeyId === '') throw incomplete('AWS', 'Access Key ID');
  if (secretAccessKey === '') throw incomplete('AWS', 'Secret Access Key');
  const sessionToken = c.temporaryCredentials === true ? credentialText(c, 'sessionToken') : '';
  if (c.temporaryCredentials === true && sessionToken === '') throw incomplete('AWS', 'Session Token');
  const region = credentialText(c, 'region') || 'us-east-1';
  const s3: S3Options = { region, credentials: { accessKeyId, secretAccessKey, ...(sessionToken === '' ? {} : { sessionToken }) } };
  const endpoint = c.customEndpoints === true ? credentialText(c, 's3Endpoint') : '';
  if (endpoint !== '') s3.endpoint = endpoint;
  return s3;
}

/** Bucket + Prefix and n8n's S3 credential (endpoint, region, access key, secret key, path-style) or AWS credential. */
async function readS3(ctx: IExecuteFunctions, itemIndex: number): Promise<NodeDestination> {
  const bucket = readRequiredString(ctx, 's3Bucket', itemIndex, 'my-backups');
  const prefix = readString(ctx, 's3Prefix', itemIndex).trim().replace(/^\/+|\/+$/g, '');
  const destination = `s3://${bucket}${prefix === '' ? '' : `/${prefix}`}`;
  const credentialType = readString(ctx, 's3CredentialType', itemIndex, 's3');
  if (credentialType === 'aws') return { type: 's3', destination, options: { s3: await readAwsCredential(ctx, itemIndex) } };
  if (credentialType !== 's3') throw invalidParameter(`"${labelOf('s3CredentialType')}" must be S3 or AWS (IAM), not ${JSON.stringify(credentialType)}.`);
  const c = await readCredential(ctx, S3_CREDENTIAL, 'S3', itemIndex);
  const accessKeyId = credentialText(c, 'accessKeyId');
  const secretAccessKey = typeof c.secretAccessKey === 'string' ? c.secretAccessKey.trim() : '';
  if (accessKeyId === '') throw incomplete('S3', 'Access Key ID');
  if (secretAccessKey === '') throw incomplete('S3', 'Secret Access Key');
  // Certificate checks stay on: a backup must not go to whoever answers in between.
  if (c.ignoreSSLIssues === true) {
    throw new OperationFailure('CREDENTIAL_INVALID', 'The S3 credential has "Ignore SSL Issues" on, which the Backup node does not support', 'Turn it off in the credential (give the service a valid certificate), or use another credential for backups.');
  }
  const s3: S3Options = { credentials: { accessKeyId, secretAccessKey }, forcePathStyle: c.forcePathStyle === true };
  const endpoint = credentialText(c, 'endpoint');
  if (endpoint !== '') s3.endpoint = endpoint;
  const region = credentialText(c, 'region');
  if (region !== '') s3.region = region;
  return { type: 's3', destination, options: { s3 } };
}

/** The Folder on Server as the path of an sftp:// URL: absolute, or `/~/...` under the login folder. */
function sftpUrlPath(folder: string): string {
  const text = folder.trim();
  const absolute = text.startsWith('/');
  const rest = (absolute ? text : text.replace(/^~(\/|$)/, '')).replace(/^\/+|\/+$/g, '');
  const encoded = rest === '' ? '' : `/${rest.split('/').map(encodeURIComponent).join('/')}`;
  return absolute ? (encoded === '' ? '/' : encoded) : `/~${encoded}`;
}

/** Folder on Server, Host Key and n8n's SFTP credential (host, port, user, password and/or private key). */
async function readSftp(ctx: IExecuteFunctions, itemIndex: number): Promise<NodeDestination> {
  const folder = readRequiredString(ctx, 'sftpPath', itemIndex, '/srv/backups');
  const hostKey = parseHostKey(readString(ctx, 'sftpHostKey', itemIndex));
  const c = await readCredential(ctx, SFTP_CREDENTIAL, 'SFTP', itemIndex);
  const host = credentialText(c, 'host');
  const username = credentialText(c, 'username');
  if (host === '') throw incomplete('SFTP', 'Host');
  if (username === '') throw incomplete('SFTP', 'Username');
  if (/[/@\s]/.test(host)) throw new OperationFailure('CREDENTIAL_INVALID', 'The SFTP credential\'s Host is not a host name (it holds "/", "@" or a space)', 'Give only the server\'s name or address in Host (nas.example.com, 192.0.2.10); the user goes in Username, the port in Port, the folder in the node\'s Folder on Server.');
  const port = c.port === undefined || c.port === '' ? 22 : Number(c.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new OperationFailure('CREDENTIAL_INVALID', 'The SFTP credential\'s Port is not a port number (1 to 65535)', 'Open the SFTP credential and correct Port (22 by default).');
  const privateKey = typeof c.privateKey === 'string' && c.privateKey.trim() !== '' ? formatPrivateKey(c.privateKey) : undefined;
  const password = typeof c.password === 'string' && c.password !== '' ? c.password : undefined;
  const passphrase = typeof c.passphrase === 'string' && c.passphrase !== '' ? c.passphrase : undefined;
  // Without either, the engine would fall back to this machine's ssh-agent and ~/.ssh keys: never from a workflow.
  if (privateKey === undefined && password === undefined) {
    throw new OperationFailure('CREDENTIAL_INVALID', 'The SFTP credential has neither a Password nor a Private Key', 'Open the SFTP credential and fill in the Private Key (and its Passphrase) or the Password.');
  }
  const hostPart = host.includes(':') ? `[${host.replace(/^\[|\]$/g, '')}]` : host;
  const destination = `sftp://${encodeURIComponent(username)}@${hostPart}:${port}${sftpUrlPath(folder)}`;
  return { type: 'sftp', destination, options: { sftp: { privateKey, passphrase, password, hostKey, agent: '' } } };
}

/** The Destination Type and its fields for one item; Local Folder reads Backup Folder (destinationPath) as before. */
export async function readDestination(ctx: IExecuteFunctions, itemIndex: number): Promise<NodeDestination> {
  const type = readDestinationType(ctx, itemIndex);
  if (type === 's3') return readS3(ctx, itemIndex);
  if (type === 'sftp') return readSftp(ctx, itemIndex);
  const folder = readString(ctx, 'destinationPath', itemIndex);
  // A URL typed into Backup Folder would become a local folder named "s3:" in n8n's working folder.
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(folder.trim())) {
    throw invalidParameter(
      `"${labelOf('destinationPath')}" is a URL (${folder.trim().split('://')[0]}://...), not a folder.`,
      'For S3 or an SSH server choose Destination Type S3 or SFTP and fill in their fields and credential; for a local folder give an absolute path.',
    );
  }
  return { type, destination: readFolder(ctx, 'destinationPath', itemIndex, LOCAL_EXAMPLE), options: {} };
}

/**
 * n8n's allowed folders (N8N_RESTRICT_FILE_ACCESS_TO) are about this machine's files: they apply
 * to a local backup folder, not to a bucket or a folder on another server.
 */
export async function assertDestinationAllowed(ctx: IExecuteFunctions, d: NodeDestination): Promise<void> {
  if (d.type === 'local') await assertPathAllowed(ctx, d.destination, 'backup folder');
}
