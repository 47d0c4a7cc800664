import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import type { PathChange } from '../../engine';
import { diffBackups, humanBytes } from '../../engine';
import { forEachBrowseItem } from '../helpers/browseItems';
import { assertDestinationAllowed } from '../helpers/destination';
import { readPassphrase } from '../helpers/encryption';
import { cancelSignal } from '../helpers/execution';
import { parseLines, readBoolean, readString } from '../helpers/parameters';

/** "changed: docs/a.txt (+1.2 KiB)" */
export function changeSummary(c: PathChange): string {
  const delta = c.sizeDelta === undefined || c.sizeDelta === 0 ? '' : ` (${c.sizeDelta > 0 ? '+' : '-'}${humanBytes(Math.abs(c.sizeDelta))})`;
  return `${c.change}: ${c.path}${delta}`;
}

/** Backup Set > Compare Backups: one item per path that differs between two backups, up to the limit. */
export async function execute(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  const signal = cancelSignal(this);
  return forEachBrowseItem(this, items, async (i, { destination, where, setName }, emit) => {
    const from = readString(this, 'fromBackupId', i, 'previous').trim() || 'previous';
    const to = readString(this, 'toBackupId', i, 'latest').trim() || 'latest';
    const include = parseLines(readString(this, 'includePaths', i, ''));
    const exclude = parseLines(readString(this, 'excludePaths', i, ''));
    const metadata = readBoolean(this, 'includeMetadata', i, false);
    const passphrase = await readPassphrase(this, i);
    await assertDestinationAllowed(this, where);
    let ids = { from, to };
    await diffBackups(
      { destination, destinationOptions: where.options, setName, from, to, include, exclude, metadata, passphrase, signal, onBackups: (f, t) => void (ids = { from: f, to: t }) },
      (change) => emit({ summary: changeSummary(change), set: setName, ...ids, ...change }),
    );
  });
}
