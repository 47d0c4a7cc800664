import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import type { EntryView } from '../../engine';
import { humanBytes, listFiles, restoreBackup } from '../../engine';
import { readBackupSelection } from '../helpers/asOf';
import { forEachBrowseItem } from '../helpers/browseItems';
import { assertDestinationAllowed } from '../helpers/destination';
import { readPassphrase } from '../helpers/encryption';
import { OperationFailure } from '../helpers/errors';
import { cancelSignal } from '../helpers/execution';
import { workflowTimeZone } from '../helpers/output';
import { readNumber, readString } from '../helpers/parameters';
import { incomplete } from './restoreReport';

/** More files than this is not "a file or a few" to hand to the next node: restore to a folder. */
export const MAX_BINARY_FILES = 100;
const MIB = 1024 * 1024;

function tooLarge(what: string): OperationFailure {
  return new OperationFailure('BINARY_TOO_LARGE', `Restore to binary data refused: ${what}`, 'Narrow Only These Paths to the file(s) you need, raise Max Total Size, or restore into a folder (Restore To: Folder).');
}

/**
 * Backup Set > Restore with Restore To: Binary Data. One item per restored file, its bytes as n8n
 * binary data: the selected files are checked against the limits from the manifest first, then
 * restored by the engine (every byte hash-checked) into a private temporary folder, read and
 * handed over; the folder is removed whatever happens.
 */
export async function executeToBinary(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  const signal = cancelSignal(this);
  return forEachBrowseItem(this, items, async (i, { destination, where, setName }, emit) => {
    const { backupId, asOf, include, exclude } = readBackupSelection(this, i);
    const maxBytes = readNumber(this, 'binaryMaxMiB', i, 64) * MIB;
    const field = readString(this, 'binaryPropertyName', i, 'data').trim() || 'data';
    const passphrase = await readPassphrase(this, i);
    await assertDestinationAllowed(this, where);
    const base = { destination, destinationOptions: where.options, setName, passphrase, signal };

    // The manifest first: which files, how many bytes, and which backup (pinned for the restore).
    const files: EntryView[] = [];
    let total = 0;
    const listed = await listFiles({ ...base, backupId, asOf, timeZone: workflowTimeZone(this), include, exclude }, (entry) => {
      if (entry.kind !== 'file') return undefined;
      files.push(entry);
      total += entry.size ?? 0;
      return files.length > MAX_BINARY_FILES || total > maxBytes ? 'stop' : undefined;
    });
    if (files.length > MAX_BINARY_FILES) throw tooLarge(`more than ${MAX_BINARY_FILES} files are selected.`);
    if (total > maxBytes) throw tooLarge(`the selected files hold more than ${humanBytes(maxBytes)} (Max Total Size).`);
    if (files.length === 0) {
      throw new OperationFailure('NOTHING_SELECTED', `No file of backup ${listed.backupId} is selected by the paths given; nothing was restored.`, 'Only These Paths names files or folders relative to the backed-up folder, e.g. docs/report.pdf.');
    }

    const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'n8n-backup-binary-'));
    try {
      const target = path.join(tmp, 'files');
      const report = await restoreBackup({ ...base, backupId: listed.backupId, include, exclude, target });
      if (report.errorCount > 0) throw incomplete(report);
      for (const file of files) {
        const restored = path.join(target, file.path);
        // Restored with its recorded mode, which may not let this process read it (0000).
        await fsp.chmod(restored, 0o600).catch(() => undefined);
        const bytes = await fsp.readFile(restored);
        const binary = await this.helpers.prepareBinaryData(bytes, path.posix.basename(file.path));
        emit({ summary: `${file.path}: ${humanBytes(bytes.length)} from ${listed.backupId}, in binary field "${field}"`, set: setName, backupId: listed.backupId, ...file }, { [field]: binary });
      }
    } finally {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
    // No Limit here: too much is refused above instead of cut short.
  }, () => Infinity);
}
