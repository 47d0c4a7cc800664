import type { RetentionPolicy } from '../../nodes/Backup/engine/set/retention';
import { applyRetention } from '../../nodes/Backup/engine/set/retention';
import type { BackupSummary, BackupType } from '../../nodes/Backup/engine/types';

// A set as compact text: "F1 I1 I2 D1 F2 I3" (oldest first). Incrementals reference every earlier
// member of their chain; a differential references its full, as real backups of a changing tree do.
function setOf(spec: string, options: { references?: boolean; incomplete?: string[] } = {}): BackupSummary[] {
  const out: BackupSummary[] = [];
  let full: BackupSummary | undefined;
  spec.split(' ').forEach((name, i) => {
    const type: BackupType = name[0] === 'F' ? 'full' : name[0] === 'D' ? 'differential' : 'incremental';
    const id = `2026010${Math.floor(i / 10)}T0000${String(i % 10).padStart(2, '0')}000Z-${type}-${name}`;
    const chain = full === undefined ? [] : out.filter((b) => b.backupId === full?.backupId || b.base === full?.backupId);
    const parent = type === 'full' ? null : type === 'differential' ? (full?.backupId ?? null) : (chain[chain.length - 1]?.backupId ?? null);
    const references = type === 'full' ? [] : type === 'differential' ? [full?.backupId as string] : chain.map((b) => b.backupId);
    const zero = { scanned: 0, added: 0, changed: 0, deleted: 0, unchanged: 0, stored: 0 };
    const b: BackupSummary = {
      backupId: id, set: 's', source: '/s', type, base: type === 'full' ? null : (full?.backupId ?? null), parent, storage: 'folder', startedAt: '', finishedAt: '',
      files: zero, bytes: { scanned: 0, stored: 0, written: 0 }, errorCount: 0, complete: !(options.incomplete ?? []).includes(name),
      ...(options.references === false ? {} : { references }),
    };
    out.push(b);
    if (type === 'full') full = b;
  });
  return out;
}

const names = (ids: string[]): string => ids.map((id) => id.slice(id.lastIndexOf('-') + 1)).join(' ');
const policy = (keepFull: number, keepDifferential: number, keepIncremental: number): RetentionPolicy => ({ keepFull, keepDifferential, keepIncremental });

describe('applyRetention (which backups stay, and why)', () => {
  test.each([
    ['0 keeps everything', 'F1 I1 F2 I2', policy(0, 0, 0), 'F1 I1 F2 I2', '', ''],
    ['keep the newest full: the old chain goes, newest member first', 'F1 I1 I2 F2 I3', policy(1, 0, 0), 'F2 I3', 'I2 I1 F1', ''],
    ['an incremental past the count stays while a kept one points into it', 'F1 I1 I2 I3', policy(1, 0, 1), 'F1 I1 I2 I3', '', 'I1 I2'],
    ['keepIncremental trims the old chain but never what the new chain needs', 'F1 I1 I2 F2 I3 I4', policy(0, 0, 1), 'F1 F2 I3 I4', 'I2 I1', 'I3'],
    ['differentials: only the full is needed, older differentials go', 'F1 D1 D2 D3', policy(1, 1, 0), 'F1 D3', 'D2 D1', ''],
    ['a differential goes with its chain when its full is past keepFull', 'F1 D1 F2', policy(1, 1, 0), 'F2', 'D1 F1', ''],
    ['keepDifferential counts across kept chains, newest first', 'F1 D1 F2 D2 D3', policy(2, 1, 0), 'F1 F2 D3', 'D2 D1', ''],
    ['incrementals after a differential keep it and the full', 'F1 D1 I1 I2', policy(1, 0, 1), 'F1 D1 I1 I2', '', 'I1'],
    ['keep 2 fulls of 3 chains', 'F1 I1 F2 I2 F3 I3', policy(2, 0, 0), 'F2 I2 F3 I3', 'I1 F1', ''],
  ])('%s', (_name, spec, p, kept, removed, referenced) => {
    const r = applyRetention(setOf(spec), p);
    expect(names(r.keep)).toBe(kept);
    expect(names(r.remove)).toBe(removed);
    expect(names(r.keptReferenced)).toBe(referenced);
    for (const id of r.keep) expect(r.reasons[id]).toMatch(/newest|keep all|referenced by/);
  });

  test('without recorded references, the parent chain is kept (conservative)', () => {
    const r = applyRetention(setOf('F1 I1 I2 I3', { references: false }), policy(1, 0, 1));
    expect(names(r.keep)).toBe('F1 I1 I2 I3');
    expect(names(r.keptReferenced)).toBe('I1 I2');
  });

  test('damaged backups are neither counted nor removed, nor the members of a chain whose full is damaged', () => {
    const r = applyRetention(setOf('F1 I1 F2 I2', { incomplete: ['F2'] }), policy(1, 0, 0));
    expect(names(r.keep)).toBe('F1 I1 I2');
    expect(r.reasons[r.keep[2]]).toMatch(/missing or damaged: left for inspection/);
    expect(names(r.remove)).toBe('');
  });

  test('never removes a backup a kept backup references (random policies)', () => {
    const set = setOf('F1 I1 D1 I2 F2 I3 I4 D2 I5 F3 I6');
    for (let f = 0; f <= 3; f++)
      for (let d = 0; d <= 2; d++)
        for (let i = 0; i <= 3; i++) {
          const r = applyRetention(set, policy(f, d, i));
          const kept = new Set(r.keep);
          for (const b of set) if (kept.has(b.backupId)) for (const ref of b.references ?? []) expect(kept.has(ref)).toBe(true);
          expect(kept.has(set[set.length - 1].backupId)).toBe(true);
          expect(r.keep.length + r.remove.length).toBe(set.length);
        }
  });
});
