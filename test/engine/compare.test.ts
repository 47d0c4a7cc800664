import type { CompareContext, CurrentState } from '../../nodes/Backup/engine/scan/compare';
import { decideEntry } from '../../nodes/Backup/engine/scan/compare';
import type { ManifestEntry } from '../../nodes/Backup/engine/types';

const T = 1_700_000_000_000;
const prevFile: ManifestEntry = { path: 'f', kind: 'file', mode: 0o644, mtime: T, ctime: T, uid: 0, gid: 0, size: 10, hash: 'h', in: 'id' };
const curFile: CurrentState = { kind: 'file', size: 10, mtime: T, ctime: T, mode: 0o644, uid: 0, gid: 0 };
const ctx: CompareContext = { racySinceMs: T + 60_000, compareContent: false };

describe('decideEntry (did this entry change?)', () => {
  const cases: [string, ManifestEntry | undefined, Partial<CurrentState>, Partial<CompareContext>, string, boolean][] = [
    ['new file', undefined, {}, {}, 'added', true],
    ['same size, mtime, ctime', prevFile, {}, {}, 'unchanged', false],
    ['size differs', prevFile, { size: 11 }, {}, 'changed', true],
    ['mtime differs (even into the past)', prevFile, { mtime: T - 86_400_000 }, {}, 'changed', true],
    ['only ctime differs: content may have been rewritten with a faked mtime', prevFile, { ctime: T + 5 }, {}, 'recheck', false],
    ['mtime inside the previous run window: racy', prevFile, {}, { racySinceMs: T - 1 }, 'recheck', false],
    ['old mtime but ctime inside the previous run window: racy', { ...prevFile, ctime: T + 100 }, { ctime: T + 100 }, { racySinceMs: T + 50 }, 'recheck', false],
    ['content mode re-checks even identical metadata', prevFile, {}, { compareContent: true }, 'recheck', false],
    ['mode changed only', prevFile, { mode: 0o600 }, {}, 'changed', false],
    ['owner changed only', prevFile, { uid: 1000 }, {}, 'changed', false],
    ['file turned into a folder', prevFile, { kind: 'dir', size: 0 }, {}, 'changed', false],
    ['folder turned into a file', { ...prevFile, kind: 'dir' }, {}, {}, 'changed', true],
    ['folder with new mtime only (a child changed)', { ...prevFile, kind: 'dir' }, { kind: 'dir', mtime: T + 9 }, {}, 'unchanged', false],
    ['symlink target changed', { ...prevFile, kind: 'symlink', target: 'a' }, { kind: 'symlink', target: 'b' }, {}, 'changed', false],
    ['symlink same target', { ...prevFile, kind: 'symlink', target: 'a' }, { kind: 'symlink', target: 'a' }, {}, 'unchanged', false],
    ['symlink recreated (new mtime)', { ...prevFile, kind: 'symlink', target: 'a' }, { kind: 'symlink', target: 'a', mtime: T + 1 }, {}, 'changed', false],
  ];
  test.each(cases)('%s', (_name, prev, cur, context, verdict, store) => {
    const decision = decideEntry(prev, { ...curFile, ...cur }, { ...ctx, ...context });
    expect(decision.verdict).toBe(verdict);
    expect(decision.storeContent).toBe(store);
    expect(decision.reason.length).toBeGreaterThan(0);
  });
});
