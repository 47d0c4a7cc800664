/** The pure parts: which paths --include/--exclude select, and what an --as-of names. */
import { BackupError } from '../../nodes/Backup/engine';
import { RestoreSelection } from '../../nodes/Backup/engine/operations/restoreSelection';
import { backupAsOf, parseAsOf } from '../../nodes/Backup/engine/set/asOf';
import { incompleteSummary } from '../../nodes/Backup/engine/set/catalog';
import type { BackupSummary } from '../../nodes/Backup/engine';

/** A tree in walk order (folders before their contents). */
const TREE = ['.env', 'a.txt', 'docs', 'docs/.hidden', 'docs/a.txt', 'docs/sub', 'docs/sub/b.log', 'docs/sub/docs', 'docs/sub/docs/c.txt', 'x', 'x/docs', 'x/y.log'];

function selected(include: string[], exclude: string[] = []): string[] {
  const s = new RestoreSelection({ include, exclude });
  return TREE.filter((p) => s.selects(p));
}

describe('RestoreSelection', () => {
  const table: [string[], string[], string[]][] = [
    [[], [], TREE],
    [['a.txt'], [], ['a.txt', 'docs/a.txt']],
    [['./a.txt'], [], ['a.txt']],
    [['docs/a.txt'], [], ['docs/a.txt']],
    [['docs'], [], ['docs', 'docs/.hidden', 'docs/a.txt', 'docs/sub', 'docs/sub/b.log', 'docs/sub/docs', 'docs/sub/docs/c.txt', 'x/docs']],
    [['./docs'], ['sub'], ['docs', 'docs/.hidden', 'docs/a.txt']],
    [['*.log'], [], ['docs/sub/b.log', 'x/y.log']],
    [['docs/*'], [], ['docs/.hidden', 'docs/a.txt', 'docs/sub', 'docs/sub/b.log', 'docs/sub/docs', 'docs/sub/docs/c.txt']],
    [['docs/**/*.txt'], [], ['docs/a.txt', 'docs/sub/docs/c.txt']],
    [['.*'], [], ['.env', 'docs/.hidden']],
    [[], ['docs', '*.log'], ['.env', 'a.txt', 'x']],
    [['docs/sub/docs/c.txt', 'x/'], ['x/docs'], ['docs/sub/docs/c.txt', 'x', 'x/y.log']],
  ];
  test.each(table)('include %j exclude %j', (include, exclude, expected) => {
    expect(selected(include, exclude)).toEqual(expected);
  });

  test('asked out of walk order, the answers are the same (the folder chain is rebuilt)', () => {
    const s = new RestoreSelection({ include: ['docs/sub'], exclude: ['c.txt'] });
    const shuffled = [...TREE].reverse();
    expect(shuffled.filter((p) => s.selects(p)).reverse()).toEqual(['docs/sub', 'docs/sub/b.log', 'docs/sub/docs']);
  });

  test('unmatched includes are reported; nothing selected is NOTHING_SELECTED', () => {
    const s = new RestoreSelection({ include: ['docs', 'docs/a.txt', 'nope'] });
    for (const p of TREE) s.count(p);
    expect(s.report()).toEqual({ include: ['docs', 'docs/a.txt', 'nope'], exclude: [], unmatched: ['nope'] });
    const none = new RestoreSelection({ include: ['nope'] });
    for (const p of TREE) none.count(p);
    expect(() => none.assertSomethingSelected('id')).toThrow(expect.objectContaining({ code: 'NOTHING_SELECTED' }));
  });

  test.each(['/abs', '../x', 'a/../b', 'a/./b', 'a//b', '.', './', '', 'C:\\x'])('refuses %j', (pattern) => {
    if (pattern === '') {
      // Blank is no pattern (an empty line in the node): no filter at all.
      expect(new RestoreSelection({ include: [pattern] }).active).toBe(false);
      return;
    }
    expect(() => new RestoreSelection({ include: [pattern] })).toThrow(expect.objectContaining({ code: 'PATTERN_INVALID' }));
  });
});

describe('parseAsOf', () => {
  const table: [string, string | undefined, string][] = [
    ['2026-11-24T18:00:00Z', undefined, '2026-11-24T18:00:00.000Z'],
    ['2026-11-24T18:00', undefined, '2026-11-24T18:00:00.000Z'],
    ['2026-11-24 18:00:05.25', undefined, '2026-11-24T18:00:05.250Z'],
    ['2026-11-24T18:00:00+01:00', 'Asia/Tokyo', '2026-11-24T17:00:00.000Z'],
    ['2026-11-24T18:00:00-0530', undefined, '2026-11-24T23:30:00.000Z'],
    ['2026-11-24', undefined, '2026-11-24T23:59:59.999Z'],
    ['2026-11-24', 'Europe/Berlin', '2026-11-24T22:59:59.999Z'],
    // Summer time in Berlin: UTC+2.
    ['2026-07-01T12:00', 'Europe/Berlin', '2026-07-01T10:00:00.000Z'],
    ['2026-03-29T03:30', 'Europe/Berlin', '2026-03-29T01:30:00.000Z'],
  ];
  test.each(table)('%s in %s', (text, zone, iso) => {
    expect(parseAsOf(text, zone).toISOString()).toBe(iso);
  });
  test.each(['', 'now', '2026-13-01', '2026-02-29', '2026-11-24T24:00', '2026-11-24T18:60', '24.11.2026', '2026-11-24T18:00+19:00'])('refuses %j', (text) => {
    expect(() => parseAsOf(text)).toThrow(expect.objectContaining({ code: 'AS_OF_INVALID' }));
  });
});

describe('backupAsOf', () => {
  const summary = (id: string, complete = true): BackupSummary => ({ ...incompleteSummary('s', id), complete });
  const backups = [summary('20261101T000000000Z-full'), summary('20261102T000000000Z-incremental', false), summary('20261103T000000000Z-incremental')];
  test('the newest complete one at or before; damaged ones are passed over', () => {
    expect(backupAsOf(backups, new Date('2026-11-02T12:00:00Z'), 's').backupId).toBe('20261101T000000000Z-full');
    expect(backupAsOf(backups, new Date('2026-11-03T00:00:00Z'), 's').backupId).toBe('20261103T000000000Z-incremental');
    const error = (() => {
      try {
        backupAsOf(backups, new Date('2026-10-31T23:59:59.999Z'), 's');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).code).toBe('BACKUP_NOT_FOUND');
    expect((error as BackupError).message).toContain('20261101T000000000Z-full');
  });
});
