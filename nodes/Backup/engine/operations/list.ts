import type { DestinationOptions } from '../destination';
import type { Destination } from '../destination/types';
import { humanBytes } from '../humanize';
import { isBackupId, listSets, SUMMARY_FILE } from '../set/catalog';
import { closeDestination, openDestinationFor, setStoreIn } from '../set/openSetStore';
import type { BackupSummary } from '../types';

export interface ListedBackup extends BackupSummary {
  /** Files, folders and symlinks the backup holds, together (in older backups, `files.scanned`). */
  entries: number;
  sizes: { scanned: string; stored: string; written: string };
}

function entriesOf(b: BackupSummary): number {
  if (b.folders === undefined || b.symlinks === undefined) return b.files.scanned;
  return b.files.scanned + b.folders.scanned + b.symlinks.scanned;
}

/** Names of the sets on a remote destination: top-level folders holding at least one committed backup. */
async function remoteSets(dest: Destination): Promise<string[]> {
  const sets: string[] = [];
  for await (const top of dest.list('', { delimiter: true })) {
    if (top.kind !== 'prefix') continue;
    const set = top.name.replace(/\/$/, '');
    for await (const inner of dest.list(top.name, { delimiter: true })) {
      const id = inner.name.slice(top.name.length).replace(/\/$/, '');
      if (inner.kind === 'prefix' && isBackupId(id) && (await dest.stat(`${set}/${id}/${SUMMARY_FILE}`)) !== undefined) {
        sets.push(set);
        break;
      }
    }
  }
  return sets.sort();
}

/** Every backup of one set, or of every set in the destination, oldest first within a set. */
export async function listDestination(destination: string, setName?: string, destinationOptions?: DestinationOptions): Promise<ListedBackup[]> {
  const opened = await openDestinationFor(destination, destinationOptions);
  try {
    const sets = setName !== undefined ? [setName] : opened.kind === 'local' ? await listSets(opened.path) : await remoteSets(opened.dest);
    const out: ListedBackup[] = [];
    for (const set of sets) {
      for (const b of await setStoreIn(opened, set).listBackups()) {
        out.push({ ...b, set, entries: entriesOf(b), sizes: { scanned: humanBytes(b.bytes.scanned), stored: humanBytes(b.bytes.stored), written: humanBytes(b.bytes.written) } });
      }
    }
    return out;
  } finally {
    await closeDestination(opened);
  }
}
