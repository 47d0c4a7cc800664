import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import type { FileVersion } from '../../engine';
import { findVersions, humanBytes } from '../../engine';
import { forEachBrowseItem } from '../helpers/browseItems';
import { assertDestinationAllowed } from '../helpers/destination';
import { readPassphrase } from '../helpers/encryption';
import { cancelSignal } from '../helpers/execution';
import { parseLines, readBoolean, readRequiredString } from '../helpers/parameters';

/** "docs/a.txt changed in 20261126T020000123Z-incremental: 1.2 KiB" */
export function versionSummary(v: FileVersion): string {
  const now = v.after;
  const what = v.change === 'deleted' || now === undefined ? '' : now.kind === 'file' ? `: ${humanBytes(now.size ?? 0)}` : `: ${now.kind === 'dir' ? 'folder' : 'symlink'}`;
  return `${v.path} ${v.change} in ${v.backupId}${what}`;
}

/** Backup Set > Find File Versions: one item per version of the paths across all backups, oldest first, up to the limit. */
export async function execute(this: IExecuteFunctions, items: INodeExecutionData[]): Promise<INodeExecutionData[]> {
  const signal = cancelSignal(this);
  return forEachBrowseItem(this, items, async (i, { destination, where, setName }, emit) => {
    const paths = parseLines(readRequiredString(this, 'findPaths', i, 'docs/report.pdf'));
    const metadata = readBoolean(this, 'includeMetadata', i, false);
    const passphrase = await readPassphrase(this, i);
    await assertDestinationAllowed(this, where);
    await findVersions({ destination, destinationOptions: where.options, setName, paths, metadata, passphrase, signal }, (version) =>
      emit({ summary: versionSummary(version), set: setName, ...version }),
    );
  });
}
