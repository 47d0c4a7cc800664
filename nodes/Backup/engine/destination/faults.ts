import { BackupError, type FatalCode } from '../errors';

/**
 * A destination fault: a BackupError with a code and hint, plus whether trying again may help
 * (the retry wrapper reads only that). Messages are built here from known parts, never copied
 * whole from a client library, and carry no `cause`: an SDK error holds request headers and a
 * key parser's error the text it failed on, and anything attached to an error ends up in logs.
 */
export class DestinationError extends BackupError {
  readonly retryable: boolean;
  /** The library's error name/code and HTTP status, for debugging (no message text). */
  readonly detail: string | undefined;

  constructor(code: FatalCode, message: string, options: { hint?: string; retryable?: boolean; detail?: string } = {}) {
    super(code, message, { hint: options.hint });
    this.name = 'DestinationError';
    this.retryable = options.retryable ?? false;
    this.detail = options.detail;
  }
}

export function isRetryable(error: unknown): boolean {
  return error instanceof DestinationError && error.retryable;
}

/** Node's network errno codes that mean the connection broke or never came up, so a retry may help. */
export const NETWORK_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ENETDOWN']);
/** Of those, the ones where the server was never reached. */
export const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ENETDOWN']);

export function unreachable(where: string, detail: string): DestinationError {
  return new DestinationError('DESTINATION_UNREACHABLE', `Cannot reach ${where} (${detail}).`, {
    hint: 'Check the host name, port or endpoint, and that the network and the server are up.',
    retryable: true,
    detail,
  });
}

export function connectionLost(where: string, detail: string): DestinationError {
  return new DestinationError('DESTINATION_UNAVAILABLE', `The connection to ${where} failed (${detail}).`, {
    hint: 'A network or server fault; nothing half-written is kept. Run again; if it persists, check the network and the server.',
    retryable: true,
    detail,
  });
}

export function notFound(what: string): DestinationError {
  return new DestinationError('OBJECT_NOT_FOUND', `${what} does not exist.`);
}

/** The object is not the version a read was pinned to: it was replaced or removed meanwhile. */
export function objectChanged(what: string, how: 'replaced' | 'removed'): DestinationError {
  return new DestinationError('OBJECT_CHANGED', `${what} was ${how} while it was being read; no bytes of two versions were mixed.`, {
    hint: 'Something else writes to this destination at the same time (another run, a sync tool). Run again; if it keeps happening, find the other writer.',
  });
}

/**
 * Removes every occurrence of the given secrets from a text, for the few places where a library's
 * words are worth showing (an SFTP server's status line). Short strings are not treated as secrets.
 */
export function redact(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const secret of secrets) if (secret !== undefined && secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out;
}
