import type { BackupOptions, StorageFormat } from '../../nodes/Backup/engine';

/**
 * The round-trip property test (roundtrip.property.test.ts) again, with every backup in tar.gz.
 * Its runBackup calls get `format: 'tar.gz'`. PROPERTY_RUNS applies; without it, 50 runs.
 * (targz-mixed.property.test.ts mixes formats within chains. One variant per file: archiver's
 * readable-stream, a dependency then, broke when a second Jest module registry loaded it.)
 */
const mockUsed: Record<string, number> = {};

jest.mock('../../nodes/Backup/engine', () => {
  const actual = jest.requireActual<typeof import('../../nodes/Backup/engine')>('../../nodes/Backup/engine');
  const format: StorageFormat = 'tar.gz';
  return {
    ...actual,
    runBackup: (options: BackupOptions) => {
      mockUsed[format] = (mockUsed[format] ?? 0) + 1;
      return actual.runBackup({ ...options, format });
    },
  };
});

const saved = process.env.PROPERTY_RUNS;
if (saved === undefined) process.env.PROPERTY_RUNS = '50';
try {
  describe('tar.gz storage', () => {
    require('./roundtrip.property.test');
  });
} finally {
  if (saved === undefined) delete process.env.PROPERTY_RUNS;
}

afterAll(() => {
  expect(mockUsed['tar.gz']).toBeGreaterThan(0);
});
