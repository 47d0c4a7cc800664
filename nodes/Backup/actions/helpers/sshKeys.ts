import { invalidParameter, OperationFailure } from './errors';

/**
 * A private key pasted into n8n's credential on one line (n8n's editor may turn its line breaks
 * into spaces, or a key copied from a JSON file keeps `\n`), as the multi-line PEM ssh2 parses;
 * anything else unchanged. The same repair n8n's own SFTP node makes (@n8n/utils formatPemBlock).
 */
export function formatPrivateKey(key: string): string {
  const given = key.trim();
  if (/\n/.test(given) || !given.includes('-----BEGIN ')) return given;
  // Escaped line breaks (\n as two characters): the key's own breaks, nothing else to repair.
  if (given.includes('\\n')) return `${given.replace(/\\n/g, '\n').trim()}\n`;
  const m = /^-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----([\s\S]*?)-----END \1-----$/.exec(given);
  if (m === null) return given;
  const body = m[2]
    .trim()
    // "Proc-Type: 4,ENCRYPTED" headers of an old encrypted PEM keep their one space.
    .replace(/(Proc-Type|DEK-Info):\s+/g, '$1:')
    .replace(/\s+/g, '\n')
    .replace(/^(Proc-Type|DEK-Info):/gm, '$1: ');
  const withBlank = /^DEK-Info: .*$/m.test(body) ? body.replace(/^(DEK-Info: .*)$/m, '$1\n') : body;
  return `-----BEGIN ${m[1]}-----\n${withBlank}\n-----END ${m[1]}-----\n`;
}

/** The algorithm name inside an SSH public key blob (its first length-prefixed string). */
function blobType(blob: Buffer): string {
  if (blob.length < 4) return '';
  return blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1');
}

const HOST_KEY_HINT =
  'Give the server\'s host key: on the server, the line of /etc/ssh/ssh_host_ed25519_key.pub ("ssh-ed25519 AAAA..."), or its fingerprint from ' +
  '`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` ("SHA256:..."); from another machine `ssh-keyscan -p <port> <host>` shows the keys, but check them with the server\'s administrator.';

/**
 * The Host Key parameter as the engine takes it: `<type> <base64>` or `SHA256:<base64>`. Accepts a
 * public key line (with a comment), a known_hosts or ssh-keyscan line (host names first; comment
 * lines skipped, the first key line taken), or a fingerprint. Anything else is refused here, before
 * a connection, so a typo is not mistaken for a changed key.
 */
export function parseHostKey(value: string): string {
  const text = value.trim();
  if (text === '') throw new OperationFailure('HOST_KEY_REQUIRED', '"Host Key" is empty: the SFTP server\'s host key is always checked', HOST_KEY_HINT);
  if (/^SHA256:/i.test(text)) {
    const fp = text.slice('SHA256:'.length).replace(/=+$/, '');
    if (!/^[A-Za-z0-9+/]{43}$/.test(fp)) throw invalidParameter('"Host Key" is not a SHA256 fingerprint (SHA256: and 43 base64 characters).', HOST_KEY_HINT);
    return `SHA256:${fp}`;
  }
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0].startsWith('#')) continue;
    for (let i = 0; i + 1 < fields.length; i++) {
      const blob = Buffer.from(fields[i + 1], 'base64');
      if (/^(ssh|ecdsa-sha2|sk-)[a-z0-9@.-]*$/.test(fields[i]) && blob.length > 0 && blobType(blob) === fields[i]) return `${fields[i]} ${fields[i + 1]}`;
    }
  }
  throw invalidParameter('"Host Key" is not an SSH public key line (ssh-ed25519 AAAA...) nor a SHA256 fingerprint.', HOST_KEY_HINT);
}
