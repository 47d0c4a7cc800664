import type { DestinationOptions } from '../nodes/Backup/engine';

/**
 * Settings of remote destinations. Without them the CLI does what the AWS tools and ssh do: S3
 * credentials, region and endpoint from AWS_* variables and ~/.aws (the SDK's chain), SSH keys from
 * ssh-agent and ~/.ssh, host keys from ~/.ssh/known_hosts. No secret is ever a flag (flags end up in
 * shell history and process lists): a key passphrase comes from the environment only.
 */
export const REMOTE_OPTIONS = {
  's3-endpoint': { type: 'string' },
  's3-region': { type: 'string' },
  's3-path-style': { type: 'boolean' },
  'sftp-identity': { type: 'string' },
  'sftp-known-hosts': { type: 'string' },
  'sftp-host-key': { type: 'string' },
} as const;

export const REMOTE_FLAGS = Object.keys(REMOTE_OPTIONS) as (keyof typeof REMOTE_OPTIONS)[];

export const REMOTE_USAGE = `Remote destinations (--dest s3://<bucket>/<prefix> or sftp://<user>@<host>[:port]/<path>):
  [--s3-endpoint <url>] [--s3-region <region>] [--s3-path-style]
      credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws; endpoint also
      from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL
  [--sftp-identity <key file>] [--sftp-known-hosts <file>] [--sftp-host-key <key or SHA256:fingerprint>]
      without them: ssh-agent, ~/.ssh/id_ed25519|id_ecdsa|id_rsa and ~/.ssh/known_hosts; a key's
      passphrase from N8N_BACKUP_SFTP_KEY_PASSPHRASE`;

type RemoteValues = Partial<Record<(typeof REMOTE_FLAGS)[number], string | boolean | string[]>>;

const str = (v: RemoteValues, flag: (typeof REMOTE_FLAGS)[number], env?: string): string | undefined => {
  const value = v[flag];
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  return env === undefined || env.trim() === '' ? undefined : env.trim();
};

/** The destination options flags and variables give; fields left out take the defaults above. */
export function remoteOptions(v: RemoteValues, env: NodeJS.ProcessEnv): DestinationOptions {
  const s3: NonNullable<DestinationOptions['s3']> = {};
  const endpoint = str(v, 's3-endpoint');
  if (endpoint !== undefined) s3.endpoint = endpoint;
  const region = str(v, 's3-region');
  if (region !== undefined) s3.region = region;
  if (v['s3-path-style'] === true) s3.forcePathStyle = true;
  const sftp: NonNullable<DestinationOptions['sftp']> = {};
  const identity = str(v, 'sftp-identity', env.N8N_BACKUP_SFTP_IDENTITY);
  if (identity !== undefined) sftp.privateKeyPath = identity;
  const knownHosts = str(v, 'sftp-known-hosts', env.N8N_BACKUP_SFTP_KNOWN_HOSTS);
  if (knownHosts !== undefined) sftp.knownHostsPath = knownHosts;
  const hostKey = str(v, 'sftp-host-key', env.N8N_BACKUP_SFTP_HOST_KEY);
  if (hostKey !== undefined) sftp.hostKey = hostKey;
  const passphrase = env.N8N_BACKUP_SFTP_KEY_PASSPHRASE;
  if (passphrase !== undefined && passphrase !== '') sftp.passphrase = passphrase;
  return { s3, sftp };
}
