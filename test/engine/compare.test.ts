import type { CompareContext, CurrentState } from '../../nodes/Backup/engine/scan/compare';
import { decideEntry, isRacy } from '../../nodes/Backup/engine/scan/compare';
import type { ManifestEntry } from '../../nodes/Backup/engine/types';

const T = 1_700_000_000_000;
const prevFile: ManifestEntry = { path: 'f', kind: 'file', mode: 0o644, mtime: T, ctime: T, uid: 0, gid: 0, size: 10, hash: 'h', in: 'id' };
const curFile: CurrentState = { kind: 'file', size: 10, mtime: T, ctime: T, mode: 0o644, uid: 0, gid: 0 };
const ctx: CompareContext = { previousStartMs: T + 60_000, compareContent: false };
// A time from a file system with nanosecond timestamps (a part below the millisecond).
const F = T + 0.123456;
const fineFile: ManifestEntry = { ...prevFile, mtime: F, ctime: F };

describe('decideEntry (did this entry change?)', () => {
  const cases: [string, ManifestEntry | undefined, Partial<CurrentState>, Partial<CompareContext>, string, boolean][] = [
    ['new file', undefined, {}, {}, 'added', true],
    ['same size, mtime, ctime', prevFile, {}, {}, 'unchanged', false],
    ['size differs', prevFile, { size: 11 }, {}, 'changed', true],
    ['mtime differs (even into the past)', prevFile, { mtime: T - 86_400_000 }, {}, 'changed', true],
    ['only ctime differs: content may have been rewritten with a faked mtime', prevFile, { ctime: T + 5 }, {}, 'recheck', false],
    ['mtime after the previous backup started: racy', prevFile, {}, { previousStartMs: T - 1 }, 'recheck', false],
    ['whole-ms mtime 1 s before the previous start (a coarse clock): racy', prevFile, {}, { previousStartMs: T + 1000 }, 'recheck', false],
    ['whole-ms mtime 2.5 s before the previous start: not racy', prevFile, {}, { previousStartMs: T + 2500 }, 'unchanged', false],
    ['old mtime but ctime after the previous start: racy', { ...prevFile, ctime: T + 100 }, { ctime: T + 100 }, { previousStartMs: T + 50 }, 'recheck', false],
    ['nanosecond times 1 s before the previous start: not racy', fineFile, { mtime: F, ctime: F }, { previousStartMs: T + 1000 }, 'unchanged', false],
    ['nanosecond times 30 ms before the previous start: racy', fineFile, { mtime: F, ctime: F }, { previousStartMs: T + 30 }, 'recheck', false],
    ['old nanosecond mtime, ctime 10 ms before the previous start: racy', { ...fineFile, mtime: F - 86_400_000 }, { mtime: F - 86_400_000, ctime: F }, { previousStartMs: T + 10 }, 'recheck', false],
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

describe('isRacy (could a write in the same timestamp tick have gone unseen?)', () => {
  const cases: [string, number, number, boolean][] = [
    ['whole ms, after the start', T + 5, T, true],
    ['whole ms, 1999 ms before (2 s clocks)', T, T + 1999, true],
    ['whole ms, 2001 ms before', T, T + 2001, false],
    ['sub-ms, 49 ms before', F, F + 49, true],
    ['sub-ms, 51 ms before', F, F + 51, false],
    ['sub-ms, after the start', F + 3, F, true],
    ['no previous backup', T, Infinity, false],
  ];
  test.each(cases)('%s', (_name, time, start, racy) => expect(isRacy(time, start)).toBe(racy));
});
