/**
 * Whether a set is encrypted, and its key for this run. A set is encrypted as a whole, from its
 * first backup on: `<set>/key.json` (or, if that was lost, the copy in a backup folder) says so.
 * Every rule here fails before anything is read, written or restored.
 */
import * as path from 'node:path';
import { BackupError } from '../errors';
import type { KeyFile } from './keyfile';
import { createSetKey, KEY_FILE, parseKeyText, unlockKeyFile } from './keyfile';
import { LocalSetStore } from './localSetStore';
import type { SetStore } from './setStore';
import type { SetKey } from '../formats/sealed';
import type { BackupSummary } from '../types';

export { SetKey } from '../formats/sealed';

const PASSPHRASE_HINT = 'n8n: turn on Encrypt and choose the Backup Encryption credential; CLI: set N8N_BACKUP_PASSPHRASE or give --passphrase-file.';

/** Where a set's key files are: the set's store (a set folder path is taken for a local set). */
export type KeyPlace = Pick<SetStore, 'set' | 'where' | 'readKeyText' | 'writeKeyText'>;

function keyPlace(place: KeyPlace | string): KeyPlace {
  return typeof place === 'string' ? new LocalSetStore(path.dirname(place), path.basename(place)) : place;
}

async function readKey(place: KeyPlace, backupId?: string): Promise<{ file: KeyFile; text: string } | undefined> {
  const text = await place.readKeyText(backupId);
  return text === undefined ? undefined : parseKeyText(`${place.where}/${backupId === undefined ? '' : `${backupId}/`}${KEY_FILE}`, text);
}

/**
 * The set's key file, from the set folder or else from the newest backup folder that holds a copy;
 * and whether the set is encrypted (a key file, or a backup.json that says so).
 */
async function findKeyFile(
  place: KeyPlace,
  backups: readonly BackupSummary[],
): Promise<{ keyFile: { file: KeyFile; text: string } | undefined; inSet: boolean; encrypted: boolean }> {
  const marked = backups.some((b) => b.encrypted === true);
  const inSet = await readKey(place);
  if (inSet !== undefined) return { keyFile: inSet, inSet: true, encrypted: true };
  for (const b of [...backups].reverse()) {
    const copy = await readKey(place, b.backupId).catch(() => undefined);
    if (copy !== undefined) return { keyFile: copy, inSet: false, encrypted: true };
  }
  return { keyFile: undefined, inSet: false, encrypted: marked };
}

function lostKey(set: string): BackupError {
  return new BackupError('ENCRYPTION_MISMATCH', `Set "${set}" holds encrypted backups but no key file (${KEY_FILE}) is left, in the set folder or in any backup folder: they cannot be decrypted.`, {
    hint: `Copy ${KEY_FILE} back from another copy of the destination, or start a new set.`,
  });
}

function passphraseRequired(set: string, forBackup: boolean): BackupError {
  const why = forBackup
    ? 'a backup without its passphrase would silently stop encrypting it, so none was made'
    : 'its backups cannot be read without the passphrase';
  return new BackupError('PASSPHRASE_REQUIRED', `Set "${set}" is encrypted: ${why}.`, { hint: PASSPHRASE_HINT });
}

/**
 * The key a backup run writes with (undefined: the set stays plain). A passphrase on a set that
 * already holds plain backups is refused: encryption covers a whole set, and half a set in the
 * clear is not what someone turning it on expects.
 */
export async function keyForBackup(where: KeyPlace | string, backups: readonly BackupSummary[], passphrase: string | undefined, now: Date): Promise<SetKey | undefined> {
  const place = keyPlace(where);
  const set = place.set;
  const { keyFile, inSet, encrypted } = await findKeyFile(place, backups);
  if (passphrase === undefined) {
    if (encrypted) throw passphraseRequired(set, true);
    return undefined;
  }
  if (keyFile !== undefined) {
    const key = await unlockKeyFile(keyFile, passphrase, set);
    if (!inSet) await place.writeKeyText(key.keyFileText); // put the lost set copy back
    return key;
  }
  if (encrypted) throw lostKey(set);
  const plain = backups.filter((b) => b.complete);
  if (plain.length > 0) {
    throw new BackupError('ENCRYPTION_MISMATCH', `Set "${set}" already holds ${plain.length} unencrypted backup(s); encryption covers a whole set, from its first backup.`, {
      hint: 'Back up into a new set (node: Set Name; CLI: --set) or another destination; remove the plain set once the encrypted one has a full backup.',
    });
  }
  const key = await createSetKey(passphrase, now);
  await place.writeKeyText(key.keyFileText);
  return key;
}

/**
 * The key restore and verify read with (undefined for a plain set). A passphrase given for a
 * plain set is not needed and does no harm: restore goes on. An empty one counts as none.
 */
export async function keyForReading(where: KeyPlace | string, backups: readonly BackupSummary[], passphrase: string | undefined): Promise<SetKey | undefined> {
  const place = keyPlace(where);
  const set = place.set;
  const { keyFile, encrypted } = await findKeyFile(place, backups);
  if (!encrypted) return undefined;
  if (passphrase === undefined || passphrase === '') throw passphraseRequired(set, false);
  if (keyFile === undefined) throw lostKey(set);
  return unlockKeyFile(keyFile, passphrase, set);
}
