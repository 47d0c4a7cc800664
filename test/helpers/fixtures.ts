import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';

/** Temp folders made by a test file; call cleanup() in afterAll/afterEach. */
export function tempDirs(prefix = 'n8n-backup-test-'): { make: () => Promise<string>; cleanup: () => Promise<void> } {
  const made: string[] = [];
  return {
    make: async () => {
      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
      made.push(dir);
      return dir;
    },
    cleanup: async () => {
      await Promise.all(made.splice(0).map((d) => fsp.rm(d, { recursive: true, force: true })));
    },
  };
}

/** Creates files from { 'rel/path': content }; a value of null makes an empty folder. */
export async function writeTree(root: string, spec: Record<string, string | Buffer | null>): Promise<void> {
  for (const [rel, content] of Object.entries(spec)) {
    const abs = path.join(root, rel);
    if (content === null) {
      await fsp.mkdir(abs, { recursive: true });
    } else {
      await fsp.mkdir(path.dirname(abs), { recursive: true });
      await fsp.writeFile(abs, content);
    }
  }
}

/** Reads a backup's manifest as parsed lines (header, entries, trailer). */
export async function readManifestLines(backupDir: string): Promise<Record<string, unknown>[]> {
  const text = gunzipSync(await fsp.readFile(path.join(backupDir, 'manifest.jsonl.gz'))).toString('utf8');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * Deterministic text-like bytes from a small alphabet: deflate codes them with Huffman tables (not
 * stored blocks), so archives of them have real compressed data to damage.
 */
export function textPattern(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = 97 + ((x >>> 16) % 8);
  }
  return out;
}
