import { compareNames, compareWalkOrder, defaultSetName, isSameOrInside, unsafePathReason } from '../../nodes/Backup/engine/paths';

describe('walk order', () => {
  test('folder contents come right after the folder, before a sibling that extends its name', () => {
    const paths = ['a.txt', 'a/x', 'a', 'a-b', 'b', 'a/x/y', 'A'];
    expect([...paths].sort(compareWalkOrder)).toEqual(['A', 'a', 'a/x', 'a/x/y', 'a-b', 'a.txt', 'b']);
  });

  test('names sort by UTF-8 bytes, so characters outside the BMP sort after U+E000..U+FFFF', () => {
    const emoji = '\u{1F600}';
    const privateUse = '\uE000';
    expect(compareNames(emoji, privateUse)).toBeGreaterThan(0);
    expect(Buffer.compare(Buffer.from(emoji), Buffer.from(privateUse))).toBeGreaterThan(0);
    const names = ['é', 'z', emoji, privateUse, '-x', ' space', '日本'];
    const byBytes = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect([...names].sort(compareNames)).toEqual(byBytes);
  });
});

describe('unsafePathReason', () => {
  test.each([
    ['a/b.txt', undefined],
    ['..', 'path component ".."'],
    ['a/../../etc/passwd', 'path component ".."'],
    ['/etc/passwd', 'absolute path'],
    ['a//b', 'empty path component'],
    ['a/./b', 'path component "."'],
    ['', 'empty path'],
    ['a\0b', 'path contains a NUL byte'],
    ['x'.repeat(300), 'path component longer than 255 bytes'],
  ])('%j -> %s', (p, reason) => {
    expect(unsafePathReason(p)).toBe(reason);
  });
});

test('isSameOrInside', () => {
  expect(isSameOrInside('/data/backups', '/data')).toBe(true);
  expect(isSameOrInside('/data', '/data')).toBe(true);
  expect(isSameOrInside('/database', '/data')).toBe(false);
  expect(isSameOrInside('/', '/data')).toBe(false);
});

test('defaultSetName is <basename>-<8 hex>, stable and distinct per path', () => {
  expect(defaultSetName('/srv/data')).toMatch(/^data-[0-9a-f]{8}$/);
  expect(defaultSetName('/srv/data')).toBe(defaultSetName('/srv/data'));
  expect(defaultSetName('/srv/data')).not.toBe(defaultSetName('/home/data'));
  expect(defaultSetName('/srv/my photos')).toMatch(/^my_photos-[0-9a-f]{8}$/);
  expect(defaultSetName('/')).toMatch(/^root-[0-9a-f]{8}$/);
});
