import * as fs from 'node:fs';
import { ENCRYPTION_ENV_VARIABLE, UsageError } from './args';
import type { Io } from './print';

/** The first line of a passphrase file, its line ending stripped (nothing else: spaces are part of the passphrase). */
function readPassphraseFile(file: string, io: Io): string {
  let text: string;
  let mode: number;
  try {
    mode = fs.statSync(file).mode;
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a folder' : (error as Error).message;
    throw new UsageError(`cannot read --passphrase-file ${file}: ${why}`);
  }
  // A secret file others can read is worth a warning, not a refusal: Docker and Kubernetes mount secrets 0444/0644.
  if ((mode & 0o044) !== 0) {
    io.err(`n8n-backup: warning: --passphrase-file ${file} can be read by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); consider chmod 600 ${file}`);
  }
  const first = text.split('\n', 1)[0].replace(/\r$/, '');
  if (first === '') throw new UsageError(`the first line of --passphrase-file ${file} is empty: an encrypted set needs a passphrase`);
  return first;
}

/**
 * The passphrase of a backup, restore or verify: from N8N_BACKUP_PASSPHRASE or --passphrase-file
 * (not both), or undefined. An empty one is refused: it would silently mean "not encrypted".
 */
export function resolvePassphrase(passphraseFile: string | undefined, env: NodeJS.ProcessEnv, io: Io): string | undefined {
  const fromEnv = env[ENCRYPTION_ENV_VARIABLE];
  if (fromEnv !== undefined && passphraseFile !== undefined) throw new UsageError(`use either ${ENCRYPTION_ENV_VARIABLE} or --passphrase-file, not both`);
  if (passphraseFile !== undefined) return readPassphraseFile(passphraseFile, io);
  if (fromEnv === undefined) return undefined;
  if (fromEnv === '') throw new UsageError(`${ENCRYPTION_ENV_VARIABLE} is set but empty: set the passphrase, or unset it for an unencrypted set`);
  return fromEnv;
}
