import type { ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * The passphrase of encrypted backup sets (Backup node: Encrypt / Decrypt). It is only read by the
 * node and handed to the engine, which derives the set's key from it; it is never written anywhere.
 */
export class BackupEncryptionApi implements ICredentialType {
  // The class and file carry n8n's "-Api" suffix; the type name stays backupEncryption, which
  // saved credentials and workflows refer to (README, "n8n's package scanner").
  name = 'backupEncryption';

  displayName = 'Backup Encryption';

  icon = { light: 'file:backupEncryption.svg', dark: 'file:backupEncryption.dark.svg' } as const;

  documentationUrl = 'https://www.npmjs.com/package/n8n-nodes-backup';

  properties: INodeProperties[] = [
    {
      displayName: 'Passphrase',
      name: 'passphrase',
      type: 'string',
      typeOptions: { password: true },
      required: true,
      default: '',
      description:
        'The passphrase that encrypts and decrypts the backup sets made with this credential (AES-256-GCM, key derived with scrypt). Keep a copy outside n8n (a password manager): losing the passphrase loses the backups, nobody can read or restore them without it. A long passphrase of several words is best. It cannot be changed for a set that already holds encrypted backups.',
    },
  ];
}
