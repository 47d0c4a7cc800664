import { existsSync } from 'node:fs';
import * as path from 'node:path';

/**
 * The compiled file of a worker thread, `name` relative to the engine folder (`scan/walkWorker`):
 * under this module's folder, or in dist/ when the engine runs from its TypeScript sources (the
 * tests, which build first).
 */
export function workerFile(name: string): string {
  const candidates = [path.join(__dirname, `${name}.js`), path.resolve(__dirname, `../../../dist/nodes/Backup/engine/${name}.js`)];
  const found = candidates.find((file) => existsSync(file));
  if (found === undefined) throw new Error(`${name}.js not found (looked in ${candidates.join(', ')}); run npm run build`);
  return found;
}
