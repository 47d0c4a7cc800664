import { formatBackupId, nextBackupId } from '../../nodes/Backup/engine/catalog';
import { planBackup } from '../../nodes/Backup/engine/plan';
import type { BackupSummary, BackupType } from '../../nodes/Backup/engine/types';

function summary(id: string, base: string | null, parent: string | null, complete = true): BackupSummary {
  const type = id.split('-')[1] as BackupType;
  const zero = { scanned: 0, added: 0, changed: 0, deleted: 0, unchanged: 0, stored: 0 };
  return { backupId: id, set: 's', source: '/s', type, base, parent, storage: 'folder', startedAt: '', finishedAt: '', files: zero, bytes: { scanned: 0, stored: 0, written: 0 }, errorCount: 0, complete };
}

const F1 = '20260101T000000000Z-full';
const I1 = '20260102T000000000Z-incremental';
const F2 = '20260103T000000000Z-full';
const D1 = '20260104T000000000Z-differential';
const I2 = '20260105T000000000Z-incremental';
const BROKEN = '20260106T000000000Z-incremental';
const set = [summary(F1, null, null), summary(I1, F1, F1), summary(F2, null, null), summary(D1, F2, F2), summary(I2, F2, D1), summary(BROKEN, F2, I2, false)];

describe('planBackup', () => {
  test.each([
    ['full is always a full', 'full', [], 'full', null, null],
    ['differential without any full becomes a full', 'differential', [], 'full', null, null],
    ['incremental without a complete full becomes a full', 'incremental', [summary(F1, null, null, false)], 'full', null, null],
    ['differential compares with the newest full', 'differential', set, 'differential', F2, F2],
    ['incremental compares with the newest complete backup of the chain', 'incremental', set, 'incremental', F2, I2],
    ['incremental right after a full', 'incremental', set.slice(0, 3), 'incremental', F2, F2],
  ] as const)('%s', (_name, requested, backups, type, base, parent) => {
    const plan = planBackup(requested, backups);
    expect(plan).toMatchObject({ type, base, parent });
    expect(plan.decision).toContain(requested);
  });
});

describe('backup ids', () => {
  test('format is YYYYMMDDTHHMMSSmmmZ-<type> and sorts by time', () => {
    expect(formatBackupId(new Date('2026-11-26T09:08:07.006Z'), 'full')).toBe('20261126T090807006Z-full');
  });
  test('a new id is always later than the newest one, even if the clock stood still or went back', () => {
    const now = new Date('2026-01-01T00:00:00.000Z');
    expect(nextBackupId(now, 'incremental', F1)).toBe('20260101T000000001Z-incremental');
    expect(nextBackupId(now, 'full', I2)).toBe('20260105T000000001Z-full');
    expect(nextBackupId(new Date('2027-01-01T00:00:00.000Z'), 'full', I2)).toBe('20270101T000000000Z-full');
  });
});
