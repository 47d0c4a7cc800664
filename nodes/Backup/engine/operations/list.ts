import * as path from 'node:path';
import { listBackups, listSets, setDirectory } from '../set/catalog';
import { humanBytes } from '../humanize';
import type { BackupSummary } from '../types';

export interface ListedBackup extends BackupSummary {
  sizes: { scanned: string; stored: string; written: string };
}

/** Every backup of one set, or of every set in the destination, oldest first within a set. */
export async function listDestination(destination: string, setName?: string): Promise<ListedBackup[]> {
  const dest = path.resolve(destination);
  const sets = setName === undefined ? await listSets(dest) : [setName];
  const out: ListedBackup[] = [];
  for (const set of sets) {
    for (const b of await listBackups(setDirectory(dest, set))) {
      out.push({ ...b, set, sizes: { scanned: humanBytes(b.bytes.scanned), stored: humanBytes(b.bytes.stored), written: humanBytes(b.bytes.written) } });
    }
  }
  return out;
}
