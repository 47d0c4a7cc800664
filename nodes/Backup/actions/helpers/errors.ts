import type { IDataObject, IExecuteFunctions, INode, INodeExecutionData } from 'n8n-workflow';
import { ExecutionBaseError, NodeOperationError } from 'n8n-workflow';
import { BackupError } from '../../engine';
import { n8nMajorVersion } from './n8nVersion';

/**
 * A problem that stops one source or one item, as the node reports it: the engine's fatal codes
 * plus the node's own (ACCESS_DENIED, FILE_ERRORS, VERIFY_FAILED, RESTORE_INCOMPLETE).
 * `details` are extra fields of the error item (e.g. the report of a restore that was incomplete).
 */
export class OperationFailure extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly details: IDataObject;

  constructor(code: string, message: string, hint?: string, details: IDataObject = {}) {
    super(message);
    this.name = 'OperationFailure';
    this.code = code;
    this.hint = hint;
    this.details = details;
  }
}

export function invalidParameter(message: string, hint = 'Correct the parameter in the node, then run it again.'): OperationFailure {
  return new OperationFailure('INVALID_OPTION', message, hint);
}

// Engine hints name CLI flags or commands; inside n8n these say which field to change instead.
const NODE_HINTS: Record<string, string> = {
  SET_NOT_FOUND: 'Check Backup Set: run Backup Set > List with Backup Set empty to see every set in this backup folder, or map `set` from the output of a Backup operation.',
  TARGET_NOT_EMPTY: 'Restore into an empty (or new) folder, or set "If Restore Into Is Not Empty" to Overwrite or Skip.',
  BACKUP_NOT_FOUND: 'Use `latest`, or a backupId that Backup Set > List shows for this set; with Restore As Of, a time after the first backup of the set.',
  // Restore of some paths and as of a time.
  PATTERN_INVALID:
    'Write Only These Paths and Leave Out Paths relative to the backed-up folder, one per line: docs/report.pdf, docs (a folder and all in it), *.pdf (a name at any depth), ./docs (only at the top). No "..", no absolute paths.',
  NOTHING_SELECTED:
    'Only These Paths / Leave Out Paths select nothing in this backup. Paths are relative to the backed-up folder (docs/report.pdf, not /srv/data/docs/report.pdf); a name without "/" matches at any depth.',
  AS_OF_INVALID: "Give Restore As Of as a date and time (the date picker, or an ISO value such as 2026-11-24T18:00:00+01:00); without an offset it is in the workflow's time zone.",
  LOCKED: 'Another backup or prune of this set is running (or, for Restore and Verify, a prune is deleting backups). Wait for it, or raise Lock Timeout (Seconds) in the options.',
  LOCK_LOST: 'Another run took this set over after this run stalled longer than its lock lease (see README, Locking). Nothing of this run was kept: run the node again.',
  READERS_ACTIVE: 'A Restore or Verify of this set was still reading it, so nothing was pruned. Run Prune again when it has finished, or raise Lock Timeout (Seconds).',
  CANCELLED: 'The execution was stopped. Nothing half-written was left behind; run the node again to make the backup.',
  // Encryption (the engine's hints name CLI flags).
  PASSPHRASE_REQUIRED:
    'This set is encrypted. Turn on Encrypt (Backup operations) or Decrypt (Restore, Verify) and choose the Backup Encryption credential the set was made with. ' +
    'An encrypted set never takes unencrypted backups.',
  WRONG_PASSPHRASE:
    'The passphrase of the chosen Backup Encryption credential is not the one this set was encrypted with. Choose the credential the set was made with (or correct its passphrase). Without the right passphrase the backups cannot be read.',
  ENCRYPTION_MISMATCH:
    'This set holds unencrypted backups, so it cannot take a passphrase. Turn off Encrypt / Decrypt for this set, or start an encrypted set: another Backup Folder or the Backup Set Name option.',
  ENCRYPTION_NEEDS_TARGZ: 'An encrypted set must use the Tar.gz format: set Options > Format to Tar.gz, or remove the Format option (with Encrypt on, Tar.gz is the default).',
  // Remote destinations (Destination Type S3 or SFTP): the engine's hints name known_hosts and CLI flags.
  HOST_KEY_CHANGED:
    "The SFTP server showed another host key than the node's Host Key (the message names the key it showed). Someone may be intercepting the connection, or the server was reinstalled: " +
    "confirm the key with the server's administrator (on the server: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) before you put it into Host Key.",
  HOST_KEY_UNKNOWN:
    "The SFTP server has no host key of the type given in Host Key (the message names the key it showed). Put the server's own key into Host Key: on the server, " +
    'cat /etc/ssh/ssh_host_ed25519_key.pub, or ssh-keygen -lf it for the SHA256 fingerprint; confirm it with the administrator.',
  DESTINATION_URL_INVALID:
    'Check Bucket and Prefix (S3: a bucket name of 3-63 lowercase letters, digits, dots or hyphens), or Folder on Server and the SFTP credential\'s Host, Port and Username; no "." or ".." parts.',
};

// For engine errors that come without a hint.
const DEFAULT_HINTS: Record<string, string> = {
  SOURCE_UNREADABLE: 'Give the user that runs n8n read access to the source folder.',
  SOURCE_NOT_DIRECTORY: 'Give the folder that contains the file instead.',
  DESTINATION_UNUSABLE: 'Choose a backup folder that n8n can create and write to (not on a read-only file system).',
  NO_SPACE: 'Free space on the destination, or lower the retention counts, then run again.',
  SET_NAME_INVALID: 'Use 1-128 letters, digits, dots, dashes or underscores, not starting with a dot or dash.',
  BACKUP_INCOMPLETE: 'This backup was damaged or never finished. Restore another one (Backup Set > List shows which are complete) and run Verify.',
  MANIFEST_CORRUPT: 'The backup is damaged. Run Backup Set > Verify, and make a new full backup (operation Full).',
  DATA_MISSING: 'Files of the backup are missing. Run Backup Set > Verify to see which, and make a new full backup.',
  TARGET_UNUSABLE: 'Choose a Restore Into folder that n8n can create and write to.',
  TARGET_INSIDE_BACKUP: 'Restore into a folder outside the backup folder.',
  UNSAFE_PATH: 'The backup manifest was altered or damaged; restore from another backup.',
  INVALID_OPTION: 'Correct the parameter in the node, then run it again.',
  IO_ERROR: 'Check that the folders exist, are reachable and that n8n may read and write them, then run again.',
};

const GENERIC_HINT = 'See the error code in the README of n8n-nodes-backup for what to do.';

/** Any thrown value as an OperationFailure with a hint for a person using the n8n editor. */
export function toFailure(error: unknown): OperationFailure {
  if (error instanceof OperationFailure) return error;
  if (error instanceof BackupError) {
    return new OperationFailure(error.code, error.message, NODE_HINTS[error.code] ?? error.hint ?? DEFAULT_HINTS[error.code] ?? GENERIC_HINT);
  }
  if (error instanceof ExecutionBaseError) {
    // Raised by n8n itself, e.g. while evaluating a parameter's expression.
    return new OperationFailure('PARAMETER_ERROR', error.message, typeof error.description === 'string' ? error.description : DEFAULT_HINTS.INVALID_OPTION);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new OperationFailure('IO_ERROR', message, DEFAULT_HINTS.IO_ERROR);
}

export function isCancellation(error: unknown): boolean {
  return (error instanceof BackupError || error instanceof OperationFailure) && error.code === 'CANCELLED';
}

/** The NodeOperationError n8n shows: the message, and a description that says what to fix. */
export function toNodeError(node: INode, error: unknown, itemIndex: number): NodeOperationError {
  // n8n's own errors (e.g. an expression that failed) already carry their description.
  if (error instanceof NodeOperationError) return error;
  if (error instanceof ExecutionBaseError) return new NodeOperationError(node, error, { itemIndex });
  const failure = toFailure(error);
  const description = `${failure.hint ?? GENERIC_HINT} [${failure.code}]`;
  return new NodeOperationError(node, failure.message, { itemIndex, description });
}

/**
 * The Continue On Fail rule, in one place: returns the error item `{ error, code, hint, ...context }`
 * (`{ error, details: { code, hint, ...context } }` for the error output)
 * (plus the failure's details) when the node continues on fail, otherwise throws. A cancellation
 * always throws: the execution is being stopped, there is nothing to continue with.
 */
export function failureItem(ctx: IExecuteFunctions, error: unknown, itemIndex: number, context: IDataObject = {}): INodeExecutionData {
  if (!ctx.continueOnFail() || isCancellation(error)) throw toNodeError(ctx.getNode(), error, itemIndex);
  const failure = toFailure(error);
  const json: IDataObject = { ...failure.details, ...context, error: failure.message, code: failure.code };
  if (failure.hint !== undefined) json.hint = failure.hint;
  // "Continue (using error output)": n8n 2.x sends an item to the error branch only when its json
  // holds nothing but error/message/details (an item.error would make n8n replace the json with the
  // bare message, losing code and hint), so there the rest goes under `details`. n8n 1.x routes
  // only { error } or { error, message }: there the code and hint go into `message`.
  if (ctx.getNode().onError === 'continueErrorOutput') {
    const { error: message, ...details } = json;
    if (errorOutputShape() === 'error+message') {
      const text = failure.hint === undefined ? failure.code : `${failure.code}: ${failure.hint}`;
      return { json: { error: message, message: text }, pairedItem: { item: itemIndex } };
    }
    return { json: { error: message, details }, pairedItem: { item: itemIndex } };
  }
  return { json, pairedItem: { item: itemIndex } };
}

/** Which error items the running n8n routes to the error output (1.x: error+message; 2.x: error+details). */
export function errorOutputShape(): 'error+details' | 'error+message' {
  return n8nMajorVersion() < 2 ? 'error+message' : 'error+details';
}
