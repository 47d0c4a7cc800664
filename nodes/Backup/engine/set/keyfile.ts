/**
 * An encrypted set's key file, `<set>/key.json` (and a copy in every backup folder). The set's
 * random 32-byte data key is stored wrapped: AES-256-GCM under a key derived from the passphrase
 * with scrypt and a random per-set salt. The wrap's tag is the key check: a wrong passphrase fails
 * there, at once, before anything is read, written or restored.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeNewFileSynced } from '../destination/durable';
import { BackupError, errnoCode, errorMessage } from '../errors';
import { SetKey } from '../formats/sealed';

export const KEY_FILE = 'key.json';
const KEY_MAGIC = 'n8n-backup-key';
const WRAP_AAD = Buffer.from('n8n-backup key v1');
// scrypt N=2^17, r=8, p=1: 128 MiB and a few hundred milliseconds per unlock (the cost an
// attacker pays per guess). Files asking for more than the limits below are refused as hostile.
const DEFAULT_COST = { N: 1 << 17, r: 8, p: 1 };
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;
const MAX_KEY_FILE_BYTES = 64 << 10;

export interface KeyFile {
  format: typeof KEY_MAGIC;
  version: 1;
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  /** base64 of the 32-byte scrypt salt. */
  salt: string;
  /** base64 of the 12-byte nonce of the wrap. */
  nonce: string;
  /** base64 of the wrapped data key (32 bytes) followed by its 16-byte GCM tag. */
  wrappedKey: string;
  createdAt: string;
}

function deriveWrapKey(passphrase: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFC'), salt, 32, { ...cost, maxmem: 256 * cost.N * cost.r + (1 << 20) }, (error, key) => (error === null ? resolve(key) : reject(error)));
  });
}

/** A new random data key for a set, wrapped under the passphrase. */
export async function createSetKey(passphrase: string, now: Date): Promise<SetKey> {
  const dataKey = randomBytes(32);
  const salt = randomBytes(32);
  const nonce = randomBytes(12);
  const wrapKey = await deriveWrapKey(passphrase, salt, DEFAULT_COST);
  const cipher = createCipheriv('aes-256-gcm', wrapKey, nonce);
  cipher.setAAD(WRAP_AAD);
  const wrapped = Buffer.concat([cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
  const file: KeyFile = {
    format: KEY_MAGIC, version: 1, kdf: 'scrypt', ...DEFAULT_COST,
    salt: salt.toString('base64'), nonce: nonce.toString('base64'), wrappedKey: wrapped.toString('base64'), createdAt: now.toISOString(),
  };
  return new SetKey(dataKey, `${JSON.stringify(file, null, 2)}\n`);
}

function damaged(file: string, why: string): BackupError {
  return new BackupError('MANIFEST_CORRUPT', `The key file ${file} is damaged: ${why}.`, {
    hint: `Every backup folder of the set holds a copy (${KEY_FILE}): copy an intact one to the set folder.`,
    path: file,
  });
}

const isWhole = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

function parseKeyFile(file: string, text: string): KeyFile {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw damaged(file, 'it is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || v.format !== KEY_MAGIC) throw damaged(file, 'it is not an n8n-backup key file');
  if (v.version !== 1 || v.kdf !== 'scrypt') throw damaged(file, `version ${String(v.version)} / kdf ${String(v.kdf)} is not known to this release`);
  // Bounded, so a planted key file cannot make an unlock take minutes or gigabytes.
  if (!isWhole(v.N, 2, MAX_N) || (v.N & (v.N - 1)) !== 0 || !isWhole(v.r, 1, MAX_R) || !isWhole(v.p, 1, MAX_P)) throw damaged(file, 'its scrypt cost is out of range');
  for (const [field, bytes] of [['salt', 32], ['nonce', 12], ['wrappedKey', 48]] as const) {
    if (typeof v[field] !== 'string' || Buffer.from(v[field] as string, 'base64').length !== bytes) throw damaged(file, `its ${field} is malformed`);
  }
  return v as unknown as KeyFile;
}

/** The text of the key file at `file` (at most MAX_KEY_FILE_BYTES + 1 bytes read), or undefined when there is none. */
export async function readKeyText(file: string): Promise<string | undefined> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, 'r');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw new BackupError('IO_ERROR', `Cannot read the key file ${file}: ${errorMessage(error)}`, { path: file, cause: error });
  }
  try {
    const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.toString('utf8', 0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A key file's text, checked (`label` names it in errors: a path or a remote name). */
export function parseKeyText(label: string, text: string): { file: KeyFile; text: string } {
  if (Buffer.byteLength(text) > MAX_KEY_FILE_BYTES) throw damaged(label, 'it is far too large');
  return { file: parseKeyFile(label, text), text };
}

/** The key file at `file`, or undefined when there is none. */
export async function readKeyFile(file: string): Promise<{ file: KeyFile; text: string } | undefined> {
  const text = await readKeyText(file);
  return text === undefined ? undefined : parseKeyText(file, text);
}

/** Unwraps the data key; WRONG_PASSPHRASE when the key check (the wrap's tag) fails. */
export async function unlockKeyFile(keyFile: { file: KeyFile; text: string }, passphrase: string, setName: string): Promise<SetKey> {
  const k = keyFile.file;
  const wrapKey = await deriveWrapKey(passphrase, Buffer.from(k.salt, 'base64'), k);
  const wrapped = Buffer.from(k.wrappedKey, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', wrapKey, Buffer.from(k.nonce, 'base64'));
  decipher.setAAD(WRAP_AAD);
  decipher.setAuthTag(wrapped.subarray(32));
  const dataKey = decipher.update(wrapped.subarray(0, 32));
  try {
    decipher.final();
  } catch {
    throw new BackupError('WRONG_PASSPHRASE', `Wrong passphrase for the encrypted set "${setName}": nothing was read or written.`, {
      hint: 'Use the passphrase this set was created with (n8n: the Backup Encryption credential; CLI: N8N_BACKUP_PASSPHRASE or --passphrase-file). Without it the backups cannot be decrypted.',
    });
  }
  return new SetKey(dataKey, keyFile.text);
}

/**
 * Writes `<dir>/key.json`, fsynced, under a temporary name first: a crash never leaves half a key
 * file where a whole one is expected. Callers hold the set's lock (one writer).
 */
export async function writeKeyFile(dir: string, text: string): Promise<void> {
  const file = path.join(dir, KEY_FILE);
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeNewFileSynced(temporary, text, 0o600);
  await fsp.rename(temporary, file);
}
