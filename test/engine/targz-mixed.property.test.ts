import type { BackupOptions, StorageFormat } from '../../nodes/Backup/engine';

/**
 * The round-trip property test (roundtrip.property.test.ts) again, with the storage format
 * changing from backup to backup, so chains mix folder and tar.gz holders (either may be the full).
 * PROPERTY_RUNS applies; without it, 50 runs.
 */
const mockUsed: Record<string, number> = {};

jest.mock('../../nodes/Backup/engine', () => {
  const actual = jest.requireActual<typeof import('../../nodes/Backup/engine')>('../../nodes/Backup/engine');
  // Period 7 against scenarios of a few backups each: fulls of both formats, runs of each.
  const formats: StorageFormat[] = ['tar.gz', 'folder', 'tar.gz', 'tar.gz', 'folder', 'folder', 'tar.gz'];
  let calls = 0;
  return {
    ...actual,
    runBackup: (options: BackupOptions) => {
      const format = formats[calls++ % formats.length];
      mockUsed[format] = (mockUsed[format] ?? 0) + 1;
      return actual.runBackup({ ...options, format });
    },
  };
});

const saved = process.env.PROPERTY_RUNS;
if (saved === undefined) process.env.PROPERTY_RUNS = '50';
try {
  describe('folder and tar.gz mixed in chains', () => {
    require('./roundtrip.property.test');
  });
} finally {
  if (saved === undefined) delete process.env.PROPERTY_RUNS;
}

afterAll(() => {
  expect(mockUsed['tar.gz']).toBeGreaterThan(0);
  expect(mockUsed.folder).toBeGreaterThan(0);
});
