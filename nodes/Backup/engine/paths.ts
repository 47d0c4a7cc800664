import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { BackupError, errnoCode } from './errors';

/**
 * Orders two UTF-16 code units as their code points would order in UTF-8 bytes: surrogates
 * (code points above U+FFFF) sort after U+E000..U+FFFF, unlike JavaScript's default.
 */
function codeUnitRank(unit: number, slashFirst: boolean): number {
  if (slashFirst && unit === 0x2f) return -1;
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

function compareByRank(a: string, b: string, slashFirst: boolean): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codeUnitRank(x, slashFirst) - codeUnitRank(y, slashFirst);
  }
  return a.length - b.length;
}

/** Bytewise (UTF-8) order of two names within one folder. */
export function compareNames(a: string, b: string): number {
  return compareByRank(a, b, false);
}

/**
 * Walk order of two relative paths: depth-first, names sorted bytewise within each folder.
 * Equal to comparing the paths with '/' ranked below every other character, so `a/x` < `a.txt`.
 */
export function compareWalkOrder(a: string, b: string): number {
  return compareByRank(a, b, true);
}

/**
 * Why a relative path from a manifest may not be used, or undefined when it is safe:
 * no absolute paths, no `..` or `.` or empty components, no NUL bytes, no backslash games.
 */
export function unsafePathReason(rel: string): string | undefined {
  if (rel.length === 0) return 'empty path';
  if (rel.includes('\0')) return 'path contains a NUL byte';
  if (rel.startsWith('/')) return 'absolute path';
  if (rel.length > 4096) return 'path longer than 4096 characters';
  // One pass over the characters (every manifest line is checked: split() and byteLength per part
  // were a tenth of a no-change backup's main thread). A UTF-16 unit is at most 3 UTF-8 bytes, so
  // only a part longer than 85 units needs its bytes counted.
  let start = 0;
  for (let i = 0; i <= rel.length; i++) {
    if (i < rel.length && rel.charCodeAt(i) !== 0x2f) continue;
    const length = i - start;
    if (length === 0) return 'empty path component';
    if (length <= 2 && rel.charCodeAt(start) === 0x2e && (length === 1 || rel.charCodeAt(start + 1) === 0x2e)) return `path component "${rel.slice(start, i)}"`;
    if (length > 85 && Buffer.byteLength(rel.slice(start, i)) > 255) return 'path component longer than 255 bytes';
    start = i + 1;
  }
  return undefined;
}

export function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

/**
 * `child` relative to `parent` ('' when they are the same) when `child` is `parent` or lies below
 * it, else undefined. Lexical: callers pass paths whose symlinks are already resolved
 * (realpathLoose), or a symlinked parent would hide the relation. Only a first component that is
 * exactly `..` means "outside": `..x` and `...` are ordinary names (a bare startsWith('..') let
 * `--dest src/..bk` through, so every backup held the earlier ones).
 */
export function relativeInside(child: string, parent: string): string | undefined {
  const rel = path.relative(path.resolve(parent), path.resolve(child));
  if (rel === '') return '';
  if (path.isAbsolute(rel)) return undefined; // another drive on Windows
  if (rel === '..' || rel.startsWith(`..${path.sep}`)) return undefined;
  return rel;
}

/** True when `child` is `parent` or lies below it; see relativeInside for what callers must resolve first. */
export function isSameOrInside(child: string, parent: string): boolean {
  return relativeInside(child, parent) !== undefined;
}

/** Resolves symlinks in the longest existing prefix of `p`, so a path that does not exist yet compares correctly. */
export async function realpathLoose(p: string): Promise<string> {
  const abs = path.resolve(p);
  const missing: string[] = [];
  let current = abs;
  for (;;) {
    try {
      const real = await fsp.realpath(current);
      return missing.length === 0 ? real : path.join(real, ...missing.reverse());
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT' && errnoCode(error) !== 'ENOTDIR') throw error;
      const parent = path.dirname(current);
      if (parent === current) return abs;
      missing.push(path.basename(current));
      current = parent;
    }
  }
}

/** `<basename>-<8 hex of sha256(absolute source path)>`, stable for one source folder. */
export function defaultSetName(absoluteSource: string): string {
  const base = path.basename(absoluteSource).replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[.]+/, '') || 'root';
  const digest = createHash('sha256').update(absoluteSource).digest('hex').slice(0, 8);
  return `${base}-${digest}`;
}

const SET_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export function assertSetName(name: string): string {
  if (!SET_NAME.test(name)) {
    throw new BackupError('SET_NAME_INVALID', `Set name "${name}" is not allowed.`, {
      hint: 'Use 1-128 letters, digits, dots, dashes or underscores, not starting with a dot or dash.',
    });
  }
  return name;
}

/** Refuses a destination inside the source and a source inside the destination (after resolving symlinks). */
export function assertSeparate(realSource: string, realDestination: string): void {
  if (isSameOrInside(realDestination, realSource)) {
    throw new BackupError('DESTINATION_INSIDE_SOURCE', `The destination ${realDestination} is inside the source ${realSource}: each backup would contain the previous ones.`, {
      hint: 'Choose a destination folder outside the folder being backed up.',
    });
  }
  if (isSameOrInside(realSource, realDestination)) {
    throw new BackupError('SOURCE_INSIDE_DESTINATION', `The source ${realSource} is inside the destination ${realDestination}.`, {
      hint: 'Back up a folder that is not inside the backup destination.',
    });
  }
}
