/**
 * files, diff and find: streamed to stdout line by line as the engine reads the manifests (a
 * million paths never wait in memory). With --json each line is one JSON object with a `type`
 * (`entry`, `change`, `version`, then `report` last), so `jq -c 'select(.type == "entry")'` works.
 */
import type { EntryView, FileVersion, PathChange } from '../nodes/Backup/engine';
import { diffBackups, findVersions, listFiles } from '../nodes/Backup/engine';
import type { BrowseCommand } from './args';
import type { Io } from './print';

const LETTER = { file: '-', dir: 'd', symlink: 'l' } as const;
const MARK = { added: '+', deleted: '-', changed: 'M', metadata: 'U' } as const;

/** `-rw 0644  12 B  2026-12-01T10:00:00.000Z  docs/a.txt`, ls -l's order: kind and mode, size, time, path. */
function entryLine(e: EntryView): string {
  const size = e.kind === 'file' ? String(e.size ?? 0) : '-';
  const tail = e.kind === 'symlink' ? ` -> ${e.target ?? ''}` : e.link !== undefined ? ` (hard link to ${e.link})` : '';
  return `${LETTER[e.kind]}${e.mode}  ${size.padStart(12)}  ${e.mtime}  ${e.path}${tail}`;
}

function changeLine(c: PathChange): string {
  const delta = c.sizeDelta === undefined ? '' : `  (${c.sizeDelta >= 0 ? '+' : ''}${c.sizeDelta} B)`;
  return `${MARK[c.change]}  ${c.path}${delta}`;
}

function versionLine(v: FileVersion): string {
  const now = v.after ?? v.before;
  const facts = v.change === 'deleted' ? 'deleted' : `${v.change}, ${now?.kind === 'file' ? `${now.size ?? 0} B, sha256 ${(now.hash ?? '').slice(0, 12)}` : (now?.kind ?? '')}`;
  return `${v.backupId}  ${v.path}  ${facts}`;
}

export async function runBrowse(cmd: BrowseCommand, io: Io, signal: AbortSignal, passphrase: string | undefined): Promise<number> {
  const base = { destination: cmd.dest, destinationOptions: cmd.remote, setName: cmd.set, passphrase, signal };
  const line = (type: string, value: object, text: () => string): void => io.out(cmd.json ? JSON.stringify({ type, ...value }) : text());
  let report: { summary: string };
  switch (cmd.command) {
    case 'files':
      report = await listFiles({ ...base, backupId: cmd.backup, asOf: cmd.asOf, timeZone: cmd.timeZone, include: cmd.include, exclude: cmd.exclude }, (e) => line('entry', e, () => entryLine(e)));
      break;
    case 'diff':
      report = await diffBackups({ ...base, from: cmd.from, to: cmd.to, include: cmd.include, exclude: cmd.exclude, metadata: cmd.metadata }, (c) => line('change', c, () => changeLine(c)));
      break;
    case 'find':
      report = await findVersions({ ...base, paths: cmd.paths, metadata: cmd.metadata }, (v) => line('version', v, () => versionLine(v)));
      break;
  }
  line('report', report, () => report.summary);
  return 0;
}
