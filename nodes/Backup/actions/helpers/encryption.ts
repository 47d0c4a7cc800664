import type { ICredentialsDecrypted, ICredentialTestFunctions, IExecuteFunctions, INodeCredentialTestResult } from 'n8n-workflow';
import { OperationFailure } from './errors';
import { readBoolean } from './parameters';

/** The credential type that holds the passphrase of encrypted sets (credentials/BackupEncryptionApi.credentials.ts). */
export const ENCRYPTION_CREDENTIAL = 'backupEncryption';

/** The parameter that turns encryption on: "Encrypt" on the Backup operations, "Decrypt" on Restore and Verify. */
export const ENCRYPT_PARAMETER = 'encrypt';

const CHOOSE_CREDENTIAL =
  'Choose a Backup Encryption credential in the node ("Credential to connect with"), the one whose passphrase the set was made with, or turn Encrypt / Decrypt off for an unencrypted set.';

/** What is wrong with a passphrase, or undefined when it can be used. Never trimmed: spaces are part of it. */
export function passphraseProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'has no passphrase';
  if (value === '') return 'has an empty passphrase';
  return undefined;
}

/**
 * The passphrase for item `itemIndex`, read from the credential only when Encrypt (Decrypt) is on;
 * undefined when it is off. The passphrase never appears in a message.
 */
export async function readPassphrase(ctx: IExecuteFunctions, itemIndex: number): Promise<string | undefined> {
  if (!readBoolean(ctx, ENCRYPT_PARAMETER, itemIndex, false)) return undefined;
  // n8n throws when no credential is chosen: that becomes this node's CREDENTIAL_MISSING failure.
  const data = await ctx.getCredentials<Record<string, unknown>>(ENCRYPTION_CREDENTIAL, itemIndex).catch((error: unknown) => error);
  if (data instanceof Error || typeof data !== 'object' || data === null) {
    const reason = data instanceof Error ? data.message : 'no credential data';
    throw new OperationFailure('CREDENTIAL_MISSING', `Encryption is on, but no Backup Encryption credential could be read (${reason})`, CHOOSE_CREDENTIAL);
  }
  const problem = passphraseProblem((data as Record<string, unknown>).passphrase);
  if (problem !== undefined) {
    throw new OperationFailure('PASSPHRASE_EMPTY', `The Backup Encryption credential ${problem}`, 'Open the credential and enter the passphrase of the set (it is never empty).');
  }
  return (data as Record<string, unknown>).passphrase as string;
}

/** The credential test n8n runs when a Backup Encryption credential is saved: it checks the passphrase can be used. */
export async function backupEncryptionTest(this: ICredentialTestFunctions, credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
  const problem = passphraseProblem(credential.data?.passphrase);
  if (problem !== undefined) return { status: 'Error', message: `This credential ${problem}.` };
  return { status: 'OK', message: 'Passphrase saved. Keep a copy outside n8n: without it, encrypted backups cannot be restored.' };
}
