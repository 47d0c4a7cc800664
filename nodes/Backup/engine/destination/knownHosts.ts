import { createHash, createHmac } from 'node:crypto';

/** One key line of a known_hosts file (OpenSSH's format, hashed host names included). */
export interface KnownHost {
  marker: '' | '@revoked' | '@cert-authority';
  hosts: string;
  keyType: string;
  key: Buffer;
}

export type HostKeyVerdict = 'ok' | 'unknown' | 'changed' | 'revoked';

export function parseKnownHosts(text: string): KnownHost[] {
  const found: KnownHost[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0] === '@revoked' || fields[0] === '@cert-authority' ? (fields.shift() as KnownHost['marker']) : '';
    if (fields.length < 3) continue;
    const key = Buffer.from(fields[2], 'base64');
    if (key.length === 0) continue;
    found.push({ marker, hosts: fields[0], keyType: fields[1], key });
  }
  return found;
}

/** `host` for port 22, `[host]:port` otherwise: how ssh names a server in known_hosts. */
export function hostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function wildcard(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

/** Whether a known_hosts host field names this server: hashed (`|1|salt|hash`) or patterns, `!` negating. */
export function hostMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (salt === undefined || hash === undefined) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const pattern of field.split(',')) {
    if (pattern.startsWith('!')) {
      if (wildcard(pattern.slice(1), name)) return false;
    } else if (wildcard(pattern, name)) matched = true;
  }
  return matched;
}

/** The algorithm name inside an SSH public key blob (its first string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const length = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + length).toString('latin1');
}

/** `SHA256:<base64>` as `ssh-keygen -l` and ssh's prompts show it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Judges the key a server showed against the known keys for its name, as ssh does: a matching key
 * is ok, a revoked one refused; a server known with other keys of the same type has changed its key;
 * one with no key of that type (or none at all) is unknown. Certificate authorities are not supported.
 */
export function judgeHostKey(known: KnownHost[], name: string, shown: Buffer): HostKeyVerdict {
  const forHost = known.filter((k) => k.marker !== '@cert-authority' && (k.marker === '@revoked' || hostMatches(k.hosts, name)));
  if (forHost.some((k) => k.marker === '@revoked' && k.key.equals(shown))) return 'revoked';
  const usable = forHost.filter((k) => k.marker === '');
  if (usable.some((k) => k.key.equals(shown))) return 'ok';
  return usable.some((k) => k.keyType === keyTypeOf(shown)) ? 'changed' : 'unknown';
}

/** The host key algorithms to ask a server for, so it shows a key of a type we know for it (as ssh orders them). */
export function knownAlgorithms(known: KnownHost[], name: string): string[] {
  const types = new Set(known.filter((k) => k.marker === '' && hostMatches(k.hosts, name)).map((k) => k.keyType));
  const algorithms: string[] = [];
  for (const type of types) {
    if (type === 'ssh-rsa') algorithms.push('rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa');
    else algorithms.push(type);
  }
  return algorithms;
}
