import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';

/** Writes a hand-made backup (manifest lines + data files) to test what restore refuses. */
export async function forgeBackup(
  setDir: string,
  id: string,
  entries: Record<string, unknown>[],
  files: Record<string, string> = {},
  options: { trailer?: boolean; summary?: boolean } = {},
): Promise<string> {
  const dir = path.join(setDir, id);
  await fsp.mkdir(path.join(dir, 'data'), { recursive: true });
  const header = { manifest: 'n8n-backup', version: 1, id, type: 'full', base: null, parent: null, source: '/forged', set: path.basename(setDir), storage: 'folder', hash: 'sha256', startedAt: new Date().toISOString(), exclude: [] };
  const trailer = { trailer: true, complete: true, finishedAt: new Date().toISOString(), entries: entries.length, files: {}, bytes: {}, errorCount: 0, errors: [] };
  const lines = [header, ...entries, ...(options.trailer === false ? [] : [trailer])].map((l) => JSON.stringify(l)).join('\n');
  await fsp.writeFile(path.join(dir, 'manifest.jsonl.gz'), gzipSync(`${lines}\n`));
  if (options.summary !== false) {
    // What an attacker who controls the destination would also write: a summary claiming completeness.
    const summary = { backupId: id, set: path.basename(setDir), source: '/forged', type: 'full', base: null, parent: null, storage: 'folder', startedAt: header.startedAt, finishedAt: trailer.finishedAt, files: {}, bytes: { scanned: 0, stored: 0, written: 0 }, errorCount: 0, complete: true };
    await fsp.writeFile(path.join(dir, 'backup.json'), JSON.stringify(summary));
  }
  for (const [rel, content] of Object.entries(files)) {
    await fsp.mkdir(path.dirname(path.join(dir, 'data', rel)), { recursive: true });
    await fsp.writeFile(path.join(dir, 'data', rel), content);
  }
  return dir;
}

const T = 1_700_000_000_000;

export function fileEntry(p: string, content: string, inId: string): Record<string, unknown> {
  return { path: p, kind: 'file', mode: 0o644, mtime: T, ctime: T, uid: 0, gid: 0, size: Buffer.byteLength(content), hash: createHash('sha256').update(content).digest('hex'), in: inId };
}

export function dirEntry(p: string): Record<string, unknown> {
  return { path: p, kind: 'dir', mode: 0o755, mtime: T, ctime: T, uid: 0, gid: 0 };
}

export function linkEntry(p: string, target: string): Record<string, unknown> {
  return { path: p, kind: 'symlink', mode: 0o777, mtime: T, ctime: T, uid: 0, gid: 0, target };
}
