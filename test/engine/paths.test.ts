import * as fc from 'fast-check';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  assertSeparate, compareNames, compareWalkOrder, defaultSetName, isSameOrInside, realpathLoose, relativeInside, unsafePathReason,
} from '../../nodes/Backup/engine/paths';

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
    ['a/' + 'é'.repeat(128), 'path component longer than 255 bytes'],
    ['a/' + 'é'.repeat(127) + '/b', undefined],
    ['a/' + '😀'.repeat(63) + 'xxx', undefined],
    ['a/' + '😀'.repeat(63) + 'xxxx', 'path component longer than 255 bytes'],
    ['a/b/', 'empty path component'],
    ['a/..', 'path component ".."'],
    ['./a', 'path component "."'],
    ['a/.../..b/.c/..d', undefined],
  ])('%j -> %s', (p, reason) => {
    expect(unsafePathReason(p)).toBe(reason);
  });
});

describe('isSameOrInside / relativeInside', () => {
  test.each([
    // [child, parent, inside]
    ['/data/backups', '/data', true],
    ['/data', '/data', true],
    ['/database', '/data', false],
    ['/', '/data', false],
    // Names that merely start with dots are ordinary names, inside (`..bk` passed as outside before).
    ['/src/..bk', '/src', true],
    ['/src/..', '/src', false],
    ['/src/...', '/src', true],
    ['/src/...x/y', '/src', true],
    ['/src/..x/..', '/src', true],
    ['/src/..x/../..', '/src', false],
    ['/srcx', '/src', false],
    ['/sr', '/src', false],
    // Trailing slashes and dot components change nothing.
    ['/src/..bk/', '/src/', true],
    ['/src/', '/src', true],
    ['/src/./a/', '/src//', true],
    ['/other/../src/a', '/src', true],
    ['/src/../other', '/src', false],
    ['/', '/', true],
    ['/a', '/', true],
  ])('%j in %j -> %s', (child, parent, inside) => {
    expect(isSameOrInside(child, parent)).toBe(inside);
  });

  test('relativeInside gives the relative path, "" for the same folder, undefined outside', () => {
    expect(relativeInside('/src/..bk/x', '/src')).toBe(path.join('..bk', 'x'));
    expect(relativeInside('/src/', '/src')).toBe('');
    expect(relativeInside('/src/../x', '/src')).toBeUndefined();
  });

  test('a symlinked parent: resolved with realpathLoose first, the relation is seen', async () => {
    const root = await fsp.realpath(await fsp.mkdtemp(path.join(os.tmpdir(), 'paths-')));
    try {
      const src = path.join(root, 'src');
      await fsp.mkdir(src);
      await fsp.symlink(src, path.join(root, 'alias'));
      const dest = path.join(root, 'alias', '..bk', 'not-yet');
      expect(isSameOrInside(dest, src)).toBe(false); // lexically elsewhere: why callers resolve first
      expect(isSameOrInside(await realpathLoose(dest), src)).toBe(true);
      expect(() => assertSeparate(src, path.join(src, '..bk'))).toThrow(/inside the source/);
      expect(() => assertSeparate(src, path.join(root, '..bk'))).not.toThrow();
    } finally {
      await fsp.rm(root, { recursive: true, force: true });
    }
  });

  // Model: resolve both to component lists by hand, then "inside" = parent's list is a prefix.
  function components(p: string): string[] {
    const out: string[] = [];
    for (const part of p.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') out.pop();
      else out.push(part);
    }
    return out;
  }
  const segment = fc.constantFrom('a', 'b', '..', '.', '...', '..x', 'x..', '..a', '', '.a');
  const absPath = fc.array(segment, { maxLength: 6 }).map((parts) => `/${parts.join('/')}`);

  test('property: agrees with a component-prefix model for any mix of dot names', () => {
    fc.assert(
      fc.property(absPath, absPath, (child, parent) => {
        const c = components(child);
        const p = components(parent);
        const expected = p.length <= c.length && p.every((part, i) => c[i] === part);
        expect(isSameOrInside(child, parent)).toBe(expected);
        const rel = relativeInside(child, parent);
        expect(rel === undefined ? undefined : components(rel)).toEqual(expected ? c.slice(p.length) : undefined);
      }),
      { numRuns: 2000 },
    );
  });
});

test('defaultSetName is <basename>-<8 hex>, stable and distinct per path', () => {
  expect(defaultSetName('/srv/data')).toMatch(/^data-[0-9a-f]{8}$/);
  expect(defaultSetName('/srv/data')).toBe(defaultSetName('/srv/data'));
  expect(defaultSetName('/srv/data')).not.toBe(defaultSetName('/home/data'));
  expect(defaultSetName('/srv/my photos')).toMatch(/^my_photos-[0-9a-f]{8}$/);
  expect(defaultSetName('/')).toMatch(/^root-[0-9a-f]{8}$/);
});
