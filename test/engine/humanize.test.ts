import { count, countOf, humanBytes } from '../../nodes/Backup/engine/humanize';

describe('count', () => {
  test.each([
    [0, '0'], [7, '7'], [999, '999'], [1000, '1,000'], [52110, '52,110'], [1234567, '1,234,567'], [-1234, '-1,234'], [-123, '-123'],
    [Number.MAX_SAFE_INTEGER, '9,007,199,254,740,991'], [1.5, '1.5'], [1e21, '1,000,000,000,000,000,000,000'],
  ])('%p reads %p, as en-US toLocaleString gives it', (n, text) => {
    expect(count(n)).toBe(text);
    expect(count(n)).toBe(n.toLocaleString('en-US'));
  });

  test('countOf says one or many', () => {
    expect(countOf(1, 'file')).toBe('1 file');
    expect(countOf(2000, 'file')).toBe('2,000 files');
    expect(countOf(0, 'hard link')).toBe('0 hard links');
  });

  test('humanBytes', () => {
    expect(humanBytes(1536)).toBe('1.50 KiB');
    expect(humanBytes(512)).toBe('512 B');
  });
});
