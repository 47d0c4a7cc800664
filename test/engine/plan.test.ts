import { formatBackupId, nextBackupId } from '../../nodes/Backup/engine/set/catalog';
import { planBackup } from '../../nodes/Backup/engine/set/plan';
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

describe('planBackup auto (the rules, in order, with an injected clock)', () => {
  const at = (iso: string): Date => new Date(iso);
  const Fa = summary('20260101T020000000Z-full', null, null);
  const Ia = summary('20260102T020000000Z-incremental', Fa.backupId, Fa.backupId);
  const Da = summary('20260104T020000000Z-differential', Fa.backupId, Fa.backupId);
  const Ib = summary('20260105T020000000Z-incremental', Fa.backupId, Da.backupId);
  const rules = (now: string, fullEveryDays = 7, differentialEveryDays = 0) => ({ now: at(now), fullEveryDays, differentialEveryDays });

  test.each([
    ['1. no full yet -> full', [], rules('2026-01-01T02:00:00Z'), 'full', null, /no full backup yet/],
    ['1. only a damaged full -> full', [summary(Fa.backupId, null, null, false)], rules('2026-01-02T02:00:00Z'), 'full', null, /no full backup yet/],
    ['2. newest full 7 days old -> full', [Fa, Ia], rules('2026-01-08T02:00:00Z'), 'full', null, /is 7\.0 days old \(full every 7 days\)/],
    ['2. a schedule a few seconds early still makes the weekly full', [Fa, Ia], rules('2026-01-08T01:59:58Z'), 'full', null, /full every 7 days/],
    ['2. but not hours early', [Fa, Ia], rules('2026-01-08T00:30:00Z'), 'incremental', Ia.backupId, /auto: incremental/],
    ['2. fullEveryDays 0: never forced', [Fa, Ia], rules('2027-01-01T00:00:00Z', 0), 'incremental', Ia.backupId, /changes since/],
    ['3. differential due (full is 3 days old, every 2 days)', [Fa, Ia], rules('2026-01-04T02:00:00Z', 7, 2), 'differential', Fa.backupId, /differential every 2 days/],
    ['3. the newest differential resets the differential clock', [Fa, Ia, Da, Ib], rules('2026-01-05T03:00:00Z', 7, 2), 'incremental', Ib.backupId, /auto: incremental/],
    ['3. differential due again two days after the last one', [Fa, Ia, Da, Ib], rules('2026-01-06T02:00:00Z', 7, 2), 'differential', Fa.backupId, /20260104T020000000Z-differential is 2\.0 days old/],
    ['4. otherwise incremental from the newest backup', [Fa, Ia, Da, Ib], rules('2026-01-05T12:00:00Z'), 'incremental', Ib.backupId, /changes since 20260105T020000000Z-incremental/],
  ] as const)('%s', (_name, backups, r, type, parent, decision) => {
    const plan = planBackup('auto', backups, r);
    expect(plan.type).toBe(type);
    expect(plan.parent).toBe(parent);
    expect(plan.decision).toMatch(decision);
  });
});
