import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { readManifestLines, tempDirs } from '../helpers/fixtures';

// The library failing to load, as on a platform without a prebuilt binary or an install without
// optional packages: the only stand-in here is for the third-party module, the engine is real.
jest.doMock('@napi-rs/xattr', () => {
  throw new Error('Cannot find native binding');
});
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded after the doMock above
const engine = require('../../nodes/Backup/engine') as typeof import('../../nodes/Backup/engine');

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

test('without the xattr library a backup is made, says once that xattrs were not kept, and raises no warning', async () => {
  const root = await dirs.make();
  const src = path.join(root, 'src');
  await fsp.mkdir(path.join(src, 'd'), { recursive: true });
  for (let i = 0; i < 5; i++) await fsp.writeFile(path.join(src, 'd', `f${i}`), String(i));
  const dest = path.join(root, 'dest');
  const [outcome] = await engine.runBackup({ sources: [src], destination: dest, setName: 'set', type: 'full' });
  if (!outcome.ok) throw outcome.error;
  const report = outcome.report;
  expect(report.warnings).toEqual([]);
  expect(report.notices).toHaveLength(1);
  expect(report.notices[0]).toMatch(/^Extended attributes and ACLs were not kept: the @napi-rs\/xattr library cannot load/);
  expect(report.summary).toContain(report.notices[0]);
  const lines = await readManifestLines(path.join(dest, 'set', report.backupId ?? ''));
  expect(lines[0]).not.toHaveProperty('xattrs');
  const restored = await engine.restoreBackup({ destination: dest, setName: 'set', target: path.join(root, 'target') });
  expect(restored.files.restored).toBe(5);
  expect(restored.notices).toEqual([]);
});
