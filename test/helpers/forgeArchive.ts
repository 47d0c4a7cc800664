import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { forgeBackup } from './forge';

/**
 * Forging hostile backups in either storage format, and hostile manifests too big to build in
 * memory (streamed through gzip), for the security tests.
 */

export type ForgedStorage = 'folder' | 'tar.gz';

export interface ForgedMember {
  name: string;
  /** tar-stream's type: file (default), link, symlink, directory, character-device, block-device, fifo. */
  type?: string;
  linkname?: string;
  data?: Buffer | string;
  mode?: number;
  /** Size the header claims (default: the data's length). */
  size?: number;
  devmajor?: number;
  devminor?: number;
}

// tar-stream (a dev dependency): a tar writer independent of ours, to write archives an attacker could.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const tarStream = require('tar-stream') as {
  pack(): NodeJS.ReadableStream & { entry(header: Record<string, unknown>, data?: Buffer, cb?: (e?: Error) => void): void; finalize(): void };
};

/** A gzip-compressed tar holding `members`, exactly as given (names, types and sizes not checked). */
export async function tarGz(members: ForgedMember[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const m of members) {
    const data = Buffer.from(m.data ?? '');
    const header: Record<string, unknown> = { name: m.name, type: m.type ?? 'file', mode: m.mode ?? 0o644, mtime: new Date(1_700_000_000_000) };
    if (m.linkname !== undefined) header.linkname = m.linkname;
    if (m.devmajor !== undefined) header.devmajor = m.devmajor;
    if (m.devminor !== undefined) header.devminor = m.devminor;
    if (header.type === 'file') {
      header.size = data.length;
      pack.entry(header, data);
    } else {
      header.size = 0;
      pack.entry(header);
    }
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  return gzipSync(Buffer.concat(chunks));
}

/**
 * A hand-made complete backup (manifest with header and trailer, backup.json) in `storage` format:
 * folder: `files` under data/ (forge.ts's forgeBackup); tar.gz: `members` in data.tar.gz.
 */
export async function forgeStored(
  setDir: string,
  id: string,
  storage: ForgedStorage,
  entries: Record<string, unknown>[],
  content: { files?: Record<string, string>; members?: ForgedMember[] } = {},
): Promise<string> {
  const dir = await forgeBackup(setDir, id, entries, storage === 'folder' ? (content.files ?? {}) : {});
  if (storage === 'folder') return dir;
  // Same manifest and summary, saying tar.gz; no data/ folder, an archive instead.
  const manifest = path.join(dir, 'manifest.jsonl.gz');
  const lines = gunzipSync(await fsp.readFile(manifest)).toString('utf8').split('\n');
  const header = JSON.parse(lines[0]) as Record<string, unknown>;
  header.storage = 'tar.gz';
  lines[0] = JSON.stringify(header);
  await fsp.writeFile(manifest, gzipSync(lines.join('\n')));
  const summaryFile = path.join(dir, 'backup.json');
  const summary = JSON.parse(await fsp.readFile(summaryFile, 'utf8')) as Record<string, unknown>;
  summary.storage = 'tar.gz';
  await fsp.writeFile(summaryFile, JSON.stringify(summary));
  await fsp.rm(path.join(dir, 'data'), { recursive: true, force: true });
  await fsp.writeFile(path.join(dir, 'data.tar.gz'), await tarGz(content.members ?? []));
  return dir;
}

/**
 * Writes `<setDir>/<id>/manifest.jsonl.gz` from a generator of text pieces, gzip-streamed (level 1 by default),
 * so a manifest of millions of lines or a single line of gigabytes never sits in the test's memory.
 * Also writes a backup.json claiming completeness unless `summary` is false.
 */
export async function streamManifest(
  setDir: string,
  id: string,
  pieces: Iterable<string | Buffer>,
  options: { summary?: boolean; storage?: ForgedStorage; level?: number } = {},
): Promise<string> {
  const dir = path.join(setDir, id);
  await fsp.mkdir(path.join(dir, 'data'), { recursive: true });
  const file = path.join(dir, 'manifest.jsonl.gz');
  const gzip = createGzip({ level: options.level ?? 1 });
  const out = (await fsp.open(file, 'w')).createWriteStream();
  gzip.pipe(out);
  const closed = new Promise<void>((resolve, reject) => {
    out.on('close', resolve);
    out.on('error', reject);
    gzip.on('error', reject);
  });
  for (const piece of pieces) {
    if (!gzip.write(piece)) await new Promise<void>((resolve) => gzip.once('drain', resolve));
  }
  gzip.end();
  await closed;
  if (options.summary !== false) {
    const summary = {
      backupId: id, set: path.basename(setDir), source: '/forged', type: 'full', base: null, parent: null, storage: options.storage ?? 'folder',
      startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), files: {}, bytes: { scanned: 0, stored: 0, written: 0 }, errorCount: 0, complete: true,
    };
    await fsp.writeFile(path.join(dir, 'backup.json'), JSON.stringify(summary));
  }
  return file;
}

/** The header line forgeBackup writes, as text (with its newline). */
export function headerLine(setName: string, id: string, storage: ForgedStorage = 'folder'): string {
  return `${JSON.stringify({ manifest: 'n8n-backup', version: 1, id, type: 'full', base: null, parent: null, source: '/forged', set: setName, storage, hash: 'sha256', startedAt: new Date().toISOString(), exclude: [] })}\n`;
}

/** A trailer line claiming completeness (with its newline). */
export function trailerLine(entries: number): string {
  return `${JSON.stringify({ trailer: true, complete: true, finishedAt: new Date().toISOString(), entries, files: {}, bytes: {}, errorCount: 0, errors: [] })}\n`;
}
