import * as os from 'node:os';
import * as path from 'node:path';
import { DestinationError } from './faults';

/** Where `--dest` points, parsed; secrets never come from the URL. */
export type DestinationUrl =
  | { kind: 'local'; path: string }
  | { kind: 's3'; bucket: string; prefix: string }
  | { kind: 'sftp'; username: string; host: string; port: number; path: string };

function invalid(message: string, hint: string): DestinationError {
  return new DestinationError('DESTINATION_URL_INVALID', message, { hint });
}

const FORMS = 'Use a local folder, s3://<bucket>/<prefix> or sftp://<user>@<host>[:port]/<path>.';
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalid(`The ${what} in the destination URL has a broken %-escape.`, FORMS);
  }
}

/** Splits a path into clean segments; `.`, `..` and empty ones are refused (they would not name one place). */
function cleanPath(raw: string, scheme: string): string[] {
  const segments = raw.split('/').filter((s, i, all) => !(s === '' && (i === 0 || i === all.length - 1)));
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') throw invalid(`The path of the ${scheme} destination has an empty, "." or ".." part.`, FORMS);
  }
  return segments.map((s) => decode(s, 'path'));
}

/**
 * Parses `--dest`: a local folder (anything without a scheme, or file://), `s3://bucket/prefix`,
 * `sftp://user@host[:port]/path` (`/~/path` for a path under the login folder). A password in the
 * URL is refused without repeating it: URLs end up in shell history, process lists and logs.
 */
export function parseDestinationUrl(text: string): DestinationUrl {
  const input = text.trim();
  if (input === '') throw invalid('The destination is empty.', FORMS);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(input)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'local', path: path.resolve(input) };
  const rest = input.slice(scheme.length + 3);
  if (/[?#]/.test(rest)) throw invalid('The destination URL may not have a query (?) or fragment (#).', 'Give settings such as the endpoint or the region as options, not in the URL.');
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const pathPart = slash === -1 ? '' : rest.slice(slash);
  const at = authority.lastIndexOf('@');
  const userInfo = at === -1 ? undefined : authority.slice(0, at);
  const hostPort = at === -1 ? authority : authority.slice(at + 1);
  if (userInfo?.includes(':') === true) {
    throw invalid('The destination URL holds a password or secret (user:secret@...): refused, URLs end up in shell history, process lists and logs.', scheme === 's3'
      ? 'Give S3 credentials through AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, or the credential options.'
      : 'Log in with an SSH key (a key file or ssh-agent); passwords are not supported.');
  }
  if (scheme === 'file') {
    if (authority !== '' && authority !== 'localhost') throw invalid('A file:// destination must be on this machine (file:///path).', FORMS);
    return { kind: 'local', path: path.resolve(decode(pathPart, 'path') || '/') };
  }
  if (scheme === 's3') {
    if (userInfo !== undefined) throw invalid('An s3:// destination has no user part.', 'Give credentials through the environment, a profile or the credential options.');
    if (!BUCKET.test(hostPort)) throw invalid('The bucket name of the s3:// destination is not valid (3 to 63 lowercase letters, digits, dots or hyphens).', FORMS);
    return { kind: 's3', bucket: hostPort, prefix: cleanPath(pathPart, 's3').join('/') };
  }
  if (scheme === 'sftp') {
    const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(\d+))?$/.exec(hostPort);
    if (m === null) throw invalid('The host of the sftp:// destination is missing or not valid.', FORMS);
    const port = m[2] === undefined ? 22 : Number(m[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('The port of the sftp:// destination must be between 1 and 65535.', FORMS);
    const username = userInfo === undefined ? os.userInfo().username : decode(userInfo, 'user name');
    if (username === '') throw invalid('The user name of the sftp:// destination is empty.', FORMS);
    const segments = cleanPath(pathPart, 'sftp');
    // `/~/x` is x under the login folder (as in scp's sftp URLs); anything else is absolute.
    const relative = segments[0] === '~';
    const where = relative ? segments.slice(1).join('/') : `/${segments.join('/')}`;
    return { kind: 'sftp', username, host: m[1].replace(/^\[|\]$/g, ''), port, path: relative && where === '' ? '.' : where };
  }
  throw invalid(`Unknown destination type "${scheme}://".`, FORMS);
}
